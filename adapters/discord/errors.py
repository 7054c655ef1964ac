"""The one seam where discord.py's failures become the core's delivery errors.

    discord.HTTPException 40005 / HTTP 413     → TooLarge
    discord.Forbidden, discord.NotFound        → RecipientGone (never retried)
    other HTTPException (5xx, 429, 4xx)        → DeliveryError (retried)
    aiohttp / OS / timeout errors              → DeliveryError (retried)

An interaction token that Discord no longer accepts is not an error of the
job: :func:`token_expired` tells the caller to fall back to the bot token.
Messages hold HTTP statuses and Discord codes only, never a URL or a token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import discord

from bot.errors import DeliveryError, RecipientGone, TooLarge

__all__ = [
    "MISSING_PERMISSIONS",
    "REQUEST_TOO_LARGE",
    "delivery_errors",
    "token_expired",
    "translate",
]

REQUEST_TOO_LARGE = 40005
MISSING_PERMISSIONS = 50013
MISSING_ACCESS = 50001
INVALID_WEBHOOK_TOKEN = 50027
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062


def token_expired(exc: BaseException) -> bool:
    """Whether ``exc`` says the interaction's token can no longer be used."""
    return isinstance(exc, discord.HTTPException) and exc.code in (
        INVALID_WEBHOOK_TOKEN,
        UNKNOWN_WEBHOOK,
        UNKNOWN_INTERACTION,
    )


def translate(exc: discord.HTTPException, what: str) -> DeliveryError:
    """The core's error for a failed Discord call; ``what`` names the call."""
    where = f"{what}: Discord answered HTTP {exc.status} (code {exc.code})"
    if exc.code == REQUEST_TOO_LARGE or exc.status == 413:
        return TooLarge(where)
    if isinstance(exc, discord.Forbidden):
        if exc.code in (MISSING_PERMISSIONS, MISSING_ACCESS):
            return RecipientGone(f"{what}: the bot is missing permissions in that channel")
        return RecipientGone(where)
    if isinstance(exc, discord.NotFound):
        return RecipientGone(where)
    return DeliveryError(where)


@contextmanager
def delivery_errors(what: str) -> Iterator[None]:
    """Run a Discord call, raising only :class:`~bot.errors.DeliveryError` subclasses."""
    try:
        yield
    except discord.HTTPException as exc:
        raise translate(exc, what) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise DeliveryError(f"{what}: network error ({type(exc).__name__})") from exc
