"""prepare_image: keep what Keevx takes, re-encode what it would refuse, refuse the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image, ImageFile, PngImagePlugin

from bot.errors import RequestInvalid
from bot.jobs.images import MAX_IMAGE_BYTES, prepare_image

UNREADABLE = "Photo 2 is not an image I can read: send a JPG, PNG or WebP photo."


def noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Random pixels: they do not compress, so sizes are predictable."""
    return Image.frombytes(mode, (width, height), os.urandom(width * height * len(mode)))


def save(tmp_path: Path, name: str, im: Image.Image, fmt: str, **params: object) -> Path:
    path = tmp_path / name
    im.save(path, fmt, **params)
    return path


@pytest.mark.parametrize(
    ("fmt", "name", "content_type"),
    [
        ("JPEG", "a.jpg", "image/jpeg"),
        ("PNG", "a.png", "image/png"),
        ("WEBP", "a.webp", "image/webp"),
        ("PNG", "named-wrongly.jpg", "image/png"),  # magic bytes, not names
        ("JPEG", "no-extension", "image/jpeg"),
    ],
)
def test_accepted_formats_are_kept_byte_identical(
    tmp_path: Path, fmt: str, name: str, content_type: str
) -> None:
    path = save(tmp_path, name, noise(64, 48), fmt)
    before = path.read_bytes()
    image = prepare_image(path, label="photo 1")
    assert (image.path, image.content_type, image.size) == (path, content_type, len(before))
    assert path.read_bytes() == before


def test_png_with_alpha_is_kept(tmp_path: Path) -> None:
    path = save(tmp_path, "a.png", noise(32, 32, "RGBA"), "PNG")
    before = path.read_bytes()
    assert prepare_image(path).content_type == "image/png"
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("fmt", "name", "mode", "over"),
    [
        ("GIF", "a.gif", "P", False),
        ("GIF", "grey.gif", "L", False),
        ("PNG", "a16.png", "I;16", True),  # accepted, but over the limit
        ("WEBP", "a.webp", "RGB", True),
    ],
)
def test_other_formats_are_reencoded_to_jpeg_in_place(
    tmp_path: Path, fmt: str, name: str, mode: str, over: bool
) -> None:
    im = noise(80, 60).convert(mode) if mode != "I;16" else Image.new("I;16", (80, 60), 40000)
    if fmt == "PNG":  # a flat picture: padded with a comment, so that a JPEG fits its limit
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "x" * 4000)
        path = save(tmp_path, name, im, fmt, pnginfo=info)
    else:
        path = save(tmp_path, name, im, fmt)
    max_bytes = path.stat().st_size - 1 if over else MAX_IMAGE_BYTES
    image = prepare_image(path, label="photo 1", max_bytes=max_bytes)
    assert image.path == path
    assert image.content_type == "image/jpeg"
    assert image.size == path.stat().st_size
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(path) as out:
        assert (out.format, out.mode, out.size) == ("JPEG", "RGB", (80, 60))
        if mode == "I;16":  # 16-bit grey scaled down, not clipped to white
            assert abs(out.getpixel((40, 30))[0] - 40000 // 256) <= 3  # type: ignore[index]


@pytest.mark.parametrize(
    ("fmt", "name", "sentence"),
    [
        ("BMP", "a.bmp", "Photo 1 is in BMP format, which I cannot use"),
        ("TIFF", "a.tiff", "Photo 1 is in TIFF format, which I cannot use"),
        ("PPM", "a.ppm", "Photo 1 is not an image I can read"),
    ],
)
def test_formats_keevx_and_phones_do_not_use_are_refused(
    tmp_path: Path, fmt: str, name: str, sentence: str
) -> None:
    """Re-encoded until issue 10: now only JPEG, PNG, WebP and GIF are decoded at all."""
    path = save(tmp_path, name, noise(80, 60), fmt)
    before = path.read_bytes()
    with pytest.raises(RequestInvalid) as info:
        prepare_image(path, label="photo 1")
    assert str(info.value).startswith(sentence)
    assert str(info.value).endswith(": send a JPG, PNG or WebP photo.")
    assert path.read_bytes() == before  # untouched


def test_gif_keeps_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (40, 40), colour) for colour in ("red", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    prepare_image(path)
    with Image.open(path) as out:
        red, green, blue = out.getpixel((20, 20))  # type: ignore[misc]
    assert red > 200 and green < 60 and blue < 60


def test_transparency_is_flattened_onto_white(tmp_path: Path) -> None:
    path = save(tmp_path, "clear.gif", Image.new("P", (40, 40), 0), "GIF", transparency=0)
    im = noise(40, 40, "RGBA")
    im.putalpha(0)  # coloured noise, fully transparent
    path2 = save(tmp_path, "clear.png", im, "PNG")
    prepare_image(path)
    # over the limit: re-encoded although PNG is accepted
    prepare_image(path2, max_bytes=path2.stat().st_size - 1)
    for p in (path, path2):
        with Image.open(p) as out:
            assert min(out.getpixel((20, 20))) >= 250  # type: ignore[arg-type]


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = save(tmp_path, "phone.jpg", noise(120, 80), "JPEG", exif=exif, quality=95)
    prepare_image(path, max_bytes=path.stat().st_size - 1)
    with Image.open(path) as out:
        assert out.size[0] < out.size[1]  # upright: portrait now


def test_huge_png_is_reencoded_under_the_limit(tmp_path: Path) -> None:
    path = save(tmp_path, "huge.png", noise(3000, 2200, "RGBA"), "PNG", compress_level=0)
    assert path.stat().st_size > MAX_IMAGE_BYTES
    image = prepare_image(path, label="photo 1")
    assert image.content_type == "image/jpeg"
    assert image.size == path.stat().st_size <= MAX_IMAGE_BYTES
    with Image.open(path) as out:
        assert out.format == "JPEG"
        out.load()


@pytest.mark.parametrize("max_bytes", [60_000, 20_000, 5_000])
def test_shrinking_loop_fits_small_limits(tmp_path: Path, max_bytes: int) -> None:
    path = save(tmp_path, "a.jpg", noise(600, 400), "JPEG", quality=95)
    assert path.stat().st_size > max_bytes
    image = prepare_image(path, max_bytes=max_bytes)
    assert image.size == path.stat().st_size <= max_bytes
    with Image.open(path) as out:
        out.load()
        width, height = out.size
    assert width <= 600 and abs(width / height - 1.5) < 0.02  # shrunk, proportions kept


def test_a_limit_nothing_fits_is_refused(tmp_path: Path) -> None:
    path = save(tmp_path, "a.png", noise(200, 200), "PNG")
    before = path.read_bytes()
    with pytest.raises(RequestInvalid, match=r"^Photo 3 is too large and I could not shrink it"):
        prepare_image(path, label="photo 3", max_bytes=200)
    assert path.read_bytes() == before  # untouched


def test_text_renamed_jpg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("hello, this is not a picture\n" * 20)
    with pytest.raises(RequestInvalid) as info:
        prepare_image(path, label="photo 2")
    assert str(info.value) == UNREADABLE
    assert info.value.field == "image"
    assert info.value.allowed == ("JPG", "PNG", "WebP")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(RequestInvalid) as info:
        prepare_image(path, label="photo 1")
    assert str(info.value) == "Photo 1 is empty."


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_jpeg_is_refused(tmp_path: Path, keep: float) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    whole = save(tmp_path, "whole.jpg", noise(300, 200), "JPEG").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: int(len(whole) * keep)])
    with pytest.raises(RequestInvalid) as info:
        prepare_image(path, label="photo 2")
    assert str(info.value) == UNREADABLE
    assert isinstance(info.value.__cause__, OSError)


def test_truncated_png_is_refused(tmp_path: Path) -> None:
    whole = save(tmp_path, "whole.png", noise(300, 200), "PNG").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(RequestInvalid, match="not an image I can read"):
        prepare_image(path, label="photo 2")


def test_unknown_bytes_with_jpeg_magic_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(500))
    with pytest.raises(RequestInvalid, match=r"^The image is not an image I can read"):
        prepare_image(path)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("limit", [1_000, 2_000])  # over 2× raises in Pillow, over 1× in ours
def test_decompression_bomb_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    path = save(tmp_path, "bomb.png", Image.new("L", (50, 50)), "PNG")  # 2,500 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(RequestInvalid, match=r"^Photo 1 has too many pixels"):
        prepare_image(path, label="photo 1")
