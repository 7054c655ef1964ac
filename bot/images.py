"""Checking user images by their bytes, and re-encoding what Keevx would refuse.

Keevx takes JPG, PNG and WebP up to 20 MB. Chats deliver whatever users
have (BMP, GIF, TIFF, huge PNG screenshots), so anything Pillow can decode
is rewritten as a JPEG that fits; anything it cannot is refused with a
sentence for the user. Truncated files are refused, never half-decoded:
this module relies on Pillow's ``LOAD_TRUNCATED_IMAGES`` staying False and
its ``MAX_IMAGE_PIXELS`` decompression-bomb guard staying on.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image, ImageOps

from bot.errors import RequestInvalid

__all__ = ["MAX_IMAGE_BYTES", "ImageFile", "prepare_image"]

MAX_IMAGE_BYTES = 20 * 1024 * 1024

# Formats Pillow may open. Not all it knows: EPS would run Ghostscript on user data.
_READABLE: Final = (
    "JPEG", "PNG", "WEBP", "GIF", "BMP", "DIB", "TIFF", "PPM", "TGA",
    "ICO", "PCX", "QOI", "SGI", "AVIF", "JPEG2000", "PSD",
)  # fmt: skip
_QUALITIES: Final = (90, 82, 74, 66, 58, 50)
_MIN_SIDE: Final = 64  # below this the picture is useless: give up instead
# Pillow's errors for bad data; its decoders raise all of these.
_DECODE_ERRORS: Final = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)


@dataclass(frozen=True)
class ImageFile:
    """A local image ready to upload: JPG, PNG or WebP, at most 20 MB."""

    path: Path
    content_type: str  # image/jpeg, image/png or image/webp
    size: int


def _sniff(head: bytes) -> str | None:
    """The content type Keevx accepts that these first bytes announce, if any."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _unreadable(label: str) -> RequestInvalid:
    msg = f"{_cap(label)} is not an image I can read: send a JPG, PNG or WebP photo."
    return RequestInvalid(msg, field="image", value=label, allowed=("JPG", "PNG", "WebP"))


def _cap(label: str) -> str:
    return label[:1].upper() + label[1:]


def prepare_image(
    path: Path, *, label: str = "the image", max_bytes: int = MAX_IMAGE_BYTES
) -> ImageFile:
    """Check the file at ``path``; rewrite it as JPEG if Keevx would refuse it.

    JPG/PNG/WebP (by magic bytes, not name) under ``max_bytes`` that decode
    fully are kept byte for byte. Another format Pillow reads (BMP, GIF's
    first frame, TIFF …), or a file over ``max_bytes``, is re-encoded in place
    to a JPEG under ``max_bytes``: upright per EXIF, alpha on white, lower
    quality first, then smaller. Anything else (empty, truncated, not an
    image, a decompression bomb) raises :class:`~bot.errors.RequestInvalid`
    whose sentence names ``label``. Blocking: call it in a thread.
    """
    size = path.stat().st_size
    if size == 0:
        raise RequestInvalid(f"{_cap(label)} is empty.", field="image", value=label)
    with path.open("rb") as fh:
        content_type = _sniff(fh.read(16))
    Image.init()  # Image.OPEN lists only the plugins loaded so far
    try:
        with Image.open(path, formats=[f for f in _READABLE if f in Image.OPEN]) as im:
            if Image.MAX_IMAGE_PIXELS and im.width * im.height > Image.MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError("over MAX_IMAGE_PIXELS")
            im.load()  # decodes everything: a truncated file raises OSError here
            if content_type is not None and size <= max_bytes:
                return ImageFile(path=path, content_type=content_type, size=size)
            data = _encode_jpeg(_flatten(im), max_bytes)
    except Image.DecompressionBombError:
        megapixels = (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000
        msg = f"{_cap(label)} has too many pixels: send a photo under {megapixels} megapixels."
        raise RequestInvalid(msg, field="image", value=label) from None
    except _DECODE_ERRORS as exc:
        raise _unreadable(label) from exc
    if data is None:
        limit = max(1, max_bytes // (1024 * 1024))
        msg = f"{_cap(label)} is too large and I could not shrink it under {limit} MB."
        raise RequestInvalid(msg, field="image", value=label)
    _replace(path, data)
    return ImageFile(path=path, content_type="image/jpeg", size=len(data))


def _flatten(im: Image.Image) -> Image.Image:
    """The first frame, upright, as RGB; transparent parts become white."""
    im = ImageOps.exif_transpose(im)
    if im.mode.startswith("I;16"):  # 16-bit grey: keep the top byte, not a clipped white
        im = im.convert("I").point(lambda v: v / 256)
    if im.has_transparency_data:
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return im.convert("RGB")


def _encode_jpeg(im: Image.Image, max_bytes: int) -> bytes | None:
    """JPEG bytes of ``im`` at most ``max_bytes`` long, or None if no size fits.

    Quality steps down first (cheap in detail), then the picture shrinks by
    the square root of the overshoot (bytes grow with the pixel count).
    """
    while True:
        for quality in _QUALITIES:
            buffer = io.BytesIO()
            im.save(buffer, "JPEG", quality=quality)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue()
        scale = min(0.9, (max_bytes / buffer.tell()) ** 0.5)
        width, height = round(im.width * scale), round(im.height * scale)
        if min(width, height) < _MIN_SIDE:
            return None
        im = im.resize((width, height), Image.Resampling.LANCZOS)


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` atomically, so a crash never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
