"""The composition root: builds the core, and the adapters whose token is set.

The only module of :mod:`bot` that imports a platform adapter, lazily, so
the core itself never loads ``telegram`` or ``discord``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from bot import metrics
from bot.app.probes import MetricsPage, Readiness
from bot.app.web import WebServer
from bot.errors import ConfigError
from bot.jobs.callbacks import CALLBACK_PATH, KeevxCallbacks
from bot.jobs.delivery import result_policy
from bot.jobs.durations import Durations
from bot.jobs.limits import Gatekeeper
from bot.jobs.links import ImageLinks, link_policy
from bot.jobs.pipeline import Pipeline, Timing
from bot.jobs.poller import Poller
from bot.jobs.ports import JobEvents, JobStore
from bot.jobs.schedule import AdaptiveSchedule, FixedSchedule, PollSchedule
from bot.jobs.service import JobService
from bot.keevx.client import KeevxClient, RetryPolicy
from bot.settings import Settings
from storage import open_store

if TYPE_CHECKING:
    from adapters.base import ChatAdapter, SharedState

__all__ = ["Core", "run", "utcnow"]

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Core:
    """Store, Keevx client, job service and poller, as one async context manager.

    With ``settings.keevx_sandbox`` the built-in Keevx emulator is started on
    loopback and used instead of the real API.
    """

    store: JobStore
    shared: SharedState  # the same store, as the adapters see it
    schedule: PollSchedule
    keevx: KeevxClient
    service: JobService
    poller: Poller

    def __init__(
        self, settings: Settings, *, stop_grace: float = 10.0, timing: Timing | None = None
    ) -> None:
        self.settings = settings
        self.timing = timing or Timing(
            poll_interval=timedelta(seconds=settings.poll_interval),
            poll_timeout=timedelta(seconds=settings.poll_timeout),
        )
        self.stop_grace = stop_grace
        self._adapters: dict[str, ChatAdapter] = {}
        self._stack = AsyncExitStack()
        self._poller_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._web_started = False
        self.readiness = Readiness()

    async def __aenter__(self) -> Core:
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _open(self) -> None:
        settings = self.settings
        base_url, api_key = settings.keevx_base_url, settings.keevx_api_key
        if settings.keevx_sandbox:
            from bot.keevx.sandbox import Sandbox, SandboxConfig

            sandbox = Sandbox(SandboxConfig(delay=settings.sandbox_delay))
            await self._stack.enter_async_context(sandbox)
            base_url, api_key = sandbox.base_url, api_key or "sandbox"
            log.info("using the built-in Keevx sandbox at %s", base_url)
        elif not api_key:
            raise ConfigError("KEEVX_API_KEY is not set (or set KEEVX_SANDBOX=1 to try the bot)")
        self.http = await self._stack.enter_async_context(
            httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True)
        )
        self.store = self.shared = await open_store(settings.database_url, worker=True)
        self._stack.push_async_callback(self.store.close)
        self.readiness.update(store_open=True)
        self.keevx = KeevxClient(
            api_key,
            base_url,
            http=self.http,
            retry=RetryPolicy(
                max_retries=settings.max_retries,
                wait_429=settings.retry_wait_429,
                wait_500=settings.retry_wait_500,
            ),
            max_rps=settings.keevx_max_rps,
        )
        timing = self.timing
        self.web: WebServer | None = None
        if settings.port is not None or settings.public_url:
            self.web = WebServer(port=settings.port if settings.port is not None else 8080)
            self.web.add_route("GET", "/readyz", self.readiness.handle)
            self.web.add_route("GET", "/metrics", MetricsPage(self.store).handle)
        callback_url = None
        if settings.public_url and self.web is not None:
            callbacks = KeevxCallbacks(
                self.store,
                public_url=settings.public_url,
                secret=settings.keevx_api_key,  # none in the sandbox: a random one
                now=utcnow,
                wake=lambda: self.poller.wake(),
            )
            self.web.add_route("POST", CALLBACK_PATH, callbacks.handle)
            callback_url = callbacks.url_for
        gate = Gatekeeper(settings, self.store, now=utcnow)
        self.schedule = await self._schedule(callbacks=callback_url is not None)
        pipeline = Pipeline(
            self.store,
            self.keevx,
            self._adapters,
            http=self.http,
            timing=timing,
            now=utcnow,
            schedule=self.schedule,
            callback_url=callback_url or (lambda job: None),
            gate=gate,
            results=result_policy(base_url),
        )
        self.poller = Poller(
            self.store,
            pipeline,
            timing=timing,
            now=utcnow,
            concurrency=settings.poll_concurrency,
            max_idle=max(settings.poll_interval, 1.0),
        )
        links = ImageLinks(self.http, link_policy(allow_private=settings.allow_private_image_urls))
        self.service = JobService(
            self.store,
            now=utcnow,
            wake=self.poller.wake,
            gate=gate,
            links=links,
            default_language=settings.default_language,
        )

    async def _schedule(self, *, callbacks: bool) -> PollSchedule:
        """Adaptive unless POLL_STRATEGY=fixed; learned durations are loaded once, here.

        With callbacks on, the adaptive schedule only polls as a slow safety net.
        """
        if self.settings.poll_strategy == "fixed":
            return FixedSchedule(self.timing.poll_interval)
        durations = Durations(log=self.store)
        loaded = await durations.load()
        log.info("poll schedule: adaptive, from %d learned duration(s)", loaded)
        return AdaptiveSchedule(
            durations,
            interval=self.timing.poll_interval,
            timeout=self.timing.poll_timeout,
            callbacks=callbacks,
        )

    async def start_web(self) -> None:
        """Start the web server, once every route (an adapter's webhook too) is added."""
        if self.web is not None and not self._web_started:
            await self.web.start()
            self._stack.push_async_callback(self.web.stop)
            self._web_started = True

    async def attach(self, *adapters: ChatAdapter) -> None:
        """Route jobs of these adapters' platforms through them, and start the poller."""
        await self.start_web()
        for adapter in adapters:
            self._adapters[adapter.platform] = adapter
            metrics.platform_started(adapter.platform)
        if self._poller_task is None:
            self._poller_task = asyncio.create_task(self.poller.run(), name="poller")
            if isinstance(self.store, JobEvents):  # other instances' changes wake this one
                self._watch_task = asyncio.create_task(
                    self.store.watch(self.poller.wake), name="job-events"
                )
        self.readiness.update(platforms_started=True)
        self.poller.wake()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.readiness.update(draining=True)
        if self._poller_task is not None:
            await self.poller.stop(self.stop_grace)
            tasks = [t for t in (self._poller_task, self._watch_task) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._stack.aclose()


def _build_adapters(settings: Settings, core: Core) -> list[ChatAdapter]:
    from storage.leadership import leadership_for

    # On a shared PostgreSQL database one instance at a time runs Telegram's long
    # polling and one holds Discord's gateway; every instance delivers.
    leadership = leadership_for(settings.database_url)
    adapters: list[ChatAdapter] = []
    if settings.telegram_bot_token:
        from adapters.telegram import TelegramAdapter

        adapters.append(
            TelegramAdapter(
                settings, core.service, shared=core.shared, web=core.web, leadership=leadership
            )
        )
    if settings.discord_bot_token:
        from adapters.discord import DiscordAdapter

        adapters.append(
            DiscordAdapter(settings, core.service, shared=core.shared, leadership=leadership)
        )
    return adapters


async def run(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run every platform whose token is set until SIGINT/SIGTERM (or ``stop``)."""
    if not settings.platforms:
        raise ConfigError("no platform to start: set TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Core(settings) as core:
        adapters = _build_adapters(settings, core)
        started: list[ChatAdapter] = []
        try:
            await core.start_web()
            for adapter in adapters:
                await adapter.start()
                started.append(adapter)
                log.info("%s is running", adapter.platform)
            await core.attach(*started)
            await stop.wait()
            log.info("stopping: no new requests; finishing work in progress")
        finally:
            # No new requests; deliveries in progress still need their adapter, so the
            # poller stops (within its grace) before the adapters disconnect.
            core.readiness.update(draining=True)
            for adapter in started:
                await adapter.drain()
            await core.poller.stop(core.stop_grace)
            for adapter in reversed(started):
                await adapter.stop()
