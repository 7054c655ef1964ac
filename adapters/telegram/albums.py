"""Collecting an album's messages into one request.

Telegram sends each item of an album as its own message sharing a
``media_group_id``, with no count and no end marker. A window restarts with
each new part (``window`` seconds) but never runs past ``cap`` seconds after
the first part; then the parts are handed over together, once. Finished albums
are remembered so a late or repeated part makes nothing new and a reply to any
part can find the whole album. Memory is bounded whatever arrives: at most
``remember`` finished albums (the oldest forgotten first) and ``MAX_PARTS`` parts
per album, since a real Telegram album holds at most 10 items.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram import Message

__all__ = ["MAX_PARTS", "AlbumCollector"]

log = logging.getLogger("adapters.telegram")

AlbumKey = tuple[int, str]  # (chat id, media_group_id)
MAX_PARTS = 10  # items in one Telegram album; more under one media_group_id are not real


@dataclass
class _Pending:
    first_at: float
    parts: dict[int, Message] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


class AlbumCollector:
    """Buffers album parts; calls ``on_album(parts)`` once per album, parts in order."""

    def __init__(
        self,
        on_album: Callable[[list[Message]], Awaitable[None]],
        *,
        window: float = 1.5,
        cap: float = 5.0,
        remember: int = 500,
    ) -> None:
        self.on_album = on_album
        self.window = window
        self.cap = cap
        self.remember = remember
        self._pending: dict[AlbumKey, _Pending] = {}
        self._done: OrderedDict[AlbumKey, list[Message]] = OrderedDict()
        self._settled: dict[AlbumKey, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, msg: Message) -> None:
        """Take one part (a message with a ``media_group_id``)."""
        assert msg.media_group_id is not None
        key = (msg.chat_id, msg.media_group_id)
        done = self._done.get(key)
        if done is not None:
            if len(done) < MAX_PARTS and all(p.message_id != msg.message_id for p in done):
                done.append(msg)  # a straggler: remembered for replies, no new request
                log.info("album part arrived after its album was taken; not a new request")
            return
        loop = asyncio.get_running_loop()
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(first_at=loop.time())
            self._settled[key] = asyncio.Event()
        elif len(pending.parts) >= MAX_PARTS and msg.message_id not in pending.parts:
            log.debug("album has more than %d parts; ignoring the extra one", MAX_PARTS)
            return
        pending.parts[msg.message_id] = msg
        if pending.timer is not None:
            pending.timer.cancel()
        left = pending.first_at + self.cap - loop.time()
        pending.timer = loop.call_later(max(0.0, min(self.window, left)), self._fire, key)

    def album(self, chat_id: int, media_group_id: str) -> list[Message]:
        """The parts seen of an album (finished or still collecting), in order."""
        key = (chat_id, media_group_id)
        if key in self._done:
            return sorted(self._done[key], key=lambda m: m.message_id)
        pending = self._pending.get(key)
        return sorted(pending.parts.values(), key=lambda m: m.message_id) if pending else []

    def _fire(self, key: AlbumKey) -> None:
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        parts = sorted(pending.parts.values(), key=lambda m: m.message_id)
        self._done[key] = parts
        while len(self._done) > self.remember:
            self._done.popitem(last=False)
        task = asyncio.create_task(self._run(key, parts), name="telegram-album")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: AlbumKey, parts: list[Message]) -> None:
        try:
            await self.on_album(parts)
        except Exception:
            log.exception("handling an album failed")
        finally:
            event = self._settled.pop(key, None)
            if event is not None:
                event.set()

    async def settled(self, chat_id: int, media_group_id: str) -> None:
        """Return once the album is handed over and its handler finished (at once if unknown)."""
        event = self._settled.get((chat_id, media_group_id))
        if event is not None:
            await event.wait()

    async def close(self) -> None:
        """Hand over the albums still collecting, and wait for every handover to finish."""
        for key, pending in list(self._pending.items()):
            if pending.timer is not None:
                pending.timer.cancel()
            self._fire(key)
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._tasks, return_exceptions=True)
