"""The bot's own HTTP server on ``PORT``: health checks, Keevx callbacks, adapters' webhooks.

It faces the internet, so it bounds what a client can hold: a connection that
sends no complete request header within ``idle_timeout`` (idle, or a slowloris
dribbling its header) is closed, a body must arrive within ``body_timeout``,
and beyond ``max_connections`` open connections a new one is answered 503 and
closed, so the rest of the process (database, downloads, uploads) always has
file descriptors left.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

__all__ = ["WebLimits", "WebServer"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nbusy\n"
)


@dataclass(frozen=True)
class WebLimits:
    """What one client may hold of the server (defaults suit Telegram's and Keevx's POSTs).

    ``idle_timeout`` is aiohttp's keep-alive timer, which runs from the moment a
    connection opens and again after each response, and closes the connection
    unless a complete request header arrived: it is the header-read timeout too.
    ``max_connections`` is lowered to half the process's descriptor limit if that
    is smaller.
    """

    idle_timeout: float = 15.0
    body_timeout: float = 30.0
    max_connections: int = 256
    max_body: int = 1024**2


class WebServer:
    """One small aiohttp server shared by the core and the adapters.

    Routes are added before :meth:`start`; ``GET /healthz`` answers as long
    as the process serves and has a connection to spare.
    """

    def __init__(
        self, *, host: str = "0.0.0.0", port: int = 8080, limits: WebLimits = WebLimits()
    ) -> None:
        self._host, self._port = host, port
        self.limits = limits
        self.app = web.Application(client_max_size=limits.max_body, middlewares=[self._read_body])
        self.app.router.add_get("/healthz", self._health)
        self._runner: web.AppRunner | None = None
        self._site: _CappedSite | None = None

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, path, handler)

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    @property
    def connections(self) -> int:
        """How many client connections are open now (refused ones not counted)."""
        return self._site.open if self._site is not None else 0

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            shutdown_timeout=2.0,
            keepalive_timeout=self.limits.idle_timeout,
            lingering_time=min(self.limits.idle_timeout, 2.0),  # after a body timed out
        )
        await self._runner.setup()
        cap = _connection_cap(self.limits.max_connections)
        self._site = _CappedSite(self._runner, self._host, self._port, cap=cap)
        await self._site.start()
        log.info("web server listening on port %d (at most %d connections)", self.port, cap)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = self._site = None

    @web.middleware
    async def _read_body(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Read the whole body (aiohttp keeps it for ``json()``) before any handler runs, in time.

        aiohttp itself waits for a body as long as bytes trickle in.
        """
        if request.body_exists:
            try:
                async with asyncio.timeout(self.limits.body_timeout):
                    await request.read()
            except TimeoutError:
                raise web.HTTPRequestTimeout() from None  # and aiohttp closes the connection
        return await handler(request)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


def _connection_cap(wanted: int) -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, min(wanted, soft // 2)) if soft > 0 else max(1, wanted)


class _CappedSite(web.BaseSite):
    """aiohttp's TCPSite with a cap on open connections (aiohttp offers none)."""

    __slots__ = ("_cap", "_host", "_port", "open")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, cap: int) -> None:
        super().__init__(runner)
        self._host, self._port, self._cap = host, port, cap
        self.open = 0

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self._host, self._port)

    def _protocol(self) -> asyncio.Protocol:
        """aiohttp's handler for the connection, or a 503 when ``cap`` are open."""
        server = self._runner.server
        if server is None or self.open >= self._cap:
            return _Busy()
        self.open += 1
        return _Counted(server(), self._closed)

    def _closed(self) -> None:
        self.open -= 1


class _Busy(asyncio.Protocol):
    """Answers 503 and hangs up, without reading the request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_BUSY)
        transport.close()


class _Counted(asyncio.Protocol):
    """Passes a connection's events to aiohttp's handler; says when the connection is gone."""

    def __init__(self, inner: asyncio.Protocol, closed: Callable[[], None]) -> None:
        self._inner = inner
        self._closed: Callable[[], None] | None = closed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        closed, self._closed = self._closed, None
        if closed is not None:
            closed()
        self._inner.connection_lost(exc)
