"""Counting what Discord answered each send, from discord.py's aiohttp trace hooks.

discord.py sleeps through a 429 and retries inside its HTTP client, out of the
adapter's sight; an :class:`aiohttp.TraceConfig` (``Client(http_trace=...)``) sees
every attempt, its status and its rate-limit headers. Only method, path shape and
status are read: interaction and webhook paths hold tokens, and stay unrecorded.
"""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from bot import metrics

__all__ = ["metered_trace", "send_result"]

PLATFORM = "discord"
_WRITES = frozenset({"POST", "PATCH"})
# Routes that post or edit a message or answer an interaction: what counts as a send.
_SENDS = ("/channels/", "/interactions/", "/webhooks/")


def _is_send(method: str, url: URL) -> bool:
    return method in _WRITES and any(part in url.path for part in _SENDS)


def send_result(status: int | None) -> str:
    """The ``result`` label for an answer with HTTP ``status`` (``None``: no answer)."""
    if status is not None and 200 <= status < 300:
        return "ok"
    if status == 429:
        return "flood_limited"
    if status is not None and 400 <= status < 500:
        return "refused"
    return "failed"


def _wait(headers: CIMultiDictProxy[str]) -> float:
    """Seconds a 429 asks to wait: the precise bucket reset, else ``Retry-After``."""
    for name in ("X-RateLimit-Reset-After", "Retry-After"):
        try:
            return float(headers.get(name, ""))
        except ValueError:
            continue
    return 0.0


async def _on_end(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
) -> None:
    status = params.response.status
    if status == 429:
        metrics.flood_wait(PLATFORM, _wait(params.response.headers))
    if _is_send(params.method, params.url):
        metrics.platform_send(PLATFORM, send_result(status))


async def _on_error(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestExceptionParams,
) -> None:
    if _is_send(params.method, params.url):
        metrics.platform_send(PLATFORM, send_result(None))


def metered_trace() -> aiohttp.TraceConfig:
    """A trace config for ``discord.Client(http_trace=...)`` that records sends and 429 waits."""
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_on_end)
    trace.on_request_exception.append(_on_error)
    return trace
