"""Which language a person gets, and that a language stays with its task and its job."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app.runtime import Core
from bot.errors import ConfigError
from bot.i18n import LANGUAGES, choose, current, date_time, duration, language_of, speaking
from bot.settings import Settings
from tests.support import submit


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("ru", "ru"),
        ("uk", "uk"),
        ("es-ES", "es"),
        ("es-419", "es"),
        ("pt-BR", "pt_BR"),
        ("pt-br", "pt_BR"),
        ("pt", "pt_BR"),  # Portuguese is Brazil's here
        ("id", "id"),
        ("in", "id"),  # Java's old code for Indonesian, still sent by some clients
        ("en-GB", "en"),
        ("de", None),
        ("", None),
        (None, None),
    ],
)
def test_platform_codes_map_to_a_supported_language(code: str | None, language: str | None) -> None:
    assert language_of(code) == language


def test_the_first_known_language_wins_else_english() -> None:
    assert choose(None, "de", "ru", "es") == "ru"
    assert choose("fr", None) == "en"
    assert set(LANGUAGES) == {"en", "es", "pt_BR", "ru", "uk", "id"}
    assert LANGUAGES["ru"] == "Русский" and LANGUAGES["es"] == "Español"


async def test_each_task_keeps_its_own_language() -> None:
    async def speak(language: str) -> str:
        with speaking(language):
            await asyncio.sleep(0.01)  # the other task runs meanwhile
            return current()

    assert list(await asyncio.gather(speak("ru"), speak("es"), speak("uk"))) == ["ru", "es", "uk"]
    assert current() == "en"


def test_durations_and_dates_are_written_as_the_language_writes_them() -> None:
    with speaking("ru"):
        assert duration(65) == "1 мин 5 с"
    with speaking("en"):
        assert (duration(5), duration(65), duration(3720)) == ("5 sec", "1 min 5 sec", "1 hr 2 min")
    with speaking("es"):
        assert "dic" in date_time(datetime(2026, 12, 7, 13, 30, tzinfo=UTC))


def test_an_unknown_default_language_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="DEFAULT_LANGUAGE must be one of en, es"):
        Settings.from_env({"DEFAULT_LANGUAGE": "klingon"})
    assert Settings.from_env({"DEFAULT_LANGUAGE": "pt-BR"}).default_language == "pt_BR"


async def test_a_persons_choice_beats_their_app_which_beats_the_chat_and_the_operator(
    settings: Settings,
) -> None:
    async with Core(dataclasses.replace(settings, default_language="uk")) as core:
        service = core.service
        assert await service.language_for("telegram", "7") == "uk"  # the operator's
        await service.set_chat_language("telegram", "-100", "es")
        assert await service.language_for("telegram", "7", chat_id="-100") == "es"
        assert await service.language_for("telegram", "7", spoken="ru", chat_id="-100") == "ru"
        await service.set_language("telegram", "7", "pt-BR")
        assert await service.language_for("telegram", "7", spoken="ru") == "pt_BR"
        assert await service.language_for("discord", "7", spoken="ru") == "ru"  # per platform
        await service.set_language("telegram", "7", None)  # back to the app's
        assert await service.language_for("telegram", "7", spoken="ru") == "ru"


async def test_a_chats_language_survives_a_change_of_its_video_defaults(
    settings: Settings,
) -> None:
    async with Core(settings) as core:
        service = core.service
        await service.set_chat_language("discord", "g1", "id")
        options = await service.chat_defaults("discord", "g1")
        await service.set_chat_defaults("discord", "g1", dataclasses.replace(options, count=2))
        assert await service.chat_language("discord", "g1") == "id"
        assert (await service.chat_defaults("discord", "g1")).count == 2


async def test_a_job_remembers_the_language_it_was_asked_in(
    settings: Settings, tmp_path: Path
) -> None:
    async with Core(settings) as core:
        with speaking("ru"):
            job = await submit(core.service, tmp_path)
        stored = await core.service.get(job.id)
    assert stored is not None and stored.language == "ru"
