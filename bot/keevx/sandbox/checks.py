"""The create request's rules as Keevx states them, checked the way its server would.

Deliberately independent of :mod:`bot.model.request`: the sandbox stands in for the
server, so a mistake in the bot's own validation must not be mirrored here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CODE_BAD_FORMAT",
    "CODE_IMAGE_TOO_BIG",
    "CODE_NOT_FOUND",
    "CODE_PARAMETER",
    "CODE_PROMPT_TOO_LONG",
    "CODE_TOKEN",
    "CODE_UNREACHABLE",
    "CreateSpec",
    "Refusal",
    "check_create",
]

CODE_PARAMETER = 100001
CODE_TOKEN = 100002
CODE_NOT_FOUND = 100003
CODE_IMAGE_TOO_BIG = 100004
CODE_PROMPT_TOO_LONG = 100005
CODE_UNREACHABLE = 100006
CODE_BAD_FORMAT = 100007

MAX_PROMPT = 1000


class Refusal(Exception):
    """An error answer: HTTP ``status`` with body ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _bad(what: str, code: int = CODE_PARAMETER) -> Refusal:
    return Refusal(400, code, f"Parameter error: {what}")


@dataclass(frozen=True, kw_only=True)
class CreateSpec:
    """A create request that passed every rule."""

    model: str
    prompt: str
    image_urls: list[str]
    aspect_ratio: str
    resolution: str
    duration: int
    generate_audio: bool
    count: int
    callback_url: str | None


@dataclass(frozen=True)
class _Model:
    resolutions: tuple[str, ...]
    durations_single: tuple[int, ...]
    durations_multi: tuple[int, ...]
    min_refs: int
    max_refs: int
    single: bool
    audio: bool


MODELS = {
    "V": _Model(("720p", "1080p", "4k"), (4, 6, 8), (8,), 2, 3, single=True, audio=True),
    "KL": _Model(("720p", "1080p"), (), (5, 10), 1, 7, single=False, audio=False),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _images(body: dict[str, Any], model: str, rules: _Model) -> tuple[list[str], bool]:
    """The image URLs and whether this is single-image mode."""
    single = body.get("image_url")
    refs = body.get("reference_images")
    if single is not None and not rules.single:
        raise _bad(f"image_url is not supported by model {model}; use reference_images")
    if single is not None and refs is not None:
        raise _bad("give either image_url or reference_images, not both")
    if single is not None:
        if not isinstance(single, str) or not single:
            raise _bad("image_url must be a non-empty string")
        return [single], True
    if refs is None:
        need = "image_url or reference_images" if rules.single else "reference_images"
        raise _bad(f"{need} is required")
    if not isinstance(refs, list) or not all(isinstance(u, str) and u for u in refs):
        raise _bad("reference_images must be a list of URLs")
    if not rules.min_refs <= len(refs) <= rules.max_refs:
        raise _bad(
            f"reference_images takes {rules.min_refs} to {rules.max_refs} images "
            f"for model {model}, got {len(refs)}"
        )
    return list(refs), False


def check_create(body: Any, *, reachable: Callable[[str], bool]) -> CreateSpec:
    """Check a create body; ``reachable`` says whether an image URL can be fetched.

    Raises :class:`Refusal` (HTTP 400) with Keevx's business code for the first
    broken rule: 100005 for a long prompt, 100006 for an unreachable image,
    100001 for anything else.
    """
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    model = body.get("model")
    if model not in MODELS:
        raise _bad("model must be V or KL")
    rules = MODELS[model]
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _bad("prompt cannot be empty")
    if len(prompt) > MAX_PROMPT:
        raise _bad(f"prompt exceeds {MAX_PROMPT} characters", CODE_PROMPT_TOO_LONG)
    urls, single = _images(body, model, rules)

    aspect = body.get("aspect_ratio")
    if aspect not in ("16:9", "9:16"):
        raise _bad("aspect_ratio must be 16:9 or 9:16")
    resolution = body.get("aspect_resolution")
    if resolution not in rules.resolutions:
        raise _bad(f"aspect_resolution must be one of {', '.join(rules.resolutions)}")
    duration = body.get("duration")
    durations = rules.durations_single if single else rules.durations_multi
    if not _is_int(duration) or duration not in durations:
        mode = "single-image" if single else "multi-image"
        allowed = "/".join(map(str, durations))
        raise _bad(f"duration must be {allowed} seconds for model {model} {mode} mode")

    audio = body.get("generate_audio", False)
    if not isinstance(audio, bool):
        raise _bad("generate_audio must be a boolean")
    if audio and not rules.audio:
        raise _bad(f"generate_audio is not supported by model {model}")
    count = body.get("generate_count", 1)
    if not _is_int(count) or not 1 <= count <= 4:
        raise _bad("generate_count must be an integer from 1 to 4")
    callback = body.get("callback_url")
    if callback is not None and (
        not isinstance(callback, str) or not callback.startswith(("http://", "https://"))
    ):
        raise _bad("callback_url must be an http(s) URL")

    for url in urls:
        if not reachable(url):
            raise Refusal(400, CODE_UNREACHABLE, "Image URL inaccessible")
    return CreateSpec(
        model=model,
        prompt=prompt,
        image_urls=urls,
        aspect_ratio=aspect,
        resolution=resolution,
        duration=duration,
        generate_audio=audio,
        count=count,
        callback_url=callback,
    )
