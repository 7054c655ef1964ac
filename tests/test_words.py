"""Words a person understands (issue 13), through the real adapters and the loopback fakes.

- /help on both platforms comes from the core's HELP, with Keevx's prompt tips;
- no setting's name, exception name or HTTP code reaches a chat;
- an "outcome unknown" says why, and Again on it asks first, since it may charge twice;
- one voice: "job #7", plurals right;
- a refusal that tells a person's usage is not posted for a group to read;
- Telegram: Delete on a delivered job, count in /settings, a lone album part in a group
  is explained, privacy mode is reported to the operator.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.discord import texts as dtexts
from adapters.telegram import texts as ttexts
from bot.app.doctor import diagnose
from bot.errors import ApiRejected, ApiUnavailable, KeevxCode, KeevxError, RateLimited
from bot.jobs.pipeline import explain
from bot.keevx.sandbox import Sandbox
from bot.model.help import HELP
from bot.model.job import JobStatus
from bot.model.status import CONFIRM_AGAIN, LOST_ANSWER
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.test_discord_adapter import OVER, Bot, png, running_bot, slash_video
from tests.test_telegram_adapter import (
    GROUP,
    PHOTO,
    TOKEN,
    USER,
    creates,
    final_job,
    jobs_of,
    running,
    to_chat,
    until,
)

D_USER = FakeDiscord.USER_ID
MOD = FakeDiscord.MOD_ID
# What an operator reads and a user must not: setting names, exception names, HTTP codes.
JARGON = re.compile(
    r"\b[A-Z]+_[A-Z_]+\b|\b\w+(Error|Exception)\b|\bHTTP\b|\b[45]\d\d\b|\b1000\d\d\b"
)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


@pytest.fixture
async def dfake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as running_fake:
        yield running_fake
        assert not running_fake.unknown, running_fake.unknown


@pytest.fixture
async def dc(settings: Settings, dfake: FakeDiscord, sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with running_bot(settings, dfake, sandbox) as bot:
        yield bot


def _photo(fake: FakeTelegram) -> Any:
    return fake.add_file(PHOTO)


def _fail_creates(sandbox: Sandbox) -> None:
    """Keevx makes the task, then a gateway answers 502: the outcome is unknown."""
    sandbox.config = dataclasses.replace(
        sandbox.config, fault_rate=1.0, faults=("502-after-create",)
    )


def _heal(sandbox: Sandbox) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, fault_rate=0.0, faults=())


def _buttons(markup: dict[str, Any] | None) -> list[str]:
    return [b["callback_data"] for row in (markup or {}).get("inline_keyboard", []) for b in row]


def _telegram_texts(fake: FakeTelegram) -> list[str]:
    """Everything the bot wrote into Telegram chats: texts, captions, button answers."""
    keys = ("text", "caption")
    return [c[k] for c in fake.calls if c.status < 300 for k in keys if isinstance(c.get(k), str)]


def _discord_texts(fake: FakeDiscord) -> list[str]:
    """Every content the bot posted or edited on Discord (REST or interaction callback)."""
    out = []
    for call in fake.calls:
        if call.status >= 300 or not isinstance(call.json, dict):
            continue
        data = call.json.get("data") if call.path.startswith("/interactions/") else call.json
        if isinstance(data, dict) and isinstance(data.get("content"), str):
            out.append(data["content"])
    return out


# -- /help --------------------------------------------------------------------------------------


async def test_telegram_help_has_the_tips_and_no_server(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram
) -> None:
    async with running(settings, tg):
        tg.message(USER, text="/help")
        shown = (await tg.wait_for("sendMessage"))["text"]
    assert html.escape(HELP.usage, quote=False) in shown and HELP.tips[0] in shown
    assert 'Speak "' in shown
    for topic in ("subject", "scene", "action", "mood", "lighting"):
        assert topic in shown
    assert "server" not in shown


async def test_discord_help_is_the_same_content_for_the_asker_only(dc: Bot) -> None:
    fake = dc.fake
    payload = await fake.push_interaction(fake.slash("help", {}))
    [call] = await fake.wait_for(lambda: fake.find_calls("POST", f"/interactions/{payload['id']}/"))
    data = call.json["data"]
    assert call.json["type"] == 4 and data["flags"] == 64  # only the asker sees it
    shown = data["content"]
    assert len(shown) <= 2000
    for line in (HELP.intro, HELP.usage, *HELP.models, HELP.defaults, HELP.example, *HELP.tips):
        assert line in shown
    assert HELP.narration in shown and "this server" in shown


# -- notes, "job #7", plurals ---------------------------------------------------------------------


async def test_discord_says_why_it_switched_to_model_kl(dc: Bot) -> None:
    await slash_video(dc, count=4)
    [job] = await dc.until(lambda: dc.jobs())
    job = await dc.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    (note,) = job.request.notes
    assert "model KL" in note
    status = dc.fake.messages[int(job.status_message_id or 0)]["content"]
    assert f"*{note}*" in status and f"**Job #{job.id}**" in status


# -- outcome unknown, and Again on it ----------------------------------------------------------


async def test_telegram_again_on_an_unknown_outcome_asks_first(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram
) -> None:
    _fail_creates(sandbox)
    async with running(settings, tg) as (core, _):
        tg.photo_message(USER, "maybe made", photo=_photo(tg))
        lost = await final_job(core)
        assert lost.status is JobStatus.UNKNOWN and lost.error == LOST_ANSWER
        status = await tg.wait_for(
            "editMessageText", where=lambda c: "outcome unknown" in c["text"]
        )
        assert LOST_ANSWER.split(",")[0] in status["text"]  # why, in the chat's own words
        assert _buttons(status["reply_markup"]) == [f"keevx:again:{lost.id}"]
        _heal(sandbox)

        tg.callback_query(status.result, f"keevx:again:{lost.id}")
        warned = await tg.wait_for("answerCallbackQuery")
        swapped = await tg.wait_for("editMessageReplyMarkup")
        assert warned["show_alert"] is True
        assert warned["text"] == CONFIRM_AGAIN.format(job=lost.id)
        assert _buttons(swapped["reply_markup"]) == [f"keevx:again-anyway:{lost.id}"]
        assert len(await jobs_of(core)) == 1 and len(creates(sandbox)) == 1  # nothing charged

        tg.callback_query(status.result, f"keevx:again-anyway:{lost.id}")
        started = await tg.wait_for("answerCallbackQuery", 2)
        again = await final_job(core)
    assert again.id != lost.id and again.again_of == lost.id
    assert again.status is JobStatus.DELIVERED, again.error
    assert started["text"] == f"Making it again as job #{again.id}."


async def test_discord_again_on_an_unknown_outcome_asks_first(dc: Bot) -> None:
    fake, sandbox = dc.fake, dc.sandbox
    _fail_creates(sandbox)
    await slash_video(dc)
    [lost] = await dc.until(lambda: dc.jobs())
    lost = await dc.status_of(lost.id, *OVER)
    assert lost.status is JobStatus.UNKNOWN and lost.error == LOST_ANSWER
    status_id = int(lost.status_message_id or 0)
    await dc.until(lambda: "outcome unknown" in fake.messages[status_id]["content"])
    status = fake.messages[status_id]
    assert "answer was lost" in status["content"]
    ids = [c["custom_id"] for row in status["components"] for c in row["components"]]
    assert ids == [f"keevx:again:{lost.id}"]  # no video to carry it: Again is on the status
    _heal(sandbox)

    click = await fake.push_interaction(
        fake.button(f"keevx:again:{lost.id}", status_id, user=D_USER)
    )
    [asked] = await fake.wait_for(lambda: fake.find_calls("POST", f"/interactions/{click['id']}/"))
    data = asked.json["data"]
    assert data["flags"] == 64 and data["content"] == CONFIRM_AGAIN.format(job=lost.id)
    [confirm] = [c["custom_id"] for row in data["components"] for c in row["components"]]
    assert confirm == f"keevx:again-anyway:{lost.id}"
    assert len(await dc.jobs()) == 1 and dc.keevx_creates() == 1  # nothing charged yet

    [question] = [m for m in fake.messages.values() if m.get("content") == data["content"]]
    await fake.push_interaction(fake.button(confirm, question["id"], user=D_USER))
    jobs = await dc.until(lambda: _two_over(dc))
    again = next(j for j in jobs if j.id != lost.id)
    assert again.status is JobStatus.DELIVERED and again.again_of == lost.id


async def _two_over(bot: Bot) -> list[Any] | None:
    jobs = await bot.jobs()
    return jobs if len(jobs) == 2 and all(j.status in OVER for j in jobs) else None


# -- no operator jargon ------------------------------------------------------------------------


async def test_a_refused_api_key_is_told_without_codes_on_both_platforms(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram, dfake: FakeDiscord
) -> None:
    """Keevx refuses the key (code 100002, HTTP 401): the user reads what happened and what to
    do; the code, the status and the setting's name stay in the log."""
    sandbox.config = dataclasses.replace(sandbox.config, api_key="a key the bot does not have")
    async with running(settings, tg) as (core, _):
        tg.photo_message(USER, "no credit", photo=_photo(tg))
        failed = await final_job(core)
        await tg.wait_for("editMessageText", where=lambda c: "failed" in c["text"])
    async with running_bot(settings, dfake, sandbox) as dc:
        await slash_video(dc)
        [dfailed] = await dc.until(lambda: dc.jobs())
        dfailed = await dc.status_of(dfailed.id, *OVER)
        status_id = int(dfailed.status_message_id or 0)
        await dc.until(lambda: "failed" in dfake.messages[status_id]["content"])
    assert failed.status is JobStatus.FAILED and dfailed.status is JobStatus.FAILED
    reason = failed.error or ""
    assert "operator" in reason and reason == dfailed.error
    said = _telegram_texts(tg) + _discord_texts(dfake)
    assert any(reason in text for text in said)
    for text in said:
        assert not JARGON.search(text), text


def test_every_keevx_refusal_is_a_sentence_without_codes() -> None:
    errors: list[KeevxError] = [ApiRejected("x", status=400, code=int(c)) for c in KeevxCode]
    errors += [ApiRejected("x", status=418, code=None), ApiUnavailable("x", status=503)]
    errors.append(RateLimited("x", retry_after=30))
    for error in errors:
        sentence = explain(error)
        assert sentence[0].isupper() and sentence.endswith(".") and not JARGON.search(sentence)


# -- group privacy -------------------------------------------------------------------------------


async def test_telegram_daily_limit_in_a_group_keeps_the_numbers_private(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram
) -> None:
    async with running(settings, tg, daily_videos_per_user=1) as (core, _):
        tg.photo_message(GROUP, "/video first", photo=_photo(tg))
        await until(lambda: creates(sandbox))
        second = tg.photo_message(GROUP, "/video second", photo=_photo(tg))
        refused = await tg.wait_for(
            "sendMessage",
            where=lambda c: c["reply_parameters"]["message_id"] == second["message_id"],
        )
        tg.message(USER, text="/jobs")
        listing = await tg.wait_for("sendMessage", where=to_chat(USER))
        assert len(await jobs_of(core)) == 1
    assert refused["chat_id"] == GROUP and refused["text"] == ttexts.LIMIT_IN_GROUP
    assert not re.search(r"\d", refused["text"])  # no count of anyone's videos for all to read
    assert "Today you have made 1 video of the 1 allowed" in listing["text"]


async def test_discord_daily_limit_on_a_mention_keeps_the_numbers_private(
    settings: Settings, sandbox: Sandbox, dfake: FakeDiscord
) -> None:
    fake = dfake
    async with running_bot(
        dataclasses.replace(settings, daily_videos_per_user=1), fake, sandbox
    ) as dc:
        await slash_video(dc)
        await dc.until(lambda: dc.keevx_creates() == 1)
        mention = fake.message(
            content=f"<@{fake.BOT_ID}> one more",
            author=D_USER,
            mention_bot=True,
            attachments=[fake.add_attachment("a.png", png())],
        )
        await fake.push_message(mention)
        [reply] = await fake.wait_for(
            lambda: [
                m
                for m in fake.messages.values()
                if m.get("_bot")
                and str((m.get("message_reference") or {}).get("message_id")) == mention["id"]
            ]
        )
        listing = await fake.push_interaction(fake.slash("jobs", {}))
        [call] = await fake.wait_for(
            lambda: fake.find_calls("POST", f"/interactions/{listing['id']}/")
        )
    assert reply["content"] == dtexts.LIMIT_IN_PUBLIC  # posted for the channel: no numbers
    data = call.json["data"]
    assert data["flags"] == 64 and "Today you have made 1 video of the 1 allowed" in data["content"]


# -- Telegram: Delete, count in /settings, album parts, privacy mode -----------------------------


async def test_telegram_delete_removes_the_videos_and_the_status(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram
) -> None:
    async with running(settings, tg) as (core, _):
        tg.photo_message(GROUP, "/video two takes --count 2", photo=_photo(tg))
        job = await final_job(core, USER)
        done = await tg.wait_for("editMessageText", where=lambda c: "done" in c["text"])
        assert f"keevx:delete:{job.id}" in _buttons(done["reply_markup"])
        kept = [(GROUP, int(i)) for i in (*job.delivered_ids, job.status_message_id or 0)]
        assert all(key in tg.messages for key in kept) and len(kept) == 3

        tg.callback_query(done.result, f"keevx:delete:{job.id}", user=tg.user(4242, "Eve"))
        refused = await tg.wait_for("answerCallbackQuery")
        assert refused["show_alert"] is True and f"job #{job.id}" in refused["text"]
        assert all(key in tg.messages for key in kept)

        video = await tg.wait_for("sendVideo")  # Delete under a video works as well
        assert f"keevx:delete:{job.id}" in _buttons(video["reply_markup"])
        tg.callback_query(video.result, f"keevx:delete:{job.id}")
        deleted = await tg.wait_for("answerCallbackQuery", 2)
    assert deleted["text"] == ttexts.DELETED
    assert not any(key in tg.messages for key in kept)
    assert len(tg.calls_of("deleteMessage")) == 3


async def test_telegram_group_admin_may_delete_a_members_video(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram
) -> None:
    admin = 5005
    tg.chat_admins[GROUP] = {admin}
    async with running(settings, tg) as (core, _):
        tg.photo_message(GROUP, "/video a member's video", photo=_photo(tg))
        await tg.wait_for("sendVideo")
        job = await final_job(core, USER)
        done = await tg.wait_for("editMessageText", where=lambda c: "done" in c["text"])
        tg.callback_query(done.result, f"keevx:delete:{job.id}", user=tg.user(admin, "Ada"))
        answer = await tg.wait_for("answerCallbackQuery")
    assert answer["text"] == ttexts.DELETED
    assert (GROUP, int(job.delivered_ids[0])) not in tg.messages


async def test_telegram_settings_offer_count(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram
) -> None:
    async with running(settings, tg) as (core, _):
        tg.message(USER, text="/settings")
        shown = await tg.wait_for("sendMessage")
        assert "Videos per request: model default" in shown["text"]
        assert "keevx:set:count:2" in _buttons(shown["reply_markup"])
        tg.callback_query(shown.result, "keevx:set:count:2")
        edited = await tg.wait_for("editMessageText")
        assert "Videos per request: 2 videos" in edited["text"]
        tg.photo_message(USER, "twice by default", photo=_photo(tg))
        await until(lambda: creates(sandbox))
        assert (await core.service.chat_defaults("telegram", str(USER))).count == 2
    (create,) = creates(sandbox)
    assert create.json["generate_count"] == 2


async def test_telegram_lone_album_part_in_a_group_is_explained(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram
) -> None:
    """With privacy mode on, a group shows the bot only the captioned photo of an album."""
    async with running(settings, tg):
        tg.photo_message(GROUP, "/video the whole set", photo=_photo(tg), media_group_id="MG-A")
        status = await tg.wait_for("sendMessage", where=to_chat(GROUP))
        tg.album(USER, 2, "the whole set, privately", photo=_photo(tg))
        private = await tg.wait_for("sendMessage", where=to_chat(USER))
        await until(lambda: len(creates(sandbox)) == 2)
    assert ttexts.ALBUM_PART_ONLY in status["text"]
    assert ttexts.ALBUM_PART_ONLY not in private["text"]  # a whole album: nothing to explain


async def test_privacy_mode_is_reported_to_the_operator(
    settings: Settings, sandbox: Sandbox, tg: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "adapters.telegram")
    async with running(settings, tg):
        pass
    assert any("privacy mode is on" in r.getMessage() for r in caplog.records)
    assert any("/setprivacy" in r.getMessage() for r in caplog.records)

    s = dataclasses.replace(settings, telegram_bot_token=TOKEN, telegram_api_url=tg.url)
    checks = {c.name: c for c in await diagnose(s)}
    assert checks["telegram"].ok and "privacy mode is on" in checks["telegram"].detail
    tg.bot_user["can_read_all_group_messages"] = True
    checks = {c.name: c for c in await diagnose(s)}
    assert "privacy" not in checks["telegram"].detail


async def test_discord_settings_are_told_in_words(dc: Bot) -> None:
    fake = dc.fake
    payload = await fake.push_interaction(
        fake.slash("settings", {"model": "KL", "aspect_ratio": "9:16", "count": 2}, user=MOD)
    )
    [call] = await fake.wait_for(lambda: fake.find_calls("POST", f"/interactions/{payload['id']}/"))
    assert call.json["data"]["content"] == (
        "This server's defaults: model KL, aspect ratio 9:16, 2 videos."
    )
