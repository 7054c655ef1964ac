"""The Keevx client: envelopes, errors, retry timing on a fake clock, the lost-answer rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.errors import ApiRejected, ApiTimeout, ApiUnavailable, KeevxCode, RateLimited
from bot.keevx import KeevxClient, RateLimiter, RetryPolicy, TaskState, valid_task_id

BASE = "https://keevx.test/v1"
Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(handler: Handler, clock: FakeClock, **retry: float) -> KeevxClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return KeevxClient(
        "sk-secret",
        BASE,
        http=http,
        retry=RetryPolicy(**retry),
        sleep=clock.sleep,  # type: ignore[arg-type]
    )


def answers(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler that plays ``responses`` in order and records requests."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def ok(data: object, key: str = "data") -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "msg": "ok", key: data})


QUERY_OK = {
    "task_id": "i2v-1",
    "status": "SUCCEEDED",
    "video_url": "https://v/x.mp4",
    "thumbnail_url": "https://v/t.webp",
    "error_message": "",
    "duration": 6,
    "width": 1920,
    "height": 1080,
}


async def test_headers_and_query_parsing() -> None:
    handler, seen = answers(ok(QUERY_OK))
    status = await make_client(handler, FakeClock()).query("i2v-1")
    assert status.status is TaskState.SUCCEEDED and status.done
    assert (status.width, status.height, status.duration) == (1920, 1080, 6.0)
    assert seen[0].headers["authorization"] == "Bearer sk-secret"
    assert seen[0].headers["source"] == "skill"
    assert str(seen[0].url) == f"{BASE}/image_to_video/i2v-1"


async def test_upload_streams_multipart_file_and_reads_result_envelope(tmp_path: Path) -> None:
    image = tmp_path / "p.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 300_000)
    result = {"url": "https://storage/p.png", "fileId": "abc", "fileName": "p.png"}
    handler, seen = answers(
        httpx.Response(
            200,
            json={"code": 0, "success": True, "message": {"global": "success"}, "result": result},
        )
    )
    uploaded = await make_client(handler, FakeClock()).upload(image, content_type="image/png")
    assert uploaded.url == "https://storage/p.png" and uploaded.file_id == "abc"
    body = seen[0].content
    assert seen[0].headers["content-type"].startswith("multipart/form-data")
    assert (
        b'name="file"; filename="p.png"' in body and image.read_bytes() in body
    )  # raw, not base64
    assert seen[0].headers["source"] == "skill"


async def test_create_returns_task_ids_and_sends_body() -> None:
    handler, seen = answers(ok({"task_ids": ["i2v-a", "i2v-b"]}))
    ids = await make_client(handler, FakeClock()).create({"model": "V", "prompt": "p"})
    assert ids == ["i2v-a", "i2v-b"]
    assert json.loads(seen[0].content) == {"model": "V", "prompt": "p"}


@pytest.mark.parametrize("code", list(KeevxCode))
async def test_business_codes_map_to_api_rejected(code: KeevxCode) -> None:
    status = 404 if code is KeevxCode.TASK_NOT_FOUND else 400
    handler, seen = answers(
        httpx.Response(status, json={"code": code.value, "msg": "Parameter error"})
    )
    with pytest.raises(ApiRejected) as info:
        await make_client(handler, FakeClock()).query("i2v-1")
    assert info.value.status == status and info.value.code == code.value
    assert info.value.kind is code
    assert len(seen) == 1  # refusals are never retried


async def test_error_code_in_a_200_envelope_is_a_rejection() -> None:
    handler, _ = answers(httpx.Response(200, json={"code": 100002, "msg": "Invalid token"}))
    with pytest.raises(ApiRejected) as info:
        await make_client(handler, FakeClock()).create({})
    assert info.value.kind is KeevxCode.TOKEN and "Invalid token" in str(info.value)


async def test_429_waits_30_seconds_then_succeeds() -> None:
    clock = FakeClock()
    handler, seen = answers(httpx.Response(429, json={"code": 429}), ok(QUERY_OK))
    await make_client(handler, clock).query("i2v-1")
    assert clock.waits == [30.0] and len(seen) == 2


async def test_500_waits_10_seconds_at_most_three_retries() -> None:
    clock = FakeClock()
    handler, seen = answers(*[httpx.Response(500, json={"code": 500})] * 4)
    with pytest.raises(ApiUnavailable) as info:
        await make_client(handler, clock).query("i2v-1")
    assert info.value.status == 500
    assert clock.waits == [10.0, 10.0, 10.0] and len(seen) == 4


async def test_rate_limit_retries_used_up() -> None:
    clock = FakeClock()
    handler, _ = answers(*[httpx.Response(429, json={"code": 429})] * 4)
    with pytest.raises(RateLimited):
        await make_client(handler, clock).query("i2v-1")
    assert clock.waits == [30.0] * 3


async def test_waits_are_configurable() -> None:
    clock = FakeClock()
    handler, _ = answers(httpx.Response(429), httpx.Response(500), ok(QUERY_OK))
    await make_client(handler, clock, wait_429=0.5, wait_500=0.25).query("i2v-1")
    assert clock.waits == [0.5, 0.25]


async def test_network_error_retries_at_once() -> None:
    clock = FakeClock()
    handler, seen = answers(httpx.ReadError("reset"), httpx.ConnectError("refused"), ok(QUERY_OK))
    status = await make_client(handler, clock).query("i2v-1")
    assert status.task_id == "i2v-1" and len(seen) == 3 and clock.waits == []


async def test_create_is_retried_when_it_never_left() -> None:
    handler, seen = answers(httpx.ConnectError("refused"), ok({"task_ids": ["i2v-a"]}))
    assert await make_client(handler, FakeClock()).create({}) == ["i2v-a"]
    assert len(seen) == 2


async def test_create_is_retried_after_a_retryable_status() -> None:
    clock = FakeClock()
    handler, seen = answers(httpx.Response(500), ok({"task_ids": ["i2v-a"]}))
    assert await make_client(handler, clock).create({}) == ["i2v-a"]
    assert clock.waits == [10.0] and len(seen) == 2


@pytest.mark.parametrize(
    "lost",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("closed"),
        httpx.ReadError("reset"),
        httpx.WriteTimeout("stuck"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_create_with_lost_answer_is_never_resent(lost: Exception) -> None:
    handler, seen = answers(lost, ok({"task_ids": ["i2v-dup"]}))
    with pytest.raises(ApiTimeout):
        await make_client(handler, FakeClock()).create({"model": "V"})
    assert len(seen) == 1


async def test_malformed_answers_are_rejections() -> None:
    handler, _ = answers(
        httpx.Response(200, text="<html>"), ok({"task_ids": []}), ok({"status": "WHAT"})
    )
    client = make_client(handler, FakeClock())
    with pytest.raises(ApiRejected):
        await client.query("i2v-1")
    with pytest.raises(ApiRejected):
        await client.create({})
    with pytest.raises(ApiRejected):
        await client.query("i2v-1")


async def test_error_messages_hold_no_key() -> None:
    handler, _ = answers(*[httpx.Response(500, json={"code": 500, "msg": "boom"})] * 4)
    with pytest.raises(ApiUnavailable) as info:
        await make_client(handler, FakeClock()).query("i2v-1")
    assert "sk-secret" not in str(info.value) and "keevx.test" not in str(info.value)


async def test_global_rate_limit_spaces_calls() -> None:
    clock = FakeClock()
    now = [100.0]

    async def sleep(seconds: float) -> None:
        clock.waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await limiter.wait()
    assert clock.waits == pytest.approx([0.25, 0.25, 0.25, 0.25])
    now[0] += 10  # idle time does not bank a burst beyond one call
    await limiter.wait()
    await limiter.wait()
    assert clock.waits[-1] == pytest.approx(0.25)


@pytest.mark.parametrize(
    "task_id", ["i2v-d6b6472bcf724d0399e06d1390cb964e", "a", "A_b-9", "x" * 128]
)
def test_valid_task_ids(task_id: str) -> None:
    assert valid_task_id(task_id)


@pytest.mark.parametrize(
    "task_id",
    ["", "../../x", "a/b", "..", ".hidden", "-x", "i2v-1\n", "i2v 1", "%2e%2e", "x" * 129, "ü", 7],
)
def test_invalid_task_ids(task_id: object) -> None:
    assert not valid_task_id(task_id)
