"""Translating python-telegram-bot's errors into the core's delivery errors, in one place.

    telegram.error.Forbidden                 → RecipientGone (blocked, kicked, deactivated)
    BadRequest "chat not found" / "… deleted" → RecipientGone
    ChatMigrated                             → RecipientGone (the stored chat id is dead)
    BadRequest/NetworkError "too big"/413    → TooLarge (the core retries with a link)
    RetryAfter, TimedOut, NetworkError, …    → DeliveryError (worth retrying later)

Messages carry Telegram's description only: PTB error texts hold no URL or token.
"""

from __future__ import annotations

import datetime as dtm
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot.errors import DeliveryError, RecipientGone, TooLarge

__all__ = ["is_not_modified", "is_too_big", "retry_seconds", "translate"]

_GONE = (
    "chat not found",
    "user is deactivated",
    "group chat was deactivated",
    "group chat was upgraded",
    "have no rights to send",
    "not enough rights to send",
    "topic_deleted",
    "topic_closed",
    "message thread not found",
)
_TOO_BIG = ("too big", "too large", "request entity too large", "file_too_big")


def is_too_big(exc: TelegramError) -> bool:
    return any(s in exc.message.lower() for s in _TOO_BIG)


def is_not_modified(exc: TelegramError) -> bool:
    return isinstance(exc, BadRequest) and "not modified" in exc.message.lower()


def retry_seconds(exc: RetryAfter) -> float:
    """``retry_after`` in seconds, without PTB's int/timedelta deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def map_error(exc: TelegramError) -> DeliveryError:
    """The most specific :class:`DeliveryError` for a PTB error."""
    text = exc.message.lower()
    if isinstance(exc, Forbidden | ChatMigrated):
        return RecipientGone(f"telegram: {exc.message}")
    if isinstance(exc, BadRequest) and any(s in text for s in _GONE):
        return RecipientGone(f"telegram: {exc.message}")
    if is_too_big(exc):
        return TooLarge(f"telegram: {exc.message}")
    if isinstance(exc, RetryAfter):
        return DeliveryError(f"telegram: flood control, retry in {retry_seconds(exc):.0f} s")
    return DeliveryError(f"telegram: {exc.__class__.__name__}: {exc.message}")


@contextmanager
def translate() -> Iterator[None]:
    """Re-raise any PTB error inside the block as a :class:`DeliveryError`, chained."""
    try:
        yield
    except TelegramError as exc:
        raise map_error(exc) from exc
