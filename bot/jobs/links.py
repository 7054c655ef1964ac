"""Fetching the images users give by link, as if they had uploaded them.

A link in a request (:mod:`bot.model.links`) is fetched by the bot itself,
never handed to Keevx: Keevx would fetch any address it is given, and a user's
link may point at the bot's own network. Fetching goes through
:func:`~bot.jobs.safe_fetch.fetch_to_file` under :func:`link_policy`: http and
https only, public addresses only (unless the operator sets
``ALLOW_PRIVATE_IMAGE_URLS=1``), at most 3 redirects each checked again, 20 MB
read at most, one deadline per link. What arrives is then an upload like any
other: :func:`bot.jobs.images.prepare_image` checks its bytes, never the
content type the server claimed.

Every refusal is a :class:`~bot.errors.RequestInvalid` whose sentence says what
was wrong with which link, without the address, an HTTP code or an exception
name (those go to the log, without the address either).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

import httpx

from bot.errors import RequestInvalid
from bot.i18n import N_, _, ngettext
from bot.jobs.images import MAX_IMAGE_BYTES
from bot.jobs.safe_fetch import (
    FetchError,
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    FetchTimeout,
    Refusal,
    Resolver,
    fetch_to_file,
    system_resolve,
)
from bot.model.rules import sentence

__all__ = ["LINK_POLICY", "ImageLinks", "link_label", "link_policy"]

log = logging.getLogger(__name__)

LINK_POLICY = FetchPolicy(max_redirects=3, max_bytes=MAX_IMAGE_BYTES, deadline=30.0)
"""Public hosts only, 3 redirects, Keevx's 20 MB, 30 s for each link."""

_WEB_PAGE: Final = (b"<!doctype", b"<html", b"<head", b"<body", b"<!--")
_BLANK: Final = b" \t\r\n\xef\xbb\xbf"  # whitespace and a UTF-8 byte order mark


def link_policy(*, allow_private: bool) -> FetchPolicy:
    """:data:`LINK_POLICY`, private addresses allowed when the operator says so."""
    return replace(LINK_POLICY, allow_private=allow_private)


def link_label(number: int, count: int) -> str:
    """How a sentence names link ``number`` of ``count``: "the link" or "link 2"."""
    return _("the link") if count == 1 else _("link {number}").format(number=number)


# Why a link was refused, each a whole sentence naming the link by its label.
_REFUSALS: Final = {
    Refusal.SCHEME: N_(
        "{label} sends me on to an address that is not an http or https link:"
        " paste the image's own address."
    ),
    Refusal.URL: N_(
        "{label} is not a web address I can open (or has a name and password in it):"
        " paste the image's plain address."
    ),
    Refusal.ADDRESS: N_(
        "{label} points into a private network, and I only fetch from public websites:"
        " put the image somewhere public or send the photo."
    ),
    Refusal.ENCODING: N_(
        "{label} sends the image compressed in a way I do not accept:"
        " use another link or send the photo."
    ),
    Refusal.TOO_LARGE: N_(
        "{label} leads to a file over {size} MB: use a smaller image or send the photo."
    ),
}


class ImageLinks:
    """Fetches a request's image links to local files, refusing with a sentence."""

    def __init__(
        self, http: httpx.AsyncClient, policy: FetchPolicy, *, resolve: Resolver = system_resolve
    ) -> None:
        self._http = http
        self._policy = policy
        self._resolve = resolve

    async def fetch(self, links: Sequence[str], folder: Path) -> list[Path]:
        """Fetch every link into ``folder``, one after another; return the files in order.

        Raises ``RequestInvalid`` for the first link that is refused or fails
        (the files fetched so far stay in ``folder``, which the caller removes).
        """
        paths = []
        for number, link in enumerate(links, start=1):
            label = link_label(number, len(links))
            path = folder / f"link-{number}.img"
            try:
                await fetch_to_file(self._http, link, path, self._policy, resolve=self._resolve)
            except FetchError as exc:
                log.info("image link %s of %s refused: %s", number, len(links), exc)
                raise self._refusal(number, label, exc) from exc
            if _is_web_page(path):
                log.info("image link %s of %s is a web page", number, len(links))
                msg = _(
                    "{label} leads to a web page, not to an image: open the image itself"
                    " and copy its address, or send the photo."
                )
                raise RequestInvalid(sentence(msg, label=label), field="link", value=number)
            paths.append(path)
        return paths

    def _refusal(self, number: int, label: str, exc: FetchError) -> RequestInvalid:
        """The sentence for a link that could not be fetched."""
        policy = self._policy
        if isinstance(exc, FetchRefused) and exc.reason is Refusal.REDIRECTS:
            msg = ngettext(
                "{label} sends me on more than {count} time:"
                " paste the address the image finally opens at.",
                "{label} sends me on more than {count} times:"
                " paste the address the image finally opens at.",
                policy.max_redirects,
            )
        elif isinstance(exc, FetchRefused):
            msg = _(_REFUSALS[exc.reason])
        elif isinstance(exc, FetchTimeout):
            msg = ngettext(
                "{label} took longer than {seconds} second to download:"
                " try again later or send the photo.",
                "{label} took longer than {seconds} seconds to download:"
                " try again later or send the photo.",
                round(policy.deadline),
            )
        elif isinstance(exc, FetchFailed) and exc.status in (404, 410):
            msg = _("{label} leads nowhere: the website says there is nothing at that address.")
        elif isinstance(exc, FetchFailed) and exc.status in (401, 403):
            msg = _(
                "{label} is on a website that would not let me download it (it may need a login):"
                " send the photo instead."
            )
        elif isinstance(exc, FetchFailed) and exc.status is not None:
            msg = _(
                "{label} is on a website that answered with an error:"
                " try again later or send the photo."
            )
        else:
            msg = _("{label} is on a website I could not reach: check the link or send the photo.")
        said = sentence(
            msg,
            label=label,
            count=policy.max_redirects,
            size=policy.max_bytes // 1_048_576,
            seconds=f"{policy.deadline:.0f}",
        )
        return RequestInvalid(said, field="link", value=number)


def _is_web_page(path: Path) -> bool:
    """Whether the body starts like HTML (a gallery page instead of its image).

    Only a hint for a better sentence: whatever else is not an image is refused
    by its bytes later on. Reads a few hundred bytes (no thread hop, as in
    :mod:`bot.jobs.delivery`).
    """
    with path.open("rb") as fh:
        head = fh.read(512).lstrip(_BLANK).lower()
    return head.startswith(_WEB_PAGE)
