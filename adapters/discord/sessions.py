"""Interactions kept in memory while their tokens are valid.

An interaction token is a credential valid for 15 minutes: it is never
stored in the job store. Each job made from an interaction is looked up by
its ``dedupe_key`` (known before the job id). After expiry, a restart, or for
jobs made from a mention, there is no live interaction and the adapter
posts with the bot token instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import discord

from bot.model.job import Job

__all__ = ["Origin", "Session", "Sessions"]

# Stop using a token a little before Discord does, so an upload in flight
# does not cross the deadline.
MARGIN = timedelta(seconds=30)


class Origin(StrEnum):
    """What made the job; stored in ``Target.origin``."""

    SLASH = "slash"  # /video
    CONTEXT = "context"  # "Make a video" on a message
    MENTION = "mention"  # @bot in a message
    AGAIN = "again"  # the Again button


# How long a status update waits for its interaction to be acknowledged (the
# job row is committed first, then the interaction is deferred).
ACK_WAIT = 5.0


@dataclass
class Session:
    interaction: discord.Interaction[Any]
    origin: Origin
    acked: asyncio.Event = field(default_factory=asyncio.Event)

    def usable(self, now: datetime) -> bool:
        return now < self.interaction.expires_at - MARGIN


class Sessions:
    """Live interactions by job ``dedupe_key``."""

    def __init__(self) -> None:
        self._by_key: dict[str, Session] = {}
        # Upload limits interactions reported (``attachment_size_limit``), by guild or channel.
        self.limits: dict[str, int] = {}

    def add(self, key: str, interaction: discord.Interaction[Any], origin: Origin) -> None:
        self._prune()
        self._by_key[key] = Session(interaction, origin)
        place = interaction.guild_id or interaction.channel_id
        if place is not None:
            self.limits[str(place)] = interaction.filesize_limit

    async def ready(self, job: Job) -> Session | None:
        """Like :meth:`get`, once the interaction is acknowledged (it may not be yet:
        the job is committed before the interaction is deferred)."""
        session = self.get(job)
        if session is not None and not session.acked.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.acked.wait(), ACK_WAIT)
            if not session.acked.is_set():
                return None
        return session

    def acknowledged(self, key: str) -> None:
        if (session := self._by_key.get(key)) is not None:
            session.acked.set()

    def get(self, job: Job) -> Session | None:
        """The job's interaction while its token is usable, else ``None``."""
        if job.dedupe_key is None:
            return None
        session = self._by_key.get(job.dedupe_key)
        if session is None:
            return None
        if not session.usable(datetime.now(UTC)):
            self.drop(job)
            return None
        return session

    def drop(self, job: Job) -> None:
        if job.dedupe_key is not None:
            self.drop_key(job.dedupe_key)

    def drop_key(self, key: str) -> None:
        self._by_key.pop(key, None)

    def _prune(self) -> None:
        now = datetime.now(UTC)
        for key in [k for k, s in self._by_key.items() if not s.usable(now)]:
            del self._by_key[key]

    def __len__(self) -> int:
        return len(self._by_key)
