"""Fetching finished videos to disk and handing them to the job's adapter.

Keevx's answers are not trusted: a video link is fetched only under a
:class:`~bot.jobs.safe_fetch.FetchPolicy` (public hosts or the operator's Keevx
origin, few redirects, a size cap, a deadline), and a link the policy refuses
ends the delivery for good (:class:`ResultRefused`).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bot.errors import DeliveryError, TooLarge
from bot.jobs.safe_fetch import (
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    FetchTooLarge,
    Refusal,
    fetch_to_file,
    origin,
)
from bot.model.job import Job, TaskResult, Video

if TYPE_CHECKING:
    from adapters.base import ChatAdapter

__all__ = ["RESULT_POLICY", "ResultRefused", "deliver_video", "result_policy"]

log = logging.getLogger(__name__)

# Public hosts only. The effective size cap is the smaller of max_bytes (2000 MB,
# Telegram's local-mode limit) and the destination's upload limit: over it, a link.
RESULT_POLICY = FetchPolicy(max_bytes=2000 * 1024 * 1024, deadline=300.0)


class ResultRefused(DeliveryError):
    """A video link from Keevx breaks the fetch policy: retrying cannot help.

    The same link would be refused again, so the job should end (undeliverable)
    with this message, which names no URL, address or code.
    """

    def __init__(self, reason: Refusal) -> None:
        super().__init__("Keevx returned a video link the bot may not download")
        self.reason = reason


def result_policy(keevx_base_url: str) -> FetchPolicy:
    """:data:`RESULT_POLICY`, also trusting the origin of the Keevx API the bot talks to.

    That origin is the operator's choice (``KEEVX_BASE_URL``, or the sandbox's
    loopback URL with ``KEEVX_SANDBOX=1``), so it skips the public-address check.
    """
    return replace(RESULT_POLICY, trusted_origins=frozenset({origin(keevx_base_url)}))


def _thumbnail(url: str | None, policy: FetchPolicy) -> str | None:
    """The thumbnail link, only if it is a plain web URL.

    The bot never fetches it (platforms do: Telegram's servers, Discord's media
    proxy), but anything else could be taken for a Telegram file id or ``attach://``.
    """
    if not url:
        return None
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return None
    return url if parsed.scheme in policy.schemes and parsed.host else None


async def _download(
    http: httpx.AsyncClient, task: TaskResult, target: Path, limit: int, policy: FetchPolicy
) -> Video:
    """Stream one video to ``target``; leave ``path`` unset when it is over ``limit`` bytes.

    Only one chunk is in memory at a time, whatever the video's size. Raises
    :class:`ResultRefused` for a link the policy refuses, ``DeliveryError`` when
    the download failed in a way that may pass.
    """
    assert task.video_url
    found = Video(
        url=task.video_url,
        path=None,
        size=None,
        thumbnail_url=_thumbnail(task.thumbnail_url, policy),
        width=task.width,
        height=task.height,
        duration=task.duration,
    )
    capped = replace(policy, max_bytes=min(policy.max_bytes, limit))
    try:
        fetched = await fetch_to_file(http, task.video_url, target, capped)
    except FetchTooLarge as exc:
        return replace(found, size=exc.size)
    except FetchRefused as exc:
        raise ResultRefused(exc.reason) from exc
    except FetchFailed as exc:
        raise DeliveryError(f"video download failed: {exc}") from exc
    return replace(found, path=fetched.path, size=fetched.size)


@contextlib.asynccontextmanager
async def _scratch() -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix="keevx-video-") as folder:
        yield Path(folder)


async def deliver_video(
    job: Job,
    task: TaskResult,
    adapter: ChatAdapter,
    http: httpx.AsyncClient,
    *,
    policy: FetchPolicy = RESULT_POLICY,
) -> str:
    """Post one succeeded task's video; return the platform's message id.

    A video over the adapter's upload limit (or refused as too large) is posted
    as a link. ``policy`` says which links may be fetched: pass
    :func:`result_policy` of the Keevx base URL in use, or the sandbox's videos
    are refused. Raises :class:`ResultRefused` (nothing posted) when the link is
    refused, other ``DeliveryError`` subclasses for the caller to judge.
    """
    limit = adapter.upload_limit(job.target)
    number = next(n for n, t in enumerate(job.tasks, start=1) if t.task_id == task.task_id)
    async with _scratch() as folder:
        # Named by position: a task id is Keevx's text, not a file name.
        try:
            video = await _download(http, task, folder / f"video-{number}.mp4", limit, policy)
        except ResultRefused as exc:
            log.warning("job %s: a video link was refused (%s)", job.id, exc.reason)
            raise
        video = replace(video, number=number, total=len(job.tasks))
        try:
            return await adapter.deliver(job, video)
        except TooLarge:
            log.info("job %s: upload refused as too large, sending a link", job.id)
            return await adapter.deliver(job, replace(video, path=None))
