"""The fake Bot API server works with the real python-telegram-bot Application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InputMediaVideo, ReplyParameters, Update
from telegram.error import BadRequest, EndPointNotFound, Forbidden, RetryAfter
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from tests.fakes.telegram import FakeTelegram

TOKEN = "123:ABC"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


def build(fake: FakeTelegram) -> Application:  # type: ignore[type-arg]
    return (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    msg = update.effective_message
    assert msg is not None
    await msg.reply_text(f"echo: {msg.text or msg.caption}", do_quote=True)


async def test_polling_echo_and_offset_confirmation(fake: FakeTelegram) -> None:
    app = build(fake)
    app.add_handler(MessageHandler(filters.ALL, echo))
    async with app:
        assert app.bot.username == "keevx_test_bot"
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=5)
        try:
            await _echo_round(fake)
        finally:
            await app.updater.stop()
            await app.stop()
    assert fake.calls_of("deleteWebhook"), "polling bootstraps by deleting the webhook"


async def _echo_round(fake: FakeTelegram) -> None:
    first = fake.message(42, text="hello")
    fake.message(42, text="again")
    call = await fake.wait_for("sendMessage", 2)
    assert call["text"] == "echo: again"
    reply = fake.calls_of("sendMessage")[0]
    assert reply["chat_id"] == 42
    assert reply["reply_parameters"]["message_id"] == first["message_id"]
    # the next getUpdates confirms both: nothing stays pending
    n = len(fake.calls_of("getUpdates"))
    await fake.wait_for("getUpdates", n + 1)
    assert fake.pending_updates == []
    assert fake.confirmed_offset == 3


async def test_unconfirmed_updates_are_served_again(fake: FakeTelegram, bot: Bot) -> None:
    fake.message(1, text="a")
    fake.message(1, text="b")
    got = await bot.get_updates(timeout=0)
    assert [u.update_id for u in got] == [1, 2]
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [1, 2]
    assert await bot.get_updates(offset=3, timeout=0) == ()
    assert fake.pending_updates == []


async def test_long_poll_wakes_on_a_new_update(fake: FakeTelegram, bot: Bot) -> None:
    task = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0.05)
    fake.message(1, text="late")
    got = await asyncio.wait_for(task, 2)
    assert got[0].message is not None and got[0].message.text == "late"


async def test_send_video_records_multipart_fields(fake: FakeTelegram, bot: Bot) -> None:
    msg = fake.photo_message(-100, caption="x", thread_id=7)
    sent = await bot.send_video(
        -100,
        video=b"\x00\x00\x00\x18ftypmp42" + b"v" * 1000,
        thumbnail=b"\xff\xd8thumb",
        caption="a caption",
        width=640,
        height=360,
        duration=4,
        supports_streaming=True,
        message_thread_id=7,
        reply_parameters=ReplyParameters(msg["message_id"], allow_sending_without_reply=True),
    )
    call = fake.calls_of("sendVideo")[0]
    assert call["video"].size == 1012
    assert call["thumbnail"].data == b"\xff\xd8thumb"
    assert call["caption"] == "a caption"
    assert (call["width"], call["height"], call["duration"]) == (640, 360, 4)
    assert call["supports_streaming"] is True
    assert call["message_thread_id"] == 7
    assert call["reply_parameters"] == {
        "message_id": msg["message_id"],
        "allow_sending_without_reply": True,
    }
    assert sent.video is not None and sent.video.width == 640
    assert sent.message_thread_id == 7 and sent.is_topic_message
    assert sent.from_user is not None and sent.from_user.is_bot
    assert sent.message_id == msg["message_id"] + 1


async def test_media_group_and_edits(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_media_group(
        5, [InputMediaVideo(b"one", caption="c1"), InputMediaVideo(b"two")]
    )
    assert len(sent) == 2 and sent[0].media_group_id == sent[1].media_group_id
    call = fake.calls_of("sendMediaGroup")[0]
    assert [m["media"].data for m in call["media"]] == [b"one", b"two"]
    status = await bot.send_message(5, "queued")
    await bot.edit_message_text("running", 5, status.message_id)
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("running", 5, status.message_id)
    assert await bot.delete_message(5, status.message_id)
    await bot.send_chat_action(5, "upload_video")
    assert fake.calls_of("sendChatAction")[0]["action"] == "upload_video"


async def test_get_file_and_download(fake: FakeTelegram, bot: Bot) -> None:
    f = fake.add_file(b"JPEGDATA")
    tg_file = await bot.get_file(f.file_id)
    assert tg_file.file_size == 8
    assert bytes(await tg_file.download_as_bytearray()) == b"JPEGDATA"
    big = fake.add_file(b"x", size=21 * 1024 * 1024)
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(big.file_id)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # 429
async def test_error_injection(fake: FakeTelegram, bot: Bot) -> None:
    fake.block(9)
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(9, "hi")
    fake.gone(10)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(10, "hi")
    fake.flood("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(11, "hi")
    assert info.value.retry_after == 3
    assert (await bot.send_message(11, "hi")).text == "hi"


async def test_unknown_method_fails_loudly(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTeleportation", api_kwargs={"chat_id": 1})
    assert fake.calls_of("sendTeleportation")[0].status == 404


async def test_update_builders_parse(fake: FakeTelegram, bot: Bot) -> None:
    photo = fake.photo_message(1, caption="/video waves --ar 9:16")
    fake.message(1, text="/video@keevx_test_bot sunset", reply_to=photo["message_id"])
    doc = fake.add_file(b"PNG", kind="documents")
    fake.message(1, document=doc, caption="doc")
    fake.album(1, 3, caption="three")
    topic = fake.photo_message(-200, caption="@keevx_test_bot hi", thread_id=77)
    fake.callback_query(topic, "keevx:cancel:1")
    updates = await bot.get_updates(timeout=0)
    assert len(updates) == 8
    m0 = updates[0].message
    assert m0 is not None and m0.photo[-1].width == 1280
    assert m0.caption_entities[0].type == "bot_command"
    m1 = updates[1].message
    assert m1 is not None and m1.reply_to_message is not None
    assert m1.reply_to_message.photo
    m2 = updates[2].message
    assert m2 is not None and m2.document is not None
    assert m2.document.mime_type == "image/png"
    parts = [u.message for u in updates[3:6]]
    assert len({p.media_group_id for p in parts if p}) == 1
    m6 = updates[6].message
    assert m6 is not None and m6.is_topic_message and m6.message_thread_id == 77
    assert m6.chat.is_forum
    assert m6.caption_entities[0].type == "mention"
    cq = updates[7].callback_query
    assert cq is not None and cq.data == "keevx:cancel:1"


async def test_webhook_registration(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_webhook("https://example.invalid/hook", secret_token="s3cret")
    assert fake.webhook == {"url": "https://example.invalid/hook", "secret_token": "s3cret"}
    info = await bot.get_webhook_info()
    assert info.url == "https://example.invalid/hook"
    with pytest.raises(Exception, match="Conflict"):
        await bot.get_updates(timeout=0)
    await bot.set_my_commands([("video", "make a video")])
    assert fake.commands == [{"command": "video", "description": "make a video"}]


async def test_json_bodies_and_wrong_tokens(fake: FakeTelegram) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        body = {"chat_id": 5, "text": "json", "reply_parameters": {"message_id": 99}}
        async with http.post(f"{fake.base_url}{TOKEN}/sendMessage", json=body) as resp:
            assert resp.status == 400  # replied-to message missing, no allow_sending_without_reply
        body["reply_parameters"] = {"message_id": 99, "allow_sending_without_reply": True}
        async with http.post(f"{fake.base_url}{TOKEN}/sendMessage", json=body) as resp:
            assert resp.status == 200 and (await resp.json())["result"]["text"] == "json"
        async with http.post(f"{fake.base_url}999:NOPE/getMe") as resp:
            assert resp.status == 401
        async with http.get(f"{fake.base_file_url}999:NOPE/photos/file_1.jpg") as resp:
            assert resp.status == 401
    assert [c.status for c in fake.calls] == [400, 200, 401]
