"""Discord in each person's language, end to end: real discord.py, fake Discord, Keevx sandbox.

The fake gives each user's interactions their app's ``locale`` (``fake.locales``) and the
guild a ``preferred_locale`` (``fake.guild_locale``); the assertions are on the sentences
the Discord adapter owns (its ``discord`` catalog).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.i18n import LANGUAGES
from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.job import JobStatus
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord
from tests.test_discord_adapter import (
    OVER,
    USER,
    channel_posts,
    png,
    running_bot,
    slash_video,
    webhook_posts,
)
from tests.test_discord_buttons import _submitted, answer, click, delivered

OTHER = FakeDiscord.OTHER_ID
MOD = FakeDiscord.MOD_ID
DONE = JobStatus.DELIVERED


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as running:
        yield running
        assert not running.unknown, running.unknown


async def test_a_spanish_speaker_gets_refusal_status_and_result_in_spanish(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox
) -> None:
    fake.locales[USER] = "es-ES"
    async with running_bot(settings, fake, sandbox) as bot:
        text_file = fake.add_attachment("notes.txt", b"hello", content_type="text/plain")
        refused = await fake.push_interaction(
            fake.slash("video", {"prompt": "olas"}, attachments={"image": text_file})
        )
        assert (await answer(fake, refused)).json["data"]["content"] == (
            "La imagen (notes.txt) no es una foto: adjunta una imagen JPG, PNG o WebP."
        )

        payload = await slash_video(bot)
        [job] = await delivered(bot, 1)
        assert job.status is DONE and job.language == "es", job.error
        status = fake.messages[int(job.status_message_id or 0)]
        await bot.until(lambda: "✅ listo" in status["content"])
        assert status["content"].startswith(f"**Pedido #{job.id}** · ")
        assert "· empezó <t:" in status["content"] and "· terminó <t:" in status["content"]
        [result] = webhook_posts(fake, payload["token"])
        assert result.json["content"].startswith(f"**Pedido #{job.id}** · ")
        labels = [c["label"] for row in result.json["components"] for c in row["components"]]
        assert labels[:2] == ["Otra vez", "Eliminar"]

        # Someone else in the same channel still reads English (their app's language).
        listing = await fake.push_interaction(fake.slash("jobs", {}, user=OTHER))
        content = (await answer(fake, listing)).json["data"]["content"]
        assert content.startswith("You have no jobs yet")

        # "Make a video" asks for the prompt in Spanish too.
        photos = fake.message(
            content="", author=OTHER, attachments=[fake.add_attachment("x.png", png())]
        )
        await fake.push_interaction(fake.message_command("Make a video", photos))
        [modal] = await fake.wait_for(lambda: fake.modals)
        assert modal["title"] == "Crear un vídeo"


async def test_language_command_switches_to_ukrainian_and_it_sticks(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox
) -> None:
    fake.locales[USER] = "es-ES"
    async with running_bot(settings, fake, sandbox):
        chosen = await fake.push_interaction(fake.slash("language", {"language": "uk"}))
        data = (await answer(fake, chosen)).json["data"]
        assert data["flags"] == 64
        assert data["content"] == "Тепер я відповідаю вам цією мовою: Українська."

    async with running_bot(settings, fake, sandbox) as bot:  # kept in the store
        payload = await slash_video(bot)
        [job] = await delivered(bot, 1)
        assert job.status is DONE and job.language == "uk", job.error
        [result] = webhook_posts(fake, payload["token"])
        assert result.json["content"].startswith(f"**Завдання #{job.id}** · ")
        listing = await fake.push_interaction(fake.slash("jobs", {}))
        assert "✅ готово" in (await answer(fake, listing)).json["data"]["content"]

        back = await fake.push_interaction(fake.slash("language", {"language": "-"}))
        assert (await answer(fake, back)).json["data"]["content"] == (
            "A partir de ahora te respondo en el idioma de tu app de Discord: Español."
        )
        again = await fake.push_interaction(fake.slash("jobs", {}))
        assert "✅ listo" in (await answer(fake, again)).json["data"]["content"]

        fake.locales[OTHER] = "fr"  # a language without a catalog: the operator's default
        other = await fake.push_interaction(fake.slash("language", {"language": "-"}, user=OTHER))
        assert (await answer(fake, other)).json["data"]["content"] == (
            "I do not speak your Discord app's language, so I answer you in English."
        )


async def test_synced_commands_carry_the_translations(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox
) -> None:
    async with running_bot(settings, fake, sandbox):
        commands = {c["name"]: c for c in fake.commands[FakeDiscord.GUILD_ID]}
    video = commands["video"]
    assert set(video["description_localizations"]) == {"es-ES", "es-419", "pt-BR", "ru", "uk", "id"}
    assert video["description_localizations"]["es-419"] == (
        "Convierte fotos en un vídeo con IA de Keevx"
    )
    assert not video.get("name_localizations")  # the names are syntax, the same everywhere
    options = {o["name"]: o for o in video["options"]}
    assert not options["prompt"].get("name_localizations")
    prompt = options["prompt"]["description_localizations"]["ru"]
    assert prompt.startswith("Что должно происходить в видео (до 1")
    ratios = {c["value"]: c for c in options["aspect_ratio"]["choices"]}
    assert ratios["9:16"]["name"] == "9:16 (portrait)"
    assert ratios["9:16"]["name_localizations"]["pt-BR"] == "9:16 (retrato)"
    seconds = {c["value"]: c for c in options["duration"]["choices"]}
    assert seconds[4]["name_localizations"]["uk"] == "4 с"
    assert all(not c.get("name_localizations") for c in options["model"]["choices"])  # V, KL

    language = commands["language"]["options"][0]
    names = [c["name"] for c in language["choices"]]
    assert names[:-1] == list(LANGUAGES.values())  # each by its own name
    assert {"Español", "Русский", "Українська"} <= set(names)
    assert all(not c.get("name_localizations") for c in language["choices"][:-1])
    assert language["choices"][-1]["name_localizations"]["es-ES"] == (
        "El idioma de mi app de Discord"
    )
    menu = commands["Make a video"]
    assert menu["name_localizations"]["es-ES"] == "Crear un vídeo"
    assert menu["name_localizations"]["uk"] == "Створити відео"


async def test_a_job_finished_after_a_restart_stays_in_the_language_it_was_asked_in(
    settings: Settings, fake: FakeDiscord
) -> None:
    fake.locales[USER] = "es-ES"
    async with Sandbox(SandboxConfig(delay=1.5, render_height=144)) as slow:
        slow_settings = replace(settings, keevx_base_url=slow.base_url)
        async with running_bot(slow_settings, fake, slow) as bot:
            await slash_video(bot)
            job = await bot.until(lambda: _submitted(bot))
            # The person changes their language meanwhile: the job keeps the one it was
            # asked in.
            await bot.core.service.set_language("discord", str(USER), "uk")
        async with running_bot(slow_settings, fake, slow) as bot:  # the interaction is gone
            done = await bot.status_of(job.id, *OVER)
            assert done.status is DONE and done.language == "es", done.error
            [post] = [c for c in channel_posts(fake) if c.files]
            assert post.authorized
            assert post.json["content"].startswith(f"<@{USER}> **Pedido #{job.id}** · ")
            status = fake.messages[int(job.status_message_id or 0)]
            await bot.until(lambda: "✅ listo" in status["content"])


async def test_a_moderators_cancel_shows_in_the_jobs_language(
    settings: Settings, fake: FakeDiscord
) -> None:
    fake.locales[USER] = "pt-BR"
    async with Sandbox(SandboxConfig(delay=60, render_height=144)) as slow:
        slow_settings = replace(settings, keevx_base_url=slow.base_url)
        async with running_bot(slow_settings, fake, slow) as bot:
            await slash_video(bot)
            job = await bot.until(lambda: _submitted(bot))
            status_id = job.status_message_id
            assert status_id is not None
            buttons = fake.messages[int(status_id)]["components"][0]["components"]
            assert buttons[0]["label"] == "Cancelar"
            await click(fake, f"keevx:cancel:{job.id}", status_id, MOD)  # MOD reads English
            await bot.status_of(job.id, JobStatus.CANCELLED)
            status = fake.messages[int(status_id)]
            await bot.until(lambda: "🛑 cancelado" in status["content"])


async def test_a_mention_is_answered_in_the_servers_language(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox
) -> None:
    fake.guild_locale = "pt-BR"  # a message does not say its author's app language
    async with running_bot(settings, fake, sandbox) as bot:
        hello = fake.message(content=f"<@{fake.BOT_ID}> oi", author=USER, mention_bot=True)
        await fake.push_message(hello)
        [hint] = await fake.wait_for(lambda: channel_posts(fake))
        assert hint.json["content"].startswith("Anexe uma foto (ou cole um link para uma)")

        # The server's own language from /settings comes before its locale.
        chosen = await fake.push_interaction(fake.slash("settings", {"language": "ru"}, user=MOD))
        reply = (await answer(fake, chosen)).json["data"]
        assert reply["content"] == "This server's defaults: language Русский."  # MOD's English
        assert await bot.core.service.chat_language("discord", str(fake.GUILD_ID)) == "ru"

        photo = fake.message(
            content=f"<@{fake.BOT_ID}> waves",
            author=USER,
            mention_bot=True,
            attachments=[fake.add_attachment("a.png", png())],
        )
        await fake.push_message(photo)
        [job] = await delivered(bot, 1)
        assert job.status is DONE and job.language == "ru", job.error
        [result] = [c for c in channel_posts(fake) if c.files]
        assert result.json["content"].startswith(f"<@{USER}> **Задание #{job.id}** · ")

        # Whose app speaks no language of ours gets the server's; English speakers English.
        fake.locales[OTHER] = "fr"
        french = await fake.push_interaction(fake.slash("jobs", {}, user=OTHER))
        assert (
            (await answer(fake, french))
            .json["data"]["content"]
            .startswith("У вас пока нет заданий")
        )
        english = await fake.push_interaction(fake.slash("jobs", {}, user=MOD))
        assert (await answer(fake, english)).json["data"]["content"].startswith("You have no jobs")

        cleared = await fake.push_interaction(fake.slash("settings", {"language": "-"}, user=MOD))
        assert "language" not in (await answer(fake, cleared)).json["data"]["content"]
        assert await bot.core.service.chat_language("discord", str(fake.GUILD_ID)) is None
