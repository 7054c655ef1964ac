"""The contract between the core and a chat platform.

The only module of :mod:`adapters` the core imports. An adapter turns
platform events into :meth:`bot.jobs.service.JobService.submit` calls, and the
core's jobs and results into platform messages through this protocol.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

from bot.model.job import Job, Target, Video

__all__ = ["ChatAdapter", "Lead", "Leadership", "SoleLeadership", "Target", "Video"]


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

    async def drain(self) -> None:
        """Take no new requests, but keep showing statuses and delivering (shutdown)."""
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

    async def deliver(self, job: Job, video: Video) -> str:
        """Post one of the job's videos in reply to its request; return the message id.

        The core records the id before it posts the next, so each video is posted once.

        Raises :class:`~bot.errors.TooLarge` (the core retries with links),
        :class:`~bot.errors.RecipientGone` (never retried) or
        :class:`~bot.errors.DeliveryError` (retried with backoff).
        """
        ...


class Lead(Protocol):
    """Being the one instance that does something (e.g. Telegram long polling)."""

    async def lost(self) -> None:
        """Return once the lead is lost (e.g. its database connection died); never otherwise."""
        ...

    async def release(self) -> None:
        """Give the lead up so another instance can take it; idempotent."""
        ...


class Leadership(Protocol):
    """Elects one leader per ``name`` among the instances sharing a store.

    Owned by its consumer (the Telegram adapter elects the one ``getUpdates`` consumer).
    """

    async def try_lead(self, name: str) -> Lead | None:
        """Become the leader for ``name`` now, or ``None`` if another instance leads.

        Raises :class:`~bot.errors.StoreError` when the election cannot be held
        (the caller tries again later, as when another instance leads).
        """
        ...


class _SoleLead:
    async def lost(self) -> None:
        await asyncio.Event().wait()  # a sole instance never loses its lead

    async def release(self) -> None:
        return None


class SoleLeadership:
    """The only instance (e.g. on a SQLite file): always the leader."""

    async def try_lead(self, name: str) -> Lead | None:
        return _SoleLead()
