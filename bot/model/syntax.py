"""Reading the chat syntax: ``/video <prompt> [--option value …]``, options anywhere."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from bot.errors import RequestInvalid
from bot.i18n import _
from bot.model.links import link_in
from bot.model.rules import (
    MODEL_RULES,
    Options,
    echo,
    hint,
    join_or,
    norm_resolution,
    strs,
    values_for,
)

__all__ = ["Command", "parse_command"]


@dataclass(frozen=True)
class Command:
    """Chat text split into the prompt, the options and the image links found anywhere in it."""

    prompt: str
    options: Options = field(default_factory=Options)
    links: tuple[str, ...] = ()


# --- parsing -----------------------------------------------------------------

# option name -> (Options field, the value a flag sets; None when a value follows)
_OPTIONS: Final[Mapping[str, tuple[str, bool | None]]] = MappingProxyType(
    {
        "model": ("model", None),
        "ar": ("aspect_ratio", None),
        "aspect": ("aspect_ratio", None),
        "aspect-ratio": ("aspect_ratio", None),
        "res": ("resolution", None),
        "resolution": ("resolution", None),
        "duration": ("duration", None),
        "audio": ("audio", True),
        "no-audio": ("audio", False),
        "count": ("count", None),
    }
)
_MAIN_NAMES: Final = ("model", "ar", "res", "duration", "audio", "no-audio", "count")
_COMMAND = re.compile(r"\A\s*/video(?:@\w+)?(?=\s|\Z)", re.IGNORECASE)
# "--", or the em/en dash a phone's autocorrect makes of it, then a letter.
_OPTION = re.compile(r"(?P<dash>--|[—–]{1,2})(?P<name>[A-Za-z][^=\s]*)(?:=(?P<value>.*))?\Z", re.S)
_OPEN_QUOTES: Final = '"“”„'
_CLOSE_QUOTES: Final = '"“”'


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    """Spans from a quote to its closing quote; an unpaired quote (12" vinyl) is literal."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        if text[i] in _OPEN_QUOTES:
            end = next((j for j in range(i + 1, len(text)) if text[j] in _CLOSE_QUOTES), -1)
            if end > 0:
                spans.append((i, end + 1))
                i = end + 1
                continue
        i += 1
    return spans


def _read(field_name: str, raw: str) -> Any:
    """``raw`` as the field's type (``4K`` → ``4k``, ``6s`` → 6), or None if it can't be."""
    if field_name == "model":
        return next((m for m in MODEL_RULES if m.upper() == raw.upper()), None)
    if field_name == "resolution":
        return norm_resolution(raw)
    if field_name in ("duration", "count"):
        digits = raw[:-1] if field_name == "duration" and raw[-1] in "sS" else raw
        try:
            return int(digits)
        except ValueError:
            return None
    return raw


def _value(name: str, field_name: str, raw: str) -> Any:
    """The value of ``--name raw``; RequestInvalid if no model could take it.

    Durations are only checked for being numbers: which fit depends on the
    model and the image count, so :func:`build_request` words that refusal.
    """
    value = _read(field_name, raw)
    if value is None and field_name in ("duration", "count"):
        msg = _("{option} is not a number: use {allowed}.")
    elif field_name == "count" and value not in values_for(field_name):
        msg = _("{option} is out of range: use {allowed}.")
    elif field_name != "duration" and value not in values_for(field_name):
        msg = _("{option} is not available: use {allowed}.")
    else:
        return value
    msg = msg.format(option=f"--{name} {echo(raw)}", allowed=hint(field_name))
    raise RequestInvalid(msg, field=field_name, value=raw, allowed=strs(values_for(field_name)))


def parse_command(text: str) -> Command:
    """Split ``/video <prompt> [--option value …]`` (the command word is optional).

    Options may stand anywhere, written ``--opt value`` or ``--opt=value``, with
    ``—``/``–`` accepted for ``--`` (phones autocorrect it); a dash-written
    name that is not an option stays prose. Words in double quotes are always
    prompt. Whole ``http(s)://`` words are image links (:mod:`bot.model.links`),
    taken out wherever they stand. The rest is the prompt, character for
    character: only the whitespace where options and links stood is collapsed.
    Values are checked against every model here, against the chosen one in
    :func:`build_request`; an empty prompt is allowed here, refused there.
    Raises :class:`RequestInvalid` for an unknown, repeated or valueless option
    or a value no model accepts.
    """
    text = _COMMAND.sub("", text, count=1)
    quoted = _quoted_spans(text)
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]

    def option_at(k: int) -> re.Match[str] | None:
        """The option token ``k`` holds, if any; None for prose."""
        start, end = tokens[k]
        if any(a <= start < b for a, b in quoted):
            return None
        match = _OPTION.match(text, start, end)
        if match is None:
            return None
        known = match["name"].lower().replace("_", "-") in _OPTIONS
        return match if known or match["dash"] == "--" else None

    values: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    removed: set[int] = set()
    links: list[str] = []
    k = 0
    while k < len(tokens):
        if (link := link_in(text[slice(*tokens[k])])) is not None:
            links.append(link)
            removed.add(k)
            k += 1
            continue
        match = option_at(k)
        if match is None:
            k += 1
            continue
        name = match["name"].lower().replace("_", "-")
        if name not in _OPTIONS:
            main = [f"--{n}" for n in _MAIN_NAMES]
            given = f"--{match['name']}"
            msg = _("Unknown option {option}: use {allowed}.").format(
                option=echo(given), allowed=join_or(main)
            )
            raise RequestInvalid(msg, field="option", value=given, allowed=tuple(main))
        field_name, flag = _OPTIONS[name]
        if field_name in spelled:
            first = spelled[field_name]
            msg = (
                _("{option} is given twice: keep only one.").format(option=f"--{name}")
                if first == name
                else _("{first} and {second} cannot be used together: keep only one.").format(
                    first=f"--{first}", second=f"--{name}"
                )
            )
            raise RequestInvalid(msg, field=field_name, value=f"--{name}")
        spelled[field_name] = name
        removed.add(k)
        raw = match["value"]
        if flag is not None:
            if raw is not None:
                msg = _("{option} takes no value: write {flags}.").format(
                    option=f"--{name}", flags=join_or(("--audio", "--no-audio"))
                )
                raise RequestInvalid(
                    msg, field=field_name, value=raw, allowed=("--audio", "--no-audio")
                )
            values[field_name] = flag
        else:
            if raw is None and k + 1 < len(tokens):
                start, end = tokens[k + 1]
                word = text[start:end]
                if (
                    option_at(k + 1) is None
                    and link_in(word) is None
                    and not any(a <= start < b for a, b in quoted)
                ):
                    raw = word
                    removed.add(k + 1)
                    k += 1
            if not raw:
                msg = _("{option} needs a value: {allowed}.").format(
                    option=f"--{name}", allowed=hint(field_name)
                )
                allowed = strs(values_for(field_name))
                raise RequestInvalid(msg, field=field_name, allowed=allowed)
            values[field_name] = _value(name, field_name, raw)
        k += 1
    return Command(
        prompt=_without(text, tokens, removed), options=Options(**values), links=tuple(links)
    )


def _without(text: str, tokens: list[tuple[int, int]], removed: set[int]) -> str:
    """``text`` minus the removed tokens; the whitespace around each gap becomes one space
    (one newline if it held one), all other characters are kept as they are."""
    pieces: list[str] = []
    gap_start = 0  # where the whitespace before the current token begins
    gap: list[str] = []  # whitespace runs merged across removed tokens
    for k, (start, end) in enumerate(tokens):
        gap.append(text[gap_start:start])
        if k in removed:
            gap_start = end
            continue
        pieces.append(_merge(gap) if len(gap) > 1 else gap[0])
        pieces.append(text[start:end])
        gap, gap_start = [], end
    return "".join(pieces).strip()


def _merge(gaps: list[str]) -> str:
    return "\n" if any("\n" in g for g in gaps) else " "
