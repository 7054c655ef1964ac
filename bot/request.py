"""What a user asks for, and the one place that knows the models' rules.

Adapters call :func:`parse_command` on chat text, then :func:`build_request`
with the number of images; both raise :class:`~bot.errors.RequestInvalid`
whose message is the friendly sentence to send back. Every limit lives in
:data:`MODEL_RULES`; validation, the Keevx body and ``/help`` read it from there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from bot.errors import RequestInvalid

__all__ = [
    "DEFAULT_MODEL",
    "MAX_PROMPT_CHARS",
    "MODEL_RULES",
    "Command",
    "Model",
    "ModelRules",
    "Options",
    "VideoRequest",
    "build_request",
    "parse_command",
]

MAX_PROMPT_CHARS = 1000
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


@dataclass(frozen=True)
class Command:
    """Chat text split into the prompt and the options found anywhere in it."""

    prompt: str
    options: Options = field(default_factory=Options)


@dataclass(frozen=True, kw_only=True)
class VideoRequest:
    """A validated request: every value is allowed for its model."""

    prompt: str
    model: Model
    aspect_ratio: str
    resolution: str
    duration: int
    audio: bool
    count: int
    image_count: int
    notes: tuple[str, ...] = ()

    def keevx_body(self, image_urls: list[str], callback_url: str | None = None) -> dict[str, Any]:
        """The JSON body of Keevx's create-task request for these uploaded images."""
        rules = MODEL_RULES[self.model]
        body: dict[str, Any] = {
            "model": self.model.value,
            "prompt": self.prompt,
            "aspect_ratio": self.aspect_ratio,
            "aspect_resolution": self.resolution,
            "duration": self.duration,
            "generate_count": self.count,
        }
        if rules.single_image_url and len(image_urls) == 1:
            body["image_url"] = image_urls[0]
        else:
            body["reference_images"] = list(image_urls)
        if rules.audio:  # Keevx rejects generate_audio for models without audio
            body["generate_audio"] = self.audio
        if callback_url:
            body["callback_url"] = callback_url
        return body

    def summary(self) -> str:
        """One line of parameters, e.g. ``1 image · model V · 16:9 · 720p · 4 s``."""
        images = f"{self.image_count} image" + ("s" if self.image_count != 1 else "")
        parts = [images, f"model {self.model}", self.aspect_ratio, self.resolution]
        parts.append(f"{self.duration} s")
        if self.audio:
            parts.append("audio")
        if self.count > 1:
            parts.append(f"×{self.count}")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["model"] = self.model.value
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoRequest:
        return cls(**{**data, "model": Model(data["model"]), "notes": tuple(data.get("notes", ()))})

    def evolve(self, **changes: Any) -> VideoRequest:
        return replace(self, **changes)


# --- wording -----------------------------------------------------------------


def join_or(items: Iterable[object]) -> str:
    """``a``, ``a or b``, ``a, b or c``: how allowed values read in a sentence."""
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def span_text(values: tuple[int, ...]) -> str:
    """``1 to 4`` for a run of integers, else the values joined with *or*."""
    if len(values) > 2 and list(values) == list(range(values[0], values[-1] + 1)):
        return f"{values[0]} to {values[-1]}"
    return join_or(values)


def all_values(attr: str) -> tuple[Any, ...]:
    """Every value of a rules tuple across the models, in table order, once each."""
    seen: dict[Any, None] = {}
    for rules in MODEL_RULES.values():
        seen.update(dict.fromkeys(getattr(rules, attr)))
    return tuple(seen)


def _strs(values: Iterable[object]) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


def _everywhere(field_name: str) -> tuple[Any, ...]:
    """The values some model accepts for an :class:`Options` field."""
    if field_name == "model":
        return tuple(MODEL_RULES)
    if field_name == "duration":
        return tuple(sorted({*all_values("single_durations"), *all_values("multi_durations")}))
    return all_values(
        {"aspect_ratio": "aspect_ratios", "resolution": "resolutions"}.get(field_name, "counts")
    )


def _hint(field_name: str) -> str:
    """What to write for a field, model by model where the models differ."""
    if field_name == "duration":
        return "; ".join(
            f"{join_or(r.single_durations)} with model {m}" for m, r in MODEL_RULES.items()
        )
    values = _everywhere(field_name)
    return span_text(values) if field_name == "count" else join_or(values)


# --- parsing -----------------------------------------------------------------

# option name -> (Options field, the value a flag sets; None when a value follows)
_OPTIONS: Final[Mapping[str, tuple[str, bool | None]]] = MappingProxyType(
    {
        "model": ("model", None),
        "ar": ("aspect_ratio", None),
        "aspect": ("aspect_ratio", None),
        "aspect-ratio": ("aspect_ratio", None),
        "res": ("resolution", None),
        "resolution": ("resolution", None),
        "duration": ("duration", None),
        "audio": ("audio", True),
        "no-audio": ("audio", False),
        "count": ("count", None),
    }
)
_MAIN_NAMES: Final = ("model", "ar", "res", "duration", "audio", "no-audio", "count")
_COMMAND = re.compile(r"\A\s*/video(?:@\w+)?(?=\s|\Z)", re.IGNORECASE)
# "--", or the em/en dash a phone's autocorrect makes of it, then a letter.
_OPTION = re.compile(r"(?P<dash>--|[—–]{1,2})(?P<name>[A-Za-z][^=\s]*)(?:=(?P<value>.*))?\Z", re.S)
_OPEN_QUOTES: Final = '"“”„'
_CLOSE_QUOTES: Final = '"“”'


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    """Spans from a quote to its closing quote; an unpaired quote (12" vinyl) is literal."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        if text[i] in _OPEN_QUOTES:
            end = next((j for j in range(i + 1, len(text)) if text[j] in _CLOSE_QUOTES), -1)
            if end > 0:
                spans.append((i, end + 1))
                i = end + 1
                continue
        i += 1
    return spans


def _norm_resolution(raw: str) -> str:
    value = raw.strip().lower()
    return value + "p" if value.isdigit() else value


def _read(field_name: str, raw: str) -> Any:
    """``raw`` as the field's type (``4K`` → ``4k``, ``6s`` → 6), or None if it can't be."""
    if field_name == "model":
        return next((m for m in MODEL_RULES if m.upper() == raw.upper()), None)
    if field_name == "resolution":
        return _norm_resolution(raw)
    if field_name in ("duration", "count"):
        digits = raw[:-1] if field_name == "duration" and raw[-1] in "sS" else raw
        try:
            return int(digits)
        except ValueError:
            return None
    return raw


def _value(name: str, field_name: str, raw: str) -> Any:
    """The value of ``--name raw``; RequestInvalid if no model could take it.

    Durations are only checked for being numbers: which fit depends on the
    model and the image count, so :func:`build_request` words that refusal.
    """
    value = _read(field_name, raw)
    if value is None and field_name in ("duration", "count"):
        problem = "is not a number"
    elif field_name != "duration" and value not in _everywhere(field_name):
        problem = "is out of range" if field_name == "count" else "is not available"
    else:
        return value
    msg = f"--{name} {raw} {problem}: use {_hint(field_name)}."
    raise RequestInvalid(msg, field=field_name, value=raw, allowed=_strs(_everywhere(field_name)))


def parse_command(text: str) -> Command:
    """Split ``/video <prompt> [--option value …]`` (the command word is optional).

    Options may stand anywhere, written ``--opt value`` or ``--opt=value``, with
    ``—``/``–`` accepted for ``--`` (phones autocorrect it); a dash-written
    name that is not an option stays prose. Words in double quotes are always
    prompt. The rest is the prompt, character for character: only the
    whitespace where options stood is collapsed. Values are checked against
    every model here, against the chosen one in :func:`build_request`; an
    empty prompt is allowed here, refused there.
    Raises :class:`RequestInvalid` for an unknown, repeated or valueless option
    or a value no model accepts.
    """
    text = _COMMAND.sub("", text, count=1)
    quoted = _quoted_spans(text)
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]

    def option_at(k: int) -> re.Match[str] | None:
        """The option token ``k`` holds, if any; None for prose."""
        start, end = tokens[k]
        if any(a <= start < b for a, b in quoted):
            return None
        match = _OPTION.match(text, start, end)
        if match is None:
            return None
        known = match["name"].lower().replace("_", "-") in _OPTIONS
        return match if known or match["dash"] == "--" else None

    values: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    removed: set[int] = set()
    k = 0
    while k < len(tokens):
        match = option_at(k)
        if match is None:
            k += 1
            continue
        name = match["name"].lower().replace("_", "-")
        if name not in _OPTIONS:
            main = [f"--{n}" for n in _MAIN_NAMES]
            msg = f"Unknown option --{match['name']}: use {join_or(main)}."
            raise RequestInvalid(
                msg, field="option", value=f"--{match['name']}", allowed=tuple(main)
            )
        field_name, flag = _OPTIONS[name]
        if field_name in spelled:
            first = spelled[field_name]
            msg = (
                f"--{name} is given twice: keep only one."
                if first == name
                else f"--{first} and --{name} cannot be used together: keep only one."
            )
            raise RequestInvalid(msg, field=field_name, value=f"--{name}")
        spelled[field_name] = name
        removed.add(k)
        raw = match["value"]
        if flag is not None:
            if raw is not None:
                msg = f"--{name} takes no value: write --audio or --no-audio."
                raise RequestInvalid(
                    msg, field=field_name, value=raw, allowed=("--audio", "--no-audio")
                )
            values[field_name] = flag
        else:
            if raw is None and k + 1 < len(tokens):
                start, end = tokens[k + 1]
                if option_at(k + 1) is None and not any(a <= start < b for a, b in quoted):
                    raw = text[start:end]
                    removed.add(k + 1)
                    k += 1
            if not raw:
                msg = f"--{name} needs a value: {_hint(field_name)}."
                allowed = _strs(_everywhere(field_name))
                raise RequestInvalid(msg, field=field_name, allowed=allowed)
            values[field_name] = _value(name, field_name, raw)
        k += 1
    return Command(prompt=_without(text, tokens, removed), options=Options(**values))


def _without(text: str, tokens: list[tuple[int, int]], removed: set[int]) -> str:
    """``text`` minus the removed tokens; the whitespace around each gap becomes one space
    (one newline if it held one), all other characters are kept as they are."""
    pieces: list[str] = []
    gap_start = 0  # where the whitespace before the current token begins
    gap: list[str] = []  # whitespace runs merged across removed tokens
    for k, (start, end) in enumerate(tokens):
        gap.append(text[gap_start:start])
        if k in removed:
            gap_start = end
            continue
        pieces.append(_merge(gap) if len(gap) > 1 else gap[0])
        pieces.append(text[start:end])
        gap, gap_start = [], end
    return "".join(pieces).strip()


def _merge(gaps: list[str]) -> str:
    return "\n" if any("\n" in g for g in gaps) else " "


# --- validation --------------------------------------------------------------


def _choose_model(explicit: Model | None, default: Model | None, n: int) -> tuple[Model, str]:
    """The model for ``n`` images, and a note when the usual choice had to change."""
    if explicit is not None:
        if n <= MODEL_RULES[explicit].max_images:
            return explicit, ""
        fits = [m for m, r in MODEL_RULES.items() if n <= r.max_images]
        msg = (
            f"Model {explicit} takes at most {MODEL_RULES[explicit].max_images} images and you "
            f"sent {n}: use {join_or(f'--model {m}' for m in fits)} or send fewer images."
        )
        raise RequestInvalid(msg, field="model", value=str(explicit), allowed=_strs(fits))
    wanted = default if default is not None and default in MODEL_RULES else DEFAULT_MODEL
    limit = MODEL_RULES[wanted].max_images
    if n <= limit:
        return wanted, ""
    model = next(m for m, r in MODEL_RULES.items() if n <= r.max_images)
    return (
        model,
        f"You sent {n} images, so I'm using model {model} (model {wanted} takes at most {limit}).",
    )


def _refusal(
    field_name: str, value: Any, allowed: tuple[Any, ...], rules: ModelRules, n: int, switched: bool
) -> RequestInvalid:
    """The sentence for an explicit option that the chosen model refuses."""
    subject = f"model {rules.model}" + (f" (needed for {n} images)" if switched else "")
    if field_name == "audio":
        others = [m for m, r in MODEL_RULES.items() if r.audio and n <= r.max_images]
        if others:
            fix = f"use {join_or(f'--model {m}' for m in others)}"
        else:
            best = max((r for r in MODEL_RULES.values() if r.audio), key=lambda r: r.max_images)
            fix = f"send at most {best.max_images} images to use model {best.model}"
        msg = f"Audio is not available for {subject}: remove --audio or {fix}."
        allowed = tuple("--audio" if v else "--no-audio" for v in allowed)
    elif field_name == "count":
        msg = f"--count {value} is out of range: use {span_text(allowed)}."
    else:
        shown = {"aspect_ratio": f"--ar {value}", "duration": f"--duration {value}"}
        where = ""
        if field_name == "duration" and rules.single_durations != rules.multi_durations:
            where = " with one image" if n == 1 else f" with {n} images"
        what = shown.get(field_name, str(value))
        msg = f"{what} is not available for {subject}{where}: use {join_or(allowed)}."
    return RequestInvalid(msg, field=field_name, value=value, allowed=_strs(allowed))


def build_request(
    prompt: str, options: Options, image_count: int, defaults: Options | None = None
) -> VideoRequest:
    """Apply the models' rules; explicit options win over ``defaults``.

    ``defaults`` (a chat's saved settings) win over the model's own defaults.
    A default that does not fit the chosen model or image count is dropped
    silently; an explicit option that does not fit is refused with
    :class:`RequestInvalid`. With no model named and more images than the
    default model takes, the first model that takes them is used, with a note.
    """
    d = defaults or Options()
    n = image_count
    if not 1 <= n <= MAX_IMAGES:
        msg = (
            f"You sent {n} images: I can use at most {MAX_IMAGES}."
            if n > MAX_IMAGES
            else "Please send a photo with your /video message: I turn photos into videos."
        )
        raise RequestInvalid(msg, field="images", value=n, allowed=_strs(range(1, MAX_IMAGES + 1)))
    prompt = prompt.strip()
    if not prompt:
        msg = "Please describe the video after /video, e.g. /video waves at sunset --ar 9:16."
        raise RequestInvalid(msg, field="prompt", value="")
    model, note = _choose_model(options.model, d.model, n)
    rules = MODEL_RULES[model]
    if len(prompt) > rules.max_prompt_chars:
        msg = f"The prompt is {len(prompt)} characters long: the limit is {rules.max_prompt_chars}."
        raise RequestInvalid(
            msg, field="prompt", value=len(prompt), allowed=(str(rules.max_prompt_chars),)
        )

    allowed: dict[str, tuple[Any, ...]] = {
        "aspect_ratio": rules.aspect_ratios,
        "resolution": rules.resolutions,
        "duration": rules.durations(n),
        "audio": rules.audio_values,
        "count": rules.counts,
    }
    chosen: dict[str, Any] = {}
    for name, values in allowed.items():
        explicit, default = getattr(options, name), getattr(d, name)
        if name == "resolution":
            explicit, default = (
                v if v is None else _norm_resolution(v) for v in (explicit, default)
            )
        if explicit is None:
            chosen[name] = default if default is not None and default in values else values[0]
        elif explicit in values:
            chosen[name] = explicit
        else:
            raise _refusal(name, explicit, values, rules, n, switched=bool(note))
    notes = (note,) if note else ()
    return VideoRequest(prompt=prompt, model=model, image_count=n, notes=notes, **chosen)
