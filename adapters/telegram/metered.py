"""PTB's flood-controlling rate limiter, counting what Telegram answered each send.

Every Bot API call but ``getUpdates`` passes through the Application's rate
limiter, once per attempt (AIORateLimiter tries again after a ``retry_after``), so
this is the one place that sees each send's result and each flood-limit wait.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
)
from telegram.ext import AIORateLimiter

from adapters.telegram.errors import retry_seconds
from bot import metrics

__all__ = ["MeteredRateLimiter", "send_result"]

PLATFORM = "telegram"
# Methods that post or edit a message or answer a button: what counts as a send.
_SENDS = ("send", "edit", "answer")
_REFUSED = (BadRequest, Forbidden, ChatMigrated, InvalidToken, EndPointNotFound, Conflict)

Answer = bool | dict[str, Any] | list[dict[str, Any]]


def send_result(error: Exception | None) -> str:
    """The ``result`` label for a Bot API call that ended with ``error`` (``None``: ok)."""
    if error is None:
        return "ok"
    if isinstance(error, RetryAfter):
        return "flood_limited"
    if isinstance(error, _REFUSED):  # before NetworkError: BadRequest is one
        return "refused"
    return "failed"


class MeteredRateLimiter(AIORateLimiter):
    """:class:`AIORateLimiter` that records sends by result and every ``retry_after`` asked."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Answer]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Answer:
        send = endpoint.startswith(_SENDS)

        async def attempt(*a: Any, **kw: Any) -> Answer:
            try:
                answer = await callback(*a, **kw)
            except Exception as exc:
                if isinstance(exc, RetryAfter):
                    metrics.flood_wait(PLATFORM, retry_seconds(exc))
                if send:
                    metrics.platform_send(PLATFORM, send_result(exc))
                raise
            if send:
                metrics.platform_send(PLATFORM, "ok")
            return answer

        return await super().process_request(attempt, args, kwargs, endpoint, data, rate_limit_args)
