"""Images cannot exhaust the bot's memory (issue 10, point 8).

A tiny file may declare a huge canvas; other formats bring other decoders;
many requests at once multiply it all; and a Discord attachment read whole
sits in memory. Pillow allocates pixels outside Python's allocator, so
tracemalloc cannot see a decode: a spy on Pillow's ``open`` and ``load``
shows whether one happened (and at what size). The Discord downloads go
through the real adapter and the fake Discord, from a loopback file host
that makes its bodies as it sends them and counts what it sent.
"""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image, ImageFile

import adapters.discord.intake as intake
from bot.errors import RequestInvalid
from bot.jobs.images import DECODES_AT_ONCE, prepare_image
from bot.keevx.sandbox import Sandbox
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord
from tests.test_discord_adapter import Bot, channel_posts, running_bot, webhook_posts

MB = 1024 * 1024
SIDE = 9000  # the canvas: 81 megapixels, under Pillow's own bomb limit (89)


# -- a spy on Pillow -----------------------------------------------------------------------


@dataclass
class Spy:
    """What Pillow was asked to open and to decode (format, mode, size at decode time)."""

    opens: int = 0
    loads: list[tuple[str | None, str, tuple[int, int]]] = field(default_factory=list)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    seen = Spy()
    real_open, real_load = Image.open, ImageFile.ImageFile.load

    def open_(*args: Any, **kwargs: Any) -> Any:
        seen.opens += 1
        return real_open(*args, **kwargs)

    def load(self: ImageFile.ImageFile) -> Any:
        if self.tile:  # what is left to decode: this call decodes it
            seen.loads.append((self.format, self.mode, self.size))
        return real_load(self)

    monkeypatch.setattr(Image, "open", open_)
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return seen


# -- files that declare more than they hold ------------------------------------------------


def huge_png(path: Path, side: int = SIDE) -> Path:
    """A valid RGB PNG of ``side``² black pixels: about 240 KB, 324 MB once decoded."""
    squeeze = zlib.compressobj(9)
    row = bytes(1 + side * 3)  # filter byte, then the pixels
    body = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def huge_gif(path: Path, side: int = SIDE) -> Path:
    """A valid GIF: one pixel drawn on a ``side``² screen (which Pillow allocates whole)."""
    out = io.BytesIO()
    Image.new("P", (1, 1), 0).save(out, "GIF")
    data = bytearray(out.getvalue())
    data[6:10] = struct.pack("<HH", side, side)  # the logical screen
    path.write_bytes(bytes(data))
    return path


def huge_webp(path: Path, side: int = SIDE) -> Path:
    """A valid 90-byte WebP: one pixel framed on a ``side``² canvas (1.3 GB to decode in Pillow)."""
    out = io.BytesIO()
    Image.new("RGB", (1, 1)).save(out, "WEBP", lossless=True)
    frame = out.getvalue()[12:]  # its VP8L chunk

    def chunk(kind: bytes, data: bytes) -> bytes:
        return kind + struct.pack("<I", len(data)) + data + bytes(len(data) & 1)

    def u24(value: int) -> bytes:
        return value.to_bytes(3, "little")

    vp8x = chunk(
        b"VP8X", bytes([0x02, 0, 0, 0]) + u24(side - 1) * 2
    )  # animated: frames may be smaller
    anim = chunk(b"ANIM", bytes(6))
    anmf = chunk(b"ANMF", u24(0) * 4 + u24(100) + b"\x00" + frame)  # at 0,0, 1×1, 100 ms
    body = b"WEBP" + vp8x + anim + anmf
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def small(path: Path, fmt: str) -> Path:
    """A normal picture in ``fmt``: the spy must see it decoded."""
    Image.radial_gradient("L").convert("RGB").save(path, fmt)
    return path


# -- 1. a huge canvas is refused from its header ------------------------------------------


@pytest.mark.parametrize(
    ("make", "fmt", "sentence"),
    [
        (huge_png, "PNG", "Photo 1 is 9000×9000 pixels, too large for me to open: "
         "send a smaller one, up to 67 megapixels."),
        (huge_gif, "GIF", "Photo 1 is 9000×9000 pixels, too large for me to open: "
         "send a smaller one, up to 29 megapixels."),
        (huge_webp, "WEBP", "Photo 1 is 9000×9000 pixels, too large for me to open: "
         "send a smaller one, up to 16 megapixels."),
    ],
)  # fmt: skip
def test_a_huge_canvas_is_refused_before_any_decoding(
    tmp_path: Path, spy: Spy, make: Any, fmt: str, sentence: str
) -> None:
    path = make(tmp_path / "tiny")
    assert path.stat().st_size < 300_000
    before = path.read_bytes()
    with pytest.raises(RequestInvalid) as info:
        prepare_image(path, label="photo 1")
    assert str(info.value) == sentence
    assert info.value.field == "image" and info.value.value == "9000×9000"
    assert spy.loads == []  # refused from the header: no pixel decoded
    if fmt == "WEBP":
        assert spy.opens == 0  # libwebp allocates the canvas when opened: not even that
    assert path.read_bytes() == before
    # the spy does see a decode: a normal picture of the same format goes through it
    prepare_image(small(tmp_path / "normal", fmt))
    assert [f for f, _, _ in spy.loads] == [fmt]


def test_a_huge_jpeg_is_decoded_scaled_down(tmp_path: Path, spy: Spy) -> None:
    """libjpeg decodes at 1/8 to prove a kept JPEG whole, and re-encodes from 4096 px, not 8192."""
    path = tmp_path / "big.jpg"
    Image.new("L", (8192, 8192), 128).save(path, "JPEG")
    kept = prepare_image(path)
    assert kept.content_type == "image/jpeg" and path.stat().st_size == kept.size
    again = prepare_image(path, max_bytes=kept.size - 1)  # re-encoded
    assert spy.loads == [("JPEG", "L", (1024, 1024)), ("JPEG", "L", (4096, 4096))]
    with Image.open(path) as out:
        assert out.size == (4096, 4096) and again.size == path.stat().st_size


# -- 2. only the formats Keevx takes, and GIF -----------------------------------------------


def _jpeg2000(path: Path) -> Path:
    Image.radial_gradient("L").save(path, "JPEG2000")
    return path


def _codestream(path: Path) -> Path:
    Image.radial_gradient("L").save(path, "JPEG2000", no_jp2=True)
    return path


def _ftyp(brand: bytes) -> Any:
    def make(path: Path) -> Path:
        box = b"ftyp" + brand + bytes(4) + b"mif1" + brand
        path.write_bytes(struct.pack(">I", len(box) + 4) + box + bytes(200))
        return path

    return make


def _header(data: bytes) -> Any:
    def make(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return make


def _saved(fmt: str) -> Any:
    def make(path: Path) -> Path:
        Image.radial_gradient("L").convert("RGB").save(path, fmt)
        return path

    return make


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (_jpeg2000, "JPEG 2000"),
        (_codestream, "JPEG 2000"),
        (_ftyp(b"heic"), "HEIC"),
        (_ftyp(b"avif"), "AVIF"),
        (_saved("TIFF"), "TIFF"),
        (_saved("BMP"), "BMP"),
        (_header(b"8BPS\x00\x01" + bytes(200)), "Photoshop"),
    ],
    ids=["jp2", "j2k", "heic", "avif", "tiff", "bmp", "psd"],
)
def test_another_format_is_refused_with_a_sentence_and_never_decoded(
    tmp_path: Path, spy: Spy, make: Any, name: str
) -> None:
    path = make(tmp_path / "picture.jpg")  # the name does not matter
    with pytest.raises(RequestInvalid) as info:
        prepare_image(path, label="photo 2")
    assert str(info.value) == (
        f"Photo 2 is in {name} format, which I cannot use: send a JPG, PNG or WebP photo."
    )
    assert info.value.allowed == ("JPG", "PNG", "WebP")
    assert spy.opens == 0 and spy.loads == []


def test_a_format_known_only_to_pillow_is_refused_unopened_by_its_plugin(tmp_path: Path) -> None:
    """PCX has no magic in our table: Pillow, restricted to four formats, does not read it."""
    path = _saved("PCX")(tmp_path / "a.pcx")
    with pytest.raises(RequestInvalid) as info:
        prepare_image(path, label="photo 1")
    assert str(info.value) == "Photo 1 is not an image I can read: send a JPG, PNG or WebP photo."


# -- 3. at most two decodes at once, process-wide --------------------------------------------


def test_no_more_than_two_images_are_decoded_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DECODES_AT_ONCE == 2
    real_load = ImageFile.ImageFile.load
    lock = threading.Lock()
    together = threading.Barrier(DECODES_AT_ONCE, timeout=10)  # two do get in together
    active, peak = 0, 0

    def load(self: ImageFile.ImageFile) -> Any:
        nonlocal active, peak
        if not self.tile:  # decoded already
            return real_load(self)
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            together.wait()
            time.sleep(0.05)  # a window in which a third decoder would get in
            return real_load(self)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    paths = []
    for n in range(6):
        path = tmp_path / f"{n}.png"
        Image.radial_gradient("L").save(path, "PNG")
        paths.append(path)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda p: prepare_image(p), paths))
    assert [r.content_type for r in results] == ["image/png"] * 6
    assert peak == DECODES_AT_ONCE


# -- 4. Discord attachments stream to disk under the cap --------------------------------------


class FileHost:
    """A loopback file host standing in for Discord's CDN.

    Each body is made while it is sent (a PNG signature, then zeros), one
    64 KiB chunk at a time, so the host itself holds no file in memory;
    ``sent`` counts the bytes that left, ``done`` is set when a response ends.
    """

    CHUNK = 64 * 1024

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self.done: dict[str, asyncio.Event] = {}
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def __aenter__(self) -> FileHost:
        app = web.Application()
        app.router.add_get("/files/{name}", self._get)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def attachment(self, fake: FakeDiscord, name: str, size: int, declared: int) -> dict[str, Any]:
        """An attachment payload whose file this host serves; Discord says ``declared`` bytes."""
        self.sizes[name], self.sent[name], self.done[name] = size, 0, asyncio.Event()
        payload = fake.add_attachment(name, b"", content_type="image/png")
        url = f"{self.base}/files/{name}?ex=6a000000&is=69f00000&hm=deadbeef"
        payload.update(url=url, proxy_url=url, size=declared)
        return payload

    async def _get(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()  # no length given: only the bytes can tell
        try:
            await response.prepare(request)
            zeros = bytes(self.CHUNK)
            piece = b"\x89PNG\r\n\x1a\n" + zeros[8:]
            while self.sent[name] < self.sizes[name]:
                await response.write(piece[: self.sizes[name] - self.sent[name]])
                self.sent[name] += len(piece)
                piece = zeros
            await response.write_eof()
        except ConnectionError:
            pass  # the bot hung up
        finally:
            self.done[name].set()
        return response


@pytest.fixture
async def host() -> AsyncIterator[FileHost]:
    async with FileHost() as running:
        yield running


@pytest.fixture
async def dc(settings: Settings, sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with FakeDiscord() as fake, running_bot(settings, fake, sandbox) as bot:
        yield bot
        assert not fake.unknown, fake.unknown


async def _answer(bot: Bot, path: str, attachment: dict[str, Any]) -> str:
    """Send ``attachment`` by slash command or mention; the text the user gets back."""
    fake = bot.fake
    if path == "slash":
        payload = await fake.push_interaction(
            fake.slash("video", {"prompt": "waves"}, attachments={"image": attachment})
        )
        [callback] = await fake.wait_for(
            lambda: fake.find_calls("POST", f"/interactions/{payload['id']}/"), 30
        )
        if callback.json["type"] == 4:
            return str(callback.json["data"]["content"])
        [note] = await fake.wait_for(lambda: webhook_posts(fake, payload["token"]), 30)
        return str(note.json["content"])
    message = fake.message(
        content=f"<@{fake.BOT_ID}> waves", author=fake.USER_ID, mention_bot=True,
        attachments=[attachment],
    )  # fmt: skip
    await fake.push_message(message)
    replies = await fake.wait_for(
        lambda: [
            c for c in channel_posts(fake)
            if str((c.json.get("message_reference") or {}).get("message_id")) == message["id"]
        ],
        30,
    )  # fmt: skip
    return str(replies[0].json["content"])


@pytest.mark.parametrize("path", ["slash", "mention"])
async def test_an_attachment_past_the_cap_is_refused_without_being_read_whole(
    dc: Bot, host: FileHost, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Discord says 0.5 MB (the check before download passes); 64 MB come: the bot stops at 1."""
    monkeypatch.setattr(intake, "MAX_DOWNLOAD_BYTES", 1 * MB)
    att = host.attachment(dc.fake, "liar.png", size=64 * MB, declared=MB // 2)
    text = await _answer(dc, path, att)
    assert text == (
        "The image is more than 1 MB: I can take photos up to 1 MB "
        "(over 20 MB they are re-encoded)."
    )
    await asyncio.wait_for(host.done["liar.png"].wait(), 30)
    assert host.sent["liar.png"] < 16 * MB  # the bot hung up: the rest was never sent
    assert await dc.jobs() == [] and dc.keevx_creates() == 0


async def test_an_attachment_over_the_cap_by_its_size_is_not_downloaded(
    dc: Bot, host: FileHost
) -> None:
    att = host.attachment(dc.fake, "big.png", size=MB, declared=101 * MB)
    text = await _answer(dc, "mention", att)
    assert text.startswith("The image is 101 MB: I can take photos up to 100 MB")
    assert host.sent["big.png"] == 0 and not host.done["big.png"].is_set()


async def test_an_attachment_goes_to_disk_not_into_memory(dc: Bot, host: FileHost) -> None:
    """48 MB under the cap are downloaded with a few MB of Python memory, then checked.

    The body is a PNG signature and zeros, so the core refuses it once on disk:
    the download itself is what is measured (read whole, it would be 48 MB at once).
    """
    size = 48 * MB
    att = host.attachment(dc.fake, "zeros.png", size=size, declared=size)
    tracemalloc.start()
    try:
        text = await _answer(dc, "mention", att)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert text == "The photo is not an image I can read: send a JPG, PNG or WebP photo."
    assert host.sent["zeros.png"] == size  # all of it was fetched
    assert peak < 12 * MB, f"{peak / MB:.0f} MB of Python memory for a {size // MB} MB file"


async def test_image_checks_wait_in_their_own_threads(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six requests at once: their checks queue on the image threads, never in the loop's
    default executor, which DNS look-ups and file work need meanwhile."""
    import bot.jobs.images
    import bot.jobs.service
    from bot.app.runtime import Core
    from tests.support import submit

    threads: set[str] = set()
    real = bot.jobs.images.prepare_image

    def recording(path: Path, **kwargs: Any) -> Any:
        threads.add(threading.current_thread().name)
        return real(path, **kwargs)

    monkeypatch.setattr(bot.jobs.service, "prepare_image", recording)
    async with Core(settings) as core:
        jobs = await asyncio.gather(
            *(submit(core.service, tmp_path / str(n), user=f"u{n}") for n in range(6))
        )
    assert len(jobs) == 6
    assert threads and all(name.startswith("image") for name in threads), threads
    assert len(threads) <= DECODES_AT_ONCE
