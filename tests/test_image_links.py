"""Image links: found as whole words of the text, taken out of the prompt, fetched
by the core with a sentence for every way a link can fail."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from PIL import Image

from bot.app.runtime import Core
from bot.errors import RequestInvalid
from bot.jobs.links import ImageLinks, link_policy
from bot.keevx.sandbox import SAMPLE_IMAGE
from bot.model.job import Target
from bot.model.links import link_in, links_in
from bot.model.request import Options, build_request, parse_command
from bot.settings import Settings
from tests.support import photo

MB = 1024 * 1024
JPEG = SAMPLE_IMAGE.read_bytes()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 140, 200)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


class ImageHost:
    """A loopback website with images and hostile answers; counts what it sent."""

    def __init__(self) -> None:
        self.url = ""
        self.hits: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self.done: dict[str, asyncio.Event] = {}
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> ImageHost:
        app = web.Application()
        app.router.add_get("/{name:.*}", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def link(self, name: str) -> str:
        return f"{self.url}/{name}"

    async def _get(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        self.done.setdefault(name, asyncio.Event())
        if name == "cat.jpg":
            return web.Response(body=JPEG, content_type="image/jpeg")
        if name == "blue.png":  # a PNG the server mislabels: the bytes decide
            return web.Response(body=PNG, content_type="application/octet-stream")
        if name.startswith("hop/"):  # hop/N: N redirects, then the cat
            left = int(name.split("/")[1])
            raise web.HTTPFound("/cat.jpg" if left <= 1 else f"/hop/{left - 1}")
        if name == "loop":
            raise web.HTTPFound("/loop")
        if name == "page.jpg":  # a gallery page that calls itself a JPEG
            page = b"<!DOCTYPE html><html><body><img src='/cat.jpg'></body></html>"
            return web.Response(body=page, content_type="image/jpeg")
        if name == "gone.jpg":
            return web.Response(status=404, text="Not Found")
        if name.startswith("to/"):  # to/PORT: a redirect to the cat on another port
            raise web.HTTPFound(f"http://127.0.0.1:{name.split('/')[1]}/cat.jpg")
        if name == "ftp":
            raise web.HTTPFound("ftp://127.0.0.1/cat.jpg")
        if name == "gzip.jpg":
            return web.Response(body=JPEG, headers={"Content-Encoding": "gzip"})
        if name == "login.jpg":
            return web.Response(status=403, text="Forbidden")
        if name == "broken.jpg":
            return web.Response(status=503, text="Service Unavailable")
        if name == "picture.bmp":
            out = io.BytesIO()
            Image.new("RGB", (8, 8)).save(out, "BMP")
            return web.Response(body=out.getvalue(), content_type="image/jpeg")
        if name in ("endless.jpg", "slow.jpg"):
            return await self._stream(request, name)
        return web.Response(status=404)

    async def _stream(self, request: web.Request, name: str) -> web.StreamResponse:
        """A JPEG start, then zeros without end (fast), or a byte every 0.2 s (slow)."""
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.enable_chunked_encoding()  # no length: only the bytes can tell
        self.sent[name] = 0
        try:
            await response.prepare(request)
            piece = JPEG[:64] + bytes(64 * 1024 - 64)
            while self.sent[name] < 1024 * MB:
                if name == "slow.jpg":
                    piece = b"\x00"
                    await asyncio.sleep(0.2)
                await response.write(piece)
                self.sent[name] += len(piece)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the bot hung up
        finally:
            self.done[name].set()
        return response


@pytest.mark.parametrize(
    ("word", "link"),
    [
        ("https://example.com/cat.jpg", "https://example.com/cat.jpg"),
        ("HTTP://EXAMPLE.COM/A.PNG", "HTTP://EXAMPLE.COM/A.PNG"),
        ("<https://example.com/a.png>", "https://example.com/a.png"),  # Discord's no-preview form
        ("(https://example.com/a.png),", "https://example.com/a.png"),
        ('"https://example.com/a.png".', "https://example.com/a.png"),
        ("https://en.wikipedia.org/wiki/X_(y)", "https://en.wikipedia.org/wiki/X_(y)"),
        ("https://example.com/a.jpg?w=800&h=600", "https://example.com/a.jpg?w=800&h=600"),
        ("example.com/cat.jpg", None),  # no scheme: prose
        ("ftp://example.com/cat.jpg", None),
        ("file:///etc/passwd", None),
        ("xhttps://example.com/a.jpg", None),  # not a whole word
        ("[cat](https://example.com/a.jpg)", None),  # Markdown: not a pasted address
        ("https://", None),
        ("https://.", None),
    ],
)
def test_a_link_is_a_whole_http_word(word: str, link: str | None) -> None:
    assert link_in(word) == link


def test_links_leave_the_prompt_and_keep_their_order() -> None:
    command = parse_command(
        "/video https://a.example/1.jpg the cat waves --ar 9:16 <https://b.example/2.png>, slowly"
    )
    assert command.links == ("https://a.example/1.jpg", "https://b.example/2.png")
    assert command.prompt == "the cat waves slowly"
    assert command.options == Options(aspect_ratio="9:16")
    assert links_in("the cat https://a.example/1.jpg waves") == ("https://a.example/1.jpg",)


def test_text_without_links_parses_as_before() -> None:
    command = parse_command('a chef smiles Speak "visit example.com" --audio')
    assert command.links == ()
    assert command.prompt == 'a chef smiles Speak "visit example.com"'


def test_a_link_is_never_an_option_value() -> None:
    with pytest.raises(RequestInvalid) as info:
        parse_command("waves --ar https://example.com/a.jpg")
    assert info.value.field == "aspect_ratio"
    assert str(info.value).startswith("--ar needs a value")


def test_private_image_urls_are_refused_unless_the_operator_allows_them() -> None:
    assert Settings.from_env({}).allow_private_image_urls is False
    assert Settings.from_env({"ALLOW_PRIVATE_IMAGE_URLS": "1"}).allow_private_image_urls is True


# -- fetching: the sentences for what the chat tests do not reach ---------------------------


@pytest.fixture
async def host() -> AsyncIterator[ImageHost]:
    async with ImageHost() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=True, trust_env=False) as client:
        yield client  # as the runtime builds it: the fetcher must not follow redirects itself


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("link", "sentence"),
    [
        ("ftp", "Link 2 sends me on to an address that is not an http or https link: paste the "
         "image's own address."),
        ("gzip.jpg", "Link 2 sends the image compressed in a way I do not accept: use another "
         "link or send the photo."),
        ("login.jpg", "Link 2 is on a website that would not let me download it (it may need a "
         "login): send the photo instead."),
        ("broken.jpg", "Link 2 is on a website that answered with an error: try again later or "
         "send the photo."),
        ("closed", "Link 2 is on a website I could not reach: check the link or send the photo."),
        ("credentials", "Link 2 is not a web address I can open (or has a name and password in "
         "it): paste the image's plain address."),
    ],
)  # fmt: skip
async def test_each_failure_of_a_link_has_its_sentence(
    host: ImageHost, http: httpx.AsyncClient, tmp_path: Path, link: str, sentence: str
) -> None:
    url = {
        "closed": f"http://127.0.0.1:{_closed_port()}/cat.jpg",
        "credentials": host.link("cat.jpg").replace("://", "://ann:secret@"),
    }.get(link, host.link(link))
    fetcher = ImageLinks(http, link_policy(allow_private=True))
    with pytest.raises(RequestInvalid) as info:
        await fetcher.fetch([host.link("cat.jpg"), url], tmp_path)
    assert str(info.value) == sentence
    assert info.value.field == "link" and info.value.value == 2
    assert [p.name for p in tmp_path.iterdir()] == ["link-1.img"]  # the caller's folder to clear


async def test_a_link_to_another_format_is_refused_like_an_upload(
    settings: Settings, host: ImageHost, tmp_path: Path
) -> None:
    """The bytes decide (the server says JPEG); the sentence names the link."""
    async with Core(dataclasses.replace(settings, allow_private_image_urls=True)) as core:
        with pytest.raises(RequestInvalid) as info:
            await core.service.submit(
                target=Target(platform="test", chat_id="c", user_id="u"),
                request=build_request("waves", Options(), 2),
                images=[photo(tmp_path)],
                links=[host.link("picture.bmp")],
            )
        assert await core.service.recent("test", "u") == []
    assert str(info.value) == (
        "The image at the link is in BMP format, which I cannot use: send a JPG, PNG or WebP photo."
    )
