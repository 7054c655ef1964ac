"""Fetching finished videos to disk and handing them to the job's adapter."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bot.errors import DeliveryError, TooLarge
from bot.job import Job, TaskResult, Video

if TYPE_CHECKING:
    from adapters.base import ChatAdapter

__all__ = ["deliver_results"]

log = logging.getLogger(__name__)
CHUNK = 256 * 1024


async def _download(http: httpx.AsyncClient, task: TaskResult, folder: Path, limit: int) -> Video:
    """Stream one video to ``folder``; leave ``path`` unset when it is over ``limit`` bytes.

    Only one chunk is in memory at a time, whatever the video's size.
    """
    assert task.video_url
    found = Video(
        url=task.video_url,
        path=None,
        size=None,
        thumbnail_url=task.thumbnail_url,
        width=task.width,
        height=task.height,
        duration=task.duration,
    )
    target = folder / f"{task.task_id}.mp4"
    try:
        async with http.stream("GET", task.video_url) as response:
            if response.status_code >= 400:
                raise DeliveryError(f"video download answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                return replace(found, size=int(declared))
            size = 0
            with target.open("wb") as out:
                async for chunk in response.aiter_bytes(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        break
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"video download failed ({type(exc).__name__})") from exc
    if size > limit:
        target.unlink(missing_ok=True)
        return found
    return replace(found, path=target, size=size)


@contextlib.asynccontextmanager
async def _scratch() -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix="keevx-video-") as folder:
        yield Path(folder)


async def deliver_results(job: Job, adapter: ChatAdapter, http: httpx.AsyncClient) -> Sequence[str]:
    """Post the job's succeeded videos; return the platform's message ids.

    Videos over the adapter's upload limit (or refused as too large) are
    posted as links. Raises ``DeliveryError`` subclasses for the caller to judge.
    """
    results = [t for t in job.tasks if t.status == "SUCCEEDED" and t.video_url]
    limit = adapter.upload_limit(job.target)
    async with _scratch() as folder:
        videos = [await _download(http, task, folder, limit) for task in results]
        try:
            return await adapter.deliver(job, videos)
        except TooLarge:
            log.info("job %s: upload refused as too large, sending links", job.id)
            links = [replace(v, path=None) for v in videos]
            return await adapter.deliver(job, links)
