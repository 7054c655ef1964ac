"""The one status message per job: sent once, replying to the request, then edited.

Edits are throttled: a change of status edits at once; the same status (the
elapsed time ticking) at most every ``min_edit_interval`` seconds. What was last
shown is remembered in memory only; after a restart the first call edits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from adapters.telegram import render, texts
from adapters.telegram.errors import is_not_modified, map_error
from bot.model.job import Job, JobStatus
from bot.model.status import Action, status_view

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
    works after a restart."""
    label = texts.AGAIN_ANYWAY_BUTTON if action is Action.AGAIN_ANYWAY else _LABELS[action]
    return InlineKeyboardButton(label, callback_data=f"keevx:{action}:{job_id}")


def confirm_again_markup(job_id: int) -> InlineKeyboardMarkup:
    """What replaces Again once its tap was told that it may charge twice."""
    return InlineKeyboardMarkup([[button(Action.AGAIN_ANYWAY, job_id)]])


@dataclass
class _Shown:
    message_id: int
    status: JobStatus
    text: str
    at: datetime


class StatusBoard:
    """Creates and edits status messages for :meth:`TelegramAdapter.show_status`."""

    def __init__(
        self, bot: Bot, *, now: Callable[[], datetime], min_edit_interval: float = 10.0
    ) -> None:
        self.bot = bot
        self.now = now
        self.min_edit_interval = min_edit_interval
        self._shown: dict[int, _Shown] = {}

    async def show(self, job: Job) -> str | None:
        """Send or edit the job's status message; return its id.

        Raises :class:`~bot.errors.DeliveryError` subclasses (via :func:`map_error`).
        """
        now = self.now()
        text = render.fit(render.status_text(job, now), html=True)
        markup = self._markup(job)
        shown = self._shown.get(job.id)
        message_id = (
            shown.message_id
            if shown
            else (int(job.status_message_id) if job.status_message_id else None)
        )
        if message_id is None:
            return await self._send(job, text, markup, now)
        if shown is not None:
            if shown.text == text:
                return str(message_id)
            same_state = shown.status is job.status
            if same_state and (now - shown.at).total_seconds() < self.min_edit_interval:
                return str(message_id)
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=int(job.target.chat_id),
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        except BadRequest as exc:
            if not is_not_modified(exc):
                if "message to edit not found" in exc.message.lower():
                    log.info("job %s: status message gone, sending a new one", job.id)
                    self._shown.pop(job.id, None)
                    return await self._send(job, text, markup, now)
                raise map_error(exc) from exc
        except TelegramError as exc:
            raise map_error(exc) from exc
        self._remember(job, message_id, text, now)
        return str(message_id)

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
            self._shown[job.id] = _Shown(message_id, job.status, text, now)

    @staticmethod
    def _markup(job: Job) -> InlineKeyboardMarkup | None:
        actions = status_view(job).actions
        row = [button(action, job.id) for action in _LABELS if action in actions]
        return InlineKeyboardMarkup([row]) if row else None
