"""The ways the sandbox can misbehave on an API call, to test the bot against a hostile Keevx.

A fault is drawn per call (``SandboxConfig.fault_rate`` and ``.faults``). Some
answer *instead of* Keevx, so nothing is processed; the others let the call be
processed and then spoil its answer: the dangerous case for a create, whose
task then exists. "drop" lives in the server, which owns the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

__all__ = ["CREATE_ONLY", "FAULT_KINDS", "LONG_RETRY_AFTER", "answer_instead", "spoil", "trickle"]

FAULT_KINDS = {
    "429": "a 429 in Keevx's envelope; not processed",
    "500": "a 500 in Keevx's envelope; not processed",
    "drop": "the connection closes unanswered; a create is processed first",
    "504": "a gateway's HTML 504; not processed",
    "429-long": "a 429 asking to wait LONG_RETRY_AFTER seconds; not processed",
    "redirect-loop": "a 307 to the same URL; not processed",
    "502-after-create": "a create is processed, then answered by a gateway's HTML 502",
    "bad-shape": "processed, but ``data`` (or ``result``) comes back as a list",
    "evil-task-id": "a create is processed, but its ids come back as ``../../<id>``",
    "trickle": "processed, and the answer is sent a byte at a time",
}
"""Every fault the sandbox knows, with what it does."""

CREATE_ONLY = frozenset({"502-after-create", "evil-task-id"})
"""Faults that only touch create requests; other calls are served normally."""

LONG_RETRY_AFTER = 3600


def _html(status: int, title: str) -> web.Response:
    return web.Response(
        status=status,
        text=f"<html><body><h1>{status} {title}</h1></body></html>",
        content_type="text/html",
    )


def answer_instead(fault: str | None, request: web.Request) -> web.Response | None:
    """The answer a fault gives in Keevx's place, or None when the call should be processed."""
    if fault in ("429", "500"):
        msg = "Rate limit exceeded" if fault == "429" else "Internal server error"
        return web.json_response({"code": int(fault), "msg": msg}, status=int(fault))
    if fault == "429-long":
        return web.json_response(
            {"code": 429, "msg": "Rate limit exceeded"},
            status=429,
            headers={"Retry-After": str(LONG_RETRY_AFTER)},
        )
    if fault == "504":
        return _html(504, "Gateway Time-out")
    if fault == "redirect-loop":
        return web.Response(status=307, headers={"Location": str(request.rel_url)})
    return None


def spoil(fault: str | None, response: web.StreamResponse) -> web.StreamResponse:
    """The processed ``response`` as the fault spoils it ("trickle" is sent by :func:`trickle`)."""
    if fault == "502-after-create":
        return _html(502, "Bad Gateway")
    if fault not in ("bad-shape", "evil-task-id") or not isinstance(response, web.Response):
        return response
    envelope: Any = json.loads(response.text or "null") if response.status == 200 else None
    key = next((k for k in ("data", "result") if isinstance(envelope, dict) and k in envelope), "")
    if not key:
        return response
    if fault == "bad-shape":
        envelope[key] = [envelope[key]]
    else:
        envelope[key]["task_ids"] = [f"../../{i}" for i in envelope[key]["task_ids"]]
    return web.json_response(envelope, status=response.status)


async def trickle(
    request: web.Request, response: web.StreamResponse, interval: float
) -> web.StreamResponse:
    """Send ``response`` one byte every ``interval`` seconds, until done or the client gives up."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response
    body = response.body
    stream = web.StreamResponse(
        status=response.status, headers={"Content-Type": response.content_type}
    )
    stream.content_length = len(body)
    await stream.prepare(request)
    with contextlib.suppress(ConnectionError):  # the client gave up: that is the point
        for n in range(len(body)):
            await stream.write(body[n : n + 1])
            await asyncio.sleep(interval)
        await stream.write_eof()
    return stream
