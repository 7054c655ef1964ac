"""Fetching a Discord attachment to disk, a chunk at a time, under a byte cap.

discord.py's ``Attachment.read`` and ``save`` hold the whole file in memory
(``get_from_cdn`` returns ``await resp.read()``): three requests of three
90 MB photos held 810 MB at once. Here only one chunk is in memory; the rest
goes to disk, and the cap is checked as bytes arrive, since ``Attachment.size``
is only what Discord said and the body is what counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import aiohttp

__all__ = ["CHUNK", "TIMEOUT", "DownloadFailed", "DownloadTooLarge", "save_to_file"]

CHUNK: Final = 256 * 1024
# Generous for 100 MB on a slow link, but a stalled transfer ends within a minute.
TIMEOUT: Final = aiohttp.ClientTimeout(total=600, sock_connect=30, sock_read=60)


class DownloadFailed(Exception):
    """The file did not arrive: an error status, the network, the deadline or the disk.

    The message names the reason only (never the URL, which is signed).
    """


class DownloadTooLarge(DownloadFailed):
    """The body is longer than the cap; ``declared`` is the length the server gave, if any."""

    def __init__(self, declared: int | None) -> None:
        super().__init__("over the size cap")
        self.declared = declared


async def save_to_file(http: aiohttp.ClientSession, url: str, path: Path, *, max_bytes: int) -> int:
    """Stream ``url`` into ``path``; return its size in bytes.

    Raises :class:`DownloadTooLarge` as soon as the declared length or the
    bytes received pass ``max_bytes`` (the rest is never read), and
    :class:`DownloadFailed` for anything else. A failure may leave part of
    the file in ``path``: the caller removes its folder either way.
    """
    try:
        return await _stream(http, url, path, max_bytes)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise DownloadFailed(type(exc).__name__) from exc


async def _stream(http: aiohttp.ClientSession, url: str, path: Path, max_bytes: int) -> int:
    async with http.get(url) as response:
        if response.status != 200:
            raise DownloadFailed(f"the CDN answered {response.status}")
        declared = response.content_length
        if declared is not None and declared > max_bytes:
            raise DownloadTooLarge(declared)
        size = 0
        # A chunk goes to the page cache per write: as in bot.jobs.delivery, no thread hop.
        with path.open("wb") as out:
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise DownloadTooLarge(declared)
                out.write(chunk)
        return size
