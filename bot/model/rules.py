"""The two models' rules, as one table: validation, the Keevx body and ``/help`` read it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from bot.i18n import _, ngettext

__all__ = [
    "DEFAULT_MODEL",
    "MAX_IMAGES",
    "MAX_PROMPT_CHARS",
    "MODEL_RULES",
    "Model",
    "ModelRules",
    "Options",
    "all_values",
    "echo",
    "hint",
    "join_or",
    "norm_resolution",
    "plural",
    "span_text",
    "strs",
    "values_for",
]

MAX_PROMPT_CHARS = 1000
MAX_ECHO_CHARS = 40  # how much of a rejected value a refusal repeats
ASPECT_RATIOS = ("16:9", "9:16")
COUNTS = (1, 2, 3, 4)


class Model(StrEnum):
    V = "V"
    KL = "KL"


@dataclass(frozen=True, kw_only=True)
class ModelRules:
    """What one Keevx model accepts. The first value of each tuple is its default."""

    model: Model
    kind: str  # a few words for /help
    max_images: int
    single_image_url: bool  # one image goes as ``image_url``, not ``reference_images``
    aspect_ratios: tuple[str, ...]
    resolutions: tuple[str, ...]
    single_durations: tuple[int, ...]  # seconds, with one image
    multi_durations: tuple[int, ...]  # seconds, with several images
    audio: bool
    counts: tuple[int, ...]
    max_prompt_chars: int

    def durations(self, image_count: int) -> tuple[int, ...]:
        """Durations allowed for this many images."""
        return self.single_durations if image_count == 1 else self.multi_durations

    @property
    def audio_values(self) -> tuple[bool, ...]:
        return (False, True) if self.audio else (False,)


MODEL_RULES: Final[Mapping[Model, ModelRules]] = MappingProxyType(
    {
        Model.V: ModelRules(
            model=Model.V,
            kind="general",
            max_images=3,
            single_image_url=True,
            aspect_ratios=ASPECT_RATIOS,
            resolutions=("720p", "1080p", "4k"),
            single_durations=(4, 6, 8),
            multi_durations=(8,),
            audio=True,
            counts=COUNTS,
            max_prompt_chars=MAX_PROMPT_CHARS,
        ),
        Model.KL: ModelRules(
            model=Model.KL,
            kind="multi-reference",
            max_images=7,
            single_image_url=False,
            aspect_ratios=ASPECT_RATIOS,
            resolutions=("720p", "1080p"),
            single_durations=(5, 10),
            multi_durations=(5, 10),
            audio=False,
            counts=COUNTS,
            max_prompt_chars=MAX_PROMPT_CHARS,
        ),
    }
)
DEFAULT_MODEL: Final = Model.V
MAX_IMAGES: Final = max(r.max_images for r in MODEL_RULES.values())


@dataclass(frozen=True)
class Options:
    """Options a user gave (or a chat's defaults); ``None`` means not given."""

    model: Model | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    duration: int | None = None
    audio: bool | None = None
    count: int | None = None

    def over(self, defaults: Options) -> Options:
        """These options, with ``defaults`` filling the ones not given."""
        return Options(
            **{k: (v if v is not None else getattr(defaults, k)) for k, v in asdict(self).items()}
        )


# --- wording -----------------------------------------------------------------


def join_or(items: Iterable[object]) -> str:
    """``a``, ``a or b``, ``a, b or c``: how allowed values read in a sentence."""
    words = [str(i) for i in items]
    if len(words) == 1:
        return words[0]
    return _("{first} or {last}").format(first=", ".join(words[:-1]), last=words[-1])


def plural(count: int, one: str, many: str) -> str:
    """``one`` or ``many`` with ``{count}`` filled in: ``1 job``, ``2 jobs``, in the
    language in use by its own plural rules (``ngettext``; the catalogs are extracted
    with ``plural`` as a keyword, so literal forms passed here are found)."""
    return ngettext(one, many, count).format(count=count)


def echo(value: object) -> str:
    """``value`` as a refusal repeats it: on one line, cut to ``MAX_ECHO_CHARS`` with ``…``.

    Refusals name what the user wrote, but a pasted essay must not make the
    sentence longer than a chat message may be (Telegram drops texts over
    4096 characters, Discord over 2000), nor spread it over many lines.
    """
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_ECHO_CHARS else text[: MAX_ECHO_CHARS - 1] + "…"


def span_text(values: tuple[int, ...]) -> str:
    """``1 to 4`` for a run of integers, else the values joined with *or*."""
    if len(values) > 2 and list(values) == list(range(values[0], values[-1] + 1)):
        return _("{low} to {high}").format(low=values[0], high=values[-1])
    return join_or(values)


def all_values(attr: str) -> tuple[Any, ...]:
    """Every value of a rules tuple across the models, in table order, once each."""
    seen: dict[Any, None] = {}
    for rules in MODEL_RULES.values():
        seen.update(dict.fromkeys(getattr(rules, attr)))
    return tuple(seen)


def strs(values: Iterable[object]) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


def values_for(field_name: str) -> tuple[Any, ...]:
    """The values some model accepts for an :class:`Options` field."""
    if field_name == "model":
        return tuple(MODEL_RULES)
    if field_name == "duration":
        return tuple(sorted({*all_values("single_durations"), *all_values("multi_durations")}))
    return all_values(
        {"aspect_ratio": "aspect_ratios", "resolution": "resolutions"}.get(field_name, "counts")
    )


def hint(field_name: str) -> str:
    """What to write for a field, model by model where the models differ."""
    if field_name == "duration":
        return "; ".join(
            f"{join_or(r.single_durations)} with model {m}" for m, r in MODEL_RULES.items()
        )
    values = values_for(field_name)
    return span_text(values) if field_name == "count" else join_or(values)


def norm_resolution(raw: str) -> str:
    """``4K`` → ``4k``, ``1080`` → ``1080p``."""
    value = raw.strip().lower()
    return value + "p" if value.isdigit() else value
