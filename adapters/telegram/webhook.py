"""Webhook mode: receiving Telegram's updates over HTTP.

The route goes on the core's shared web server (``bot.app.web.WebServer``) when
the adapter is given one, else on one of its own (the same class, the same limits).

Telegram echoes the ``secret_token`` given to setWebhook in the
``X-Telegram-Bot-Api-Secret-Token`` header; any request without the right one
is refused with 403 before its body is parsed. An update is answered 200 only
after its handlers ran (``Application.process_update``) and, for an album
part, after the album became a job (``settle``), so a crash before that makes
Telegram deliver it again, and the dedupe key makes no second job.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from adapters.telegram.redact import redact_also
from bot.app.web import WebServer
from bot.errors import ConfigError

__all__ = ["SECRET_HEADER", "WebhookReceiver", "WebhookServer", "make_secret", "webhook_path"]

log = logging.getLogger("adapters.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")

App = Application[Any, Any, Any, Any, Any, Any]
Settle = Callable[[Update], Awaitable[None]]


def make_secret(configured: str) -> str:
    """The configured secret if valid (1–256 of ``A-Za-z0-9_-``), else a random one."""
    if not configured:
        return secrets.token_urlsafe(32)
    if not _SECRET_RE.fullmatch(configured):
        raise ConfigError(
            "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
        )
    return configured


def webhook_path(url: str) -> str:
    """The path part of the public webhook URL (``/telegram`` when it has none)."""
    path = urlsplit(url).path
    return path if path and path != "/" else "/telegram"


class WebhookReceiver:
    """The route handler for ``POST <path>``: checks the secret, runs the update's handlers."""

    def __init__(self, app: App, *, secret: str, settle: Settle | None = None) -> None:
        self.app = app
        self.secret = secret
        redact_also(secret)  # a generated one is in no setting, and PTB logs setWebhook's
        self.settle = settle
        self.draining = False

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("webhook request refused: wrong or missing secret token")
            return web.Response(status=403, text="forbidden")
        if not self.app.running or self.draining:
            return web.Response(status=503, text="unavailable")  # Telegram retries later
        try:
            data = await request.json()
            update = Update.de_json(data, self.app.bot)
        except Exception:
            log.warning("webhook request refused: not an update")
            return web.Response(status=400, text="bad update")
        await self.app.process_update(update)
        if self.settle is not None:
            await self.settle(update)  # an album part: answer once the album is a job
        return web.Response(text="ok")


class WebhookServer:
    """A server of our own for :class:`WebhookReceiver`, when the core has none.

    A :class:`~bot.app.web.WebServer` (so the same connection limits and ``GET
    /healthz``) serving ``POST <path>`` on ``host:port`` (0 picks a port).
    """

    def __init__(self, receiver: WebhookReceiver, *, path: str, host: str, port: int) -> None:
        self.receiver = receiver
        self.path = path
        self.host = host
        self.port = port
        self._server: WebServer | None = None

    async def start(self) -> None:
        server = WebServer(host=self.host, port=self.port)
        server.add_route("POST", self.path, self.receiver.handle)
        await server.start()
        self._server, self.port = server, server.port
        log.info("webhook server listening on %s:%s%s", self.host, self.port, self.path)

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop()
