"""Which language to speak to a Telegram user, and the command list in each language.

A person's own choice (``/language``, stored by the core), else the language
their Telegram app reports (``from_user.language_code``, e.g. ``pt-br``), else the
chat's default from ``/settings``, else the operator's ``DEFAULT_LANGUAGE``.
Telegram shows the command list in the app's language when the bot set one for
it (``setMyCommands`` with a two-letter ``language_code``), else the default list.
"""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, User
from telegram.error import TelegramError

from adapters.telegram import texts
from bot.i18n import LANGUAGES, SOURCE, _, speaking
from bot.jobs.service import JobService

__all__ = ["bot_commands", "language_for", "set_commands"]

log = logging.getLogger("adapters.telegram")


async def language_for(
    service: JobService, platform: str, user: User | None, chat_id: int | None
) -> str:
    """The language to answer ``user`` in (in ``chat_id``); a chat speaking as itself
    (an anonymous admin, a channel) has no language of its own."""
    return await service.language_for(
        platform,
        str(user.id) if user is not None else str(chat_id),
        spoken=user.language_code if user is not None else None,
        chat_id=str(chat_id) if chat_id is not None else None,
    )


def bot_commands() -> list[BotCommand]:
    """The command list, described in the language in use."""
    return [BotCommand(command, _(description)) for command, description in texts.COMMAND_LIST]


def _code(language: str) -> str:
    """Telegram's code for a language: two letters (``pt_BR`` is Telegram's ``pt``)."""
    return language.split("_")[0].lower()


async def set_commands(bot: Bot) -> None:
    """The command list in English for everyone, and in each other language for its
    speakers; a refused list is logged (Telegram keeps the previous one)."""
    for language in [SOURCE, *(code for code in LANGUAGES if code != SOURCE)]:
        with speaking(language):
            commands = bot_commands()
        try:
            await bot.set_my_commands(
                commands, language_code=None if language == SOURCE else _code(language)
            )
        except TelegramError as exc:
            log.warning("could not set the command list (%s): %s", language, exc)
