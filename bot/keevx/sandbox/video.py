"""Turning one still image into a small but real MP4, as a stand-in for Keevx's output.

The sandbox's videos must be things a chat platform accepts and a player plays:
H.264 in yuv420p with even dimensions, ``moov`` first (faststart) so streaming
works. A slow Ken-Burns pan and zoom makes it visibly a video of the photo.
Everything here blocks: call it in a thread.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageOps

__all__ = ["frame_size", "pad_mp4", "render_thumbnail", "render_video"]

ZOOM = 1.15  # how far the camera moves in over the whole clip
THUMBNAIL_MAX = 320
AUDIO_RATE = 48_000


def frame_size(aspect_ratio: str, short_side: int) -> tuple[int, int]:
    """(width, height) for ``aspect_ratio`` "16:9" or "9:16" with ``short_side`` pixels.

    Both are rounded to even numbers because yuv420p halves the chroma planes.
    """
    short = max(2, short_side - short_side % 2)
    long = max(2, round(short * 16 / 9 / 2) * 2)
    if aspect_ratio == "16:9":
        return long, short
    if aspect_ratio == "9:16":
        return short, long
    raise ValueError(f"unsupported aspect ratio {aspect_ratio!r}")


def _load(image: Path) -> Image.Image:
    """The image upright (EXIF orientation applied) in RGB."""
    with Image.open(image) as src:
        return ImageOps.exif_transpose(src).convert("RGB")


def _crop_to(img: Image.Image, width: int, height: int) -> Image.Image:
    """The largest centred part of ``img`` with the aspect ratio width:height."""
    target = width / height
    w, h = img.size
    if w / h > target:
        new_w = max(1, round(h * target))
        left = (w - new_w) // 2
        return img.crop((left, 0, left + new_w, h))
    new_h = max(1, round(w / target))
    top = (h - new_h) // 2
    return img.crop((0, top, w, top + new_h))


def render_video(
    image: Path,
    out: Path,
    *,
    aspect_ratio: str,
    duration: float,
    height: int,
    fps: int = 24,
    audio: bool = False,
) -> tuple[int, int, float]:
    """Write an H.264 MP4 of ``image`` panned and zoomed for ``duration`` seconds.

    ``height`` is the short side (so 9:16 at 720 is 720x1280). With ``audio``
    a silent AAC track is added, as Keevx would add a soundtrack.
    Returns (width, height, duration) of the written video.
    """
    width, vheight = frame_size(aspect_ratio, height)
    frames = max(1, round(duration * fps))
    # Work from a copy only a bit larger than the zoomed-in view: cheap per frame.
    source = _crop_to(_load(image), width, vheight)
    work = (round(width * ZOOM * 1.25), round(vheight * ZOOM * 1.25))
    if source.width > work[0]:
        source = source.resize(work, Image.Resampling.LANCZOS)
    sw, sh = source.size

    with av.open(str(out), mode="w", format="mp4", options={"movflags": "+faststart"}) as box:
        stream = box.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, vheight
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "26"}
        sound = _SilentTrack(box) if audio else None
        for i in range(frames):
            t = i / max(1, frames - 1)
            ease = (1 - math.cos(math.pi * t)) / 2
            zoom = 1 + (ZOOM - 1) * ease
            cw, ch = sw / zoom, sh / zoom
            # Drift from the left third to the right third while zooming in.
            cx = (sw - cw) * (0.25 + 0.5 * ease)
            cy = (sh - ch) * (0.4 + 0.2 * ease)
            still = source.resize(
                (width, vheight), Image.Resampling.BILINEAR, box=(cx, cy, cx + cw, cy + ch)
            )
            rgb = av.VideoFrame.from_image(still)  # type: ignore[no-untyped-call]
            frame = rgb.reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            box.mux(stream.encode(frame))
            if sound is not None:
                sound.until((i + 1) / fps)
        box.mux(stream.encode(None))
        if sound is not None:
            sound.flush()
    return width, vheight, frames / fps


class _SilentTrack:
    """Stereo AAC silence, written alongside the video so the two interleave."""

    SAMPLES = 1024

    def __init__(self, box: Any) -> None:
        self._box = box
        self._stream = box.add_stream("aac", rate=AUDIO_RATE)
        self._stream.layout = "stereo"
        self._written = 0

    def until(self, seconds: float) -> None:
        """Write silence up to ``seconds`` into the clip."""
        while self._written < seconds * AUDIO_RATE:
            frame = av.AudioFrame(format="fltp", layout="stereo", samples=self.SAMPLES)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate = AUDIO_RATE
            frame.pts = self._written
            frame.time_base = Fraction(1, AUDIO_RATE)
            self._box.mux(self._stream.encode(frame))
            self._written += self.SAMPLES

    def flush(self) -> None:
        self._box.mux(self._stream.encode(None))


def pad_mp4(path: Path, min_bytes: int) -> int:
    """Grow the MP4 at ``path`` to at least ``min_bytes`` with a trailing ``free`` box.

    Players skip ``free`` boxes, so the file stays valid; tests use this to make
    videos larger than a platform's upload limit. Returns the final size.
    """
    size = path.stat().st_size
    missing = min_bytes - size
    if missing <= 0:
        return size
    with path.open("r+b") as f:
        f.seek(size)
        if max(missing, 8) < 2**32:
            box = max(missing, 8)
            f.write(struct.pack(">I4s", box, b"free"))
        else:  # 64-bit box size
            box = max(missing, 16)
            f.write(struct.pack(">I4sQ", 1, b"free", box))
        f.truncate(size + box)  # the body is zeros, written sparsely
    return size + box


def render_thumbnail(image: Path, out: Path, *, aspect_ratio: str) -> tuple[int, int]:
    """Write a WebP thumbnail of ``image`` cropped to ``aspect_ratio``, at most 320 px.

    Returns its (width, height).
    """
    width, height = frame_size(aspect_ratio, 9 * 40)
    thumb = _crop_to(_load(image), width, height)
    thumb.thumbnail((THUMBNAIL_MAX, THUMBNAIL_MAX), Image.Resampling.LANCZOS)
    thumb.save(out, format="WEBP", quality=80)
    return thumb.size
