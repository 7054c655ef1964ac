"""The catalogs: every message translated in every language, with the source's placeholders.

Reads the ``.po`` files themselves (Babel parses them), so a catalog that ``make catalogs``
updated but nobody translated fails here, not in a chat.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.i18n import DOMAINS, LANGUAGES, LOCALES, SOURCE

TRANSLATED = sorted(set(LANGUAGES) - {SOURCE})
# str.format fields ({name}, {name:>3}) and HTML tags: a translation keeps the source's.
FIELDS = re.compile(r"\{[a-z_][a-z0-9_]*(?:[:!][^{}]*)?\}|</?[a-z]+[^<>]*>")


def catalog(language: str, domain: str) -> Catalog:
    path = LOCALES / language / "LC_MESSAGES" / f"{domain}.po"
    with path.open("rb") as source:
        return read_po(source, locale=language, domain=domain)


def template(domain: str) -> Catalog:
    with (LOCALES / f"{domain}.pot").open("rb") as source:
        return read_po(source, domain=domain)


def fields(text: str) -> list[str]:
    return sorted(FIELDS.findall(text))


def test_the_six_languages_are_there() -> None:
    assert set(LANGUAGES) >= {"en", "es", "pt_BR", "ru", "uk", "id"}


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(language: str, domain: str) -> None:
    wanted = {m.id for m in template(domain) if m.id}
    found = catalog(language, domain)
    problems: list[str] = []
    for message in found:
        if not message.id:
            continue
        ids = [str(i) for i in (message.id if message.pluralizable else [message.id])]
        raw = message.string if isinstance(message.string, (tuple, list)) else [message.string]
        strings = [s or "" for s in raw]
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        if message.pluralizable and len(strings) != found.num_plurals:
            problems.append(f"{len(strings)} plural forms, not {found.num_plurals}: {ids[0]!r}")
        for text in strings:
            if fields(text) != fields(ids[-1]) and fields(text) != fields(ids[0]):
                problems.append(f"placeholders differ: {ids[0]!r} → {text!r}")
    missing = wanted - {m.id for m in found if m.id}
    problems += [f"missing: {m!r}" for m in sorted(map(str, missing))]
    assert not problems, "\n".join(problems)


def test_no_compiled_catalog_is_committed() -> None:
    root = Path(__file__).resolve().parent.parent
    ignored = (root / ".gitignore").read_text().splitlines()
    assert "*.mo" in ignored
