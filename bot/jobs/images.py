"""Checking user images by their bytes, and re-encoding what Keevx would refuse.

Keevx takes JPG, PNG and WebP up to 20 MB: those are kept byte for byte. A
GIF (its first frame), or one of those over the limit, is rewritten as a JPEG
that fits. Every other format is refused with a sentence naming it: each
decoder is attack surface and memory, and chats carry these four. HEIC, the
iPhone's own, is refused too: sent as a photo it arrives as JPEG (Telegram
recompresses photos), and its decoders (libheif, libde265, outside Pillow)
are not worth their weight for the few sent as files.

Memory is bounded before a pixel is decoded, since a 3 KB file may declare a
9000×9000 canvas: from the header's size and mode, the bytes the decoder and a
re-encode would hold must fit :data:`MAX_WORKING_BYTES`, and at most
:data:`DECODES_AT_ONCE` images are decoded at a time in the whole process,
whatever the number of requests. JPEGs are decoded scaled down by libjpeg
where that loses nothing. Truncated files are refused, never half-decoded:
this module relies on Pillow's ``LOAD_TRUNCATED_IMAGES`` staying False and its
``MAX_IMAGE_PIXELS`` decompression-bomb guard staying on.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image, ImageOps

from bot.errors import RequestInvalid
from bot.i18n import _, ngettext
from bot.model.rules import sentence

__all__ = ["DECODES_AT_ONCE", "MAX_IMAGE_BYTES", "MAX_WORKING_BYTES", "ImageFile", "prepare_image"]

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_WORKING_BYTES: Final = 256 * 1024 * 1024
"""What one image's pixels may take in memory: 67 megapixels of RGB kept, fewer re-encoded."""
DECODES_AT_ONCE: Final = 2

# Process-wide on purpose: memory is the process's, and callers run in any thread.
_DECODING: Final = threading.BoundedSemaphore(DECODES_AT_ONCE)

_READABLE: Final = ("JPEG", "PNG", "WEBP", "GIF")
# Pillow keeps a pixel in one byte in these modes, two in 16-bit grey, four in all others.
_PIXEL_BYTES: Final = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
# Beyond Pillow's own copy: libwebp holds two RGBA canvases and hands Pillow a third.
_DECODER_BYTES: Final = {"WEBP": 12}
_REENCODE_BYTES: Final = 8  # flattening holds an RGBA and an RGB copy beside the decoded one
_WORKING_SIDE: Final = 3840  # the long side of Keevx's largest video: more is not needed
_JPEG_SCALES: Final = (1, 2, 4, 8)  # what libjpeg can scale down by while decoding
_QUALITIES: Final = (90, 82, 74, 66, 58, 50)
_MIN_SIDE: Final = 64  # below this the picture is useless: give up instead
# Pillow's errors for bad data; its decoders raise all of these.
_DECODE_ERRORS: Final = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)
# Formats known by their first bytes, named in the refusal (Pillow is not asked).
_FOREIGN: Final = (
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xffO\xffQ", "JPEG 2000"),
    (b"8BPS", "Photoshop"),
)
_HEIF_BRANDS: Final = {
    b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC", b"hevc": "HEIC",
    b"hevx": "HEIC", b"mif1": "HEIC", b"msf1": "HEIC", b"avif": "AVIF", b"avis": "AVIF",
}  # fmt: skip
_BMP_HEADERS: Final = (12, 40, 52, 56, 64, 108, 124)  # the DIB header sizes BMP files use


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


def _foreign(head: bytes) -> str | None:
    """The name of another image format these first bytes announce, if they do."""
    if head[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(head[8:12])
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADERS:
        return "BMP"
    return next((name for magic, name in _FOREIGN if head.startswith(magic)), None)


def _webp_canvas(head: bytes) -> tuple[int, int] | None:
    """A WebP's canvas size from its first 30 bytes (the layout Pillow's plugin reads)."""
    if len(head) < 30:
        return None
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _unreadable(label: str) -> RequestInvalid:
    msg = _("{label} is not an image I can read: send a JPG, PNG or WebP photo.")
    return RequestInvalid(
        sentence(msg, label=label), field="image", value=label, allowed=("JPG", "PNG", "WebP")
    )


def _not_taken(label: str, name: str) -> RequestInvalid:
    msg = _("{label} is in {format} format, which I cannot use: send a JPG, PNG or WebP photo.")
    return RequestInvalid(
        sentence(msg, label=label, format=name),
        field="image",
        value=name,
        allowed=("JPG", "PNG", "WebP"),
    )


def _per_pixel(mode: str, fmt: str | None, reencode: bool) -> int:
    """Bytes a pixel takes while the image is decoded (and re-encoded, if it will be)."""
    extra = _DECODER_BYTES.get(fmt or "", 0) + (_REENCODE_BYTES if reencode else 0)
    return _PIXEL_BYTES.get(mode, 4) + extra


def _check_room(
    label: str, declared: tuple[int, int], decoded: tuple[int, int], per_pixel: int
) -> None:
    """Refuse an image whose ``decoded`` pixels would take more than MAX_WORKING_BYTES.

    ``declared`` is the size its header gives, which the sentence names.
    """
    if decoded[0] * decoded[1] * per_pixel <= MAX_WORKING_BYTES:
        return
    megapixels = MAX_WORKING_BYTES // per_pixel // 1_000_000
    width, height = declared
    msg = ngettext(
        "{label} is {width}×{height} pixels, too large for me to open:"
        " send a smaller one, up to {megapixels} megapixel.",
        "{label} is {width}×{height} pixels, too large for me to open:"
        " send a smaller one, up to {megapixels} megapixels.",
        megapixels,
    )
    raise RequestInvalid(
        sentence(msg, label=label, width=width, height=height, megapixels=megapixels),
        field="image",
        value=f"{width}×{height}",
        allowed=(f"{megapixels} megapixels",),
    )


def _jpeg_scale(size: tuple[int, int], per_pixel: int, reencode: bool) -> int:
    """How much libjpeg should scale a JPEG down while decoding it (1, 2, 4 or 8).

    A JPEG kept as it is is decoded only to prove it whole, which 1/8 does
    (the whole stream is still read). One to re-encode is decoded as small as
    keeps its long side at Keevx's largest video, or smaller if it would not
    fit in MAX_WORKING_BYTES otherwise.
    """
    if not reencode:
        return 8
    width, height = size
    free = max(s for s in _JPEG_SCALES if s == 1 or max(width, height) // s >= _WORKING_SIDE)
    fits = next(
        (
            s
            for s in _JPEG_SCALES
            if -(-width // s) * -(-height // s) * per_pixel <= MAX_WORKING_BYTES
        ),
        _JPEG_SCALES[-1],
    )
    return max(free, fits)


def prepare_image(
    path: Path, *, label: str | None = None, max_bytes: int = MAX_IMAGE_BYTES
) -> ImageFile:
    """Check the file at ``path``; rewrite it as JPEG if Keevx would refuse it.

    JPG/PNG/WebP (by magic bytes, not name) under ``max_bytes`` that decode
    fully are kept byte for byte. A GIF's first frame, or one of those over
    ``max_bytes``, is re-encoded in place to a JPEG under ``max_bytes``:
    upright per EXIF, alpha on white, lower quality first, then smaller.
    Anything else (empty, truncated, another format, not an image, too many
    pixels for memory) raises :class:`~bot.errors.RequestInvalid` whose
    sentence names ``label`` (default "the image"), in the language in use: call
    it in a thread that has the caller's context (``asyncio.to_thread`` copies it).
    Blocking; at most DECODES_AT_ONCE calls decode at a time, the others wait their turn.
    """
    label = label if label is not None else _("the image")
    size = path.stat().st_size
    if size == 0:
        raise RequestInvalid(
            sentence(_("{label} is empty."), label=label), field="image", value=label
        )
    with path.open("rb") as fh:
        head = fh.read(32)
    if (name := _foreign(head)) is not None:
        raise _not_taken(label, name)
    content_type = _sniff(head)
    reencode = content_type is None or size > max_bytes
    if content_type == "image/webp":  # Pillow's WebP decoder allocates its canvas when opened
        canvas = _webp_canvas(head)
        if canvas is None:
            raise _unreadable(label)
        _check_room(label, canvas, canvas, _per_pixel("RGBA", "WEBP", reencode))
    try:
        with _DECODING, Image.open(path, formats=_READABLE) as im:
            declared = im.size
            if Image.MAX_IMAGE_PIXELS and im.width * im.height > Image.MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError("over MAX_IMAGE_PIXELS")
            per_pixel = _per_pixel(im.mode, im.format, reencode)
            if im.format == "JPEG":
                scale = _jpeg_scale(declared, per_pixel, reencode)
                if scale > 1:
                    im.draft(im.mode, (max(1, im.width // scale), max(1, im.height // scale)))
            _check_room(label, declared, im.size, per_pixel)
            im.load()  # decodes everything: a truncated file raises OSError here
            if not reencode:
                assert content_type is not None
                return ImageFile(path=path, content_type=content_type, size=size)
            data = _encode_jpeg(_flatten(im), max_bytes)
    except Image.DecompressionBombError:
        megapixels = (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000
        msg = ngettext(
            "{label} has too many pixels: send a photo under {megapixels} megapixel.",
            "{label} has too many pixels: send a photo under {megapixels} megapixels.",
            megapixels,
        )
        raise RequestInvalid(
            sentence(msg, label=label, megapixels=megapixels), field="image", value=label
        ) from None
    except _DECODE_ERRORS as exc:
        raise _unreadable(label) from exc
    if data is None:
        limit = max(1, max_bytes // (1024 * 1024))
        msg = _("{label} is too large and I could not shrink it under {limit} MB.")
        raise RequestInvalid(sentence(msg, label=label, limit=limit), field="image", value=label)
    _replace(path, data)
    return ImageFile(path=path, content_type="image/jpeg", size=len(data))


def _flatten(im: Image.Image) -> Image.Image:
    """The first frame, upright, as RGB; transparent parts become white.

    Turns ``im`` upright in place and makes at most two copies at a time
    (what _REENCODE_BYTES counts).
    """
    ImageOps.exif_transpose(im, in_place=True)
    if im.mode.startswith("I;16"):  # 16-bit grey: keep the top byte, not a clipped white
        im = im.convert("I").point(lambda v: v / 256)
    if im.has_transparency_data:
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba)  # an RGBA mask is its alpha band: no third copy
        return flat
    return im if im.mode == "RGB" else im.convert("RGB")


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
