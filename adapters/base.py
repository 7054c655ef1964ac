"""The contract between the core and a chat platform.

The only module of :mod:`adapters` the core imports. An adapter turns
platform events into :meth:`bot.jobs.service.JobService.submit` calls, and the
core's jobs and results into platform messages through this protocol.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from bot.model.groups import MessageGroup
from bot.model.job import Job, Target, Video

__all__ = [
    "BotState",
    "ChatAdapter",
    "Lead",
    "Leadership",
    "MessageGroup",
    "MessageGroups",
    "SharedState",
    "SoleLeadership",
    "Target",
    "Video",
]


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


class MessageGroups(Protocol):
    """Collects requests sent as several messages (Telegram albums) where every instance
    sees them, so parts that reached different instances still make one job.

    Owned by the adapters; implemented by every store. ``key`` names one group (the
    adapter's choice, e.g. chat and album id); each call is one atomic step.
    """

    async def add_to_group(
        self, key: str, part: int, payload: str, now: datetime, *, max_parts: int
    ) -> MessageGroup:
        """Keep ``payload`` as part ``part`` of the group (created at ``now`` if new) and
        return the group. A part already kept is not replaced, and a group holding
        ``max_parts`` takes no more; either way ``last_at`` becomes ``now`` while the
        group is collecting. Parts arriving after the handover are still kept (for
        look-ups), but the group stays ``done``."""
        ...

    async def claim_group(
        self, key: str, now: datetime, *, quiet: timedelta, cap: timedelta, lease: timedelta
    ) -> MessageGroup | None:
        """Take the handover of a group that settled by ``now`` (see
        :meth:`MessageGroup.settles_at`), is not ``done`` and not claimed by another
        until after ``now``; the claim lasts ``lease`` (then another may claim it).
        ``None``: not this caller's to hand over now (:meth:`message_group` says why)."""
        ...

    async def finish_group(self, key: str) -> None:
        """Mark the group handed over (``done``); later claims fail."""
        ...

    async def message_group(self, key: str) -> MessageGroup | None:
        """The group as collected so far, or ``None`` if unknown (or forgotten)."""
        ...

    async def forget_groups(self, before: datetime) -> int:
        """Drop the groups whose latest part arrived before ``before``; return how many."""
        ...


class BotState(Protocol):
    """A few named values every instance shares (e.g. the hash of the synced Discord
    commands), optionally expiring. Never for secrets: values are stored in plain text."""

    async def get_state(self, key: str, now: datetime) -> str | None:
        """The value under ``key``, or ``None`` if unset or expired by ``now``."""
        ...

    async def set_state(self, key: str, value: str, *, expires: datetime | None = None) -> None:
        """Keep ``value`` under ``key`` (replacing any), until ``expires`` if given."""
        ...

    async def forget_state(self, before: datetime) -> int:
        """Drop the values that expired before ``before``; return how many."""
        ...


class SharedState(MessageGroups, BotState, Protocol):
    """What the adapters keep in the store (the composition root passes the store)."""
