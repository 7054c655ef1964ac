"""Image links in chat text: found as whole words, taken out of the prompt."""

from __future__ import annotations

import pytest

from bot.errors import RequestInvalid
from bot.model.links import link_in, links_in
from bot.model.request import Options, parse_command
from bot.settings import Settings


@pytest.mark.parametrize(
    ("word", "link"),
    [
        ("https://example.com/cat.jpg", "https://example.com/cat.jpg"),
        ("HTTP://EXAMPLE.COM/A.PNG", "HTTP://EXAMPLE.COM/A.PNG"),
        ("<https://example.com/a.png>", "https://example.com/a.png"),  # Discord's no-preview form
        ("(https://example.com/a.png),", "https://example.com/a.png"),
        ('"https://example.com/a.png".', "https://example.com/a.png"),
        ("https://en.wikipedia.org/wiki/X_(y)", "https://en.wikipedia.org/wiki/X_(y)"),
        ("https://example.com/a.jpg?w=800&h=600", "https://example.com/a.jpg?w=800&h=600"),
        ("example.com/cat.jpg", None),  # no scheme: prose
        ("ftp://example.com/cat.jpg", None),
        ("file:///etc/passwd", None),
        ("xhttps://example.com/a.jpg", None),  # not a whole word
        ("[cat](https://example.com/a.jpg)", None),  # Markdown: not a pasted address
        ("https://", None),
        ("https://.", None),
    ],
)
def test_a_link_is_a_whole_http_word(word: str, link: str | None) -> None:
    assert link_in(word) == link


def test_links_leave_the_prompt_and_keep_their_order() -> None:
    command = parse_command(
        "/video https://a.example/1.jpg the cat waves --ar 9:16 <https://b.example/2.png>, slowly"
    )
    assert command.links == ("https://a.example/1.jpg", "https://b.example/2.png")
    assert command.prompt == "the cat waves slowly"
    assert command.options == Options(aspect_ratio="9:16")
    assert links_in("the cat https://a.example/1.jpg waves") == ("https://a.example/1.jpg",)


def test_text_without_links_parses_as_before() -> None:
    command = parse_command('a chef smiles Speak "visit example.com" --audio')
    assert command.links == ()
    assert command.prompt == 'a chef smiles Speak "visit example.com"'


def test_a_link_is_never_an_option_value() -> None:
    with pytest.raises(RequestInvalid) as info:
        parse_command("waves --ar https://example.com/a.jpg")
    assert info.value.field == "aspect_ratio"
    assert str(info.value).startswith("--ar needs a value")


def test_private_image_urls_are_refused_unless_the_operator_allows_them() -> None:
    assert Settings.from_env({}).allow_private_image_urls is False
    assert Settings.from_env({"ALLOW_PRIVATE_IMAGE_URLS": "1"}).allow_private_image_urls is True
