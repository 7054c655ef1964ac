"""The contract between the core and a chat platform.

The only module of :mod:`adapters` the core imports. An adapter turns
platform events into :meth:`bot.service.JobService.submit` calls, and the
core's jobs and results into platform messages through this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from bot.job import Job, Target

__all__ = ["ChatAdapter", "Target", "Video"]


@dataclass(frozen=True, kw_only=True)
class Video:
    """A finished video handed to an adapter.

    ``path`` is a local MP4 the adapter may upload (deleted after the call);
    it is ``None`` when the file is over the adapter's upload limit, and the
    adapter posts ``url`` (valid for 7 days) with the thumbnail instead.
    """

    url: str
    path: Path | None
    size: int | None
    thumbnail_url: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None


@runtime_checkable
class ChatAdapter(Protocol):
    """What the core needs from a platform."""

    @property
    def platform(self) -> str:
        """The name stored in :attr:`Target.platform`, e.g. ``"telegram"``."""
        ...

    async def start(self) -> None:
        """Connect and start taking requests."""
        ...

    async def stop(self) -> None:
        """Stop taking requests and disconnect; idempotent."""
        ...

    def upload_limit(self, target: Target) -> int:
        """Largest video in bytes this adapter can upload to ``target``."""
        ...

    async def show_status(self, job: Job) -> str | None:
        """Create or update the job's one status message; return its id.

        Called on every state change and on polls; the adapter may skip
        edits to respect the platform's flood limits.
        Raises :class:`~bot.errors.RecipientGone` or :class:`~bot.errors.DeliveryError`.
        """
        ...

    async def deliver(self, job: Job, videos: Sequence[Video]) -> Sequence[str]:
        """Post the job's videos in reply to its request; return the message ids.

        Raises :class:`~bot.errors.TooLarge` (the core retries with links),
        :class:`~bot.errors.RecipientGone` (never retried) or
        :class:`~bot.errors.DeliveryError` (retried with backoff).
        """
        ...
