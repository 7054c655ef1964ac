"""Image links in chat text: which words are links, and the prompt without them.

A link is a whole word that is an ``http://`` or ``https://`` address, as
people paste it: maybe in Discord's ``<…>`` (no preview), brackets or quotes,
maybe followed by a comma or a full stop. Such a word is an image the user
gives by address: it never reaches Keevx's prompt, and the bot fetches it
itself (:mod:`bot.jobs.links`). A scheme-less ``example.com/cat.jpg`` or a
Markdown ``[text](url)`` is prose.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["link_in", "links_in"]

_LINK: Final = re.compile(r"https?://[^\s<>\"“”]+\Z", re.IGNORECASE)
_OPENERS: Final = "<(\"'“‘"
_CLOSERS: Final = ">)\"'”’.,;:!?"


def link_in(word: str) -> str | None:
    """The link ``word`` is, without what wraps or follows it; None for prose."""
    core = word.lstrip(_OPENERS)
    while core and core[-1] in _CLOSERS:
        if core[-1] == ")" and core.count("(") >= core.count(")"):
            break  # a balanced "(…)" belongs to the address (Wikipedia's do end so)
        core = core[:-1]
    return core if _LINK.match(core) else None


def links_in(text: str) -> tuple[str, ...]:
    """Every link in ``text``, in order (see :func:`link_in`)."""
    return tuple(link for word in text.split() if (link := link_in(word)) is not None)
