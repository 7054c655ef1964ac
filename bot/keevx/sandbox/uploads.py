"""Storing an uploaded image the way Keevx's upload endpoint judges it.

The file is streamed to disk, never held whole in memory, refused once it
passes 20 MB (413, 100004), and its format is decided by its first bytes only
(400, 100007): a PNG named ``photo.jpg`` is a PNG, a text file named
``cat.png`` is refused.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from aiohttp import BodyPartReader

from bot.keevx.sandbox.checks import CODE_BAD_FORMAT, CODE_IMAGE_TOO_BIG, Refusal
from bot.keevx.sandbox.models import UploadedFile

__all__ = ["MAX_UPLOAD", "sniff", "store_upload"]

MAX_UPLOAD = 20 * 1024 * 1024
CHUNK = 256 * 1024
FLUSH = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) from a file's first 12 bytes, or None if no image."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", ".png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


def _open_new(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("wb")


async def store_upload(part: BodyPartReader, *, folder: Path, origin: str) -> UploadedFile:
    """Stream ``part`` into a new folder under ``folder``; its URL starts with ``origin``.

    Raises :class:`Refusal` for files over :data:`MAX_UPLOAD` or not JPEG/PNG/WebP,
    leaving nothing behind on disk.
    """
    file_id = str(uuid.uuid4())
    home = folder / file_id
    partial = home / ".partial"
    size, head, pending = 0, b"", bytearray()
    out = await asyncio.to_thread(_open_new, partial)
    try:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise Refusal(413, CODE_IMAGE_TOO_BIG, "Image size exceeded: the limit is 20 MB")
            head = (head + chunk[:12])[:12]
            pending += chunk
            if len(pending) >= FLUSH:
                await asyncio.to_thread(out.write, bytes(pending))
                pending.clear()
        await asyncio.to_thread(out.write, bytes(pending))
        kind = sniff(head)
        if kind is None:
            raise Refusal(400, CODE_BAD_FORMAT, "Unsupported image format: use JPG, PNG or WebP")
    except BaseException:
        await asyncio.to_thread(out.close)
        await asyncio.to_thread(shutil.rmtree, home, True)
        raise
    await asyncio.to_thread(out.close)
    content_type, ext = kind
    name = _UNSAFE.sub("_", Path(part.filename or "").name).strip("._")[:100] or f"image{ext}"
    path = home / name
    await asyncio.to_thread(partial.rename, path)
    return UploadedFile(
        file_id=file_id,
        file_name=name,
        url=f"{origin}/media/uploads/{file_id}/{quote(name)}",
        path=path,
        content_type=content_type,
        size=size,
    )
