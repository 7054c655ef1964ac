"""Speaking the user's language: gettext catalogs managed with Babel, and which one is in use.

Every sentence a person reads is an English msgid, marked ``_("…")`` where it is
said, or ``N_("…")`` where a constant is defined (and ``_(CONSTANT)`` where it is
said). Which language ``_`` speaks is a context variable, set with :func:`speaking`
around handling a person's message or working on a job, so a sentence made deep in
the core comes out in the asker's language without every function passing one on.
Asyncio tasks copy the context they start in, so jobs worked side by side never mix.

Catalogs live in ``bot/locales/<language>/LC_MESSAGES/<domain>.po``, one domain per
layer (``core``, ``telegram``, ``discord``), so each changes on its own; ``make``
extracts and updates them with ``pybabel`` and compiles them to ``.mo`` at install.
A missing ``.mo`` (a checkout used without ``make``) is compiled in memory from its
``.po`` (or an older one), by Babel as well. Adding a language is adding its catalogs.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import io
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Final

from babel.core import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from babel.units import format_unit

__all__ = [
    "LANGUAGES",
    "N_",
    "SOURCE",
    "_",
    "choose",
    "current",
    "date_time",
    "duration",
    "language_of",
    "ngettext",
    "number",
    "speaking",
]

log = logging.getLogger(__name__)


def _own_name(code: str) -> str:
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


SOURCE: Final = "en"
DOMAINS: Final = ("core", "telegram", "discord")
LOCALES: Final = Path(__file__).parent / "locales"
# The source and every language with a catalog, each by its own name (as a person
# looking for theirs reads it): adding a language is adding its catalogs.
LANGUAGES: Final = {
    code: _own_name(code)
    for code in [SOURCE, *sorted(p.name for p in LOCALES.iterdir() if (p / "LC_MESSAGES").is_dir())]
}
# Platform codes Babel cannot match by their language part alone.
# A code's language part names the language, except these (Portuguese is Brazil's here).
_ALIASES: Final = {"pt": "pt_BR", "in": "id"}
_BY_LOWER: Final = {code.lower(): code for code in LANGUAGES}

_current: ContextVar[str] = ContextVar("keevx_language", default=SOURCE)


def language_of(code: str | None) -> str | None:
    """The supported language for a platform's code (Telegram's ``pt-br``, Discord's
    ``es-ES``), or ``None`` when there is none."""
    if not code:
        return None
    wanted = code.strip().replace("-", "_").lower()
    primary = wanted.split("_")[0]
    for candidate in (wanted, _ALIASES.get(primary, primary)):
        if language := _BY_LOWER.get(candidate.lower()):
            return language
    return None


def choose(*candidates: str | None) -> str:
    """The first candidate (a code of any spelling) that names a supported language,
    else English: a person's choice, then their platform's, the chat's, the operator's."""
    for code in candidates:
        if language := language_of(code):
            return language
    return SOURCE


@contextlib.contextmanager
def speaking(language: str | None) -> Iterator[str]:
    """Say what is said inside the block in ``language`` (a supported one, else English)."""
    chosen = choose(language)
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def current() -> str:
    """The language in use here."""
    return _current.get()


def _(message: str) -> str:
    """``message`` in the language in use."""
    return _translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of ``singular``/``plural`` for ``n``, by the language's own plural rules."""
    return _translations(_current.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a constant for extraction; translate it with ``_`` where it is said."""
    return message


def number(value: float, *, decimals: int = 0) -> str:
    """``1,234.5`` / ``1 234,5``: a number as the language writes it."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=_current.get())


def duration(seconds: float, *, minutes_only: bool = False) -> str:
    """``42 s``, ``3 min 5 s``, ``1 h 2 min``: a span in the language's short units.

    ``minutes_only``: rounded to whole minutes, at least one (``3 min``, ``1 h 2 min``).
    """
    total = max(0, int(seconds))
    if minutes_only:
        total = max(1, round(seconds / 60)) * 60
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        parts = [(hours, "duration-hour"), (minutes, "duration-minute")]
    elif minutes_only:
        parts = [(minutes, "duration-minute")]
    elif minutes:
        parts = [(minutes, "duration-minute"), (secs, "duration-second")]
    else:
        parts = [(secs, "duration-second")]
    locale = _current.get()
    return " ".join(format_unit(v, unit, length="short", locale=locale) for v, unit in parts)


def date_time(when: datetime) -> str:
    """A date and time as the language writes them (``7 Dec 2026, 13:30``), in UTC."""
    locale = Locale.parse(_current.get())
    # The locale's own way of joining a date and a time, with the time to the minute.
    day = format_date(when, format="medium", locale=locale)
    clock = format_time(when, format="short", tzinfo=when.tzinfo, locale=locale)
    return str(locale.datetime_formats["medium"]).replace("{1}", day).replace("{0}", clock)


@functools.cache
def _translations(language: str) -> gettext.NullTranslations:
    if language == SOURCE:
        return gettext.NullTranslations()
    catalogs = [_catalog(language, domain) for domain in DOMAINS]
    merged = Translations()
    for catalog in catalogs:
        merged.merge(catalog)
    # merge() takes the messages only: the language's plural rule (ru and uk have three
    # forms, id one) comes from a catalog's Plural-Forms header, else n != 1 would pick them.
    ruled = next((c for c in catalogs if "plural-forms" in c.info()), None)
    if ruled is not None:
        merged.plural = ruled.plural
    return merged


def _catalog(language: str, domain: str) -> Translations:
    mo = LOCALES / language / "LC_MESSAGES" / f"{domain}.mo"
    po = mo.with_suffix(".po")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as compiled:
            return Translations(compiled, domain=domain)
    if not po.exists():
        log.warning("no %s catalog for %s: its messages stay in English", domain, language)
        return Translations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=domain)
