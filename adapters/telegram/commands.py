"""/start, /help, /settings, /jobs, /cancel, /stats, /language and the inline buttons.

Button data (``keevx:…``) is stateless, so buttons keep working after a restart:
``keevx:cancel:<job id>``, ``keevx:again:<job id>`` (``keevx:again-anyway:<job id>`` once
told that it may charge twice), ``keevx:delete:<job id>``, ``keevx:set:<field>:<value>``,
``keevx:set:reset``, ``keevx:set:language:<code>`` (``-``: none) for a chat's language,
``keevx:lang:<code>`` (``app``: Telegram's) for a person's own. Everything is said in the
language of the person it answers (set around each update by the adapter).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime

from telegram import (
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from adapters.telegram import render, texts
from adapters.telegram.errors import is_not_modified
from adapters.telegram.intake import reply
from adapters.telegram.language import language_for
from adapters.telegram.status import StatusBoard, confirm_again_markup
from bot.errors import DeliveryError, RequestInvalid
from bot.i18n import LANGUAGES, _, duration, speaking
from bot.i18n import current as current_language
from bot.jobs.service import NO_JOB, JobService
from bot.model.job import ACTIVE, Job
from bot.model.request import Model, Options, fit_options, validate_options
from bot.model.rules import values_for
from bot.model.status import CONFIRM_AGAIN, status_view

__all__ = ["Commands", "language_keyboard", "settings_keyboard"]

log = logging.getLogger("adapters.telegram")


NO_LANGUAGE = "-"  # a chat without a language of its own, in button data
APP_LANGUAGE = "app"  # a person following their Telegram app's language, in button data
PER_ROW = 3  # language buttons per row: their own names are long


def _choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """(field, [(button text, value)]) from the core's rules table, in the language in use;
    the core validates each tap."""
    return [
        ("model", [(m.value, m.value) for m in values_for("model")]),
        ("ar", [(a, a) for a in values_for("aspect_ratio")]),
        ("res", [(r, r) for r in values_for("resolution")]),
        ("duration", [(duration(n), str(n)) for n in values_for("duration")]),
        ("audio", [(_(texts.AUDIO_ON), "on"), (_(texts.AUDIO_OFF), "off")]),
        ("count", [(render.videos(n), str(n)) for n in values_for("count")]),
    ]


_ATTR = {
    "model": "model",
    "ar": "aspect_ratio",
    "res": "resolution",
    "duration": "duration",
    "count": "count",
}


def _apply(options: Options, name: str, value: str) -> Options:
    if name == "model":
        return dataclasses.replace(options, model=Model(value))
    if name == "duration":
        return dataclasses.replace(options, duration=int(value))
    if name == "count":
        return dataclasses.replace(options, count=int(value))
    if name == "audio":
        return dataclasses.replace(options, audio=value == "on")
    if name == "ar":
        return dataclasses.replace(options, aspect_ratio=value)
    if name == "res":
        return dataclasses.replace(options, resolution=value)
    raise ValueError(name)


def _current(options: Options, name: str) -> str | None:
    if name == "audio":
        return None if options.audio is None else ("on" if options.audio else "off")
    value = getattr(options, _ATTR[name])
    return None if value is None else str(value.value if isinstance(value, Model) else value)


def _rows(
    choices: list[tuple[str, str]], current: str | None, data: str
) -> list[list[InlineKeyboardButton]]:
    """Language buttons (``data`` + code), the current one marked, a few per row."""
    buttons = [
        InlineKeyboardButton(f"• {text}" if value == current else text, callback_data=data + value)
        for text, value in choices
    ]
    return [buttons[i : i + PER_ROW] for i in range(0, len(buttons), PER_ROW)]


def settings_keyboard(options: Options, language: str | None = None) -> InlineKeyboardMarkup:
    """A chat's defaults as buttons; ``language`` is the chat's own (``None``: none)."""
    rows = []
    for name, values in _choices():
        current = _current(options, name)
        rows.append(
            [
                InlineKeyboardButton(
                    f"• {text}" if value == current else text,
                    callback_data=f"keevx:set:{name}:{value}",
                )
                for text, value in values
            ]
        )
    languages = [*LANGUAGES.items(), (NO_LANGUAGE, _(texts.CHAT_LANGUAGE_NONE))]
    rows += _rows(
        [(name, code) for code, name in languages],
        language or NO_LANGUAGE,
        "keevx:set:language:",
    )
    rows.append([InlineKeyboardButton(_(texts.RESET), callback_data="keevx:set:reset")])
    return InlineKeyboardMarkup(rows)


def language_keyboard(language: str) -> InlineKeyboardMarkup:
    """Every language by its own name, ``language`` (the one spoken now) marked, and
    the way back to the Telegram app's language."""
    rows = _rows([(name, code) for code, name in LANGUAGES.items()], language, "keevx:lang:")
    rows.append(
        [InlineKeyboardButton(_(texts.LANGUAGE_APP), callback_data=f"keevx:lang:{APP_LANGUAGE}")]
    )
    return InlineKeyboardMarkup(rows)


async def _say(msg: Message, text: str, *, html: bool = False) -> None:
    """:func:`reply`, with ``text`` cut to what Telegram takes (it refuses longer ones)."""
    await reply(msg, render.fit(text, html=html), html=html)


async def _answer(query: CallbackQuery, text: str = "", *, show_alert: bool = False) -> None:
    """Answer a button tap; Telegram refuses an answer over 200 characters."""
    await query.answer(render.fit(text, render.ANSWER_LIMIT) or None, show_alert=show_alert)


class Commands:
    """The callbacks; built by the adapter with the service and the status board."""

    def __init__(
        self,
        service: JobService,
        status: StatusBoard,
        *,
        platform: str,
        now: Callable[[], datetime],
    ) -> None:
        self.service = service
        self.status = status
        self.platform = platform
        self.now = now

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message:
            await _say(update.message, render.help_text(), html=True)

    async def settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.message
        if msg is None:
            return
        chat_id = str(msg.chat_id)
        defaults = await self.service.chat_defaults(self.platform, chat_id)
        language = await self.service.chat_language(self.platform, chat_id)
        text = render.settings_text(
            defaults, is_group=msg.chat.type != ChatType.PRIVATE, language=language
        )
        try:
            await msg.reply_text(
                render.fit(text, html=True),
                do_quote=True,
                parse_mode=ParseMode.HTML,
                reply_markup=settings_keyboard(defaults, language),
            )
        except TelegramError as exc:
            log.warning("could not show settings: %s", exc)

    async def language(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The languages to choose from, each by its own name."""
        msg = update.message
        if msg is None:
            return
        language = current_language()
        try:
            await msg.reply_text(
                _(texts.LANGUAGE_PROMPT).format(language=render.language_name(language)),
                do_quote=True,
                reply_markup=language_keyboard(language),
            )
        except TelegramError as exc:
            log.warning("could not show the languages: %s", exc)

    async def jobs(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.message
        if msg is None or msg.from_user is None:
            return
        user_id = str(msg.from_user.id)
        jobs = await self.service.recent(self.platform, user_id, 10)
        usage = [render.esc(line) for line in await self.service.usage(self.platform, user_id)]
        now = self.now()
        lines = [render.job_line(j, now) for j in jobs] or [render.esc(_(texts.NO_JOBS))]
        await _say(msg, "\n".join([*lines, *(["", *usage] if usage else [])]), html=True)

    async def stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Today's numbers, for ADMIN_USERS only (others are told so)."""
        msg = update.message
        if msg is None or msg.from_user is None:
            return
        if not self.service.is_admin(self.platform, str(msg.from_user.id)):
            await _say(msg, _(texts.STATS_ADMINS_ONLY))
            return
        await _say(msg, render.stats_text(await self.service.stats()), html=True)

    async def cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.message
        if msg is None or msg.from_user is None:
            return
        user_id = str(msg.from_user.id)
        args = context.args or []
        try:
            if args:
                job_id = int(args[0].lstrip("#"))
            else:
                active = [
                    j
                    for j in await self.service.recent(self.platform, user_id, 20)
                    if j.status in ACTIVE
                ]
                if not active:
                    await _say(msg, _(texts.NONE_IN_PROGRESS))
                    return
                job_id = active[0].id
            force = self.service.is_admin(self.platform, user_id)
            job = await self.service.cancel(job_id, user_id, force=force)
        except ValueError:
            await _say(msg, _(texts.CANCEL_USAGE))
            return
        except RequestInvalid as exc:
            await _say(msg, str(exc))
            return
        await self._refresh(job)
        await _say(msg, self._cancelled(job))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or not query.data:
            return
        parts = query.data.split(":", 3)
        try:
            if parts[1] == "cancel":
                await self._cancel_button(query, int(parts[2]))
            elif parts[1] == "again":
                await self._again_button(query, int(parts[2]), confirmed=False)
            elif parts[1] == "again-anyway":
                await self._again_button(query, int(parts[2]), confirmed=True)
            elif parts[1] == "delete":
                await self._delete_button(query, int(parts[2]))
            elif parts[1] == "set":
                await self._settings_button(query, parts[2:])
            elif parts[1] == "lang":
                await self._language_button(query, parts[2])
            else:
                await _answer(query)
        except (TelegramError, ValueError, IndexError) as exc:
            log.warning("button %s failed: %s", parts[1:2], exc.__class__.__name__)

    async def _cancel_button(self, query: CallbackQuery, job_id: int) -> None:
        try:
            user_id = str(query.from_user.id)
            force = self.service.is_admin(self.platform, user_id)
            job = await self.service.cancel(job_id, user_id, force=force)
        except RequestInvalid as exc:
            await _answer(query, str(exc), show_alert=True)
            return
        await _answer(query, self._cancelled(job), show_alert=True)
        await self._refresh(job)

    async def _again_button(self, query: CallbackQuery, job_id: int, *, confirmed: bool) -> None:
        """A new job like ``job_id``; where the first may still be charged, only once the
        person was told so and tapped "Again anyway"."""
        user_id = str(query.from_user.id)
        if not confirmed:
            old = await self.service.get(job_id)
            if old is not None and old.target.user_id == user_id and status_view(old).confirm_again:
                await _answer(query, _(CONFIRM_AGAIN).format(job=job_id), show_alert=True)
                if isinstance(query.message, Message):
                    await query.message.edit_reply_markup(confirm_again_markup(job_id))
                return
        try:
            job = await self.service.again(job_id, user_id, dedupe_key=f"telegram:again:{query.id}")
        except RequestInvalid as exc:
            await _answer(query, str(exc), show_alert=True)
            return
        await _answer(query, _(texts.AGAIN_STARTED).format(job=job.id))

    async def _delete_button(self, query: CallbackQuery, job_id: int) -> None:
        """Delete a job's videos and its status message: for the requester or a chat admin."""
        job = await self.service.get(job_id)
        if job is None:
            await _answer(query, _(NO_JOB).format(job=job_id), show_alert=True)
            return
        user_id = query.from_user.id
        chat_id = int(job.target.chat_id)
        allowed = str(user_id) == job.target.user_id or self.service.is_admin(
            self.platform, str(user_id)
        )
        if not allowed and isinstance(query.message, Message):
            allowed = await self._may_change(query.message.chat, user_id)
        if not allowed:
            await _answer(query, _(texts.DELETE_NOT_YOURS).format(job=job_id), show_alert=True)
            return
        ids = {*job.delivered_ids, *([job.status_message_id] if job.status_message_id else [])}
        if isinstance(query.message, Message):
            ids.add(str(query.message.message_id))
        failed = False
        for message_id in sorted(ids, key=int):
            try:
                await query.get_bot().delete_message(chat_id, int(message_id))
            except TelegramError as exc:
                failed = failed or "not found" not in exc.message.lower()
                log.info("job %s: message %s not deleted: %s", job.id, message_id, exc)
        log.info("job %s: deleted by %s", job.id, user_id)
        await _answer(query, _(texts.DELETE_FAILED if failed else texts.DELETED), show_alert=failed)

    async def _settings_button(self, query: CallbackQuery, args: list[str]) -> None:
        message = query.message
        if not isinstance(message, Message):
            await _answer(query, _(texts.TOO_OLD))
            return
        chat = message.chat
        if not await self._may_change(chat, query.from_user.id):
            await _answer(query, _(texts.ADMINS_ONLY), show_alert=True)
            return
        chat_id = str(chat.id)
        current = await self.service.chat_defaults(self.platform, chat_id)
        language = await self.service.chat_language(self.platform, chat_id)
        if args[0] == "language":
            chosen = args[1] if args[1] in LANGUAGES else None
            if chosen == language:
                await _answer(query, _(texts.ALREADY_SET))
                return
            await self.service.set_chat_language(self.platform, chat_id, chosen)
            await _answer(query, _(texts.SAVED))
            await self._show_settings(message, current, chosen)
            return
        if args[0] == "reset":
            new = Options()
        else:
            new = _apply(current, args[0], args[1])
            if args[0] == "model":
                new = fit_options(new)
            try:
                new = validate_options(new)
            except RequestInvalid as exc:
                await _answer(query, str(exc), show_alert=True)
                return
        if new == current:
            await _answer(query, _(texts.ALREADY_SET))
            return
        await self.service.set_chat_defaults(self.platform, chat_id, new)
        await _answer(query, _(texts.SAVED))
        await self._show_settings(message, new, language)

    @staticmethod
    async def _show_settings(message: Message, defaults: Options, language: str | None) -> None:
        text = render.settings_text(
            defaults, is_group=message.chat.type != ChatType.PRIVATE, language=language
        )
        await message.edit_text(
            render.fit(text, html=True),
            parse_mode=ParseMode.HTML,
            reply_markup=settings_keyboard(defaults, language),
        )

    async def _language_button(self, query: CallbackQuery, choice: str) -> None:
        """Store the person's own language (or forget it), and say so in the new one."""
        user = query.from_user
        chosen = choice if choice in LANGUAGES else None
        await self.service.set_language(self.platform, str(user.id), chosen)
        message = query.message
        chat_id = message.chat.id if isinstance(message, Message) else None
        with speaking(await language_for(self.service, self.platform, user, chat_id)) as now:
            name = render.language_name(now)
            text = _(texts.LANGUAGE_CHOSEN if chosen else texts.LANGUAGE_FOLLOWS_APP)
            said = text.format(language=name)
            await _answer(query, said)
            if isinstance(message, Message) and message.chat.type == ChatType.PRIVATE:
                try:
                    await message.edit_text(said, reply_markup=language_keyboard(now))
                except BadRequest as exc:  # the same choice tapped again
                    if not is_not_modified(exc):
                        raise

    async def _may_change(self, chat: Chat, user_id: int) -> bool:
        if chat.type == ChatType.PRIVATE:
            return True
        member = await chat.get_member(user_id)
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

    async def _refresh(self, job: Job) -> None:
        try:
            await self.status.show(job)
        except DeliveryError as exc:
            log.info("job %s: status not updated after cancel: %s", job.id, exc)

    @staticmethod
    def _cancelled(job: Job) -> str:
        late = job.submitted_at is not None or job.tasks
        return _(texts.CANCELLED_JOB if late else texts.CANCELLED_EARLY).format(job=job.id)
