"""Draw ``sample.jpg``, the bundled photo the demo sends: a sunset over the sea.

Generated rather than downloaded so the repository carries no third-party
image rights. Run ``python -m bot.keevx.sandbox.make_sample`` to redraw it; the
output is deterministic.
"""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

__all__ = ["draw_sunset"]

WIDTH, HEIGHT = 1280, 853
HORIZON = 520
SUN = (760, 490, 58)  # centre x, centre y, radius

Color = tuple[int, int, int]
SKY: list[tuple[float, Color]] = [
    (0.0, (28, 36, 92)),
    (0.35, (108, 72, 140)),
    (0.65, (232, 112, 96)),
    (0.88, (252, 176, 92)),
    (1.0, (255, 214, 140)),
]
SEA: list[tuple[float, Color]] = [
    (0.0, (120, 84, 112)),
    (0.25, (64, 56, 98)),
    (1.0, (14, 22, 52)),
]


def _blend(stops: list[tuple[float, Color]], t: float) -> Color:
    """The colour at ``t`` (0..1) on a gradient given by ``stops``."""
    for (t0, c0), (t1, c1) in pairwise(stops):
        if t <= t1:
            k = (t - t0) / (t1 - t0)
            r, g, b = (round(a + (z - a) * k) for a, z in zip(c0, c1, strict=True))
            return r, g, b
    return stops[-1][1]


def draw_sunset(seed: int = 7) -> Image.Image:
    """A 1280x853 sunset: gradient sky, glowing sun, waves catching its light."""
    rng = random.Random(seed)
    img = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(img)
    for y in range(HORIZON):
        draw.line([(0, y), (WIDTH, y)], fill=_blend(SKY, y / HORIZON))
    for y in range(HORIZON, HEIGHT):
        draw.line([(0, y), (WIDTH, y)], fill=_blend(SEA, (y - HORIZON) / (HEIGHT - HORIZON)))

    sx, sy, r = SUN
    glow = Image.new("L", img.size, 0)
    ImageDraw.Draw(glow).ellipse((sx - 3 * r, sy - 3 * r, sx + 3 * r, sy + 3 * r), fill=150)
    glow = glow.filter(ImageFilter.GaussianBlur(70))
    img.paste((255, 200, 130), mask=glow)
    sun = Image.new("L", img.size, 0)
    ImageDraw.Draw(sun).ellipse((sx - r, sy - r, sx + r, sy + r), fill=255)
    sun.paste(0, (0, HORIZON, WIDTH, HEIGHT))  # the sea hides the sun's lower part
    img.paste((255, 238, 196), mask=sun.filter(ImageFilter.GaussianBlur(1.5)))

    clouds = Image.new("L", img.size, 0)
    cdraw = ImageDraw.Draw(clouds)
    for _ in range(14):
        cx, cy = rng.randrange(-100, WIDTH + 100), rng.randrange(90, HORIZON - 150)
        w, h = rng.randrange(160, 420), rng.randrange(10, 24)
        cdraw.ellipse((cx - w, cy - h, cx + w, cy + h), fill=rng.randrange(50, 110))
    img.paste((255, 150, 150), mask=clouds.filter(ImageFilter.GaussianBlur(12)))

    waves = ImageDraw.Draw(img)
    for _ in range(900):
        wy = rng.uniform(HORIZON + 2, HEIGHT)
        depth = (wy - HORIZON) / (HEIGHT - HORIZON)
        length = 6 + 60 * depth * rng.random()
        # Crests gather in the sun's reflection column and widen towards the viewer.
        spread = 40 + 260 * depth
        wx = rng.gauss(sx, spread) if rng.random() < 0.7 else rng.uniform(0, WIDTH)
        near = max(0.0, 1 - abs(wx - sx) / (spread * 2))
        light = _blend([(0.0, (70, 64, 110)), (1.0, (255, 196, 140))], near)
        waves.line(
            [(wx - length / 2, wy), (wx + length / 2, wy)], fill=light, width=1 + int(2 * depth)
        )
    return img.filter(ImageFilter.SMOOTH)


def main() -> None:
    """Write sample.jpg next to this module."""
    out = Path(__file__).with_name("sample.jpg")
    draw_sunset().save(out, format="JPEG", quality=85, optimize=True, progressive=True)
    print(f"{out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
