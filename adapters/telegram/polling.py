"""Long polling that confirms an update only once its handlers are done.

PTB's stock ``Updater`` confirms a fetched batch (the next ``getUpdates``
offset) before the handlers run, so a crash in between loses those updates.
Here the offset only moves past an update once its handlers returned and, for
an album part, once the whole album was handed over (its job row committed).
Until then Telegram keeps serving the update: after a crash it is handled
again, and the dedupe key makes no second job. Updates already being handled
are recognised by id and not dispatched twice.

While something is in flight, ``getUpdates`` answers at once with the
unconfirmed updates, so the loop waits up to ``busy_wait`` seconds for a
handler to finish before asking again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application

from adapters.telegram.errors import retry_seconds
from bot import metrics

__all__ = ["UpdateFetcher"]

log = logging.getLogger("adapters.telegram")

App = Application[Any, Any, Any, Any, Any, Any]
Settle = Callable[[Update], Awaitable[None]]


async def _nothing(update: Update) -> None:
    return None


class UpdateFetcher:
    """Feeds ``getUpdates`` into the Application; see the module docstring.

    ``settle(update)`` is awaited after an update's handlers, e.g. to wait for
    the album it belongs to.
    """

    def __init__(
        self,
        app: App,
        *,
        timeout: float = 10.0,
        allowed_updates: Sequence[str] | None = None,
        settle: Settle = _nothing,
        busy_wait: float = 0.2,
        max_inflight: int = 32,
    ) -> None:
        self.app = app
        self.timeout = timeout
        self.allowed_updates = list(allowed_updates) if allowed_updates else None
        self.settle = settle
        self.busy_wait = busy_wait
        # Unconfirmed updates come back in every getUpdates answer, so with many in
        # flight each fetch would re-parse them all: wait for room before asking again.
        self.max_inflight = max_inflight
        self.offset = 0  # next getUpdates offset: everything below is confirmed
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._highest = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Delete any webhook (getUpdates refuses to work with one), then poll in a task."""
        await self.app.bot.delete_webhook(drop_pending_updates=False)
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="telegram-polling")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop fetching, let handlers in flight finish (``grace`` s), confirm what is done."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            await asyncio.wait(set(self._inflight.values()), timeout=grace)
        self._advance()
        for task in self._inflight.values():
            task.cancel()
        if self.offset:
            try:  # tell Telegram what is done; the rest comes again at the next start
                await self.app.bot.get_updates(
                    offset=self.offset, timeout=0, allowed_updates=self.allowed_updates
                )
            except TelegramError as exc:
                log.warning("could not confirm the last updates: %s", exc)

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            running = {t for t in self._inflight.values() if not t.done()}
            if len(running) >= self.max_inflight:
                await asyncio.wait(
                    running, timeout=self.busy_wait, return_when=asyncio.FIRST_COMPLETED
                )
                self._advance()
                continue
            try:
                updates = await self.app.bot.get_updates(
                    offset=self.offset,
                    timeout=0 if self._inflight else self.timeout,
                    allowed_updates=self.allowed_updates,
                )
                failures = 0
            except InvalidToken:
                log.error("telegram refused the bot token: polling stops")
                return
            except RetryAfter as exc:
                metrics.flood_wait("telegram", retry_seconds(exc))
                await asyncio.sleep(retry_seconds(exc))
                continue
            except TelegramError as exc:
                failures += 1
                wait = min(30.0, 0.5 * 2**failures)
                log.warning("getUpdates failed (%s), retrying in %.0f s", exc, wait)
                await asyncio.sleep(wait)
                continue
            fresh = [u for u in updates if u.update_id >= self.offset]
            new = [u for u in fresh if u.update_id not in self._inflight]
            for update in new:
                self._highest = max(self._highest, update.update_id)
                task = asyncio.create_task(self._handle(update), name="telegram-update")
                self._inflight[update.update_id] = task
            self._advance()
            if self._inflight and not new:
                await asyncio.wait(
                    set(self._inflight.values()),
                    timeout=self.busy_wait,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                self._advance()

    async def _handle(self, update: Update) -> None:
        try:
            await self.app.update_processor.process_update(update, self.app.process_update(update))
            await self.settle(update)
        except Exception:
            log.exception("update %s: handling failed", update.update_id)

    def _advance(self) -> None:
        """Move the offset past every update whose handling is done, in order."""
        for update_id in sorted(self._inflight):
            if not self._inflight[update_id].done():
                self.offset = update_id
                return
            del self._inflight[update_id]
        if self._highest:
            self.offset = max(self.offset, self._highest + 1)
