"""The models' rules as a table: parsing, validation, defaults and the Keevx body."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.errors import RequestInvalid
from bot.model.help import HELP, USAGE
from bot.model.request import (
    MAX_PROMPT_CHARS,
    MODEL_RULES,
    Command,
    Model,
    Options,
    VideoRequest,
    build_request,
    fit_options,
    parse_command,
    validate_options,
)

V, KL = Model.V, Model.KL


# --- parse_command: what is prompt and what is an option ---------------------


@pytest.mark.parametrize(
    ("text", "prompt", "options"),
    [
        ("/video waves at sunset", "waves at sunset", Options()),
        ("waves at sunset", "waves at sunset", Options()),
        ("/VIDEO waves", "waves", Options()),
        ("/video@KeevxBot waves", "waves", Options()),
        ("/Video@Some_Bot   waves", "waves", Options()),
        ("/videos of cats", "/videos of cats", Options()),
        ("/video", "", Options()),
        ("", "", Options()),
        ("/video --ar 9:16", "", Options(aspect_ratio="9:16")),
        # options anywhere; only the whitespace where they stood collapses
        ("/video --ar 9:16 waves at sunset", "waves at sunset", Options(aspect_ratio="9:16")),
        ("/video waves --ar 9:16 at sunset", "waves at sunset", Options(aspect_ratio="9:16")),
        ("/video waves at sunset --ar 9:16", "waves at sunset", Options(aspect_ratio="9:16")),
        ("waves  at   sunset --count 2", "waves  at   sunset", Options(count=2)),
        ("line one\n--ar 9:16\nline two", "line one\nline two", Options(aspect_ratio="9:16")),
        ("a --audio --count 2 b", "a b", Options(audio=True, count=2)),
        # every option and alias, both spellings
        ("x --model V", "x", Options(model=V)),
        ("x --model kl", "x", Options(model=KL)),
        ("x --model=Kl", "x", Options(model=KL)),
        ("x --ar=16:9", "x", Options(aspect_ratio="16:9")),
        ("x --aspect 9:16", "x", Options(aspect_ratio="9:16")),
        ("x --aspect-ratio 9:16", "x", Options(aspect_ratio="9:16")),
        ("x --aspect_ratio 9:16", "x", Options(aspect_ratio="9:16")),
        ("x --res 4k", "x", Options(resolution="4k")),
        ("x --res 4K", "x", Options(resolution="4k")),
        ("x --res 1080P", "x", Options(resolution="1080p")),
        ("x --res 1080", "x", Options(resolution="1080p")),
        ("x --resolution 720", "x", Options(resolution="720p")),
        ("x --duration 6", "x", Options(duration=6)),
        ("x --duration 6s", "x", Options(duration=6)),
        ("x --duration=10S", "x", Options(duration=10)),
        ("x --duration 7", "x", Options(duration=7)),  # the model decides: build_request
        ("x --audio", "x", Options(audio=True)),
        ("x --no-audio", "x", Options(audio=False)),
        ("x --count 4", "x", Options(count=4)),
        ("x --MODEL KL", "x", Options(model=KL)),
        # phones turn -- into an em or en dash
        ("x —ar 9:16", "x", Options(aspect_ratio="9:16")),
        ("x –res 1080p", "x", Options(resolution="1080p")),
        ("x —audio —count=2", "x", Options(audio=True, count=2)),
        ("x ——model KL", "x", Options(model=KL)),
        # a dash before prose is punctuation, not an option
        ("a cat —sleeping on a mat", "a cat —sleeping on a mat", Options()),
        ("morning --> night", "morning --> night", Options()),
        ("a -- b", "a -- b", Options()),
        # quotes: kept, and never parsed for options
        (
            'A host smiles Speak "Welcome to our channel" --audio',
            'A host smiles Speak "Welcome to our channel"',
            Options(audio=True),
        ),
        (
            'Speak "say --ar 4:3 now" --ar 9:16',
            'Speak "say --ar 4:3 now"',
            Options(aspect_ratio="9:16"),
        ),
        ("Speak “use --model KL” --count 2", "Speak “use --model KL”", Options(count=2)),
        ('"--audio"', '"--audio"', Options()),
        ('12" vinyl --count 2', '12" vinyl', Options(count=2)),
        # emoji and right-to-left text untouched
        ("🌊 waves 🌅 --ar 9:16", "🌊 waves 🌅", Options(aspect_ratio="9:16")),
        ("מצלמה זזה לאט --res 1080p", "מצלמה זזה לאט", Options(resolution="1080p")),
        ("أمواج عند الغروب --duration 6 🌊", "أمواج عند الغروب 🌊", Options(duration=6)),
        ("/video   ", "", Options()),
    ],
)
def test_parse(text: str, prompt: str, options: Options) -> None:
    assert parse_command(text) == Command(prompt=prompt, options=options)


def test_parse_all_options_at_once() -> None:
    text = (
        "/video@Bot —model kl a cat --ar=9:16 –res 1080 jumps --duration 10s --no-audio --count 3"
    )
    assert parse_command(text) == Command(
        prompt="a cat jumps",
        options=Options(
            model=KL, aspect_ratio="9:16", resolution="1080p", duration=10, audio=False, count=3
        ),
    )


@pytest.mark.parametrize(
    ("text", "message", "field", "value"),
    [
        (
            "x --foo 1",
            "Unknown option --foo: use --model, --ar, --res, --duration, --audio, --no-audio"
            " or --count.",
            "option",
            "--foo",
        ),
        ("x --ar", "--ar needs a value: 16:9 or 9:16.", "aspect_ratio", None),
        ("x --ar=", "--ar needs a value: 16:9 or 9:16.", "aspect_ratio", None),
        ("x --ar --res 720p", "--ar needs a value: 16:9 or 9:16.", "aspect_ratio", None),
        ('x --ar "9:16"', "--ar needs a value: 16:9 or 9:16.", "aspect_ratio", None),
        ("x --model", "--model needs a value: V or KL.", "model", None),
        ("x --res", "--res needs a value: 720p, 1080p or 4k.", "resolution", None),
        ("x --count", "--count needs a value: 1 to 4.", "count", None),
        (
            "x --duration",
            "--duration needs a value: 4, 6 or 8 with model V; 5 or 10 with model KL.",
            "duration",
            None,
        ),
        ("x --ar 4:3", "--ar 4:3 is not available: use 16:9 or 9:16.", "aspect_ratio", "4:3"),
        (
            "x --aspect 1:1",
            "--aspect 1:1 is not available: use 16:9 or 9:16.",
            "aspect_ratio",
            "1:1",
        ),
        ("x --res 2k", "--res 2k is not available: use 720p, 1080p or 4k.", "resolution", "2k"),
        ("x --model X", "--model X is not available: use V or KL.", "model", "X"),
        ("x --count 0", "--count 0 is out of range: use 1 to 4.", "count", "0"),
        ("x --count 5", "--count 5 is out of range: use 1 to 4.", "count", "5"),
        ("x --count two", "--count two is not a number: use 1 to 4.", "count", "two"),
        (
            "x --duration 6.5",
            "--duration 6.5 is not a number: use 4, 6 or 8 with model V; 5 or 10 with model KL.",
            "duration",
            "6.5",
        ),
        ("x --ar 9:16 --ar 9:16", "--ar is given twice: keep only one.", "aspect_ratio", "--ar"),
        (
            "x --ar 9:16 --aspect 16:9",
            "--ar and --aspect cannot be used together: keep only one.",
            "aspect_ratio",
            "--aspect",
        ),
        (
            "x --audio --no-audio",
            "--audio and --no-audio cannot be used together: keep only one.",
            "audio",
            "--no-audio",
        ),
        ("x --audio —audio", "--audio is given twice: keep only one.", "audio", "--audio"),
        ("x --count 1 --count=2", "--count is given twice: keep only one.", "count", "--count"),
        (
            "x --audio=yes",
            "--audio takes no value: write --audio or --no-audio.",
            "audio",
            "yes",
        ),
    ],
)
def test_parse_refusals(text: str, message: str, field: str, value: object) -> None:
    with pytest.raises(RequestInvalid) as info:
        parse_command(text)
    assert str(info.value) == message
    assert info.value.field == field
    assert info.value.value == value


def test_refusal_lists_allowed_values() -> None:
    with pytest.raises(RequestInvalid) as info:
        parse_command("x --res 8k")
    assert info.value.allowed == ("720p", "1080p", "4k")
    with pytest.raises(RequestInvalid) as info:
        parse_command("x --bogus")
    assert "--no-audio" in info.value.allowed


# --- build_request: the models' rules ----------------------------------------

OK_CASES: list[tuple[Options, int, dict[str, Any]]] = [
    # defaults: model V, 16:9, 720p, shortest duration, no audio, one video
    (
        Options(),
        1,
        dict(model=V, aspect_ratio="16:9", resolution="720p", duration=4, audio=False, count=1),
    ),
    (Options(), 2, dict(model=V, duration=8)),
    (Options(), 3, dict(model=V, duration=8)),
    (Options(model=KL), 1, dict(model=KL, duration=5, audio=False)),
    (Options(model=KL), 7, dict(model=KL, duration=5)),
    # model V: every allowed value
    (Options(aspect_ratio="9:16"), 1, dict(aspect_ratio="9:16")),
    (Options(resolution="1080p"), 1, dict(resolution="1080p")),
    (Options(resolution="4k"), 1, dict(resolution="4k")),
    (Options(resolution="4K"), 3, dict(resolution="4k")),
    (Options(duration=6), 1, dict(duration=6)),
    (Options(duration=8), 1, dict(duration=8)),
    (Options(duration=8), 2, dict(duration=8)),
    (Options(audio=True), 1, dict(audio=True)),
    (Options(audio=True), 3, dict(audio=True)),
    (Options(count=4), 1, dict(count=4)),
    # model KL: every allowed value
    (Options(model=KL, aspect_ratio="9:16"), 4, dict(aspect_ratio="9:16")),
    (Options(model=KL, resolution="1080p"), 2, dict(resolution="1080p")),
    (Options(model=KL, duration=10), 1, dict(duration=10)),
    (Options(model=KL, duration=10), 7, dict(duration=10)),
    (Options(model=KL, audio=False), 3, dict(audio=False)),
    (Options(model=KL, count=4), 5, dict(count=4)),
    # 4-7 images with no model named: KL
    (Options(), 4, dict(model=KL, duration=5)),
    (Options(), 7, dict(model=KL)),
    (Options(resolution="1080p", duration=10, count=2), 5, dict(model=KL, duration=10, count=2)),
]


@pytest.mark.parametrize(("options", "images", "expected"), OK_CASES)
def test_build_accepts(options: Options, images: int, expected: dict[str, Any]) -> None:
    request = build_request("waves at sunset", options, images)
    for name, value in expected.items():
        assert getattr(request, name) == value, name
    assert request.image_count == images
    assert request.prompt == "waves at sunset"


@pytest.mark.parametrize("images", [4, 5, 6, 7])
def test_many_images_switch_to_kl_with_a_note(images: int) -> None:
    request = build_request("x", Options(), images)
    assert request.model is KL
    assert request.notes == (
        f"You sent {images} images, so I'm using model KL (model V takes at most 3).",
    )


@pytest.mark.parametrize(
    ("options", "images"), [(Options(), 1), (Options(), 3), (Options(model=KL), 5)]
)
def test_no_note_when_nothing_switched(options: Options, images: int) -> None:
    assert build_request("x", options, images).notes == ()


REFUSALS: list[tuple[str, Options, int, str, str, object, tuple[str, ...]]] = [
    # (prompt, options, images, sentence, field, value, allowed)
    ("x", Options(), 0, "Please send a photo with your /video message: I turn photos into videos.",
     "images", 0, ("1", "2", "3", "4", "5", "6", "7")),
    ("x", Options(), 8, "You sent 8 images: I can use at most 7.", "images", 8,
     ("1", "2", "3", "4", "5", "6", "7")),
    ("x", Options(model=KL), 9, "You sent 9 images: I can use at most 7.", "images", 9,
     ("1", "2", "3", "4", "5", "6", "7")),
    ("", Options(), 1,
     "Please describe the video after /video, e.g. /video waves at sunset --ar 9:16.",
     "prompt", "", ()),
    ("   ", Options(), 1,
     "Please describe the video after /video, e.g. /video waves at sunset --ar 9:16.",
     "prompt", "", ()),
    ("x" * 1001, Options(), 1, "The prompt is 1001 characters long: the limit is 1000.",
     "prompt", 1001, ("1000",)),
    ("x" * 1001, Options(model=KL), 5, "The prompt is 1001 characters long: the limit is 1000.",
     "prompt", 1001, ("1000",)),
    ("x", Options(model=V), 4,
     "Model V takes at most 3 images and you sent 4: use --model KL or send fewer images.",
     "model", "V", ("KL",)),
    ("x", Options(model=V), 7,
     "Model V takes at most 3 images and you sent 7: use --model KL or send fewer images.",
     "model", "V", ("KL",)),
    ("x", Options(model=KL, resolution="4k"), 1,
     "4k is not available for model KL: use 720p or 1080p.", "resolution", "4k", ("720p", "1080p")),
    ("x", Options(resolution="4k"), 5,
     "4k is not available for model KL (needed for 5 images): use 720p or 1080p.",
     "resolution", "4k", ("720p", "1080p")),
    ("x", Options(duration=7), 1,
     "--duration 7 is not available for model V with one image: use 4, 6 or 8.",
     "duration", 7, ("4", "6", "8")),
    ("x", Options(duration=5), 1,
     "--duration 5 is not available for model V with one image: use 4, 6 or 8.",
     "duration", 5, ("4", "6", "8")),
    ("x", Options(duration=4), 2,
     "--duration 4 is not available for model V with 2 images: use 8.", "duration", 4, ("8",)),
    ("x", Options(duration=6), 3,
     "--duration 6 is not available for model V with 3 images: use 8.", "duration", 6, ("8",)),
    ("x", Options(model=KL, duration=6), 1,
     "--duration 6 is not available for model KL: use 5 or 10.", "duration", 6, ("5", "10")),
    ("x", Options(model=KL, duration=8), 4,
     "--duration 8 is not available for model KL: use 5 or 10.", "duration", 8, ("5", "10")),
    ("x", Options(model=KL, audio=True), 1,
     "Audio is not available for model KL: remove --audio or use --model V.",
     "audio", True, ("--no-audio",)),
    ("x", Options(audio=True), 5,
     "Audio is not available for model KL (needed for 5 images): remove --audio or send at"
     " most 3 images to use model V.", "audio", True, ("--no-audio",)),
    ("x", Options(count=5), 1, "--count 5 is out of range: use 1 to 4.", "count", 5,
     ("1", "2", "3", "4")),
    ("x", Options(count=0), 1, "--count 0 is out of range: use 1 to 4.", "count", 0,
     ("1", "2", "3", "4")),
    ("x", Options(model=KL, count=5), 2, "--count 5 is out of range: use 1 to 4.", "count", 5,
     ("1", "2", "3", "4")),
    ("x", Options(aspect_ratio="4:3"), 1,
     "--ar 4:3 is not available for model V: use 16:9 or 9:16.", "aspect_ratio", "4:3",
     ("16:9", "9:16")),
    ("x", Options(model=KL, aspect_ratio="1:1"), 2,
     "--ar 1:1 is not available for model KL: use 16:9 or 9:16.", "aspect_ratio", "1:1",
     ("16:9", "9:16")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("prompt", "options", "images", "message", "field", "value", "allowed"), REFUSALS
)
def test_build_refuses(
    prompt: str,
    options: Options,
    images: int,
    message: str,
    field: str,
    value: object,
    allowed: tuple[str, ...],
) -> None:
    with pytest.raises(RequestInvalid) as info:
        build_request(prompt, options, images)
    assert str(info.value) == message
    assert (info.value.field, info.value.value, info.value.allowed) == (field, value, allowed)


def test_prompt_limit_is_inclusive_and_counts_characters() -> None:
    assert build_request("x" * MAX_PROMPT_CHARS, Options(), 1).prompt == "x" * 1000
    emoji = "🌊" * 1000  # 1000 characters, 4000 UTF-8 bytes
    assert build_request(emoji, Options(), 1).prompt == emoji


def test_prompt_is_stripped() -> None:
    assert build_request("  waves \n", Options(), 1).prompt == "waves"


# --- chat defaults: explicit > chat default > model default ------------------

CHAT = Options(aspect_ratio="9:16", resolution="4k", duration=6, audio=True, count=3)

DEFAULT_CASES: list[tuple[Options, Options, int, dict[str, Any]]] = [
    # chat defaults fill what the user did not say
    (Options(), CHAT, 1,
     dict(model=V, aspect_ratio="9:16", resolution="4k", duration=6, audio=True, count=3)),
    # explicit options win over them
    (Options(aspect_ratio="16:9", resolution="720p", duration=8, audio=False, count=1), CHAT, 1,
     dict(aspect_ratio="16:9", resolution="720p", duration=8, audio=False, count=1)),
    # defaults that don't fit the model or image count are dropped silently
    (Options(), CHAT, 2, dict(model=V, duration=8, resolution="4k", audio=True)),
    (Options(model=KL), CHAT, 1,
     dict(model=KL, aspect_ratio="9:16", resolution="720p", duration=5, audio=False, count=3)),
    (Options(), CHAT, 5, dict(model=KL, resolution="720p", duration=5, audio=False, count=3)),
    (Options(), Options(resolution="1080p", duration=10), 5, dict(resolution="1080p", duration=10)),
    (Options(), Options(duration=10), 1, dict(model=V, duration=4)),
    (Options(), Options(count=9, aspect_ratio="4:3"), 1, dict(count=1, aspect_ratio="16:9")),
    (Options(), Options(resolution="1080"), 1, dict(resolution="1080p")),
    # the chat's model
    (Options(), Options(model=KL), 1, dict(model=KL, duration=5)),
    (Options(model=V), Options(model=KL), 1, dict(model=V, duration=4)),
    (Options(), Options(model=V), 5, dict(model=KL)),
    (Options(), Options(model=KL), 7, dict(model=KL)),
]  # fmt: skip


@pytest.mark.parametrize(("options", "defaults", "images", "expected"), DEFAULT_CASES)
def test_chat_defaults(
    options: Options, defaults: Options, images: int, expected: dict[str, Any]
) -> None:
    request = build_request("x", options, images, defaults)
    for name, value in expected.items():
        assert getattr(request, name) == value, name


def test_chat_default_v_with_many_images_notes_the_switch() -> None:
    request = build_request("x", Options(), 5, Options(model=V))
    assert request.notes == ("You sent 5 images, so I'm using model KL (model V takes at most 3).",)


def test_explicit_option_that_does_not_fit_is_refused_even_with_defaults() -> None:
    with pytest.raises(RequestInvalid, match=r"^4k is not available for model KL: use"):
        build_request("x", Options(resolution="4k"), 1, Options(model=KL))


# --- validate_options / fit_options: chat defaults without a request ---------


@pytest.mark.parametrize(
    ("options", "defaults", "expected"),
    [
        (Options(), None, Options()),
        (Options(aspect_ratio="9:16"), None, Options(aspect_ratio="9:16")),
        (Options(resolution="4K"), None, Options(resolution="4k")),
        (Options(resolution="1080"), Options(model=KL), Options(resolution="1080p")),
        (Options(model=KL, duration=10, count=4), None, Options(model=KL, duration=10, count=4)),
        (Options(duration=10), Options(model=KL), Options(duration=10)),
        (Options(audio=True), None, Options(audio=True)),
        (Options(audio=False), Options(model=KL), Options(audio=False)),
    ],
)
def test_validate_options_accepts(
    options: Options, defaults: Options | None, expected: Options
) -> None:
    assert validate_options(options, defaults) == expected


@pytest.mark.parametrize(
    ("options", "defaults", "message", "field"),
    [
        (
            Options(duration=5),
            None,
            "--duration 5 is not available for model V with one image: use 4, 6 or 8.",
            "duration",
        ),
        (
            Options(resolution="4k"),
            Options(model=KL),
            "4k is not available for model KL: use 720p or 1080p.",
            "resolution",
        ),
        (
            Options(model=KL, audio=True),
            Options(model=V),
            "Audio is not available for model KL: remove --audio or use --model V.",
            "audio",
        ),
        (Options(count=9), None, "--count 9 is out of range: use 1 to 4.", "count"),
        (
            Options(aspect_ratio="4:3"),
            None,
            "--ar 4:3 is not available for model V",
            "aspect_ratio",
        ),
    ],
)
def test_validate_options_refuses_like_a_request(
    options: Options, defaults: Options | None, message: str, field: str
) -> None:
    with pytest.raises(RequestInvalid) as caught:
        validate_options(options, defaults)
    assert str(caught.value).startswith(message) and caught.value.field == field
    with pytest.raises(RequestInvalid, match=re.escape(str(caught.value))):
        build_request("x", options, 1, defaults)  # the same sentence as /video


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (Options(model=KL, resolution="4k", duration=6, audio=True), Options(model=KL)),
        (
            Options(model=KL, aspect_ratio="9:16", resolution="1080p", duration=10, count=2),
            Options(model=KL, aspect_ratio="9:16", resolution="1080p", duration=10, count=2),
        ),
        (Options(resolution="4K", duration=5), Options(resolution="4k")),
        (Options(model=V, audio=True, duration=8), Options(model=V, audio=True, duration=8)),
    ],
)
def test_fit_options_drops_what_the_model_refuses(options: Options, expected: Options) -> None:
    assert fit_options(options) == expected


def test_parse_then_build() -> None:
    command = parse_command('/video@Bot 🌊 Speak "Hi --ar 4:3" —ar 9:16 --res 1080 --audio')
    request = build_request(command.prompt, command.options, 1)
    assert request.prompt == '🌊 Speak "Hi --ar 4:3"'
    assert (request.aspect_ratio, request.resolution, request.audio) == ("9:16", "1080p", True)


# --- VideoRequest ------------------------------------------------------------


def test_keevx_body_v_single() -> None:
    request = build_request("waves", Options(resolution="1080p", duration=6, audio=True), 1)
    assert request.keevx_body(["https://x/1.jpg"], "https://cb") == {
        "model": "V",
        "prompt": "waves",
        "image_url": "https://x/1.jpg",
        "aspect_ratio": "16:9",
        "aspect_resolution": "1080p",
        "duration": 6,
        "generate_audio": True,
        "generate_count": 1,
        "callback_url": "https://cb",
    }


def test_keevx_body_v_multi() -> None:
    request = build_request("waves", Options(), 2)
    body = request.keevx_body(["https://x/1.jpg", "https://x/2.jpg"])
    assert body["reference_images"] == ["https://x/1.jpg", "https://x/2.jpg"]
    assert "image_url" not in body
    assert body["generate_audio"] is False
    assert body["duration"] == 8
    assert "callback_url" not in body


@pytest.mark.parametrize("images", [1, 3, 7])
def test_keevx_body_kl(images: int) -> None:
    request = build_request("city", Options(model=KL, count=2, duration=10), images)
    urls = [f"https://x/{i}.jpg" for i in range(images)]
    assert request.keevx_body(urls) == {
        "model": "KL",
        "prompt": "city",
        "reference_images": urls,
        "aspect_ratio": "16:9",
        "aspect_resolution": "720p",
        "duration": 10,
        "generate_count": 2,
    }


@pytest.mark.parametrize(
    ("request_", "line"),
    [
        (build_request("x", Options(), 1), "1 image · model V · 16:9 · 720p · 4 s"),
        (
            build_request("x", Options(V, "9:16", "4k", 8, True, 2), 1),
            "1 image · model V · 9:16 · 4k · 8 s · audio · ×2",
        ),
        (build_request("x", Options(), 5), "5 images · model KL · 16:9 · 720p · 5 s"),
    ],
)
def test_summary(request_: VideoRequest, line: str) -> None:
    assert request_.summary() == line


@pytest.mark.parametrize("images", [1, 2, 5])
def test_dict_round_trip(images: int) -> None:
    request = build_request('Speak "héllo" 🌊', Options(count=2), images)
    data = request.to_dict()
    assert data["model"] == request.model.value
    assert isinstance(data["notes"], list)
    assert VideoRequest.from_dict(data) == request


# --- /help is written from the same rules -----------------------------------

HELP_TEXT = "\n".join(
    [
        HELP.intro,
        HELP.usage,
        *HELP.models,
        HELP.defaults,
        HELP.example,
        HELP.narration,
        HELP.tips_heading,
        *HELP.tips,
    ]
)


def test_help_syntax_line() -> None:
    assert USAGE == (
        "/video <prompt> [--model V|KL] [--ar 16:9|9:16] [--res 720p|1080p|4k] [--duration N]"
        " [--audio|--no-audio] [--count 1-4]"
    )
    assert USAGE in HELP_TEXT


@pytest.mark.parametrize("model", list(Model))
def test_help_mentions_each_models_values(model: Model) -> None:
    rules = MODEL_RULES[model]
    line = next(ln for ln in HELP_TEXT.splitlines() if ln.startswith(f"• Model {model} "))
    for value in (*rules.aspect_ratios, *rules.resolutions, *map(str, rules.single_durations)):
        assert re.search(rf"(?<![\w.]){re.escape(value)}(?![\w])", line), value
    assert f"1 to {rules.max_images} photos" in line
    assert ("audio available" if rules.audio else "no audio") in line
    assert "4k" not in line or "4k" in rules.resolutions


def test_help_has_defaults_example_narration_and_prompt_tips() -> None:
    assert "Defaults: model V" in HELP_TEXT
    assert "16:9, 720p" in HELP_TEXT and HELP.defaults.endswith(", 1 video.")
    assert 'Speak "' in HELP_TEXT
    assert "Example: /video " in HELP_TEXT
    tips = " ".join(HELP.tips)
    for topic in ("subject", "scene", "action", "mood", "lighting"):  # Keevx's prompt guide
        assert topic in tips
    assert "server" not in HELP_TEXT and "chat" not in HELP_TEXT  # each platform says where
    for markup in ("**", "__", "`", "<b>", "</", "[b]"):
        assert markup not in HELP_TEXT  # plain text: both adapters send it as is


def test_help_example_is_valid() -> None:
    for line in HELP_TEXT.splitlines():
        for example in re.findall(r"(/video (?!<).*)", line):
            command = parse_command(example)
            build_request(command.prompt, command.options, 1)


def test_help_options_all_parse() -> None:
    samples = {"--model": "V", "--ar": "9:16", "--res": "1080p", "--duration": "6", "--count": "2"}
    shown = set(re.findall(r"--[a-z-]+", USAGE))
    assert shown == {*samples, "--audio", "--no-audio"}
    for option in shown:
        assert parse_command(f"x {option} {samples.get(option, '')}").prompt == "x"
