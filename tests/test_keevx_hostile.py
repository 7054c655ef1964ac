"""The Keevx client against a slow, broken or lying Keevx: the sandbox's faults, on loopback.

Each test uploads with a healthy sandbox, then switches one fault on for every
call. Deadlines and waits are injected small, so nothing here is slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app.runtime import Core
from bot.errors import ApiProtocolError, ApiRejected, ApiTimeout, ApiUnavailable, RateLimited
from bot.jobs.pipeline import Timing
from bot.keevx.client import KeevxClient, RetryPolicy, UploadedImage
from bot.keevx.sandbox import SAMPLE_IMAGE, Sandbox, SandboxConfig
from tests.conftest import API_KEY, core_settings
from tests.support import RecordingAdapter, free_port, submit

FAST = RetryPolicy(max_retries=2, wait_429=0.0, wait_500=0.0, deadline=0.5, upload_deadline=0.5)


@dataclasses.dataclass
class Hostile:
    sandbox: Sandbox
    client: KeevxClient
    waits: list[float]
    image: UploadedImage

    def fault(self, name: str) -> None:
        """From now on, every API call meets ``name``."""
        self.sandbox.config = dataclasses.replace(
            self.sandbox.config, fault_rate=1.0, faults=(name,)
        )

    def body(self, prompt: str) -> dict[str, Any]:
        return {
            "model": "V",
            "prompt": prompt,
            "image_url": self.image.url,
            "aspect_ratio": "16:9",
            "aspect_resolution": "720p",
            "duration": 4,
        }


@contextlib.asynccontextmanager
async def hostile(**config: Any) -> AsyncIterator[Hostile]:
    """A sandbox, and a client for it as the bot builds one (its http client follows redirects)."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    options = {"delay": 60.0, "render_height": 36, "seed": 3, "trickle_interval": 0.05} | config
    async with (
        Sandbox(SandboxConfig(**options)) as sandbox,
        httpx.AsyncClient(follow_redirects=True, trust_env=False, timeout=10.0) as http,
    ):
        client = KeevxClient(API_KEY, sandbox.base_url, http=http, retry=FAST, sleep=sleep)
        image = await client.upload(SAMPLE_IMAGE, content_type="image/jpeg")
        yield Hostile(sandbox, client, waits, image)


# -- create: at most one request per job, unless Keevx said it made nothing ----------


@pytest.mark.parametrize(
    ("fault", "made"),
    [
        ("502-after-create", 1),
        ("504", 0),
        ("redirect-loop", 0),
        ("bad-shape", 1),
        ("evil-task-id", 1),
        ("trickle", 1),
        ("drop", 1),
    ],
)
async def test_create_with_an_unusable_answer_is_sent_once(fault: str, made: int) -> None:
    async with hostile() as h:
        h.fault(fault)
        with pytest.raises(ApiTimeout) as info:
            await h.client.create(h.body("one job"))
        assert h.sandbox.create_requests == {"one job": 1}
        assert len(h.sandbox.tasks) == made and h.waits == []
        assert info.value.__cause__ is not info.value
        assert "../" not in str(info.value) and API_KEY not in str(info.value)


async def test_create_asked_to_wait_an_hour_raises_at_once() -> None:
    async with hostile() as h:
        h.fault("429-long")
        with pytest.raises(RateLimited) as info:
            await h.client.create(h.body("busy"))
        assert info.value.retry_after == 3600 and h.waits == []
        assert h.sandbox.create_requests == {"busy": 1} and h.sandbox.tasks == {}


@pytest.mark.parametrize("fault", ["429", "500"])
async def test_create_retries_keevx_documented_statuses(fault: str) -> None:
    async with hostile() as h:
        h.fault(fault)
        error = RateLimited if fault == "429" else ApiUnavailable
        with pytest.raises(error):
            await h.client.create(h.body("retry me"))
        assert h.sandbox.create_requests == {"retry me": 3} and h.sandbox.tasks == {}
        h.sandbox.config = dataclasses.replace(h.sandbox.config, fault_rate=0.0)
        (task_id,) = await h.client.create(h.body("retry me"))
        assert list(h.sandbox.tasks) == [task_id]


async def test_create_against_a_closed_port_is_retried_then_unavailable() -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        client = KeevxClient(API_KEY, f"http://127.0.0.1:{free_port()}/v1", http=http, retry=FAST)
        with pytest.raises(ApiUnavailable) as info:
            await client.create({"model": "V"})
    assert not isinstance(info.value, ApiProtocolError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


# -- query and upload: every failure is retryable, none hangs ------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("trickle", ApiUnavailable),
        ("redirect-loop", ApiProtocolError),
        ("bad-shape", ApiProtocolError),
        ("504", ApiUnavailable),
        ("drop", ApiUnavailable),
    ],
)
async def test_query_failures_are_retryable_errors(fault: str, error: type[Exception]) -> None:
    async with hostile() as h:
        (task_id,) = await h.client.create(h.body("poll me"))
        h.fault(fault)
        with pytest.raises(error) as info:
            await h.client.query(task_id)
        assert isinstance(info.value, ApiUnavailable)  # the pipeline retries, never fails the job
        assert info.value.__cause__ is not info.value


async def test_a_trickling_answer_is_cut_off_by_the_deadline() -> None:
    """Each byte comes well within httpx's read timeout; only the total deadline stops it."""
    async with hostile(trickle_interval=0.02) as h:
        (task_id,) = await h.client.create(h.body("slow"))
        h.fault("trickle")
        with pytest.raises(ApiUnavailable, match=r"did not answer within 0\.5 s"):
            await h.client.query(task_id)
        queries = [c for c in h.sandbox.calls if c.method == "GET"]
        assert len(queries) == 1  # a Keevx this slow is not asked again at once


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("trickle", ApiUnavailable),
        ("bad-shape", ApiProtocolError),
        ("redirect-loop", ApiProtocolError),
    ],
)
async def test_upload_failures_are_retryable_errors(fault: str, error: type[Exception]) -> None:
    async with hostile() as h:
        h.fault(fault)
        with pytest.raises(error):
            await h.client.upload(SAMPLE_IMAGE, content_type="image/jpeg")


async def test_a_redirect_loop_is_not_followed() -> None:
    async with hostile() as h:
        (task_id,) = await h.client.create(h.body("loop"))
        h.fault("redirect-loop")
        calls = len(h.sandbox.calls)
        with pytest.raises(ApiProtocolError) as info:
            await h.client.query(task_id)
        assert info.value.status == 307 and len(h.sandbox.calls) == calls + 1


async def test_the_query_path_is_never_built_from_an_evil_id() -> None:
    async with hostile() as h:
        calls = len(h.sandbox.calls)
        for evil in ("../../x", "../figure-resource/upload/file", "i2v-1?x=1"):
            with pytest.raises(ApiRejected):  # a refusal: no retry can help
                await h.client.query(evil)
        assert len(h.sandbox.calls) == calls


async def test_many_faulty_calls_leave_no_request_hanging() -> None:
    """A burst of queries against a trickling Keevx all end by their deadline."""
    async with hostile(trickle_interval=0.5) as h:
        (task_id,) = await h.client.create(h.body("burst"))
        h.fault("trickle")
        results = await asyncio.gather(
            *(h.client.query(task_id) for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(r, ApiUnavailable) for r in results), results


# -- the whole bot: one create per job ---------------------------------------------


async def test_jobs_under_hostile_faults_send_each_create_at_most_once(tmp_path: Path) -> None:
    """Only a 429 or 500 (Keevx made nothing) may lead to a job's create being sent again."""
    faults = ("502-after-create", "504", "redirect-loop", "bad-shape", "evil-task-id", "drop")
    config = SandboxConfig(
        delay=0.2, render_height=36, seed=5, fault_rate=0.4, faults=(*faults, "429", "500")
    )
    timing = Timing(
        poll_interval=timedelta(seconds=0.1),
        poll_timeout=timedelta(seconds=60),
        backoff_base=timedelta(seconds=0.02),
        max_attempts=50,
    )
    async with Sandbox(config) as sandbox:
        adapter = RecordingAdapter()
        async with Core(core_settings(sandbox, tmp_path), timing=timing) as core:
            await core.attach(adapter)
            jobs = [await submit(core.service, tmp_path, f"job {n}") for n in range(12)]

            async def past_create() -> None:
                while True:
                    current = [await core.service.get(j.id) for j in jobs]
                    if all(j is not None and (j.tasks or j.status.terminal) for j in current):
                        return
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(past_create(), 60)
    creates = [c for c in sandbox.calls if c.method == "POST" and c.path.endswith("image_to_video")]
    unsure = Counter(c.json["prompt"] for c in creates if c.fault not in ("429", "500"))
    assert max(unsure.values()) == 1 and len(unsure) == 12
    assert sum(sandbox.create_requests.values()) == len(creates)
    made = Counter(t.request["prompt"] for t in sandbox.tasks.values())
    assert max(made.values()) == 1
    assert {c.fault for c in creates} & set(faults), "some creates met a hostile fault"
