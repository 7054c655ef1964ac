"""The /help content, written from the rules table so it cannot disagree with validation.

One source for both platforms: :data:`HELP` holds plain sentences and lines, and
each adapter arranges and formats them, adding only what its platform alone offers
(how to attach photos there, where ``/settings`` applies, its other commands).
"""

from __future__ import annotations

from typing import Final

from bot.i18n import N_, _, number
from bot.model.rules import (
    DEFAULT_MODEL,
    MODEL_RULES,
    ModelRules,
    all_values,
    join_or,
    plural,
    span_text,
)

__all__ = ["HELP", "USAGE", "Help"]


def _alternatives(values: tuple[object, ...]) -> str:
    return "|".join(str(v) for v in values)


USAGE: Final = (
    f"/video <prompt> [--model {_alternatives(tuple(MODEL_RULES))}]"
    f" [--ar {_alternatives(all_values('aspect_ratios'))}]"
    f" [--res {_alternatives(all_values('resolutions'))}]"
    " [--duration N] [--audio|--no-audio]"
    f" [--count {min(all_values('counts'))}-{max(all_values('counts'))}]"
)


# The sentences, with named placeholders filled from the rules table.
_MODEL_LINE = N_(
    "• Model {model} ({kind}): {images} photos; {ratios}; {resolutions}; {durations};"
    " {audio}; {counts} videos; prompt up to {chars} characters."
)
_KINDS = {"general": N_("general"), "multi-reference": N_("multi-reference")}
_SAME_DURATIONS = N_("{seconds} s")
_DURATIONS = N_("{one} s with one photo, {several} s with several")
_DEFAULT_MODEL = N_("model {model}")
_DEFAULT_MODELS = N_("model {model} (model {wider} when you send {low} to {high} photos)")
_DEFAULTS = N_(
    "Defaults: {model}, {ratio}, {resolution}, the model's shortest duration, no audio, {videos}."
)


def _model_line(rules: ModelRules) -> str:
    """One model's limits, e.g. ``• Model V (general): 1 to 3 photos; …``."""
    if rules.single_durations == rules.multi_durations:
        durations = _(_SAME_DURATIONS).format(seconds=join_or(rules.single_durations))
    else:
        durations = _(_DURATIONS).format(
            one=join_or(rules.single_durations), several=join_or(rules.multi_durations)
        )
    kind = _KINDS.get(rules.kind)
    return _(_MODEL_LINE).format(
        model=rules.model,
        kind=_(kind) if kind else rules.kind,
        images=span_text(tuple(range(1, rules.max_images + 1))),
        ratios=join_or(rules.aspect_ratios),
        resolutions=join_or(rules.resolutions),
        durations=durations,
        audio=_("audio available") if rules.audio else _("no audio"),
        counts=span_text(rules.counts),
        chars=number(rules.max_prompt_chars),
    )


def _defaults_line() -> str:
    default = MODEL_RULES[DEFAULT_MODEL]
    wider = next((r for r in MODEL_RULES.values() if r.max_images > default.max_images), None)
    if wider is None:
        model = _(_DEFAULT_MODEL).format(model=DEFAULT_MODEL)
    else:
        model = _(_DEFAULT_MODELS).format(
            model=DEFAULT_MODEL,
            wider=wider.model,
            low=default.max_images + 1,
            high=wider.max_images,
        )
    return _(_DEFAULTS).format(
        model=model,
        ratio=default.aspect_ratios[0],
        resolution=default.resolutions[0],
        videos=plural(default.counts[0], "{count} video", "{count} videos"),
    )


class Help:
    """What /help says, as plain text (no markup) in the order it is usually shown,
    in the language in use when each part is read.

    ``tips`` are Keevx's own advice for prompts and photos, one sentence each.
    """

    @property
    def intro(self) -> str:
        return _("I turn your photos into short AI videos with Keevx.")

    @property
    def usage(self) -> str:
        return _("Usage: {usage}").format(usage=USAGE)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(_model_line(r) for r in MODEL_RULES.values())

    @property
    def defaults(self) -> str:
        return _defaults_line()

    @property
    def example(self) -> str:
        return _("Example: {example}").format(
            example="/video waves crashing on the beach at sunset --ar 9:16 --res 1080p"
            " --duration 6 --audio"
        )

    @property
    def narration(self) -> str:
        return _('Narration: add Speak "your words" to the prompt, e.g. {example}').format(
            example='/video a chef smiles at the camera Speak "Welcome to our channel" --audio'
        )

    @property
    def tips_heading(self) -> str:
        return _("Tips for a good video:")

    @property
    def tips(self) -> tuple[str, ...]:
        return (
            _("• Name the subject and the scene: who or what is in the photo, and where."),
            _("• Say what should happen: the action, from start to end."),
            _("• Set the mood, and add visual details such as lighting, colour and texture."),
            _("• Photos work best when they are sharp, evenly lit and centred on the subject."),
        )


HELP: Final = Help()
