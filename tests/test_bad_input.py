"""Bad input, tried through both adapters (issue 5): one table, two platforms.

Each bad case goes through the real python-telegram-bot Application against the
fake Bot API (a photo, an image document or an album with a caption) and through
the real discord.py client against the fake Discord (the ``/video`` slash command
where Discord lets the value arrive at all, and a message mentioning the bot,
whose text is parsed like a Telegram caption). Every case asserts the user is
answered with the core's sentence, no job exists and nothing reached Keevx (no
upload, no create). One bot per platform serves the whole module (the tests
share a module event loop); a good request at the end proves it still serves.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import pytest_asyncio
from PIL import Image

from bot.app.runtime import Core
from bot.jobs.images import MAX_IMAGE_BYTES
from bot.keevx.sandbox import SAMPLE_IMAGE, Sandbox, SandboxConfig
from bot.model.job import JobStatus
from tests.conftest import check_sent_to_keevx, core_settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.test_discord_adapter import OVER, Bot, channel_posts, png, running_bot, webhook_posts
from tests.test_telegram_adapter import TOKEN, final_job, running, until

pytestmark = pytest.mark.asyncio(loop_scope="module")

PHOTO = SAMPLE_IMAGE.read_bytes()
BOT = FakeDiscord.BOT_ID
D_USER = FakeDiscord.USER_ID
_chats = itertools.count(7001)  # a fresh Telegram private chat (and user) per case


# -- the inputs ----------------------------------------------------------------------------


def _truncated_jpeg() -> bytes:
    return PHOTO[: len(PHOTO) // 2]


@cache
def big_png() -> bytes:
    """A real PNG over 25 MB (stored uncompressed): a smooth picture Pillow decodes fast."""
    side = 2960
    grey = Image.radial_gradient("L").resize((side, side))
    rgb = Image.merge(
        "RGB", (grey, grey.transpose(Image.Transpose.ROTATE_90), grey.point((255).__sub__))
    )
    out = io.BytesIO()
    rgb.save(out, "PNG", compress_level=0)
    data = out.getvalue()
    assert len(data) > 25 * 1024 * 1024
    return data


LONG_PROMPT = ("a slow pan over the harbour at dawn " * 30)[:1000] + "!"
assert len(LONG_PROMPT) == 1001 and LONG_PROMPT.strip() == LONG_PROMPT

TEXT_AS_JPG = b"These are my shopping notes, not a photo.\n" * 20


@dataclass(frozen=True)
class Case:
    """One bad input.

    ``text`` is the Telegram caption and the Discord mention's text (after the mention);
    ``slash`` the /video options a slash command would carry, None where only free text
    can express the case. ``data`` replaces the sample photo (an image document on
    Telegram, an attachment on Discord) under ``filename`` / ``mime``.
    """

    id: str
    text: str
    expect: str
    slash: dict[str, Any] | None = None
    images: int = 1
    data: bytes | None = None
    filename: str = "photo.jpg"
    mime: str = "image/jpeg"


CASES = [
    Case(
        "empty-prompt",
        "/video",
        "Please describe the video after /video",
        slash={"prompt": ""},
    ),
    Case(
        "only-options",
        "/video --ar 9:16",
        "Please describe the video after /video",
        slash={"prompt": "   ", "aspect_ratio": "9:16"},
    ),
    Case(
        "1001-chars",
        LONG_PROMPT,
        "The prompt is 1001 characters long: the limit is 1000.",
        slash={"prompt": LONG_PROMPT},
    ),
    Case("unknown-option", "waves --foo bar", "Unknown option --foo: use --model"),
    Case("option-without-value", "waves at sunset --ar", "--ar needs a value: 16:9 or 9:16."),
    Case("repeated-option", "waves --ar 16:9 --ar 9:16", "--ar is given twice: keep only one."),
    Case(
        "4k-with-KL",
        "waves --model KL --res 4k",
        "4k is not available for model KL: use 720p or 1080p.",
        slash={"prompt": "waves", "model": "KL", "resolution": "4k"},
    ),
    Case(
        "audio-with-KL",
        "waves --model KL --audio",
        "Audio is not available for model KL: remove --audio or use --model V.",
        slash={"prompt": "waves", "model": "KL", "audio": True},
    ),
    Case(
        "duration-7",
        "waves --duration 7",
        "--duration 7 is not available for model V with one image: use 4, 6 or 8.",
        slash={"prompt": "waves", "duration": 7},
    ),
    Case(
        "count-0",
        "waves --count 0",
        "--count 0 is out of range: use 1 to 4.",
        slash={"prompt": "waves", "count": 0},
    ),
    Case(
        "count-5",
        "waves --count 5",
        "--count 5 is out of range: use 1 to 4.",
        slash={"prompt": "waves", "count": 5},
    ),
    Case(
        "4-images-with-V",
        "four views --model V",
        "Model V takes at most 3 images and you sent 4: use --model KL",
        slash={"prompt": "four views", "model": "V"},
        images=4,
    ),
    Case("8-images", "eight views", "You sent 8 images: I can use at most 7.", images=8),
    Case(
        "text-file-as-jpg",
        "waves",
        "is not an image I can read: send a JPG, PNG or WebP photo.",
        slash={"prompt": "waves"},
        data=TEXT_AS_JPG,
        filename="notes.jpg",
    ),
    Case(
        "truncated-jpeg",
        "waves",
        "is not an image I can read: send a JPG, PNG or WebP photo.",
        slash={"prompt": "waves"},
        data=_truncated_jpeg(),
        filename="cut.jpg",
    ),
    Case(
        "zero-byte-file",
        "waves",
        "The photo is empty.",
        slash={"prompt": "waves"},
        data=b"",
        filename="empty.jpg",
    ),
]

INTACT = {
    "emoji": "🌊 waves 🌅 crash on the rocks, a family 👩‍👩‍👧 waves 👋🏽 from the 🇯🇵 boat ✨",
    "right-to-left": "\u200fالأمواج تتكسر عند الغروب והים שקט בלילה — waves at dusk",
    "narration": 'An old sailor looks up. Speak "Don\'t forget --ar 9:16, the sea remembers…"',
}


# -- shared machinery ----------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def keevx() -> AsyncIterator[Sandbox]:
    """One Keevx sandbox for the module; nothing sent to it may hold a secret."""
    async with Sandbox(SandboxConfig(delay=0.2, render_height=144, seed=7)) as running_sandbox:
        yield running_sandbox
    check_sent_to_keevx(running_sandbox)


@dataclass
class Tg:
    fake: FakeTelegram
    core: Core
    sandbox: Sandbox


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tg(keevx: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Tg]:
    settings = core_settings(keevx, tmp_path_factory.mktemp("tg"))
    async with FakeTelegram(TOKEN) as fake, running(settings, fake) as (core, _):
        yield Tg(fake, core, keevx)
    assert not fake.errors, fake.errors


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dc(keevx: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bot]:
    settings = core_settings(keevx, tmp_path_factory.mktemp("dc"))
    async with FakeDiscord() as fake, running_bot(settings, fake, keevx) as bot:
        yield bot
    assert not fake.unknown, fake.unknown


@dataclass(frozen=True)
class Mark:
    """What Keevx and the store held before a case, to compare with after."""

    calls: int
    uploads: int
    jobs: int


async def _mark(sandbox: Sandbox, core: Core, platform: str, user: int) -> Mark:
    jobs = await core.service.recent(platform, str(user), 1000)
    return Mark(len(sandbox.calls), len(sandbox.uploads), len(jobs))


async def _assert_nothing_made(
    sandbox: Sandbox, core: Core, platform: str, user: int, before: Mark
) -> None:
    new = sandbox.calls[before.calls :]
    assert not [c for c in new if c.method == "POST"], f"Keevx got {new}"  # no upload, no create
    assert len(sandbox.uploads) == before.uploads
    assert len(await core.service.recent(platform, str(user), 1000)) == before.jobs


def _creates(sandbox: Sandbox) -> list[Any]:
    return [c for c in sandbox.calls if c.method == "POST" and c.path.endswith("/image_to_video")]


def _params(*, slash: bool = False) -> list[Any]:
    """The cases as pytest params; ``slash``: only those a slash command can carry."""
    return [pytest.param(c, id=c.id) for c in CASES if not slash or c.slash is not None]


# -- Telegram ------------------------------------------------------------------------------


def _tg_send(fake: FakeTelegram, chat: int, case: Case) -> None:
    user = fake.user(chat, "Ann")
    if case.images > 1:
        fake.album(chat, case.images, case.text, user=user)
    elif case.data is not None:
        # Telegram recompresses photos: odd bytes only ever arrive as an image document.
        doc = fake.add_file(case.data, kind="photos")  # served as file_N.jpg
        fake.message(chat, user=user, document=doc, mime_type=case.mime, caption=case.text)
    else:
        fake.photo_message(chat, case.text, photo=fake.add_file(PHOTO), user=user)


@pytest.mark.parametrize("case", _params())
async def test_telegram_refuses(tg: Tg, case: Case) -> None:
    chat = next(_chats)
    before = await _mark(tg.sandbox, tg.core, "telegram", chat)
    _tg_send(tg.fake, chat, case)
    answer = await tg.fake.wait_for("sendMessage", where=lambda c: c.get("chat_id") == chat)
    assert case.expect in answer["text"], answer["text"]
    await _assert_nothing_made(tg.sandbox, tg.core, "telegram", chat, before)
    if case.data is None:  # refused on its words: no image was even fetched
        assert not [c for c in tg.fake.calls_of("getFile") if c.get("file_id") in _files(tg, chat)]


def _files(tg: Tg, chat: int) -> set[str]:
    ids: set[str] = set()
    for (chat_id, _), msg in tg.fake.messages.items():
        if chat_id == chat:
            ids.update(p["file_id"] for p in msg.get("photo", []))
            if "document" in msg:
                ids.add(msg["document"]["file_id"])
    return ids


async def test_telegram_25_mb_png_is_over_the_bot_download_limit(tg: Tg) -> None:
    """Bot API servers hand bots at most 20 MB: a clear reply, nothing fetched or made."""
    chat = next(_chats)
    before = await _mark(tg.sandbox, tg.core, "telegram", chat)
    big = tg.fake.add_file(PHOTO, size=len(big_png()), kind="documents")
    tg.fake.message(
        chat, user=tg.fake.user(chat), document=big, mime_type="image/png", caption="make it move"
    )
    answer = await tg.fake.wait_for("sendMessage", where=lambda c: c.get("chat_id") == chat)
    assert "over Telegram's 20 MB download limit" in answer["text"]
    assert "TELEGRAM_LOCAL_MODE" not in answer["text"]  # a setting's name is for the log
    assert not [c for c in tg.fake.calls_of("getFile") if c.get("file_id") == big.file_id]
    await _assert_nothing_made(tg.sandbox, tg.core, "telegram", chat, before)


async def test_telegram_25_mb_png_is_re_encoded_in_local_mode(
    keevx: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("tg-local")
    settings = dataclasses.replace(core_settings(keevx, folder), telegram_local_mode=True)
    chat = next(_chats)
    uploads = set(keevx.uploads)
    creates = len(_creates(keevx))
    async with (
        FakeTelegram(TOKEN, local_dir=folder / "bot-api") as fake,
        running(settings, fake) as (core, _),
    ):
        big = fake.add_file(big_png(), kind="documents")
        fake.message(
            chat, user=fake.user(chat), document=big, mime_type="image/png", caption="huge png"
        )
        status = await fake.wait_for("sendMessage", where=lambda c: c.get("chat_id") == chat)
        assert "queued" in status["text"], status["text"]  # a status message, no refusal
        await until(lambda: len(_creates(keevx)) > creates, 30)
        (job,) = await core.service.recent("telegram", str(chat), 10)
    assert job.request.prompt == "huge png"
    (upload,) = [u for k, u in keevx.uploads.items() if k not in uploads]
    assert upload.content_type == "image/jpeg"
    assert upload.size < MAX_IMAGE_BYTES and upload.path.read_bytes()[:3] == b"\xff\xd8\xff"
    (create,) = _creates(keevx)[creates:]
    assert create.json["image_url"] == upload.url


@pytest.mark.parametrize("name", list(INTACT))
async def test_telegram_keeps_the_prompt_intact(tg: Tg, name: str) -> None:
    prompt = INTACT[name]
    chat = next(_chats)
    creates = len(_creates(tg.sandbox))
    tg.fake.photo_message(chat, prompt, photo=tg.fake.add_file(PHOTO), user=tg.fake.user(chat))
    await until(lambda: len(_creates(tg.sandbox)) > creates, 20)
    (job,) = await tg.core.service.recent("telegram", str(chat), 10)
    (create,) = _creates(tg.sandbox)[creates:]
    assert job.request.prompt == prompt
    assert create.json["prompt"] == prompt


async def test_telegram_still_serves_after_the_bad_input(tg: Tg) -> None:
    chat = next(_chats)
    user = tg.fake.user(chat)
    tg.fake.photo_message(chat, "waves at sunset", photo=tg.fake.add_file(PHOTO), user=user)
    video = await tg.fake.wait_for("sendVideo", where=lambda c: c.get("chat_id") == chat, within=30)
    job = await final_job(tg.core, chat)
    assert job.status is JobStatus.DELIVERED and video["video"].data[4:8] == b"ftyp"


# -- Discord -------------------------------------------------------------------------------


def _attachments(fake: FakeDiscord, case: Case) -> list[dict[str, Any]]:
    if case.data is not None:
        return [fake.add_attachment(case.filename, case.data, content_type=case.mime)]
    return [
        fake.add_attachment(f"photo{n}.png", png(color=(n * 30, 90, 90)))
        for n in range(1, case.images + 1)
    ]


async def _slash_answer(fake: FakeDiscord, payload: dict[str, Any]) -> tuple[str, int]:
    """The text the user sees in answer to a slash command, and its flags.

    Answered at once (type 4), or deferred (type 5) and then refused in a follow-up.
    """
    [callback] = await fake.wait_for(
        lambda: fake.find_calls("POST", f"/interactions/{payload['id']}/")
    )
    if callback.json["type"] == 4:
        data = callback.json["data"]
        return data["content"], data.get("flags") or 0
    assert callback.json["type"] == 5, callback.json
    [note] = await fake.wait_for(lambda: webhook_posts(fake, payload["token"]))
    return note.json["content"], note.json.get("flags") or 0


def _replies(fake: FakeDiscord, message: dict[str, Any]) -> list[Any]:
    """The bot's posts in reply to ``message``."""
    return [
        c
        for c in channel_posts(fake)
        if c.json
        and str((c.json.get("message_reference") or {}).get("message_id")) == message["id"]
    ]


async def _mention_answer(fake: FakeDiscord, message: dict[str, Any]) -> str:
    [reply] = await fake.wait_for(lambda: _replies(fake, message))
    return str(reply.json["content"])


@pytest.mark.parametrize("case", _params(slash=True))
async def test_discord_slash_refuses(dc: Bot, case: Case) -> None:
    fake = dc.fake
    assert case.slash is not None
    before = await _mark(dc.sandbox, dc.core, "discord", D_USER)
    atts = _attachments(fake, case)
    names = ["image"] + [f"image{n}" for n in range(2, len(atts) + 1)]
    payload = await fake.push_interaction(
        fake.slash("video", dict(case.slash), attachments=dict(zip(names, atts, strict=True)))
    )
    text, flags = await _slash_answer(fake, payload)
    assert case.expect in text, text
    assert flags & 64  # only the user sees the refusal
    await _assert_nothing_made(dc.sandbox, dc.core, "discord", D_USER, before)


@pytest.mark.parametrize("case", _params())
async def test_discord_mention_refuses(dc: Bot, case: Case) -> None:
    fake = dc.fake
    before = await _mark(dc.sandbox, dc.core, "discord", D_USER)
    downloads = len(fake.downloads)
    message = fake.message(
        content=f"<@{BOT}> {case.text}",
        author=D_USER,
        mention_bot=True,
        attachments=_attachments(fake, case),
    )
    await fake.push_message(message)
    text = await _mention_answer(fake, message)
    assert case.expect in text, text
    await _assert_nothing_made(dc.sandbox, dc.core, "discord", D_USER, before)
    if case.data is None:  # refused on its words: nothing downloaded from the CDN
        assert len(fake.downloads) == downloads


@pytest.mark.parametrize("path", ["slash", "mention"])
async def test_discord_25_mb_png_is_re_encoded(dc: Bot, path: str) -> None:
    """A Nitro user may attach up to 500 MB: a 25 MB PNG is re-encoded, as on Telegram."""
    fake = dc.fake
    uploads = set(dc.sandbox.uploads)
    creates = len(_creates(dc.sandbox))
    att = fake.add_attachment("huge.png", big_png(), content_type="image/png")
    if path == "slash":
        payload = await fake.push_interaction(
            fake.slash("video", {"prompt": "huge png"}, attachments={"image": att})
        )
        [callback] = await fake.wait_for(
            lambda: fake.find_calls("POST", f"/interactions/{payload['id']}/")
        )
        refusal = (callback.json.get("data") or {}).get("content")
        assert callback.json["type"] == 5, f"refused: {refusal!r}"  # deferred: accepted
    else:
        message = fake.message(
            content=f"<@{BOT}> huge png", author=D_USER, mention_bot=True, attachments=[att]
        )
        await fake.push_message(message)
        await dc.until(lambda: len(_creates(dc.sandbox)) > creates or _replies(fake, message), 30)
        replies = [c.json["content"] for c in _replies(fake, message)]
        refusals = [r for r in replies if "**Job" not in r]  # the status message is a reply too
        assert not refusals, f"refused: {refusals}"
    await dc.until(lambda: len(_creates(dc.sandbox)) > creates, 30)
    (upload,) = [u for k, u in dc.sandbox.uploads.items() if k not in uploads]
    assert upload.content_type == "image/jpeg" and upload.size < MAX_IMAGE_BYTES


@pytest.mark.parametrize("path", ["slash", "mention"])
@pytest.mark.parametrize("name", list(INTACT))
async def test_discord_keeps_the_prompt_intact(dc: Bot, name: str, path: str) -> None:
    fake = dc.fake
    prompt = INTACT[name]
    creates = len(_creates(dc.sandbox))
    att = fake.add_attachment("a.png", png())
    if path == "slash":
        await fake.push_interaction(
            fake.slash("video", {"prompt": prompt}, attachments={"image": att})
        )
    else:
        message = fake.message(
            content=f"<@{BOT}> {prompt}", author=D_USER, mention_bot=True, attachments=[att]
        )
        await fake.push_message(message)
    await dc.until(lambda: len(_creates(dc.sandbox)) > creates, 20)
    (create,) = _creates(dc.sandbox)[creates:]
    job = (await dc.core.service.recent("discord", str(D_USER), 1))[0]
    assert job.request.prompt == prompt
    assert create.json["prompt"] == prompt


async def test_discord_still_serves_after_the_bad_input(dc: Bot) -> None:
    fake = dc.fake
    done = {j.id for j in await dc.core.service.recent("discord", str(D_USER), 1000)}
    await fake.push_interaction(
        fake.slash(
            "video",
            {"prompt": "waves at sunset"},
            attachments={"image": fake.add_attachment("a.png", png())},
        )
    )

    async def new_job() -> Any:
        jobs = await dc.core.service.recent("discord", str(D_USER), 1000)
        return next((j for j in jobs if j.id not in done), None)

    job = await dc.until(new_job)
    job = await dc.status_of(job.id, *OVER, within=30)
    assert job.status is JobStatus.DELIVERED, job.error
