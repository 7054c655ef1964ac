"""Interactions kept in memory while their tokens are valid, and what other instances
may know of them.

An interaction token is a credential valid for 15 minutes: it is never stored
(not in the store, not in a log); the instance that received the interaction keeps
it in memory. Each job made from an interaction is looked up by its ``dedupe_key``
(known before the job id). After expiry, a restart, for jobs made from a mention,
and on every other instance, there is no live interaction and the adapter posts
and edits with the bot token instead.

So that another instance showing the job's status edits the interaction's public
response instead of posting a second status message, the receiving instance shows
the job's first status there itself (so no "thinking…" is left behind) and then
shares that message's id (not a secret) in the store (:class:`adapters.base.BotState`)
until the token would have expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import discord

from adapters.base import BotState
from bot.errors import StoreError
from bot.model.job import Job

__all__ = ["Origin", "Session", "Sessions"]

log = logging.getLogger(__name__)

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
# job row is committed first, then the interaction is deferred), here or, for the
# response's id, on the instance that received it.
ACK_WAIT = 5.0
LOOK_EVERY = 0.2  # seconds between looks for another instance's response id
INTERACTION_LIFE = timedelta(minutes=15)
INTERACTIVE = frozenset({Origin.SLASH, Origin.AGAIN})  # jobs shown in the interaction's response


def _response_key(dedupe_key: str) -> str:
    return f"discord:response:{dedupe_key}"


@dataclass
class Session:
    interaction: discord.Interaction[Any]
    origin: Origin
    acked: asyncio.Event = field(default_factory=asyncio.Event)

    def usable(self, now: datetime) -> bool:
        return now < self.interaction.expires_at - MARGIN


class Sessions:
    """Live interactions by job ``dedupe_key``; their responses' ids shared in ``shared``."""

    def __init__(self, shared: BotState) -> None:
        self._shared = shared
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

    async def share(self, job: Job, response_id: str) -> None:
        """Tell the other instances that message ``response_id`` is the public response of
        the job's interaction (while its token would be valid)."""
        session = self.get(job)
        if session is None or job.dedupe_key is None:
            return
        try:
            await self._shared.set_state(
                _response_key(job.dedupe_key), response_id, expires=session.interaction.expires_at
            )
            await self._shared.forget_state(datetime.now(UTC))
        except StoreError as exc:
            log.warning("job %s: interaction response not shared: %s", job.id, exc)

    async def shared_response(self, job: Job) -> str | None:
        """The id of the public response of the job's interaction, as the instance that
        received it shared it; waits up to ``ACK_WAIT`` after the job was made for it."""
        if job.dedupe_key is None or job.target.origin not in INTERACTIVE:
            return None
        key = _response_key(job.dedupe_key)
        deadline = job.created_at + timedelta(seconds=ACK_WAIT)
        while True:
            now = datetime.now(UTC)
            if now >= job.created_at + INTERACTION_LIFE:
                return None
            try:
                found = await self._shared.get_state(key, now)
            except StoreError as exc:
                log.warning("job %s: interaction response not looked up: %s", job.id, exc)
                return None
            if found is not None or now >= deadline:
                return found
            await asyncio.sleep(LOOK_EVERY)

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
