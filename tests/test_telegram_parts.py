"""The Telegram adapter's parts one by one: texts, status throttling, addressing, albums,
error mapping and delivery (against the fake Bot API, no core)."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from adapters.base import Video
from adapters.telegram import render
from adapters.telegram.albums import AlbumCollector
from adapters.telegram.delivery import Deliverer
from adapters.telegram.errors import map_error
from adapters.telegram.handlers import addressing
from adapters.telegram.status import StatusBoard
from adapters.telegram.webhook import make_secret, webhook_path
from bot.errors import ConfigError, DeliveryError, RecipientGone, TooLarge
from bot.i18n import speaking
from bot.jobs.limits import Stats
from bot.jobs.pipeline import TOOK_TOO_LONG
from bot.keevx.sandbox import SAMPLE_IMAGE, render_video
from bot.model.help import HELP
from bot.model.job import Job, JobStatus, Target
from bot.model.request import Options, build_request
from bot.model.status import LOST_ANSWER, RESTARTED
from storage.memory import MemoryJobStore
from tests.fakes.telegram import FakeTelegram

TOKEN = "123:ABC"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GROUP = -100777


def make_job(
    prompt: str = "waves at sunset",
    *,
    chat: int = 1001,
    status: JobStatus = JobStatus.RECEIVED,
    images: int = 1,
    **changes: Any,
) -> Job:
    return Job(
        id=7,
        target=Target(
            platform="telegram",
            chat_id=str(chat),
            user_id="1001",
            user_name="Ann <A&B>",
            reply_to="5",
            thread_id=changes.pop("thread_id", None),
            chat_type="private" if chat > 0 else "supergroup",
        ),
        request=build_request(prompt, Options(), images),
        status=status,
        created_at=T0,
        updated_at=T0,
        next_run_at=T0,
        **changes,
    )


def visible(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


# -- texts ---------------------------------------------------------------------------------


def test_caption_is_cut_to_telegrams_limit_and_escaped() -> None:
    long = ("a <b> & c " * 200)[:1000]
    job = make_job(long, chat=GROUP)
    text = render.caption(job)
    shown = visible(text)
    assert len(shown) <= 1024
    assert "…" in shown and "&lt;b&gt;" in text and "<b>" not in text.split("\n")[0]
    assert 'for <a href="tg://user?id=1001">Ann &lt;A&amp;B&gt;</a>' in text
    assert job.request.summary() in shown
    emoji = render.caption(make_job("🌊" * 1000))  # 2 UTF-16 units each
    assert len(visible(emoji).encode("utf-16-le")) // 2 <= 1024
    assert render.caption(make_job("x"), label="video 1/2").endswith("· video 1/2")
    private = render.caption(make_job("short one"))
    assert private.startswith("short one\n\n") and "for " not in private


def test_status_texts_explain_each_state() -> None:
    now = T0 + timedelta(seconds=95)
    queued = render.status_text(make_job(), now)
    assert queued.startswith("🎬 1 image · model V · 16:9 · 720p · 4 s — queued")
    assert queued.endswith("\njob #7")
    waiting = render.status_text(make_job(queue_position=3), now)
    assert "queued · number 3 in line" in waiting
    working = render.status_text(
        make_job(status=JobStatus.SUBMITTED, submitted_at=T0 + timedelta(seconds=5)), now
    )
    assert "processing · 1 min 30 sec" in working
    failed = render.status_text(make_job(status=JobStatus.FAILED, error="Moderation said no."), now)
    assert failed.split("\n")[:2] == [
        "⚠️ 1 image · model V · 16:9 · 720p · 4 s — failed",
        "Moderation said no.",  # the core's reason, a sentence of its own
    ]
    # Outcome unknown, worded for what happened: a lost answer, or a restart mid-request.
    lost = render.status_text(make_job(status=JobStatus.UNKNOWN, error=LOST_ANSWER), now)
    restarted = render.status_text(make_job(status=JobStatus.UNKNOWN, error=RESTARTED), now)
    assert "— outcome unknown\n" in lost and "— outcome unknown\n" in restarted
    assert "answer was lost" in lost and "restarted" not in lost
    assert "I restarted while" in restarted and "answer was lost" not in restarted
    assert "not charged twice" in lost and "not charged twice" in restarted
    cancelled = render.status_text(make_job(status=JobStatus.CANCELLED, submitted_at=T0), now)
    assert "— cancelled\nKeevx cannot stop a generation" in cancelled
    early = render.status_text(make_job(status=JobStatus.CANCELLED), now)
    assert "cannot stop" not in early  # it never reached Keevx
    expired = render.status_text(
        make_job(
            status=JobStatus.EXPIRED,
            submitted_at=T0,
            finished_at=T0 + timedelta(minutes=20),
            error=TOOK_TOO_LONG,
        ),
        now,
    )
    assert "— gave up after 20 min 0 sec\n" + TOOK_TOO_LONG in expired
    noted = render.status_text(make_job(images=4), now)  # V takes 3: KL, and the note says so
    assert "<i>You sent 4 images, so I'm using model KL" in noted


def test_texts_name_each_job_and_count_right() -> None:
    """One voice: "job #7", capitalised sentences, "1 job" but "2 jobs"."""
    now = T0 + timedelta(seconds=95)
    line = render.job_line(make_job(status=JobStatus.FAILED, error="Keevx said no."), now)
    assert line.startswith("#7 · <b>failed</b>: Keevx said no. · 1 image")
    one = Stats(by_status={JobStatus.DELIVERED: 1}, videos_delivered=1, failures=0, queue_length=0)
    two = Stats(by_status={JobStatus.DELIVERED: 2}, videos_delivered=2, failures=0, queue_length=0)
    assert ": 1 job — delivered 1" in render.stats_text(one)
    assert ": 2 jobs — delivered 2" in render.stats_text(two)
    assert render.videos(1) == "1 video" and render.videos(3) == "3 videos"
    shown = render.settings_text(Options(count=2, duration=6), is_group=True)
    assert "• Videos per request: 2 videos" in shown and "• Duration: 6 sec" in shown
    assert "• Model: model default" in shown and "Group admins can change them." in shown


def test_help_is_the_cores_with_telegrams_own_lines() -> None:
    text = render.help_text()
    assert "server" not in text  # a Telegram chat is never a server
    for line in (HELP.usage, *HELP.models, HELP.defaults, HELP.narration, *HELP.tips):
        assert render.esc(line) in text
    for topic in ("subject", "scene", "action", "mood", "lighting"):
        assert topic in text
    assert "/settings changes them for this chat" in text and "/jobs" in text


def test_webhook_secret_and_path() -> None:
    assert make_secret("abc_DEF-123") == "abc_DEF-123"
    generated = make_secret("")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", generated) and len(generated) >= 32
    with pytest.raises(ConfigError):
        make_secret("has spaces")
    assert webhook_path("https://x.example/tg/hook") == "/tg/hook"
    assert webhook_path("https://x.example") == "/telegram"


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (Forbidden("Forbidden: bot was blocked by the user"), RecipientGone),
        (BadRequest("Bad Request: chat not found"), RecipientGone),
        (ChatMigrated(-100999), RecipientGone),
        (BadRequest("Bad Request: file is too big"), TooLarge),
        (NetworkError("Request Entity Too Large (413)"), TooLarge),
        (TimedOut(), DeliveryError),
        (NetworkError("httpx.ConnectError: boom"), DeliveryError),
        (BadRequest("Bad Request: can't parse entities"), DeliveryError),
    ],
)
def test_errors_map_to_the_core_tree(error: Exception, expected: type[Exception]) -> None:
    mapped = map_error(error)  # type: ignore[arg-type]
    assert type(mapped) is expected


def test_flood_maps_to_a_retryable_error() -> None:
    with pytest.warns(Warning):  # PTB warns on reading retry_after as int
        error = RetryAfter(7)
    mapped = map_error(error)
    assert type(mapped) is DeliveryError and "7 s" in str(mapped)


# -- addressing ----------------------------------------------------------------------------


def _msg(fake: FakeTelegram, bot: Bot, chat: int, **kw: Any) -> Message:
    data = fake.message(chat, queue=False, **kw)
    msg = Message.de_json(data, bot)
    assert msg is not None
    return msg


async def test_addressing_rules(fake: FakeTelegram, bot: Bot) -> None:
    name, me = "keevx_test_bot", 123

    def addr(chat: int, **kw: Any) -> tuple[bool, bool, str, bool]:
        a = addressing(_msg(fake, bot, chat, **kw), name, me)
        return a.to_bot, a.is_video_command, a.text, a.other_command

    assert addr(1, text="waves at sunset") == (True, False, "waves at sunset", False)
    assert addr(GROUP, text="waves at sunset")[0] is False
    assert addr(GROUP, text="/video@Keevx_Test_Bot the sea") == (True, True, "the sea", False)
    assert addr(GROUP, text="/video the sea")[:3] == (True, True, "the sea")
    assert addr(GROUP, text="/video@other_bot the sea")[0] is False
    assert addr(GROUP, text="@keevx_test_bot make it snow") == (
        True,
        False,
        "make it snow",
        False,
    )
    assert addr(GROUP, text="/settings")[3] is True
    bot_msg = fake.message(GROUP, user={"id": me, "is_bot": True, "first_name": "K"}, text="hi")
    assert addr(GROUP, text="again please", reply_to=bot_msg["message_id"])[0] is True
    # in a topic, an ordinary message "replies" to the topic root: not a reply to the bot
    assert addr(GROUP, text="hello", thread_id=9)[0] is False


# -- albums --------------------------------------------------------------------------------


def collector(
    bot: Bot,
    on_album: Any,
    store: MemoryJobStore | None = None,
    *,
    window: float,
    cap: float,
) -> AlbumCollector:
    """An album collector on ``store`` (a fresh in-memory one by default), on real time."""
    return AlbumCollector(
        store or MemoryJobStore(),
        on_album,
        bot=bot,
        now=lambda: datetime.now(UTC),
        window=window,
        cap=cap,
    )


async def test_album_window_restarts_and_is_capped(fake: FakeTelegram, bot: Bot) -> None:
    got: list[list[int]] = []

    async def on_album(parts: list[Message]) -> None:
        got.append([p.message_id for p in parts])

    albums = collector(bot, on_album, window=0.15, cap=0.4)
    parts = [Message.de_json(d, bot) for d in fake.album(1, 8, "eight", queue=False)]
    for part in parts[:3]:
        await albums.add(part)
        await asyncio.sleep(0.1)  # under the window: it restarts
    assert got == []
    for part in parts[3:]:
        await albums.add(part)
        await asyncio.sleep(0.1)  # keeps coming: the cap closes the album
    await asyncio.sleep(0.3)
    assert len(got) == 1 and 3 < len(got[0]) < 8
    await albums.add(parts[0])  # a repeated part makes nothing new
    await albums.close()
    assert len(got) == 1
    assert len(await albums.album(1, parts[0].media_group_id or "")) == 8


async def test_album_still_collecting_is_handed_over_on_close(fake: FakeTelegram, bot: Bot) -> None:
    got: list[int] = []

    async def on_album(parts: list[Message]) -> None:
        got.append(len(parts))

    albums = collector(bot, on_album, window=10, cap=30)
    for d in fake.album(1, 2, "two", queue=False):
        await albums.add(Message.de_json(d, bot))
    await albums.close()
    assert got == [2]


async def test_album_parts_at_two_instances_are_handed_over_once(
    fake: FakeTelegram, bot: Bot
) -> None:
    """Two collectors on one store, as two instances: the parts reach them alternately."""
    store = MemoryJobStore()
    got: list[tuple[str, list[int]]] = []

    def handler(name: str) -> Any:
        async def on_album(parts: list[Message]) -> None:
            await asyncio.sleep(0.2)  # a handover takes a while: the other one waits for it
            got.append((name, [p.message_id for p in parts]))

        return on_album

    instances = [collector(bot, handler(n), store, window=0.2, cap=2.0) for n in ("a", "b")]
    parts = [Message.de_json(d, bot) for d in fake.album(1, 5, "five", queue=False)]
    for n, part in enumerate(parts):
        await instances[n % 2].add(part)
        await asyncio.sleep(0.05)
    group = parts[0].media_group_id or ""
    await asyncio.wait_for(asyncio.gather(*(albums.settled(1, group) for albums in instances)), 5)
    assert [ids for _, ids in got] == [[p.message_id for p in parts]]
    late = Message.de_json(fake.photo_message(1, None, media_group_id=group, queue=False), bot)
    await instances[0].add(late)  # after the handover: kept for replies, nothing new
    for albums in instances:
        await albums.close()
    assert len(got) == 1
    assert len(await instances[1].album(1, group)) == 6


# -- status message ------------------------------------------------------------------------


async def test_status_edits_are_throttled_except_state_changes(
    fake: FakeTelegram, bot: Bot
) -> None:
    clock = [T0]
    board = StatusBoard(bot, now=lambda: clock[0], reread=nothing, min_edit_interval=10)
    fake.message(GROUP, text="/video x", message_id=5, queue=False, thread_id=3)
    job = make_job(chat=GROUP, thread_id="3")
    message_id = await board.show(job)
    (sent,) = fake.calls_of("sendMessage")
    assert sent["message_thread_id"] == 3 and sent["reply_parameters"]["message_id"] == 5
    assert sent["disable_notification"] is True
    job = job.evolve(status_message_id=message_id)

    async def show(status: JobStatus, seconds: float, **changes: Any) -> None:
        clock[0] = T0 + timedelta(seconds=seconds)
        await board.show(job.evolve(status=status, **changes))

    await show(JobStatus.UPLOADING, 1)
    await show(JobStatus.SUBMITTED, 2, submitted_at=T0)
    await show(JobStatus.SUBMITTED, 5, submitted_at=T0)  # same state, 3 s later: skipped
    await show(JobStatus.SUBMITTED, 9, submitted_at=T0)  # still under 10 s: skipped
    await show(JobStatus.SUBMITTED, 13, submitted_at=T0)  # 11 s: edited
    await show(JobStatus.DELIVERED, 14, finished_at=T0 + timedelta(seconds=14))
    edits = fake.calls_of("editMessageText")
    assert [e["text"].split(" — ")[1].split("\n")[0] for e in edits] == [
        "uploading the images",
        "processing · 2 sec",
        "processing · 13 sec",
        "done in 14 sec",
    ]
    assert edits[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Cancel"
    (delete,) = edits[-1]["reply_markup"]["inline_keyboard"][0]  # no images at Keevx: no Again
    assert delete["callback_data"] == "keevx:delete:7"
    # a status message deleted by someone: a new one is sent
    del fake.messages[(GROUP, int(message_id or 0))]
    await show(JobStatus.FAILED, 20, error="boom")
    assert len(fake.calls_of("sendMessage")) == 2


async def test_status_in_a_blocked_chat_raises_recipient_gone(fake: FakeTelegram, bot: Bot) -> None:
    fake.block(1001)
    board = StatusBoard(bot, now=lambda: T0, reread=nothing)
    with pytest.raises(RecipientGone):
        await board.show(make_job())


async def nothing(job_id: int) -> Job | None:
    return None


async def test_first_replies_go_before_edits_and_a_newer_edit_replaces_a_queued_one(
    fake: FakeTelegram, bot: Bot
) -> None:
    board = StatusBoard(bot, now=lambda: T0, reread=nothing, min_edit_interval=0)
    board.start()
    try:
        older = make_job(chat=1001)
        older = older.evolve(status_message_id=await board.show(older))
        fake.slow("sendMessage", 0.5)
        newer = make_job(chat=1002).evolve(id=8)
        reply = asyncio.create_task(board.show(newer))
        await asyncio.sleep(0.05)  # the first reply is on its way
        await board.show(older.evolve(status=JobStatus.UPLOADING))  # queued, not awaited
        await board.show(older.evolve(status=JobStatus.SUBMITTED, submitted_at=T0))
        await asyncio.sleep(0.2)
        assert not fake.calls_of("editMessageText")  # waits while the first reply is sent
        assert await reply
        edit = await fake.wait_for("editMessageText")
    finally:
        await board.stop()
    assert len(fake.calls_of("editMessageText")) == 1  # the newer text only
    assert "processing" in edit["text"]


async def test_edits_wait_while_first_replies_stream_in(fake: FakeTelegram, bot: Bot) -> None:
    board = StatusBoard(bot, now=lambda: T0, reread=nothing, min_edit_interval=0, reply_burst=3)
    board.start()
    loop = asyncio.get_running_loop()
    try:
        older = make_job(chat=1001)
        started = loop.time()  # the burst: three first replies within a second
        older = older.evolve(status_message_id=await board.show(older))
        for n in (2, 3):
            await board.show(make_job(chat=1001 + n).evolve(id=7 + n))
        await board.show(older.evolve(status=JobStatus.UPLOADING))  # no reply waits, yet held
        await fake.wait_for("editMessageText")
        assert loop.time() - started >= 1.0  # a second after the first of the three
    finally:
        await board.stop()
    methods = [c.method for c in fake.calls if c.method in ("sendMessage", "editMessageText")]
    assert methods == ["sendMessage"] * 3 + ["editMessageText"]


async def test_the_elapsed_time_ticks_while_keevx_renders_slower_in_a_busy_group(
    fake: FakeTelegram, bot: Bot
) -> None:
    clock = [T0]
    jobs: dict[int, Job] = {}

    async def reread(job_id: int) -> Job | None:
        return jobs.get(job_id)

    board = StatusBoard(bot, now=lambda: clock[0], reread=reread, tick_every=12)
    board.start()
    try:
        for n in range(1, 11):  # ten jobs rendering in one group: a tick every 30 s each
            job = make_job(chat=GROUP).evolve(id=n, status=JobStatus.SUBMITTED, submitted_at=T0)
            jobs[n] = job.evolve(status_message_id=await board.show(job))
        clock[0] = T0 + timedelta(seconds=13)
        await asyncio.sleep(1.5)
        assert not fake.calls_of("editMessageText")
        clock[0] = T0 + timedelta(seconds=31)
        await fake.wait_for("editMessageText", 10, within=5)
    finally:
        await board.stop()
    assert all("processing · 31 sec" in e["text"] for e in fake.calls_of("editMessageText"))


async def test_a_status_speaks_its_jobs_language_whoever_shows_or_ticks_it(
    fake: FakeTelegram, bot: Bot
) -> None:
    clock = [T0]
    job = make_job().evolve(status=JobStatus.SUBMITTED, submitted_at=T0, language="uk")

    async def reread(job_id: int) -> Job | None:
        return job

    board = StatusBoard(bot, now=lambda: clock[0], reread=reread, tick_every=12)
    board.start()
    try:
        with speaking("es"):  # e.g. a Spanish speaker's tap refreshes it
            job = job.evolve(status_message_id=await board.show(job))
        clock[0] = T0 + timedelta(seconds=31)
        edit = await fake.wait_for("editMessageText", within=5)  # the ticker, on its own
    finally:
        await board.stop()
    (sent,) = fake.calls_of("sendMessage")
    assert "— обробка · 0 с\nзавдання #7" in sent["text"]
    assert sent["reply_markup"]["inline_keyboard"][0][0]["text"] == "Скасувати"
    assert "— обробка · 31 с\n" in edit["text"]


# -- delivery ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video") / "v.mp4"
    render_video(SAMPLE_IMAGE, out, aspect_ratio="16:9", duration=1, height=72, fps=8)
    return out


def _video(path: Path | None, n: int = 0) -> Video:
    return Video(
        url=f"https://cdn.example.invalid/v{n}.mp4",
        path=path,
        size=path.stat().st_size if path else 80_000_000,
        thumbnail_url=f"https://cdn.example.invalid/t{n}.webp",
        width=128,
        height=72,
        duration=1.0,
    )


async def test_one_of_several_videos_is_labelled(fake: FakeTelegram, bot: Bot, mp4: Path) -> None:
    deliverer = Deliverer(bot, local_mode=False, upload_limit=50_000_000)
    job = make_job("two takes --count 2")
    second = dataclasses.replace(_video(mp4, 1), number=2, total=2)
    message_id = await deliverer.deliver(job, second)
    (call,) = fake.calls_of("sendVideo")
    assert str(call.result["message_id"]) == message_id
    assert call["video"].data == mp4.read_bytes()
    assert call["thumbnail"].data[:2] == b"\xff\xd8"
    assert call["supports_streaming"] is True and "video 2/2" in call["caption"]
    assert call["reply_parameters"]["allow_sending_without_reply"] is True
    assert fake.calls_of("sendChatAction")


async def test_mixed_files_and_links(fake: FakeTelegram, bot: Bot, mp4: Path) -> None:
    deliverer = Deliverer(bot, local_mode=False, upload_limit=50_000_000)
    fake.fail("sendPhoto", 400, "Bad Request: wrong file identifier/HTTP URL specified")
    ids = [await deliverer.deliver(make_job(), v) for v in (_video(mp4), _video(None, 1))]
    assert len(set(ids)) == 2
    assert fake.calls_of("sendVideo") and fake.calls_of("sendPhoto")[0].status == 400
    (link,) = fake.calls_of("sendMessage")  # the thumbnail was refused: the link alone
    assert "v1.mp4" in link["text"] and "50 MB" in link["text"] and "7 days" in link["text"]


async def test_delivery_errors_are_translated(fake: FakeTelegram, bot: Bot, mp4: Path) -> None:
    deliverer = Deliverer(bot, local_mode=False, upload_limit=50_000_000)
    fake.fail("sendVideo", 413, "Request Entity Too Large")
    with pytest.raises(TooLarge):
        await deliverer.deliver(make_job(), _video(mp4))
    fake.gone(1001)
    with pytest.raises(RecipientGone):
        await deliverer.deliver(make_job(), _video(mp4))


async def test_local_mode_passes_the_path(fake: FakeTelegram, mp4: Path) -> None:
    async with Bot(
        TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url, local_mode=True
    ) as local_bot:
        deliverer = Deliverer(local_bot, local_mode=True, upload_limit=2_000_000_000)
        await deliverer.deliver(make_job(), _video(mp4))
    (call,) = fake.calls_of("sendVideo")
    assert call["video"] == mp4.resolve().as_uri()  # the local server reads the file itself
