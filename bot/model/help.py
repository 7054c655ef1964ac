"""The /help text, written from the rules table so it cannot disagree with validation."""

from __future__ import annotations

from typing import Final

from bot.model.rules import DEFAULT_MODEL, MODEL_RULES, ModelRules, all_values, join_or, span_text

__all__ = ["HELP_TEXT", "USAGE"]


def _alternatives(values: tuple[object, ...]) -> str:
    return "|".join(str(v) for v in values)


USAGE: Final = (
    f"/video <prompt> [--model {_alternatives(tuple(MODEL_RULES))}]"
    f" [--ar {_alternatives(all_values('aspect_ratios'))}]"
    f" [--res {_alternatives(all_values('resolutions'))}]"
    " [--duration N] [--audio|--no-audio]"
    f" [--count {min(all_values('counts'))}-{max(all_values('counts'))}]"
)


def _model_line(rules: ModelRules) -> str:
    """One model's limits, e.g. ``V (general): 1 to 3 photos; …``."""
    images = span_text(tuple(range(1, rules.max_images + 1)))
    if rules.single_durations == rules.multi_durations:
        durations = f"{join_or(rules.single_durations)} s"
    else:
        durations = (
            f"{join_or(rules.single_durations)} s with one photo,"
            f" {join_or(rules.multi_durations)} s with several"
        )
    return (
        f"• Model {rules.model} ({rules.kind}): {images} photos; {join_or(rules.aspect_ratios)};"
        f" {join_or(rules.resolutions)}; {durations};"
        f" {'audio available' if rules.audio else 'no audio'};"
        f" {span_text(rules.counts)} videos; prompt up to {rules.max_prompt_chars} characters."
    )


def _defaults_line() -> str:
    default = MODEL_RULES[DEFAULT_MODEL]
    wider = [r for r in MODEL_RULES.values() if r.max_images > default.max_images]
    switch = "".join(
        f" (model {r.model} when you send {default.max_images + 1} to {r.max_images} photos)"
        for r in wider[:1]
    )
    return (
        f"Defaults: model {DEFAULT_MODEL}{switch}, {default.aspect_ratios[0]},"
        f" {default.resolutions[0]}, the model's shortest duration, no audio,"
        f" {default.counts[0]} video. /settings changes them for this chat or server."
    )


HELP_TEXT: Final = "\n".join(
    [
        "I turn your photos into short AI videos with Keevx.",
        "Send one or more photos with a /video message (or as its caption) describing"
        " what should happen.",
        "",
        f"Usage: {USAGE}",
        "",
        *(_model_line(r) for r in MODEL_RULES.values()),
        "",
        _defaults_line(),
        "",
        "Example: /video waves crashing on the beach at sunset --ar 9:16 --res 1080p"
        " --duration 6 --audio",
        "",
        'Narration: add Speak "your words" to the prompt, e.g. /video a chef smiles at the'
        ' camera Speak "Welcome to our channel" --audio',
    ]
)
