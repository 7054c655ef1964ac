"""The core speaks the asker's language: refusals, help, plural forms and a job's endings.

The catalogs' completeness is tests/test_catalogs.py's; here the sentences are said
where the core says them (parsing, validation, the image checks in their thread pool,
the pipeline), in the language in use there, and English stays the default.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.app.runtime import Core
from bot.errors import ApiUnavailable, RequestInvalid
from bot.i18n import _, speaking
from bot.jobs.pipeline import TOOK_TOO_LONG, explain
from bot.keevx.sandbox import Sandbox
from bot.model.help import HELP
from bot.model.job import JobStatus, Target
from bot.model.request import Options, build_request, parse_command
from bot.model.status import shortfall, status_view
from bot.settings import Settings
from tests.support import RecordingAdapter, submit


def refusal(text: str, images: int = 1) -> RequestInvalid:
    """The refusal ``/video <text>`` with ``images`` photos gets."""
    with pytest.raises(RequestInvalid) as info:
        command = parse_command(text)
        build_request(command.prompt, command.options, images)
    return info.value


def test_a_refusal_is_said_in_russian_with_the_allowed_values() -> None:
    with speaking("ru"):
        wrong_ratio = refusal("/video волны --ar 4:3")
        too_many = refusal("/video волны", images=9)
        too_long = refusal("/video " + "x" * 1001)
    assert str(wrong_ratio) == "Значение --ar 4:3 недоступно: используйте 16:9 или 9:16."
    assert wrong_ratio.field == "aspect_ratio" and wrong_ratio.allowed == ("16:9", "9:16")
    assert str(too_many) == "Вы отправили 9 изображений, а я могу использовать не больше 7."
    assert str(too_long) == "Описание длиной 1001 символ, а лимит — 1000."  # 1001: "one"


def test_the_help_is_spanish_under_spanish() -> None:
    with speaking("es"):
        intro, models, defaults, tips = HELP.intro, HELP.models, HELP.defaults, HELP.tips
    assert intro == "Convierto tus fotos en vídeos cortos con IA gracias a Keevx."
    assert models[0].startswith("• Modelo V (general): de 1 a 3 fotos; 16:9 o 9:16;")
    assert models[1].startswith("• Modelo KL (varias referencias): de 1 a 7 fotos;")
    assert "descripción de hasta 1.000 caracteres" in models[0]
    assert defaults.startswith("Valores predeterminados: modelo V (modelo KL si envías de 4 a 7")
    assert tips[0].startswith("• Nombra el sujeto y la escena")
    assert HELP.intro == "I turn your photos into short AI videos with Keevx."  # read again


@pytest.mark.parametrize(
    ("language", "forms"),
    [
        ("ru", {1: "1 изображение", 2: "2 изображения", 5: "5 изображений", 21: "21 изображение"}),
        ("uk", {1: "1 зображення", 2: "2 зображення", 5: "5 зображень", 11: "11 зображень"}),
        ("id", {1: "1 gambar", 2: "2 gambar", 5: "5 gambar"}),  # one form for every number
        ("en", {1: "1 image", 2: "2 images", 5: "5 images"}),
    ],
)
def test_plural_forms_follow_the_languages_rules(language: str, forms: dict[int, str]) -> None:
    request = build_request("x", Options(), 1)
    with speaking(language):
        said = {n: request.evolve(image_count=n).summary().split(" · ")[0] for n in forms}
    assert said == forms


def test_how_many_videos_arrived_in_russian_and_ukrainian() -> None:
    with speaking("ru"):
        assert shortfall(1, 2, "причина") == "Пришло видео: 1 из 2. Ещё 1 видео не пришло: причина."
        assert (
            shortfall(2, 4, "причина.") == "Пришло видео: 2 из 4. Ещё 2 видео не пришли: причина."
        )
    with speaking("uk"):
        assert shortfall(4, 5, "x") == "Надійшло відео: 4 з 5. Ще 1 відео не надійшло: x."
        assert shortfall(1, 4, "x") == "Надійшло відео: 1 з 4. Ще 3 відео не надійшли: x."
    assert shortfall(1, 4, "x") == "1 of 4 videos arrived. The other 3 did not: x."


def test_english_is_the_default() -> None:
    assert str(refusal("/video waves --ar 4:3")) == "--ar 4:3 is not available: use 16:9 or 9:16."
    assert explain(ApiUnavailable("down")) == (
        "Keevx could not be reached, so I stopped trying. Please try again later."
    )
    with speaking("de"):  # not one of ours: English
        assert str(refusal("/video waves", images=0)).startswith("Please send a photo")


async def test_an_image_checked_in_the_thread_pool_is_refused_in_the_askers_language(
    settings: Settings, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    async with Core(settings) as core:
        with speaking("uk"), pytest.raises(RequestInvalid) as info:
            await core.service.submit(
                target=Target(platform="test", chat_id="c", user_id="u"),
                request=build_request("хвилі", Options(), 1),
                images=[empty],
            )
    assert str(info.value) == "Фото — порожній файл."


async def test_a_failed_job_says_why_in_its_own_language(
    settings: Settings, tmp_path: Path
) -> None:
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        await core.attach(adapter)
        with speaking("pt_BR"):
            asked = await submit(core.service, tmp_path, "ondas ao pôr do sol #fail")
        plain = await submit(core.service, tmp_path, "waves at sunset #fail", user="user-2")
        for job in (asked, plain):
            await adapter.wait(job.id)
        portuguese, english = await core.service.get(asked.id), await core.service.get(plain.id)
    assert portuguese is not None and english is not None
    assert portuguese.language == "pt_BR" and portuguese.status is JobStatus.FAILED
    # Keevx's own words stay as Keevx wrote them, inside the bot's sentence.
    assert portuguese.error == (
        "O Keevx não conseguiu fazer este vídeo (Content moderation rejected the image)."
    )
    assert (
        english.error == "Keevx could not make this video (Content moderation rejected the image)."
    )
    with speaking(portuguese.language):
        assert status_view(portuguese).reason == portuguese.error


async def test_a_job_given_up_in_russian_still_ends_expired(
    settings: Settings, sandbox: Sandbox, tmp_path: Path
) -> None:
    """The tasks given up at POLL_TIMEOUT are known by id, not by their sentence's words."""
    sandbox.config = dataclasses.replace(sandbox.config, delay=60)
    adapter = RecordingAdapter()
    async with Core(dataclasses.replace(settings, poll_timeout=0.3)) as core:
        await core.attach(adapter)
        with speaking("ru"):
            job = await submit(core.service, tmp_path, "волны на закате")
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
    assert final is not None and final.status is JobStatus.EXPIRED
    with speaking("ru"):
        assert final.error == _(TOOK_TOO_LONG)
    assert final.error == "Keevx не успел сделать видео вовремя, поэтому я перестал его ждать."
