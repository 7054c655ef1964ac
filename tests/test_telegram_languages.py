"""Telegram in the user's language (issue 14), through the real adapter and the fake Bot API.

- a Russian-speaking user (``language_code`` "ru") is refused, kept posted and given the
  video in Russian; the job remembers Russian, so a restart mid-job changes nothing;
- /language stores a person's own choice (Spanish here), which outlives a restart, and
  "the language of my Telegram app" forgets it again;
- /settings gives a group a language for those whose own the bot does not speak;
- the command list is set once per language, its descriptions translated.

The expected sentences are written out in each language, so a missing translation fails.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.telegram import TelegramAdapter
from bot.app.runtime import Core
from bot.i18n import LANGUAGES
from bot.keevx.sandbox import Sandbox
from bot.model.job import Job, JobStatus
from bot.settings import Settings
from tests.fakes.telegram import Call, FakeTelegram
from tests.test_telegram_adapter import (
    GROUP,
    PHOTO,
    TOKEN,
    USER,
    final_job,
    jobs_of,
    running,
    tg_settings,
    to_chat,
    until,
)

IVAN = 5005  # speaks Russian: his Telegram app says "ru"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN) as server:
        yield server


def _photo(server: FakeTelegram) -> Any:
    return server.add_file(PHOTO)


def _labels(call: Call) -> list[str]:
    markup = call.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def _buttons(call: Call) -> dict[str, str]:
    markup = call.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def test_a_russian_speaker_is_refused_kept_posted_and_served_in_russian(
    settings: Settings, sandbox: Sandbox, fake: FakeTelegram
) -> None:
    ivan = fake.user(IVAN, "Иван", "ivan", language_code="ru")
    async with running(settings, fake) as (core, _):
        too_big = fake.add_file(PHOTO, size=25_000_000)
        fake.photo_message(IVAN, "волны", photo=too_big, user=ivan)
        refused = await fake.wait_for("sendMessage", where=to_chat(IVAN))
        fake.photo_message(IVAN, "волны на закате --count 2", photo=_photo(fake), user=ivan)
        await fake.wait_for("sendVideo", 2, where=to_chat(IVAN))
        job = await final_job(core, IVAN)
        fake.message(IVAN, text="/jobs", user=ivan)
        listing = await fake.wait_for("sendMessage", 3, where=to_chat(IVAN))
    assert refused["text"].startswith("Это изображение больше 20 МБ")
    assert job.status is JobStatus.DELIVERED and job.language == "ru"
    status = fake.calls_of("sendMessage")[1]
    assert "— в очереди" in status["text"] and f"задание #{job.id}" in status["text"]
    assert _labels(status) == ["Отменить"]
    last = fake.calls_of("editMessageText")[-1]
    assert "— готово за " in last["text"] and " с\n" in last["text"]  # "готово за 3 с"
    assert "Удалить" in _labels(last)
    captions = sorted(c["caption"] for c in fake.calls_of("sendVideo"))
    assert [c.split(" · ")[-1] for c in captions] == ["видео 1/2", "видео 2/2"]
    assert f"#{job.id} · <b>готово за " in listing["text"]
    assert not [t for t in fake.sent_texts(IVAN) if "queued" in t or "done in" in t]


async def test_language_switches_a_person_to_spanish_and_it_sticks(
    settings: Settings, sandbox: Sandbox, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "adapters.telegram")
    ann = fake.user(language_code="en")
    async with running(settings, fake) as (core, _):
        fake.message(USER, text="/language", user=ann)
        menu = await fake.wait_for("sendMessage", where=to_chat(USER))
        buttons = _buttons(menu)
        assert menu["text"] == "Which language should I speak to you in? Now: English."
        assert set(buttons) == {
            "• English",
            "Español",
            "Português (Brasil)",
            "Русский",
            "Українська",
            "Indonesia",
            "The language of my Telegram app",
        }
        fake.callback_query(menu.result, buttons["Español"], user=ann)
        chosen = await fake.wait_for("answerCallbackQuery")
        edited = await fake.wait_for("editMessageText")
        fake.callback_query(menu.result, buttons["Español"], user=ann)  # the same, once more
        again = await fake.wait_for("answerCallbackQuery", 2)
        fake.message(USER, text="/jobs", user=ann)
        empty = await fake.wait_for("sendMessage", 2, where=to_chat(USER))
        fake.photo_message(USER, "olas al atardecer", photo=_photo(fake), user=ann)
        await fake.wait_for("sendVideo")
        job = await final_job(core)
    assert chosen["text"] == "Listo: a partir de ahora te hablo en este idioma (Español)."
    assert edited["text"] == chosen["text"] == again["text"] and "• Español" in _buttons(edited)
    assert "failed" not in caplog.text  # the unchanged menu is no error
    assert (
        empty["text"] == "Todavía no hay vídeos. Envía una foto con un pie de foto para crear uno."
    )
    assert job.language == "es"
    assert "— hecho en " in fake.calls_of("editMessageText")[-1]["text"]
    # Stored: the next start still speaks Spanish to her, though her app says English.
    async with running(settings, fake) as (core, _):
        fake.message(USER, text="/help", user=ann)
        shown = await fake.wait_for("sendMessage", where=lambda c: "/language" in c["text"])
        assert "/jobs — tus vídeos recientes y tus límites" in shown["text"]
        fake.message(USER, text="/language", user=ann)
        menu = await fake.wait_for("sendMessage", where=lambda c: "¿En qué idioma" in c["text"])
        fake.callback_query(menu.result, "keevx:lang:app", user=ann)
        back = await fake.wait_for("answerCallbackQuery", 3)
    assert back["text"] == (
        "From now on I speak to you in your Telegram app's language when I know it: now English."
    )


async def test_a_groups_language_is_for_those_whose_own_the_bot_does_not_speak(
    settings: Settings, sandbox: Sandbox, fake: FakeTelegram
) -> None:
    admin = fake.user(USER, language_code="en")
    klaus = fake.user(6006, "Klaus", "klaus", language_code="de")  # no German catalog
    olena = fake.user(7007, "Олена", "olena", language_code="uk")
    fake.chat_admins[GROUP] = {USER}
    async with running(settings, fake) as (core, _):
        fake.message(GROUP, text="/settings@keevx_test_bot", user=admin)
        shown = await fake.wait_for("sendMessage")
        assert "• Language: each person's own" in shown["text"]
        fake.callback_query(shown.result, _buttons(shown)["Українська"], user=klaus)
        refused = await fake.wait_for("answerCallbackQuery")  # Klaus is no admin
        fake.callback_query(shown.result, "keevx:set:language:uk", user=admin)
        saved = await fake.wait_for("answerCallbackQuery", 2)
        edited = await fake.wait_for("editMessageText")
        fake.message(GROUP, text="/video@keevx_test_bot", user=klaus)
        to_klaus = await fake.wait_for("sendMessage", 2, where=to_chat(GROUP))
        fake.message(GROUP, text="/video@keevx_test_bot", user=admin)
        to_admin = await fake.wait_for("sendMessage", 3, where=to_chat(GROUP))
        fake.message(GROUP, text="/video@keevx_test_bot", user=olena)
        to_olena = await fake.wait_for("sendMessage", 4, where=to_chat(GROUP))
        assert await core.service.chat_language("telegram", str(GROUP)) == "uk"
    assert refused["text"] == "Only group admins can change the defaults."
    assert saved["text"] == "Saved. New requests in this chat use it."
    assert "• Language: Українська" in edited["text"] and "• Українська" in _buttons(edited)
    assert to_klaus["text"].startswith("Надішліть мені фото з підписом")
    assert to_admin["text"].startswith("Send me a photo with a caption")
    assert to_olena["text"] == to_klaus["text"]


async def test_the_command_list_is_set_in_every_language(
    settings: Settings, sandbox: Sandbox, fake: FakeTelegram
) -> None:
    async with running(settings, fake):
        pass
    names = [c["command"] for c in fake.commands]
    assert names == ["video", "settings", "jobs", "cancel", "language", "help"]
    assert set(fake.commands_by_language) == {"es", "pt", "ru", "uk", "id"}  # two letters
    assert len(fake.commands_by_language) == len(LANGUAGES) - 1
    for listed in fake.commands_by_language.values():
        assert [c["command"] for c in listed] == names
    described = {
        code: listed[-1]["description"] for code, listed in fake.commands_by_language.items()
    }
    assert fake.commands[-1]["description"] == "What I do, the options and an example"
    assert described == {
        "es": "Qué hago, las opciones y un ejemplo",
        "pt": "O que eu faço, as opções e um exemplo",
        "ru": "Что я умею, параметры и пример",
        "uk": "Що я вмію, параметри та приклад",
        "id": "Apa yang saya lakukan, opsi, dan contoh",
    }


async def test_a_job_delivered_after_a_restart_keeps_its_language(
    settings: Settings, sandbox: Sandbox, fake: FakeTelegram
) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, delay=2.0)
    ivan = fake.user(IVAN, "Иван", "ivan", language_code="ru")
    s = tg_settings(settings, fake)
    async with Core(s, stop_grace=0) as core:
        adapter = TelegramAdapter(s, core.service, shared=core.shared, updates_timeout=5)
        await adapter.start()
        await core.attach(adapter)
        try:
            fake.photo_message(IVAN, "снег идёт --count 2", photo=_photo(fake), user=ivan)

            async def submitted() -> Job | None:
                jobs = await jobs_of(core, IVAN)
                return jobs[0] if jobs and jobs[0].status is JobStatus.SUBMITTED else None

            asked: Job = await until(submitted)
        finally:
            await core.poller.stop(0)  # the process stops while Keevx renders
            await adapter.stop()
    assert not fake.calls_of("sendVideo")
    # Started again, answering an English speaker first: the job still speaks Russian.
    async with running(settings, fake) as (core, _):
        fake.message(USER, text="/jobs", user=fake.user(language_code="en"))
        english = await fake.wait_for("sendMessage", where=to_chat(USER))
        await fake.wait_for("sendVideo", 2, where=to_chat(IVAN))
        job = await final_job(core, IVAN)
    assert english["text"].startswith("No videos yet.")
    assert job.id == asked.id and job.status is JobStatus.DELIVERED and job.language == "ru"
    captions = sorted(c["caption"] for c in fake.calls_of("sendVideo"))
    assert [c.split(" · ")[-1] for c in captions] == ["видео 1/2", "видео 2/2"]
    last = fake.calls_of("editMessageText")[-1]
    assert last["chat_id"] == IVAN and "— готово за " in last["text"]
    assert "Удалить" in _labels(last)
