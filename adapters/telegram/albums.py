"""Collecting an album's messages into one request, whichever instance each part reached.

Telegram sends each item of an album as its own message sharing a
``media_group_id``, with no count and no end marker; behind a load balancer the
parts may reach different instances. Each part is kept in the store
(:class:`adapters.base.MessageGroups`). The album settles ``window`` seconds after
its latest part, never later than ``cap`` seconds after its first; then the one
instance whose claim succeeds hands the parts over, together, once. An instance
holding a part watches the album until it is handed over (by itself or another), so
the update carrying that part is confirmed only then. A claimer that dies leaves its
claim to run out (``lease``); another instance holding a part then takes over, and
the album's dedupe key makes no second job.

Finished albums are kept a while (``remember``) so a late or repeated part makes
nothing new and a reply to any part can find the whole album. At most ``MAX_PARTS``
parts are kept per album, since a real Telegram album holds at most 10 items.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telegram import Bot, Message

from adapters.base import MessageGroups
from bot.errors import StoreError
from bot.model.groups import MessageGroup

__all__ = ["MAX_PARTS", "AlbumCollector"]

log = logging.getLogger("adapters.telegram")

AlbumKey = tuple[int, str]  # (chat id, media_group_id)
MAX_PARTS = 10  # items in one Telegram album; more under one media_group_id are not real
RETRY = 1.0  # seconds before looking again after the store failed
MIN_WAIT = 0.05  # seconds between two looks at an album, at least


def group_key(chat_id: int, media_group_id: str) -> str:
    return f"telegram:{chat_id}:album:{media_group_id}"


@dataclass
class _Watch:
    """An album this instance holds a part of, until it is handed over."""

    due: datetime
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    force: bool = False
    task: asyncio.Task[None] | None = None


class AlbumCollector:
    """Keeps album parts in the store; calls ``on_album(parts)`` once per album, parts in
    order, on the one instance that claims it."""

    def __init__(
        self,
        groups: MessageGroups,
        on_album: Callable[[list[Message]], Awaitable[None]],
        *,
        bot: Bot,
        now: Callable[[], datetime],
        window: float = 1.5,
        cap: float = 5.0,
        lease: float = 60.0,
        remember: timedelta = timedelta(days=2),
    ) -> None:
        self.groups = groups
        self.on_album = on_album
        self.bot = bot
        self.now = now
        self.window = window
        self.cap = cap
        self.lease = lease
        self.remember = remember
        self._watching: dict[AlbumKey, _Watch] = {}

    async def add(self, msg: Message) -> None:
        """Keep one part (a message with a ``media_group_id``) and watch its album.

        Raises :class:`~bot.errors.StoreError` when the part cannot be kept (the update
        is then not confirmed, and comes again).
        """
        assert msg.media_group_id is not None
        key = (msg.chat_id, msg.media_group_id)
        group = await self.groups.add_to_group(
            group_key(*key),
            msg.message_id,
            json.dumps(msg.to_dict(), ensure_ascii=False),
            self.now(),
            max_parts=MAX_PARTS,
        )
        watch = self._watching.get(key)
        if group.done:
            if watch is None:
                log.info("album part arrived after its album was taken; not a new request")
            return
        due = self._next_look(group)
        if watch is None:
            watch = self._watching[key] = _Watch(due)
            watch.task = asyncio.create_task(self._watch(key, watch), name="telegram-album")
        else:
            watch.due = due
            watch.changed.set()

    async def album(self, chat_id: int, media_group_id: str) -> list[Message]:
        """The parts kept of an album (finished or still collecting), in order."""
        group = await self.groups.message_group(group_key(chat_id, media_group_id))
        return self._messages(group) if group is not None else []

    async def settled(self, chat_id: int, media_group_id: str) -> None:
        """Return once the album is handed over (here or elsewhere) and, if here, its
        handler finished; at once if this instance holds no part of it."""
        watch = self._watching.get((chat_id, media_group_id))
        if watch is not None:
            await watch.settled.wait()

    async def close(self) -> None:
        """Hand over the albums still collecting that nobody else is handing over, and
        wait for every handover here to finish."""
        watches = list(self._watching.values())
        for watch in watches:
            watch.force = True
            watch.changed.set()
        tasks = [w.task for w in watches if w.task is not None]
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals --------------------------------------------------------------------------

    def _next_look(self, group: MessageGroup) -> datetime:
        """When to try claiming ``group``: once it settled, or after its claim ran out; while
        claimed elsewhere, each window (to see it done); never sooner than a moment from now,
        whatever the clocks of the instances say."""
        window = timedelta(seconds=self.window)
        due = group.settles_at(window, timedelta(seconds=self.cap))
        if group.claimed_until is not None:
            due = max(due, group.claimed_until)
        now = self.now()
        return max(min(due, now + window), now + timedelta(seconds=MIN_WAIT))

    async def _watch(self, key: AlbumKey, watch: _Watch) -> None:
        """Wait until the album settles, then claim it; until it is handed over by someone."""
        try:
            while not await self._step(key, watch):
                pass
        finally:
            self._watching.pop(key, None)
            watch.settled.set()

    async def _step(self, key: AlbumKey, watch: _Watch) -> bool:
        """One wait and one look; ``True`` once this instance is done with the album."""
        wait = (watch.due - self.now()).total_seconds()
        if wait > 0 and not watch.force:
            watch.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.changed.wait(), wait)
            return False
        quiet = timedelta(seconds=0 if watch.force else self.window)
        cap = timedelta(seconds=0 if watch.force else self.cap)
        try:
            claimed = await self.groups.claim_group(
                group_key(*key),
                self.now(),
                quiet=quiet,
                cap=cap,
                lease=timedelta(seconds=self.lease),
            )
            if claimed is not None:
                await self._hand_over(key, claimed)
                return True
            group = await self.groups.message_group(group_key(*key))
        except StoreError as exc:
            log.warning("album: the store failed (%s); looking again", exc)
            if watch.force:
                return True
            watch.due = self.now() + timedelta(seconds=RETRY)
            return False
        if group is None or group.done or watch.force:
            return True  # handed over elsewhere (or, when closing, being handed over)
        watch.due = self._next_look(group)
        return False

    async def _hand_over(self, key: AlbumKey, group: MessageGroup) -> None:
        try:
            await self.on_album(self._messages(group))
        except Exception:
            log.exception("handling an album failed")
        await self.groups.finish_group(group_key(*key))
        await self.groups.forget_groups(self.now() - self.remember)

    def _messages(self, group: MessageGroup) -> list[Message]:
        return [Message.de_json(json.loads(part), self.bot) for part in group.parts]
