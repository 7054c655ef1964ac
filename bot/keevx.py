"""An async client for Keevx's three image-to-video endpoints.

Retries follow Keevx's advice (429: wait 30 s, 500: wait 10 s, network
error: at once; at most three retries). A create request is retried only
when it provably never reached Keevx or Keevx answered with a retryable
status: a lost answer raises :class:`ApiTimeout`, because sending the POST
again could create, and charge for, a second task.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from bot.errors import ApiRejected, ApiTimeout, ApiUnavailable, KeevxError, RateLimited

__all__ = [
    "KeevxClient",
    "RetryPolicy",
    "TaskState",
    "TaskStatus",
    "UploadedImage",
    "valid_task_id",
]

Sleep = Callable[[float], Awaitable[None]]

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


class TaskState(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


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
    max_retries: int = 3
    wait_429: float = 30.0
    wait_500: float = 10.0


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
    """Keevx's upload, create and query calls, with errors mapped to :mod:`bot.errors`."""

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
        self._headers = {"Authorization": f"Bearer {api_key}", "source": "skill"}
        self._http = http
        self._retry = retry
        self._sleep = sleep
        self._limiter = RateLimiter(max_rps, sleep=sleep)

    async def upload(
        self, path: Path, *, content_type: str, file_name: str | None = None
    ) -> UploadedImage:
        """Upload a local image (streamed from disk as multipart ``file``)."""
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
            data = await self._call(build, idempotent=True)
        finally:
            for handle in handles:
                handle.close()
        try:
            return UploadedImage(
                url=str(data["url"]),
                file_id=str(data.get("fileId", "")),
                file_name=str(data.get("fileName", name)),
            )
        except (KeyError, TypeError, AttributeError):
            raise ApiRejected("upload answer has no url", status=200, code=None) from None

    async def create(self, body: dict[str, Any]) -> list[str]:
        """Create an image-to-video task; return its task ids (one per generated video).

        Raises :class:`ApiTimeout` when the request may have reached Keevx
        but its answer was lost: do not call again for the same job.
        """
        data = await self._call(
            lambda: self._http.build_request(
                "POST", f"{self._base}/image_to_video", headers=self._headers, json=body
            ),
            idempotent=False,
        )
        ids = data.get("task_ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ApiRejected("create answer has no task_ids", status=200, code=None)
        return ids

    async def query(self, task_id: str) -> TaskStatus:
        """The task's current status."""
        data = await self._call(
            lambda: self._http.build_request(
                "GET", f"{self._base}/image_to_video/{task_id}", headers=self._headers
            ),
            idempotent=True,
        )
        try:
            return TaskStatus(
                task_id=str(data.get("task_id") or task_id),
                status=TaskState(data["status"]),
                video_url=data.get("video_url") or "",
                thumbnail_url=data.get("thumbnail_url") or "",
                error_message=data.get("error_message") or "",
                duration=_number(data.get("duration"), float),
                width=_number(data.get("width"), int),
                height=_number(data.get("height"), int),
            )
        except (KeyError, ValueError, TypeError):
            raise ApiRejected("query answer has no valid status", status=200, code=None) from None

    async def _call(self, build: Callable[[], httpx.Request], *, idempotent: bool) -> Any:
        retries = 0
        while True:
            await self._limiter.wait()
            request = build()
            try:
                response = await self._http.send(request)
            except _NEVER_SENT as exc:
                error: KeevxError = ApiUnavailable(f"cannot reach Keevx ({type(exc).__name__})")
                wait = 0.0
                cause: Exception = exc
            except httpx.TransportError as exc:
                if not idempotent:
                    raise ApiTimeout(f"Keevx's answer was lost ({type(exc).__name__})") from exc
                error = ApiUnavailable(f"Keevx connection failed ({type(exc).__name__})")
                wait, cause = 0.0, exc
            else:
                try:
                    return _unwrap(response)
                except RateLimited as exc:
                    error, wait, cause = exc, max(exc.retry_after, self._retry.wait_429), exc
                except ApiUnavailable as exc:
                    error, wait, cause = exc, self._retry.wait_500, exc
            if retries >= self._retry.max_retries:
                raise error from cause
            retries += 1
            if wait:
                await self._sleep(wait)


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    return kind(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _unwrap(response: httpx.Response) -> Any:
    """Open Keevx's envelope: ``code`` 0 means success; ``data`` or ``result`` holds the payload."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    envelope = body if isinstance(body, dict) else {}
    code = envelope.get("code")
    message = envelope.get("msg") or envelope.get("message") or response.reason_phrase
    if isinstance(message, dict):
        message = message.get("global") or str(message)
    message = str(message)[:200]
    if status == 429:
        retry_after = response.headers.get("retry-after", "")
        seconds = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 0.0
        raise RateLimited(f"Keevx rate limit: {message}", retry_after=seconds)
    if status >= 500:
        raise ApiUnavailable(f"Keevx server error: {message}", status=status)
    if status >= 400 or body is None or (code not in (0, None)):
        raise ApiRejected(message, status=status, code=code if isinstance(code, int) else None)
    payload = envelope.get("data", envelope.get("result"))
    if payload is None:
        raise ApiRejected("answer has no data", status=status, code=None)
    return payload
