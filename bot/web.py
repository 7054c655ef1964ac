"""The bot's own HTTP server on ``PORT``: health checks, Keevx callbacks, adapters' webhooks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["WebServer"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebServer:
    """One small aiohttp server shared by the core and the adapters.

    Routes are added before :meth:`start`; ``GET /healthz`` answers as long
    as the process serves.
    """

    def __init__(self, *, host: str = "0.0.0.0", port: int = 8080) -> None:
        self._host, self._port = host, port
        self.app = web.Application(client_max_size=1024**2)
        self.app.router.add_get("/healthz", self._health)
        self._runner: web.AppRunner | None = None

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, path, handler)

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        log.info("web server listening on port %d", self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})
