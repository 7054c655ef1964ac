"""The one status message per job: sent once, replying to the request, then edited.

Telegram allows a bot about 30 messages a second, so under a burst the order of
calls decides what people wait for. A job's first reply (its status message) is
sent at once and awaited; edits go to a queue that is served only while no first
reply is waiting, and a newer edit of a message replaces an older one still queued.
So a new request is answered before older jobs' progress, and the pipeline never
waits for an edit (it waits for the last one of a job only, so a finished job's
message is right before it lets go of the job). While first replies stream in (half
the flood budget or more in the last second: a burst being answered), edits wait
even in the gaps between them: the rate limiter lets 30 calls pass at once, then 30
a second, and an edit sent in a gap would take headroom the next first replies need.

While Keevx renders, a ticker refreshes the elapsed time about every
``tick_every`` seconds (the core may not look at a job for minutes when Keevx
calls back), spacing edits further when many jobs share a chat (Telegram allows
about 20 messages a minute in a group) or when many are live (``max_ticks_per_second``
of the overall budget). It re-reads each job before refreshing it, so it never
shows a stale state over a newer one. Same-state edits from the core are
throttled to ``min_edit_interval``. What was last shown is kept in memory only;
after a restart the first call edits. Whoever calls, a status speaks the language
its job was asked in (``job.language``), the ticker's refreshes included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import FloodLimit, ParseMode
from telegram.error import BadRequest, TelegramError

from adapters.telegram import render, texts
from adapters.telegram.errors import is_not_modified, map_error
from bot.i18n import _, speaking
from bot.model.job import Job
from bot.model.status import Action, Phase, status_view

__all__ = ["StatusBoard", "button", "confirm_again_markup"]

log = logging.getLogger("adapters.telegram")

# The buttons a status message can carry, in the order shown.
_LABELS: dict[Action, str] = {
    Action.CANCEL: texts.CANCEL_BUTTON,
    Action.AGAIN: texts.AGAIN_BUTTON,
    Action.DELETE: texts.DELETE_BUTTON,
}


def button(action: Action, job_id: int) -> InlineKeyboardButton:
    """A job button; its callback data ``keevx:<action>:<job>`` is all its state, so it
    works after a restart. Its label speaks the language in use."""
    label = texts.AGAIN_ANYWAY_BUTTON if action is Action.AGAIN_ANYWAY else _LABELS[action]
    return InlineKeyboardButton(_(label), callback_data=f"keevx:{action}:{job_id}")


def confirm_again_markup(job_id: int) -> InlineKeyboardMarkup:
    """What replaces Again once its tap was told that it may charge twice."""
    return InlineKeyboardMarkup([[button(Action.AGAIN_ANYWAY, job_id)]])


@dataclass
class _Shown:
    message_id: int
    job: Job
    text: str
    at: datetime

    @property
    def live(self) -> bool:
        """Whether its elapsed time is worth refreshing (Keevx is making the video)."""
        return status_view(self.job).phase in (Phase.WAITING, Phase.GENERATING)


@dataclass
class _Edit:
    job: Job
    message_id: int
    text: str
    markup: InlineKeyboardMarkup | None
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class StatusBoard:
    """Creates and edits status messages for :meth:`TelegramAdapter.show_status`."""

    def __init__(
        self,
        bot: Bot,
        *,
        now: Callable[[], datetime],
        reread: Callable[[int], Awaitable[Job | None]],
        min_edit_interval: float = 10.0,
        tick_every: float = 12.0,
        max_ticks_per_second: float = 10.0,
        editors: int = 4,
        reply_burst: int = FloodLimit.MESSAGES_PER_SECOND // 2,
    ) -> None:
        self.bot = bot
        self.now = now
        self.reread = reread
        self.min_edit_interval = min_edit_interval
        self.tick_every = tick_every
        self.max_ticks_per_second = max_ticks_per_second
        self.reply_burst = reply_burst
        self._shown: dict[int, _Shown] = {}
        self._queued: dict[int, _Edit] = {}  # by job id, oldest first; the newest text each
        self._replying = 0  # first replies being sent
        self._replied = deque[float](maxlen=max(1, reply_burst))  # when the last ones began
        self._turn = asyncio.Condition()  # "an edit is queued" / "no first reply waits"
        self._editors = editors
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._edit_loop(), name=f"telegram-status-editor-{n}")
            for n in range(self._editors)
        ]
        self._tasks.append(asyncio.create_task(self._tick_loop(), name="telegram-status-ticker"))

    async def stop(self, grace: float = 5.0) -> None:
        """Send what is queued (within ``grace`` seconds), then stop."""
        if self._queued and self._tasks:
            pending = [e.done for e in self._queued.values()]
            await asyncio.wait(pending, timeout=grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for edit in self._queued.values():
            if not edit.done.done():
                edit.done.set_result(None)
        self._queued.clear()

    async def show(self, job: Job) -> str | None:
        """Send or edit the job's status message; return its id.

        Raises :class:`~bot.errors.DeliveryError` subclasses (via :func:`map_error`)
        for a first reply; a failed edit is logged (the next one may pass).
        """
        now = self.now()
        text, markup = self._render(job, now)
        shown = self._shown.get(job.id)
        message_id = (
            shown.message_id
            if shown
            else (int(job.status_message_id) if job.status_message_id else None)
        )
        if message_id is None:
            return await self._reply(job, text, markup, now)
        if shown is not None:
            if shown.text == text:
                shown.job = job
                return str(message_id)
            same_state = shown.job.status is job.status
            if same_state and (now - shown.at).total_seconds() < self.min_edit_interval:
                shown.job = job
                return str(message_id)
        edit = await self._queue(_Edit(job, message_id, text, markup))
        if job.status.terminal or not self._tasks:
            await asyncio.shield(edit.done)
            shown = self._shown.get(job.id)
            return str(shown.message_id if shown else edit.message_id)
        return str(message_id)

    async def _queue(self, edit: _Edit) -> _Edit:
        """Queue ``edit``; an older edit of the same message still queued gives way to it."""
        older = self._queued.get(edit.job.id)
        if older is not None:
            edit.done = older.done  # whoever waits for the older one waits for this
        self._queued[edit.job.id] = edit
        async with self._turn:
            self._turn.notify_all()
        if not self._tasks:  # not started (tests, one-off use): edit in place
            await self._take_and_edit()
        return edit

    async def _edit_loop(self) -> None:
        while True:
            async with self._turn:
                await self._turn.wait_for(lambda: bool(self._queued) and not self._replying)
            if (burst := self._burst_left()) > 0:
                await asyncio.sleep(burst)
            else:
                await self._take_and_edit()

    def _burst_left(self) -> float:
        """Seconds until fewer than ``reply_burst`` first replies began in the last second
        (0: edits may go; ``reply_burst`` 0: always)."""
        if self.reply_burst < 1 or len(self._replied) < self.reply_burst:
            return 0.0
        return self._replied[0] + 1.0 - time.monotonic()

    async def _take_and_edit(self) -> None:
        if not self._queued:
            return
        job_id = next(iter(self._queued))
        edit = self._queued.pop(job_id)
        try:
            await self._edit(edit)
        except Exception as exc:  # a failed edit must not stop the editor
            log.warning("job %s: status not edited: %s", job_id, exc)
        finally:
            if not edit.done.done():
                edit.done.set_result(None)

    async def _edit(self, edit: _Edit) -> None:
        job, now = edit.job, self.now()
        try:
            await self.bot.edit_message_text(
                edit.text,
                chat_id=int(job.target.chat_id),
                message_id=edit.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=edit.markup,
            )
        except BadRequest as exc:
            if not is_not_modified(exc):
                if "message to edit not found" in exc.message.lower():
                    log.info("job %s: status message gone, sending a new one", job.id)
                    self._shown.pop(job.id, None)
                    await self._reply(job, edit.text, edit.markup, now)
                    return
                raise map_error(exc) from exc
        except TelegramError as exc:
            raise map_error(exc) from exc
        self._remember(job, edit.message_id, edit.text, now)

    async def _reply(
        self, job: Job, text: str, markup: InlineKeyboardMarkup | None, now: datetime
    ) -> str:
        self._replying += 1
        self._replied.append(time.monotonic())
        try:
            return await self._send(job, text, markup, now)
        finally:
            self._replying -= 1
            if not self._replying:
                async with self._turn:
                    self._turn.notify_all()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self._tick()
            except Exception as exc:  # a store hiccup: the next tick tries again
                log.warning("status ticker: %s", exc)

    async def _tick(self) -> None:
        """Queue a refresh of each live status that is due for one."""
        now = self.now()
        live = [s for s in self._shown.values() if s.live]
        per_chat = Counter(s.job.target.chat_id for s in live)
        spread = len(live) / self.max_ticks_per_second  # seconds for one round of all
        for shown in live:
            job = shown.job
            chat = job.target.chat_id
            per_minute = 20 if chat.startswith("-") else 60  # a group, a private chat
            interval = max(self.tick_every, spread, per_chat[chat] * 60 / per_minute)
            if (now - shown.at).total_seconds() < interval or job.id in self._queued:
                continue
            fresh = await self.reread(job.id)
            if fresh is None or fresh.status.terminal:
                self._shown.pop(job.id, None)  # whoever ended it shows the ending
                continue
            fresh = fresh.evolve(usual_seconds=job.usual_seconds)
            text, markup = self._render(fresh, now)
            if text == shown.text:
                continue
            await self._queue(_Edit(fresh, shown.message_id, text, markup))

    async def _send(
        self, job: Job, text: str, markup: InlineKeyboardMarkup | None, now: datetime
    ) -> str:
        t = job.target
        reply = (
            ReplyParameters(int(t.reply_to), allow_sending_without_reply=True)
            if t.reply_to
            else None
        )
        try:
            msg = await self.bot.send_message(
                int(t.chat_id),
                text,
                parse_mode=ParseMode.HTML,
                message_thread_id=int(t.thread_id) if t.thread_id else None,
                reply_parameters=reply,
                reply_markup=markup,
                disable_notification=True,
            )
        except TelegramError as exc:
            raise map_error(exc) from exc
        self._remember(job, msg.message_id, text, now)
        return str(msg.message_id)

    def _remember(self, job: Job, message_id: int, text: str, now: datetime) -> None:
        if job.status.terminal:
            self._shown.pop(job.id, None)
        else:
            self._shown[job.id] = _Shown(message_id, job, text, now)

    @staticmethod
    def _render(job: Job, now: datetime) -> tuple[str, InlineKeyboardMarkup | None]:
        """The status text and buttons, in the job's language whoever asks for them."""
        with speaking(job.language):
            text = render.fit(render.status_text(job, now), html=True)
            actions = status_view(job).actions
            row = [button(action, job.id) for action in _LABELS if action in actions]
        return text, InlineKeyboardMarkup([row]) if row else None
