"""``/metrics`` and ``/readyz`` on the bot's web server, with real jobs, fakes and the sandbox.

Metrics live in one registry per process, so each test compares the values before
and after what it does.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from bot.app.runtime import Core, run
from bot.errors import ApiRejected
from bot.keevx.client import KeevxClient, RetryPolicy
from bot.keevx.sandbox import SAMPLE_IMAGE, Sandbox, SandboxConfig
from bot.model.job import Job, JobStatus
from bot.model.request import build_request, parse_command
from bot.settings import Settings
from tests.conftest import API_KEY
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.support import RecordingAdapter, free_port, submit
from tests.test_discord_adapter import OVER, Bot, running_bot, slash_video
from tests.test_telegram_adapter import USER, tg_settings, until

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def here() -> Samples:
    """This process's metrics now, as ``/metrics`` renders them."""
    return parse(generate_latest(metrics.REGISTRY).decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def scrape(http: httpx.AsyncClient, port: int) -> Samples:
    response = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def probe(http: httpx.AsyncClient, port: int, path: str) -> int:
    try:
        return (await http.get(f"http://127.0.0.1:{port}{path}")).status_code
    except httpx.TransportError:
        return 0  # not listening (yet, or any more)


async def answers(http: httpx.AsyncClient, port: int, path: str, status: int) -> bool:
    return await probe(http, port, path) == status


async def test_a_delivered_telegram_job_shows_in_the_counters(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    token = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"
    port = free_port()
    before = here()
    async with FakeTelegram(token) as fake, httpx.AsyncClient() as http:
        fake.flood("sendVideo", retry_after=1)  # the first post of the video is flood-limited
        stop = asyncio.Event()
        task = asyncio.create_task(run(tg_settings(settings, fake, port=port), stop=stop))
        try:
            await until(lambda: probe(http, port, "/readyz"), within=20)
            fake.photo_message(
                USER, "waves --ar 9:16", photo=fake.add_file(SAMPLE_IMAGE.read_bytes())
            )
            await fake.wait_for("sendVideo", within=20)

            async def finished() -> Samples | None:
                now = await scrape(http, port)
                done = grew(
                    before,
                    now,
                    "keevx_bot_jobs_finished_total",
                    status="delivered",
                    platform="telegram",
                )
                return now if done else None

            after: Samples = await until(finished, within=20)
            leader = value(after, "keevx_bot_leader", role="telegram_poller")
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
        sends = [c for c in fake.calls if c.method.startswith(("send", "edit", "answer"))]
    final = here()  # after the last status edit, which follows the delivery
    assert leader == 1 and value(here(), "keevx_bot_leader", role="telegram_poller") == 0

    def delta(name: str, **labels: str) -> float:
        return grew(before, after, name, **labels)

    tg = {"platform": "telegram"}
    assert delta("keevx_bot_jobs_finished_total", status="delivered", **tg) == 1
    assert delta("keevx_bot_jobs_finished_total", status="failed", **tg) == 0
    assert delta("keevx_bot_videos_delivered_total", **tg) == 1
    assert delta("keevx_bot_job_duration_seconds_count", **tg) == 1
    assert delta("keevx_bot_job_duration_seconds_sum", **tg) > 0
    assert delta("keevx_bot_job_delivery_lag_seconds_count", **tg) == 1
    assert delta("keevx_bot_job_delivery_lag_seconds_sum", **tg) >= 1  # the flood wait
    assert delta("keevx_bot_keevx_requests_total", endpoint="upload", result="ok") == 1
    assert delta("keevx_bot_keevx_requests_total", endpoint="create", result="ok") == 1
    queries = [c for c in sandbox.calls if c.method == "GET" and "/image_to_video/" in c.path]
    assert delta("keevx_bot_keevx_requests_total", endpoint="query", result="ok") == len(queries)
    ok = sum(1 for c in sends if c.status == 200)
    assert grew(before, final, "keevx_bot_platform_sends_total", result="ok", **tg) == ok >= 2
    assert grew(before, final, "keevx_bot_platform_sends_total", result="flood_limited", **tg) == 1
    assert grew(before, final, "keevx_bot_flood_wait_seconds_count", **tg) == 1
    assert grew(before, final, "keevx_bot_flood_wait_seconds_sum", **tg) == 1
    assert value(after, "keevx_bot_jobs_waiting") == 0
    assert value(after, "keevx_bot_jobs_in_flight") == 0
    assert value(after, "keevx_bot_ready") == 1
    assert value(after, "process_resident_memory_bytes") > 0


async def test_queue_gauges_and_readiness_follow_the_core(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    adapter = RecordingAdapter()
    before = here()
    async with Core(dataclasses.replace(settings, port=port)) as core, httpx.AsyncClient() as http:
        await core.start_web()
        assert await probe(http, port, "/healthz") == 200
        starting = await http.get(f"http://127.0.0.1:{port}/readyz")
        job = await submit(core.service, tmp_path)  # no platform attached: it waits
        waiting = await scrape(http, port)
        await core.attach(adapter)
        ready = await probe(http, port, "/readyz")
        await adapter.wait(job.id)
        done = await scrape(http, port)
    assert starting.status_code == 503 and starting.json() == {"status": "starting"}
    assert value(waiting, "keevx_bot_jobs_waiting") == 1
    assert value(waiting, "keevx_bot_jobs_in_flight") == 0
    assert value(waiting, "keevx_bot_ready") == 0
    assert ready == 200
    assert value(done, "keevx_bot_jobs_waiting") == 0
    assert value(done, "keevx_bot_jobs_in_flight") == 0
    finished = grew(
        before, done, "keevx_bot_jobs_finished_total", status="delivered", platform="test"
    )
    assert finished == 1
    assert value(here(), "keevx_bot_ready") == 0  # the core has stopped


async def test_readyz_is_503_while_starting_and_while_draining(
    settings: Settings, sandbox: Sandbox
) -> None:
    token = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"
    port = free_port()
    async with FakeTelegram(token) as fake, httpx.AsyncClient() as http:
        fake.slow("getMe", 3)  # the adapter is still logging in
        stop = asyncio.Event()
        task = asyncio.create_task(run(tg_settings(settings, fake, port=port), stop=stop))
        try:
            await until(lambda: probe(http, port, "/healthz"), within=10)
            while_starting = await probe(http, port, "/readyz")
            await until(lambda: answers(http, port, "/readyz", 200), within=20)
            fake.slow("sendVideo", 4)  # a delivery in progress when the stop comes
            fake.photo_message(USER, "waves", photo=fake.add_file(SAMPLE_IMAGE.read_bytes()))
            await until(lambda: fake.calls_of("sendVideo"), within=20)
            stop.set()
            while_draining = await until(lambda: answers(http, port, "/readyz", 503), within=5)
            alive_while_draining = await probe(http, port, "/healthz")
            assert not task.done()  # still finishing the delivery
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
        delivered = [c for c in fake.calls_of("sendVideo") if c.status == 200]
    assert while_starting == 503
    assert while_draining and alive_while_draining == 200
    assert len(delivered) == 1  # the drain let it finish


async def test_keevx_requests_count_each_attempt_with_429_500_and_retries(
    tmp_path: Path,
) -> None:
    config = SandboxConfig(
        delay=0.05, render_height=36, fault_rate=0.5, faults=("429", "500"), seed=5
    )
    before = here()
    async with Sandbox(config) as sandbox, httpx.AsyncClient() as http:
        client = KeevxClient(
            API_KEY,
            sandbox.base_url,
            http=http,
            retry=RetryPolicy(max_retries=20, wait_429=0, wait_500=0),
        )
        image = await client.upload(SAMPLE_IMAGE, content_type="image/jpeg")
        command = parse_command("waves")
        body = build_request(command.prompt, command.options, 1).keevx_body([image.url], None)
        [task_id] = await client.create(body)
        for _ in range(12):
            await client.query(task_id)
        with pytest.raises(ApiRejected):
            await client.create({**body, "model": "nope"})
        calls = list(sandbox.calls)
    after = here()

    def endpoint(path: str, method: str) -> str:
        if path.endswith("/upload/file"):
            return "upload"
        return "query" if method == "GET" else "create"

    expected: dict[tuple[str, str], int] = {}
    for call in calls:
        answered = "ok" if call.status == 200 else "rejected"
        result = {None: answered, "429": "rate_limited", "500": "server_error"}[call.fault]
        key = (endpoint(call.path, call.method), result)
        expected[key] = expected.get(key, 0) + 1
    faulted = sum(1 for c in calls if c.fault)
    assert faulted and {r for _, r in expected} == {
        "ok",
        "rate_limited",
        "server_error",
        "rejected",
    }
    for (name, result), count in expected.items():
        got = grew(before, after, "keevx_bot_keevx_requests_total", endpoint=name, result=result)
        assert got == count, (name, result)
    retries = sum(
        grew(before, after, "keevx_bot_keevx_retries_total", endpoint=e)
        for e in ("upload", "create", "query")
    )
    assert retries == faulted  # each 429 and 500 was sent again


async def test_discord_sends_and_its_429_wait(settings: Settings, sandbox: Sandbox) -> None:
    async with FakeDiscord() as fake, running_bot(settings, fake, sandbox) as bot:
        before, job = await _rate_limited_job(bot)
        after = here()
    assert job.status is JobStatus.DELIVERED, job.error
    sends = [
        c
        for c in fake.calls
        if c.method in ("POST", "PATCH")
        and c.path.startswith(("/channels/", "/interactions/", "/webhooks/"))
    ]
    dc = {"platform": "discord"}
    assert grew(before, after, "keevx_bot_flood_wait_seconds_count", **dc) == 1
    assert grew(before, after, "keevx_bot_flood_wait_seconds_sum", **dc) == 1.0
    assert grew(before, after, "keevx_bot_platform_sends_total", result="flood_limited", **dc) == 1
    ok = sum(1 for c in sends if c.status < 300)
    assert grew(before, after, "keevx_bot_platform_sends_total", result="ok", **dc) == ok >= 2
    assert grew(before, after, "keevx_bot_jobs_finished_total", status="delivered", **dc) == 1


async def _rate_limited_job(bot: Bot) -> tuple[Samples, Job]:
    """A /video job whose first post in the channel is answered 429 (wait 1 s)."""
    fake = bot.fake
    channel = f"/channels/{FakeDiscord.CHANNEL_ID}/messages"
    before = here()
    fake.rate_limit("POST", channel, retry_after=1.0)
    payload = await slash_video(bot)
    fake.expire(payload["token"])  # everything goes to the channel with the bot token
    [job] = await bot.until(lambda: bot.jobs())
    return before, await bot.status_of(job.id, *OVER)


def test_result_labels_come_from_the_known_sets() -> None:
    from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

    from adapters.discord.metered import send_result as discord_result
    from adapters.telegram.metered import send_result as telegram_result
    from bot.errors import ApiProtocolError, ApiTimeout, ApiUnavailable, RateLimited

    keevx = [
        metrics.keevx_result(e)
        for e in (
            None,
            RateLimited("", retry_after=1),
            ApiUnavailable("", status=500),
            ApiRejected("", status=400, code=100001),
            ApiTimeout(""),
            ApiUnavailable(""),
            ApiProtocolError("", status=200),
            ValueError(),
        )
    ]
    assert keevx == list(metrics.KEEVX_RESULTS)
    telegram = [
        telegram_result(e)
        for e in (
            None,
            RetryAfter(3),
            BadRequest("x"),
            Forbidden("x"),
            TimedOut(),
            NetworkError("x"),
        )
    ]
    assert telegram == ["ok", "flood_limited", "refused", "refused", "failed", "failed"]
    discord = [discord_result(s) for s in (200, 204, 429, 403, 404, 500, None)]
    assert discord == ["ok", "ok", "flood_limited", "refused", "refused", "failed", "failed"]
    assert set(telegram) | set(discord) == set(metrics.SEND_RESULTS)
