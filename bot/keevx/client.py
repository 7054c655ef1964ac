"""An async client for Keevx's three image-to-video endpoints.

Retries follow Keevx's advice (429: wait 30 s, 500: wait 10 s, network
error: at once; at most three retries), honouring a longer ``Retry-After``
up to :attr:`RetryPolicy.max_wait`. Every request has a total deadline
(connect, send and the whole answer), follows no redirect and reads at most
:data:`MAX_ANSWER` bytes, so a slow, broken or lying Keevx costs a worker
seconds, not minutes, and every failure is one of :mod:`bot.errors`.

A create request is sent again only when it provably made no task: it never
left, or Keevx answered 429 or 500 (its documented retryable statuses).
Anything else that is not a clear answer (a lost connection, the deadline,
502/503/504, a redirect, a malformed 2xx) raises :class:`ApiTimeout` at
once, because the task may exist and sending again could charge twice.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot import metrics
from bot.errors import (
    ApiProtocolError,
    ApiRejected,
    ApiTimeout,
    ApiUnavailable,
    KeevxCode,
    KeevxError,
    RateLimited,
)
from bot.model.job import TaskState

__all__ = [
    "MAX_ANSWER",
    "KeevxClient",
    "RetryPolicy",
    "TaskStatus",
    "UploadedImage",
    "valid_task_id",
]

Sleep = Callable[[float], Awaitable[None]]

MAX_ANSWER = 1024 * 1024
"""Bytes of an API answer read at most; Keevx's are a few hundred."""

# Errors raised before a single byte of the request left this machine.
_NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)


_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def valid_task_id(task_id: object) -> bool:
    """Whether ``task_id`` is safe to put in a file name or a URL path.

    Keevx's ids look like ``i2v-<hex>``; anything else (``../x``, ``a/b``, ``%2e``,
    a trailing newline, an empty string) is refused, because an id that comes
    back from an API ends up in paths and URLs.
    """
    return isinstance(task_id, str) and _TASK_ID.fullmatch(task_id) is not None


@dataclass(frozen=True)
class UploadedImage:
    url: str
    file_id: str
    file_name: str


@dataclass(frozen=True, kw_only=True)
class TaskStatus:
    task_id: str
    status: TaskState
    video_url: str = ""
    thumbnail_url: str = ""
    error_message: str = ""
    duration: float | None = None
    width: int | None = None
    height: int | None = None

    @property
    def done(self) -> bool:
        return self.status in (TaskState.SUCCEEDED, TaskState.FAILED)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the client retries, and how long one request may take."""

    max_retries: int = 3
    wait_429: float = 30.0
    wait_500: float = 10.0
    max_wait: float = 60.0
    """A 429 asking for a longer wait raises :class:`RateLimited` at once instead."""
    deadline: float = 60.0
    """Seconds one create or query request may take, connect to last byte."""
    upload_deadline: float = 300.0
    """The same for one upload (up to 20 MB)."""

    def __post_init__(self) -> None:
        if self.max_retries < 0 or min(self.wait_429, self.wait_500, self.max_wait) < 0:
            raise ValueError("retries and waits must not be negative")
        if min(self.deadline, self.upload_deadline) <= 0:
            raise ValueError("deadlines must be positive")


class RateLimiter:
    """At most ``rate`` calls a second across the process (0 = unlimited)."""

    def __init__(
        self, rate: float, *, clock: Callable[[], float] = time.monotonic, sleep: Sleep
    ) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self._interval:
            return
        async with self._lock:
            now = self._clock()
            delay = self._next - now
            self._next = max(now, self._next) + self._interval
        if delay > 0:
            await self._sleep(delay)


class KeevxClient:
    """Keevx's upload, create and query calls, with every failure mapped to :mod:`bot.errors`."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        http: httpx.AsyncClient,
        retry: RetryPolicy = RetryPolicy(),
        max_rps: float = 0.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}", "source": "skill"}
        self._http = http
        self._retry = retry
        self._sleep = sleep
        self._limiter = RateLimiter(max_rps, sleep=sleep)

    async def upload(
        self, path: Path, *, content_type: str, file_name: str | None = None
    ) -> UploadedImage:
        """Upload a local image (streamed from disk as multipart ``file``).

        Raises :class:`ApiRejected` for a refusal and :class:`ApiUnavailable`
        (or its :class:`ApiProtocolError`) for anything worth trying again.
        """
        name = file_name or path.name
        handles: list[Any] = []

        def build() -> httpx.Request:
            # A fresh file object per attempt, so a retried upload starts from byte 0.
            handles.append(path.open("rb"))
            return self._http.build_request(
                "POST",
                f"{self._base}/figure-resource/upload/file",
                headers=self._headers,
                files={"file": (name, handles[-1], content_type)},
            )

        try:
            data = await self._call(
                build, create=False, deadline=self._retry.upload_deadline, endpoint="upload"
            )
        finally:
            for handle in handles:
                handle.close()
        return UploadedImage(
            url=_url(data, "url", "upload"),
            file_id=_text(data, "fileId", "upload"),
            file_name=_text(data, "fileName", "upload") or name,
        )

    async def create(self, body: dict[str, Any]) -> list[str]:
        """Create an image-to-video task; return its task ids (one per generated video).

        Raises :class:`ApiTimeout` when the request may have made a task but
        no usable answer came back: do not call again for the same job. Every
        other error means no task was made: :class:`ApiRejected` (a refusal),
        :class:`RateLimited` or :class:`ApiUnavailable` (try again later).
        """
        try:
            data = await self._call(
                lambda: self._http.build_request(
                    "POST", f"{self._base}/image_to_video", headers=self._headers, json=body
                ),
                create=True,
                deadline=self._retry.deadline,
                endpoint="create",
            )
            ids = data.get("task_ids")
            if not isinstance(ids, list) or not ids or not all(map(valid_task_id, ids)):
                raise ApiProtocolError("create answer has no valid task_ids", status=200)
        except ApiProtocolError as exc:
            raise ApiTimeout(f"Keevx's answer to a create is unusable: {exc}") from exc
        return list(ids)

    async def query(self, task_id: str) -> TaskStatus:
        """The task's current status.

        An id that fails :func:`valid_task_id` is never sent: it raises
        :class:`ApiRejected` with ``status`` 0 and code ``TASK_NOT_FOUND``,
        since Keevx can't know such a task. An answer about another task, or
        of the wrong shape, raises :class:`ApiProtocolError`.
        """
        if not valid_task_id(task_id):
            raise ApiRejected(
                "task id is malformed; not sent", status=0, code=KeevxCode.TASK_NOT_FOUND
            )
        data = await self._call(
            lambda: self._http.build_request(
                "GET", f"{self._base}/image_to_video/{task_id}", headers=self._headers
            ),
            create=False,
            deadline=self._retry.deadline,
            endpoint="query",
        )
        if data.get("task_id") != task_id:
            raise ApiProtocolError("query answer is about another task", status=200)
        try:
            state = TaskState(str(data.get("status")))
        except ValueError:
            raise ApiProtocolError("query answer has no valid status", status=200) from None
        return TaskStatus(
            task_id=task_id,
            status=state,
            video_url=_url(data, "video_url", "query") if state is TaskState.SUCCEEDED else "",
            thumbnail_url=_text(data, "thumbnail_url", "query"),
            error_message=_text(data, "error_message", "query"),
            duration=_number(data.get("duration"), float),
            width=_number(data.get("width"), int),
            height=_number(data.get("height"), int),
        )

    async def _call(
        self, build: Callable[[], httpx.Request], *, create: bool, deadline: float, endpoint: str
    ) -> dict[str, Any]:
        """Send until an answer, a final error or the retries run out; return ``data``."""
        retries = 0
        while True:
            await self._limiter.wait()
            try:
                with metrics.keevx_request(endpoint):
                    return await self._attempt(build(), create=create, deadline=deadline)
            except _Retry as retry:
                error, wait = retry.error, retry.wait
            if retries >= self._retry.max_retries:
                raise error from error.__cause__
            retries += 1
            metrics.KEEVX_RETRIES.labels(endpoint).inc()
            if wait:
                await self._sleep(wait)

    async def _attempt(
        self, request: httpx.Request, *, create: bool, deadline: float
    ) -> dict[str, Any]:
        """One request; raises :class:`_Retry` when sending it again is allowed and may help."""
        try:
            async with asyncio.timeout(deadline):
                response = await self._http.send(request, stream=True, follow_redirects=False)
                try:
                    raw = await _read(response)
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            # Not retried here: a Keevx this slow won't be quicker a moment later.
            what = f"Keevx did not answer within {deadline:g} s"
            raise (ApiTimeout(what) if create else ApiUnavailable(what)) from exc
        except _NEVER_SENT as exc:
            raise _Retry(ApiUnavailable(f"cannot reach Keevx ({type(exc).__name__})"), exc) from exc
        except httpx.HTTPError as exc:  # sent, or maybe sent: a reset, a bad stream, ...
            if create:
                raise ApiTimeout(f"Keevx's answer was lost ({type(exc).__name__})") from exc
            what = f"Keevx connection failed ({type(exc).__name__})"
            raise _Retry(ApiUnavailable(what), exc) from exc
        try:
            return _unwrap(response, raw, secret=self._key)
        except RateLimited as exc:
            if exc.retry_after > self._retry.max_wait:
                raise  # the caller reschedules; sleeping that long would outlive its lease
            raise _Retry(exc, wait=max(exc.retry_after, self._retry.wait_429)) from None
        except ApiProtocolError:
            raise
        except ApiUnavailable as exc:
            if create and exc.status != 500:
                # A gateway error (502, 503, 504, 52x) may come after the task was made.
                raise ApiTimeout(f"Keevx answered HTTP {exc.status} to a create") from exc
            raise _Retry(exc, wait=self._retry.wait_500) from None


class _Retry(Exception):
    """Internal: ``error`` may be retried after ``wait`` seconds."""

    def __init__(
        self, error: KeevxError, cause: BaseException | None = None, *, wait: float = 0.0
    ) -> None:
        super().__init__()
        self.error, self.wait = error, wait
        error.__cause__ = cause


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    return kind(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(data: dict[str, Any], key: str, what: str) -> str:
    """``data[key]`` as text ("" when absent or null); any other type is a protocol error."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiProtocolError(f"{what} answer's {key} is not text", status=200)
    return value


def _url(data: dict[str, Any], key: str, what: str) -> str:
    """``data[key]``, which must be an absolute http(s) URL."""
    value = _text(data, key, what)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiProtocolError(f"{what} answer has no valid {key}", status=200)
    return value


async def _read(response: httpx.Response) -> bytes:
    """The whole answer, refused once it passes :data:`MAX_ANSWER` bytes."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER:
            raise ApiProtocolError("Keevx's answer is too large", status=response.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: str) -> float:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date); 0 when unreadable."""
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_URLS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _message(envelope: dict[str, Any], response: httpx.Response, secret: str) -> str:
    """Keevx's own error text, short, on one line, without URLs or the API key."""
    message = envelope.get("msg") or envelope.get("message") or response.reason_phrase
    if isinstance(message, dict):
        message = message.get("global") or ""
    text = _URLS.sub("<url>", str(message))
    if secret:
        text = text.replace(secret, "<key>")
    return _CONTROL.sub(" ", text)[:200]


def _unwrap(response: httpx.Response, raw: bytes, *, secret: str) -> dict[str, Any]:
    """Open Keevx's envelope: ``code`` 0 means success; ``data`` or ``result`` holds the payload.

    Raises :class:`RateLimited` (429), :class:`ApiUnavailable` (5xx),
    :class:`ApiRejected` (other 4xx, or a non-zero business code) and
    :class:`ApiProtocolError` (a redirect, or anything else that is not an envelope).
    """
    status = response.status_code
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        body = None
    envelope = body if isinstance(body, dict) else {}
    code = envelope.get("code")
    message = _message(envelope, response, secret)
    if status == 429:
        seconds = _retry_after(response.headers.get("retry-after", ""))
        raise RateLimited(f"Keevx rate limit: {message}", retry_after=seconds)
    if 500 <= status <= 599:
        raise ApiUnavailable(f"Keevx server error: {message}", status=status)
    if 400 <= status <= 499:
        known = code if isinstance(code, int) and not isinstance(code, bool) else None
        raise ApiRejected(message, status=status, code=known)
    if not 200 <= status <= 299:
        kind = "a redirect" if 300 <= status <= 399 else "an unexpected status"
        raise ApiProtocolError(f"Keevx answered with {kind}", status=status)
    if body is None or not isinstance(body, dict):
        raise ApiProtocolError("Keevx's answer is not a JSON object", status=status)
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        raise ApiProtocolError("Keevx's answer has a malformed code", status=status)
    if code:
        raise ApiRejected(message, status=status, code=code)
    payload = envelope.get("data", envelope.get("result"))
    if not isinstance(payload, dict):
        raise ApiProtocolError("Keevx's answer has no data object", status=status)
    return payload
