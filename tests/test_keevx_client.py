"""The Keevx client: envelopes, errors, retry timing on a fake clock, the lost-answer rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.errors import (
    ApiProtocolError,
    ApiRejected,
    ApiTimeout,
    ApiUnavailable,
    KeevxCode,
    RateLimited,
)
from bot.keevx.client import (
    MAX_ANSWER,
    KeevxClient,
    RateLimiter,
    RetryPolicy,
    valid_task_id,
)
from bot.model.job import TaskState

BASE = "https://keevx.test/v1"
Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(handler: Handler, clock: FakeClock, **retry: Any) -> KeevxClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return KeevxClient(
        "sk-secret",
        BASE,
        http=http,
        retry=RetryPolicy(**retry),
        sleep=clock.sleep,
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


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json=["not", "an", "envelope"]),
        httpx.Response(200, json={"code": "0", "data": QUERY_OK}),
        httpx.Response(200, json={"code": 0, "msg": "ok"}),
        ok(["a", "list"]),
        ok("PROCESSING"),
        ok(QUERY_OK | {"status": "WHAT"}),
        ok(QUERY_OK | {"status": ["SUCCEEDED"]}),
        ok(QUERY_OK | {"video_url": {"href": "x"}}),
        ok(QUERY_OK | {"video_url": ""}),
        ok(QUERY_OK | {"video_url": "file:///etc/passwd"}),
        ok(QUERY_OK | {"error_message": 5}),
        ok(QUERY_OK | {"task_id": "i2v-other"}),
        ok({k: v for k, v in QUERY_OK.items() if k != "task_id"}),
        httpx.Response(200, content=b"[" * 100_000),
        httpx.Response(200, content=b" " * (MAX_ANSWER + 1)),
    ],
    ids=lambda r: r.content[:40].decode(errors="replace"),
)
async def test_malformed_query_answers_are_retryable_protocol_errors(
    answer: httpx.Response,
) -> None:
    handler, seen = answers(answer)
    with pytest.raises(ApiProtocolError) as info:
        await make_client(handler, FakeClock()).query("i2v-1")
    assert isinstance(info.value, ApiUnavailable)  # retryable: not a refusal
    assert len(seen) == 1 and info.value.__cause__ is not info.value


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>"),
        ok({"task_ids": []}),
        ok({"task_ids": "i2v-a"}),
        ok({"task_ids": ["i2v-a", 7]}),
        ok(["i2v-a"]),
        ok({"task_ids": ["../../x"]}),
        ok({"task_ids": ["i2v-a", "i2v-b/../../etc"]}),
        ok({"task_ids": ["i2v-a\n"]}),
    ],
    ids=lambda r: r.content[:50].decode(errors="replace"),
)
async def test_malformed_create_answer_is_an_unknown_outcome(answer: httpx.Response) -> None:
    """The task may exist: never sent again, never a refusal that fails the job."""
    handler, seen = answers(answer, ok({"task_ids": ["i2v-dup"]}))
    with pytest.raises(ApiTimeout) as info:
        await make_client(handler, FakeClock()).create({})
    assert len(seen) == 1 and info.value.__cause__ is not info.value


@pytest.mark.parametrize("status", [502, 503, 504, 501, 520, 524, 599])
async def test_create_answered_by_a_gateway_error_is_never_resent(status: int) -> None:
    clock = FakeClock()
    handler, seen = answers(httpx.Response(status), ok({"task_ids": ["i2v-dup"]}))
    with pytest.raises(ApiTimeout):
        await make_client(handler, clock).create({"model": "V"})
    assert len(seen) == 1 and clock.waits == []


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_query_retries_a_gateway_error(status: int) -> None:
    clock = FakeClock()
    handler, seen = answers(httpx.Response(status), ok(QUERY_OK))
    assert (await make_client(handler, clock).query("i2v-1")).done
    assert len(seen) == 2 and clock.waits == [10.0]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_not_followed(status: int) -> None:
    """Even on an httpx client that follows redirects, as the bot's shared one does."""
    redirect = httpx.Response(status, headers={"location": f"{BASE}/image_to_video/i2v-1"})
    handler, seen = answers(redirect, ok(QUERY_OK), redirect, ok({"task_ids": ["i2v-dup"]}))
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=True)
    client = KeevxClient("sk-secret", BASE, http=http, sleep=FakeClock().sleep)
    with pytest.raises(ApiProtocolError) as info:
        await client.query("i2v-1")
    assert info.value.status == status and len(seen) == 1
    with pytest.raises(ApiTimeout):
        await client.create({})
    assert len(seen) == 2


async def test_retry_after_is_honoured_up_to_the_cap() -> None:
    clock = FakeClock()
    handler, seen = answers(
        httpx.Response(429, headers={"retry-after": "45"}),
        httpx.Response(429, headers={"retry-after": "60"}),
        ok(QUERY_OK),
    )
    await make_client(handler, clock).query("i2v-1")
    assert clock.waits == [45.0, 60.0] and len(seen) == 3


@pytest.mark.parametrize("advice", ["3600", "60.5", "Fri, 31 Dec 2100 23:59:59 GMT"])
async def test_a_longer_retry_after_raises_at_once(advice: str) -> None:
    """Sleeping an hour would outlive the job's lease: the caller reschedules instead."""
    clock = FakeClock()
    handler, seen = answers(
        httpx.Response(429, headers={"retry-after": advice}), ok({"task_ids": ["i2v-a"]})
    )
    with pytest.raises(RateLimited) as info:
        await make_client(handler, clock).create({})
    assert info.value.retry_after > 60 and clock.waits == [] and len(seen) == 1
    assert info.value.__cause__ is not info.value


async def test_max_wait_is_configurable() -> None:
    clock = FakeClock()
    handler, _ = answers(httpx.Response(429, headers={"retry-after": "5"}), ok(QUERY_OK))
    with pytest.raises(RateLimited) as info:
        await make_client(handler, clock, max_wait=2).query("i2v-1")
    assert info.value.retry_after == 5.0 and clock.waits == []


async def test_errors_with_used_up_retries_are_not_their_own_cause() -> None:
    for status, error in ((429, RateLimited), (500, ApiUnavailable)):
        handler, _ = answers(*[httpx.Response(status)] * 4)
        with pytest.raises(error) as info:
            await make_client(handler, FakeClock()).query("i2v-1")
        assert info.value.__cause__ is not info.value
    handler, _ = answers(*[httpx.ReadError("reset")] * 4)
    with pytest.raises(ApiUnavailable) as lost:
        await make_client(handler, FakeClock()).query("i2v-1")
    assert isinstance(lost.value.__cause__, httpx.ReadError)


@pytest.mark.parametrize("task_id", ["../../x", "i2v-1/../../upload", "i2v-1?x=1", "", "a\nb"])
async def test_query_refuses_a_malformed_task_id_before_building_a_url(task_id: str) -> None:
    handler, seen = answers(ok(QUERY_OK))
    with pytest.raises(ApiRejected) as info:
        await make_client(handler, FakeClock()).query(task_id)
    assert info.value.kind is KeevxCode.TASK_NOT_FOUND and info.value.status == 0
    assert seen == []


async def test_a_broken_content_encoding_is_retried_for_a_query() -> None:
    garbage = httpx.Response(
        200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip")
    )
    handler, seen = answers(garbage, ok(QUERY_OK))
    assert (await make_client(handler, FakeClock()).query("i2v-1")).done
    assert len(seen) == 2


async def test_upload_answer_without_a_url_is_a_protocol_error(tmp_path: Path) -> None:
    image = tmp_path / "p.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    for result in ({"fileId": "abc"}, {"url": "../../etc/passwd"}, {"url": ["https://x/y"]}):
        handler, _ = answers(ok(result, key="result"))
        with pytest.raises(ApiProtocolError):
            await make_client(handler, FakeClock()).upload(image, content_type="image/png")


async def test_a_refusal_stays_a_rejection() -> None:
    handler, _ = answers(
        httpx.Response(404, text="<html>not found</html>"),
        httpx.Response(200, json={"code": 100001, "msg": "Parameter error"}),
    )
    client = make_client(handler, FakeClock())
    with pytest.raises(ApiRejected) as info:
        await client.query("i2v-1")
    assert info.value.status == 404 and info.value.code is None
    with pytest.raises(ApiRejected) as refused:
        await client.create({})
    assert refused.value.kind is KeevxCode.PARAMETER


async def test_keevx_text_in_errors_loses_urls_keys_and_newlines() -> None:
    msg = "bad image https://api.telegram.org/file/bot123:ABC/p.jpg for key sk-secret\nforged line"
    handler, _ = answers(httpx.Response(400, json={"code": 100006, "msg": msg}))
    with pytest.raises(ApiRejected) as info:
        await make_client(handler, FakeClock()).create({})
    text = str(info.value)
    assert text.startswith("bad image <url> for key <key> forged line")
    assert "telegram" not in text and "sk-secret" not in text and "\n" not in text


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
