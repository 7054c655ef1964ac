"""What the commands' options say: their choices and descriptions, written from
:data:`bot.model.rules.MODEL_RULES`, in the language in use.

Each description and each choice name made of words or units is marked with
:func:`~adapters.discord.translator.said`, so the translator makes it again in each
language at sync; values that read the same everywhere (``KL``, ``1080p``) are not.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from discord import app_commands

from adapters.discord.translator import CHOICE_LIMIT, said
from bot.i18n import LANGUAGES, N_, _, number
from bot.model.request import MAX_PROMPT_CHARS, MODEL_RULES, ModelRules
from bot.model.rules import MAX_IMAGES, join_or, values_for

__all__ = [
    "COUNT_MAX",
    "COUNT_MIN",
    "NO_LANGUAGE",
    "choices",
    "descriptions",
    "language_choices",
    "model_help",
    "seconds",
]

COUNT_MIN, COUNT_MAX = min(values_for("count")), max(values_for("count"))
NO_LANGUAGE = "-"  # the choice that forgets a language (a person's, or the server's)

_ORIENTATIONS = {
    "landscape": N_("{ratio} (landscape)"),
    "portrait": N_("{ratio} (portrait)"),
    "square": N_("{ratio} (square)"),
}


def _orientation(ratio: str) -> str:
    width, height = (int(n) for n in ratio.split(":"))
    shape = "landscape" if width > height else "portrait" if width < height else "square"
    return _(_ORIENTATIONS[shape]).format(ratio=ratio)


def choices() -> dict[str, list[app_commands.Choice[Any]]]:
    """The options with a fixed set of values, as the rules table lists them, each
    named in the reader's language where words or units name it.

    A fresh list per command: discord.py keeps the list it is given.
    """
    return {
        "model": [app_commands.Choice(name=str(m), value=str(m)) for m in MODEL_RULES],
        "aspect_ratio": [
            app_commands.Choice(name=said(partial(_orientation, a), limit=CHOICE_LIMIT), value=a)
            for a in values_for("aspect_ratio")
        ],
        "resolution": [app_commands.Choice(name=str(r), value=r) for r in values_for("resolution")],
        "duration": [
            app_commands.Choice(name=said(partial(seconds, d), limit=CHOICE_LIMIT), value=d)
            for d in values_for("duration")
        ],
    }


def language_choices(forget: str) -> list[app_commands.Choice[str]]:
    """Each language by its own name (as the one looking for theirs reads it), then
    ``forget`` (a message, said in the reader's language)."""
    own = [app_commands.Choice(name=name, value=code) for code, name in LANGUAGES.items()]
    return [*own, app_commands.Choice(name=said(lambda: _(forget)), value=NO_LANGUAGE)]


def seconds(value: object) -> str:
    """``6 s``: a video's duration as the help and the option lists write it."""
    return _("{seconds} s").format(seconds=value)


def _durations(rules: ModelRules) -> str:
    single = "/".join(str(d) for d in rules.single_durations)
    multi = "/".join(str(d) for d in rules.multi_durations)
    if single == multi:
        return seconds(single)
    return _("{seconds} s ({several} s with several images)").format(seconds=single, several=multi)


def model_help(rules: ModelRules) -> str:
    """``V: 1-3 images, 4/6/8 s, ≤4k, audio``: a model's limits in a line."""
    if rules.audio:
        line = _("{model}: 1-{images} images, {durations}, ≤{resolution}, audio")
    else:
        line = _("{model}: 1-{images} images, {durations}, ≤{resolution}")
    return line.format(
        model=rules.model,
        images=rules.max_images,
        durations=_durations(rules),
        resolution=rules.resolutions[-1],
    )


def _image_limits() -> str:
    return ", ".join(
        _("{model} takes up to {count}").format(model=r.model, count=r.max_images)
        for r in MODEL_RULES.values()
    )


def _audio(rules: ModelRules) -> str:
    if rules.audio:
        return _("{model}: with sound").format(model=rules.model)
    return _("{model}: silent only").format(model=rules.model)


def descriptions() -> dict[str, app_commands.locale_str]:
    """The options' descriptions, for /video and /settings."""
    another = said(lambda: _("Another photo ({limits})").format(limits=_image_limits()))
    return {
        "prompt": said(
            lambda: _(
                "What should happen in the video (at most {chars} characters);"
                " links to images work as photos"
            ).format(chars=number(MAX_PROMPT_CHARS))
        ),
        "image": said(
            lambda: _(
                "The photo to animate (JPG, PNG or WebP, up to 20 MB), or its link in the prompt"
            )
        ),
        "model": said(lambda: " · ".join(model_help(r) for r in MODEL_RULES.values())),
        "aspect_ratio": said(lambda: join_or(_orientation(a) for a in values_for("aspect_ratio"))),
        "resolution": said(
            lambda: " · ".join(
                f"{r.model}: {', '.join(r.resolutions)}" for r in MODEL_RULES.values()
            )
        ),
        "duration": said(
            lambda: " · ".join(f"{r.model}: {_durations(r)}" for r in MODEL_RULES.values())
        ),
        "audio": said(lambda: " · ".join(_audio(r) for r in MODEL_RULES.values())),
        "count": said(
            lambda: _("How many videos to make from this request ({low}-{high})").format(
                low=COUNT_MIN, high=COUNT_MAX
            )
        ),
        **{f"image{n}": another for n in range(2, MAX_IMAGES + 1)},
    }
