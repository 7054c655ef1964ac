"""The commands in each reader's language: discord.py's :class:`~discord.app_commands.Translator`
answered from the catalogs.

Discord shows a command's description, its options' descriptions and its choices' names
in the language of the reader's app when the synced command carries localizations for
that locale; discord.py asks the tree's translator for each string and each locale at
sync. Every Discord locale whose language has a catalog (``es-ES`` and ``es-419`` → es,
``pt-BR`` → pt_BR, ``ru``, ``uk``, ``id``) gets one.

Slash command and option names stay English: they are the syntax the sentences and the
core's help name (``/video``, ``/jobs``, ``image2``), as ``--ar`` is, the same on
Telegram; a translated name would leave the help naming a command the reader cannot find.
The "Make a video" menu item is a label, not syntax, and is translated.

A text made from the rules (a model's limits) is no catalog message as a whole: it is
marked with :func:`said`, which keeps the function that makes it, and the translator
runs that function in each language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, cast

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n import SOURCE, _, language_of, speaking

__all__ = ["CHOICE_LIMIT", "DESCRIPTION_LIMIT", "NAME_LIMIT", "CatalogTranslator", "cut", "said"]

DESCRIPTION_LIMIT: Final = 100  # characters of a command's or an option's description
CHOICE_LIMIT: Final = 100  # of a choice's name
NAME_LIMIT: Final = 32  # of a command's name (a context menu's may have spaces)

_LIMITS: Final = {
    Where.command_name: NAME_LIMIT,
    Where.command_description: DESCRIPTION_LIMIT,
    Where.parameter_description: DESCRIPTION_LIMIT,
    Where.choice_name: CHOICE_LIMIT,
}


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, ending in ``…`` when cut (Discord refuses
    a longer one, and with it the whole sync)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def said(make: Callable[[], str], *, limit: int = DESCRIPTION_LIMIT) -> app_commands.locale_str:
    """A command text made by ``make`` in the language in use: in English for Discord's
    default, and in each other language by :class:`CatalogTranslator`."""

    def made() -> str:
        return cut(make(), limit)

    with speaking(SOURCE):
        return app_commands.locale_str(made(), make=made)


class CatalogTranslator(app_commands.Translator):
    """Translates command descriptions, choice names and context-menu names."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        language = language_of(locale.value)
        limit = _LIMITS.get(context.location)
        if language in (None, SOURCE) or limit is None:
            return None  # English is the default; option names stay as typed
        if context.location is Where.command_name and not isinstance(
            context.data, app_commands.ContextMenu
        ):
            return None  # slash command names are syntax
        make = cast(Callable[[], str] | None, string.extras.get("make"))
        with speaking(language):
            text = cut(make() if make is not None else _(string.message), limit)
        return text if text != string.message else None
