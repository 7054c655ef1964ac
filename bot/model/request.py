"""What a user asks for: a validated :class:`VideoRequest`, built by :func:`build_request`.

Adapters call :func:`parse_command` on chat text, then :func:`build_request`
with the number of images; both raise :class:`~bot.errors.RequestInvalid`
whose message is the friendly sentence to send back. Every limit lives in
:data:`bot.model.rules.MODEL_RULES`; this module re-exports the names adapters use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from bot.errors import RequestInvalid
from bot.i18n import _, ngettext
from bot.model.rules import (
    DEFAULT_MODEL,
    MAX_IMAGES,
    MAX_PROMPT_CHARS,
    MODEL_RULES,
    Model,
    ModelRules,
    Options,
    echo,
    join_or,
    norm_resolution,
    span_text,
    strs,
)
from bot.model.syntax import Command, parse_command

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
    "fit_options",
    "parse_command",
    "validate_options",
]


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
        """One line of parameters, e.g. ``1 image · model V · 16:9 · 720p · 4 s``,
        in the language in use."""
        images = ngettext("{count} image", "{count} images", self.image_count)
        parts = [
            images.format(count=self.image_count),
            _("model {model}").format(model=self.model),
            self.aspect_ratio,
            self.resolution,
            _("{seconds} s").format(seconds=self.duration),
        ]
        if self.audio:
            parts.append(_("audio"))
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


# --- validation --------------------------------------------------------------


def _choose_model(explicit: Model | None, default: Model | None, n: int) -> tuple[Model, str]:
    """The model for ``n`` images, and a note when the usual choice had to change."""
    if explicit is not None:
        if n <= MODEL_RULES[explicit].max_images:
            return explicit, ""
        fits = [m for m, r in MODEL_RULES.items() if n <= r.max_images]
        limit = MODEL_RULES[explicit].max_images
        msg = ngettext(
            "Model {model} takes at most {limit} image and you sent {count}:"
            " use {options} or send fewer images.",
            "Model {model} takes at most {limit} images and you sent {count}:"
            " use {options} or send fewer images.",
            limit,
        ).format(
            model=explicit, limit=limit, count=n, options=join_or(f"--model {m}" for m in fits)
        )
        raise RequestInvalid(msg, field="model", value=str(explicit), allowed=strs(fits))
    wanted = default if default is not None and default in MODEL_RULES else DEFAULT_MODEL
    limit = MODEL_RULES[wanted].max_images
    if n <= limit:
        return wanted, ""
    model = next(m for m, r in MODEL_RULES.items() if n <= r.max_images)
    note = ngettext(
        "You sent {count} image, so I'm using model {model} (model {usual} takes at most {limit}).",
        "You sent {count} images, so I'm using model {model}"
        " (model {usual} takes at most {limit}).",
        n,
    )
    return model, note.format(count=n, model=model, usual=wanted, limit=limit)


def _refusal(
    field_name: str, value: Any, allowed: tuple[Any, ...], rules: ModelRules, n: int, switched: bool
) -> RequestInvalid:
    """The sentence for an explicit option that the chosen model refuses.

    ``switched``: the model was chosen for the ``n`` images, and the sentence says so.
    """
    model = rules.model
    if field_name == "audio":
        others = [m for m, r in MODEL_RULES.items() if r.audio and n <= r.max_images]
        if others:
            fix = _("use {options}").format(options=join_or(f"--model {m}" for m in others))
        else:
            best = max((r for r in MODEL_RULES.values() if r.audio), key=lambda r: r.max_images)
            fix = ngettext(
                "send at most {limit} image to use model {model}",
                "send at most {limit} images to use model {model}",
                best.max_images,
            ).format(limit=best.max_images, model=best.model)
        if switched:
            msg = ngettext(
                "Audio is not available for model {model} (needed for {count} image):"
                " remove --audio or {fix}.",
                "Audio is not available for model {model} (needed for {count} images):"
                " remove --audio or {fix}.",
                n,
            ).format(model=model, count=n, fix=fix)
        else:
            msg = _("Audio is not available for model {model}: remove --audio or {fix}.").format(
                model=model, fix=fix
            )
        allowed = tuple("--audio" if v else "--no-audio" for v in allowed)
    elif field_name == "count":
        msg = _("{option} is out of range: use {allowed}.").format(
            option=f"--count {echo(value)}", allowed=span_text(allowed)
        )
    else:
        shown = {"aspect_ratio": f"--ar {echo(value)}", "duration": f"--duration {echo(value)}"}
        option, values = shown.get(field_name, echo(value)), join_or(allowed)
        by_count = field_name == "duration" and rules.single_durations != rules.multi_durations
        if switched:
            msg = ngettext(
                "{option} is not available for model {model} (needed for {count} image):"
                " use {allowed}.",
                "{option} is not available for model {model} (needed for {count} images):"
                " use {allowed}.",
                n,
            )
        elif by_count and n == 1:
            msg = _("{option} is not available for model {model} with one image: use {allowed}.")
        elif by_count:
            msg = ngettext(
                "{option} is not available for model {model} with {count} image: use {allowed}.",
                "{option} is not available for model {model} with {count} images: use {allowed}.",
                n,
            )
        else:
            msg = _("{option} is not available for model {model}: use {allowed}.")
        msg = msg.format(option=option, model=model, count=n, allowed=values)
    return RequestInvalid(msg, field=field_name, value=value, allowed=strs(allowed))


def _allowed(rules: ModelRules, image_count: int) -> dict[str, tuple[Any, ...]]:
    """What ``rules`` allow for each :class:`Options` field but the model itself."""
    return {
        "aspect_ratio": rules.aspect_ratios,
        "resolution": rules.resolutions,
        "duration": rules.durations(image_count),
        "audio": rules.audio_values,
        "count": rules.counts,
    }


def _value(options: Options, name: str) -> Any:
    """A field of ``options``, a resolution normalised (``4K`` → ``4k``)."""
    value = getattr(options, name)
    return norm_resolution(value) if name == "resolution" and value is not None else value


def validate_options(options: Options, defaults: Options | None = None) -> Options:
    """``options`` as chat defaults, checked as ``/video`` with one photo would check them.

    The model is the one ``options`` name, else that of ``defaults`` (the
    saved ones), else :data:`DEFAULT_MODEL`. Returns ``options`` with the
    resolution normalised; raises :class:`RequestInvalid` with the sentence a
    request would get for the first value that model refuses.
    """
    model, _ = _choose_model(options.model, (defaults or Options()).model, 1)
    rules = MODEL_RULES[model]
    checked: dict[str, Any] = {}
    for name, values in _allowed(rules, 1).items():
        value = checked[name] = _value(options, name)
        if value is not None and value not in values:
            raise _refusal(name, value, values, rules, 1, switched=False)
    return replace(options, **checked)


def fit_options(options: Options) -> Options:
    """``options`` without the values their model (or the default one) refuses.

    After a change of model, saved defaults the new model does not take are
    dropped rather than refused.
    """
    rules = MODEL_RULES[options.model or DEFAULT_MODEL]
    kept = {
        name: value if value in values else None
        for name, values in _allowed(rules, 1).items()
        if (value := _value(options, name)) is not None
    }
    return replace(options, **kept)


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
            ngettext(
                "You sent {count} image: I can use at most {limit}.",
                "You sent {count} images: I can use at most {limit}.",
                n,
            ).format(count=n, limit=MAX_IMAGES)
            if n > MAX_IMAGES
            else _("Please send a photo with your /video message: I turn photos into videos.")
        )
        raise RequestInvalid(msg, field="images", value=n, allowed=strs(range(1, MAX_IMAGES + 1)))
    prompt = prompt.strip()
    if not prompt:
        msg = _("Please describe the video after /video, e.g. /video waves at sunset --ar 9:16.")
        raise RequestInvalid(msg, field="prompt", value="")
    model, note = _choose_model(options.model, d.model, n)
    rules = MODEL_RULES[model]
    if len(prompt) > rules.max_prompt_chars:
        msg = ngettext(
            "The prompt is {length} character long: the limit is {limit}.",
            "The prompt is {length} characters long: the limit is {limit}.",
            len(prompt),
        ).format(length=len(prompt), limit=rules.max_prompt_chars)
        raise RequestInvalid(
            msg, field="prompt", value=len(prompt), allowed=(str(rules.max_prompt_chars),)
        )

    chosen: dict[str, Any] = {}
    for name, values in _allowed(rules, n).items():
        explicit, default = _value(options, name), _value(d, name)
        if explicit is None:
            chosen[name] = default if default is not None and default in values else values[0]
        elif explicit in values:
            chosen[name] = explicit
        else:
            raise _refusal(name, explicit, values, rules, n, switched=bool(note))
    notes = (note,) if note else ()
    return VideoRequest(prompt=prompt, model=model, image_count=n, notes=notes, **chosen)
