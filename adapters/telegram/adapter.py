"""The Telegram adapter: python-telegram-bot's Application wired to the job service.

Thin by design: request rules live in :mod:`bot.model.request`, jobs in
:class:`bot.jobs.service.JobService`. This class builds the PTB ``Application``
(pointed at ``TELEGRAM_API_URL``, flood-controlled by ``AIORateLimiter``),
registers the handlers, runs long polling or webhook mode, and implements
:class:`adapters.base.ChatAdapter` for the core. Each update is handled in the
language of the person who sent it (:mod:`adapters.telegram.language`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from telegram import Message, Update
from telegram.constants import FileSizeLimit
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from adapters.base import Lead, Leadership, MessageGroups, SoleLeadership, Video
from adapters.telegram import texts
from adapters.telegram.albums import AlbumCollector
from adapters.telegram.commands import Commands
from adapters.telegram.delivery import Deliverer
from adapters.telegram.handlers import MessageRouter
from adapters.telegram.intake import Intake, reply
from adapters.telegram.language import language_for, set_commands
from adapters.telegram.metered import MeteredRateLimiter
from adapters.telegram.polling import UpdateFetcher
from adapters.telegram.redact import protect_logs, unprotect_logs
from adapters.telegram.status import StatusBoard
from adapters.telegram.webhook import (
    WebhookReceiver,
    WebhookServer,
    make_secret,
    webhook_path,
)
from bot import metrics
from bot.app.web import WebServer
from bot.errors import ConfigError
from bot.i18n import _, speaking
from bot.jobs.service import JobService
from bot.model.job import Job, Target
from bot.settings import Settings

__all__ = ["PRIVACY_MODE_ON", "TelegramAdapter"]

log = logging.getLogger("adapters.telegram")
POLLER_ROLE = "telegram_poller"  # the metrics' leader role of the getUpdates instance

# For operators (the start-up log, `keevx-bot doctor`): what privacy mode hides in groups.
PRIVACY_MODE_ON = (
    "privacy mode is on: in groups only commands, mentions, replies to the bot and the"
    " captioned photo of an album reach it, so an album there arrives as one photo;"
    " turn it off with @BotFather (/setprivacy, Disable), then remove the bot from each"
    " group and add it again"
)

App = Application[Any, Any, Any, Any, Any, Any]
Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
ALLOWED_UPDATES = ["message", "callback_query"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TelegramAdapter:
    """Implements :class:`adapters.base.ChatAdapter` for Telegram.

    ``shared`` is where album parts are collected (the store, so parts that reached
    different instances make one job). Other keyword arguments exist for tests and
    operators: ``now`` is the clock, ``album_window``/``album_cap`` time album
    collection, ``status_interval`` throttles status edits of an unchanged state.
    In webhook mode the route is
    added to ``web`` (the core's server; pass it before that server starts),
    or, without one, served on our own server at ``webhook_host`` and
    ``settings.port`` (8080 when unset; 0 picks a free port).

    Telegram allows one ``getUpdates`` consumer per token, so with several instances
    only the one that leads (``leadership``, elected per bot) polls; the others try to
    take the lead every ``leader_retry`` seconds and one starts polling once the
    leader is gone. Polling stops at once when the lead is lost. Without
    ``leadership`` this instance is the only one (always the leader); webhook mode
    needs no leader.
    """

    def __init__(
        self,
        settings: Settings,
        service: JobService,
        *,
        shared: MessageGroups,
        now: Callable[[], datetime] = _utcnow,
        album_window: float = 1.5,
        album_cap: float = 5.0,
        status_interval: float = 10.0,
        webhook_host: str = "0.0.0.0",
        updates_timeout: float = 10.0,
        web: WebServer | None = None,
        leadership: Leadership | None = None,
        leader_retry: float = 5.0,
    ) -> None:
        token = settings.telegram_bot_token
        if not token:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
        self.settings = settings
        self.service = service
        self.now = now
        self.updates_timeout = updates_timeout
        self._log_filter = protect_logs((*settings.secrets, token))
        api = settings.telegram_api_url.rstrip("/")
        self.local_mode = settings.telegram_local_mode
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{api}/bot")
            .base_file_url(f"{api}/file/bot")
            .local_mode(self.local_mode)
            .rate_limiter(MeteredRateLimiter(max_retries=1))
            .concurrent_updates(16)
            .media_write_timeout(120)
        )
        # No PTB Updater: UpdateFetcher or the webhook feed the Application.
        self.app: App = builder.updater(None).build()
        bot = self.app.bot
        self._upload_limit = int(
            FileSizeLimit.FILESIZE_UPLOAD_LOCAL_MODE
            if self.local_mode
            else FileSizeLimit.FILESIZE_UPLOAD
        )
        self.status = StatusBoard(
            bot, now=now, reread=service.get, min_edit_interval=status_interval
        )
        self.deliverer = Deliverer(bot, local_mode=self.local_mode, upload_limit=self._upload_limit)
        self.intake = Intake(bot, service, platform=self.platform, local_mode=self.local_mode)
        albums = AlbumCollector(
            shared, self._on_album, bot=bot, now=now, window=album_window, cap=album_cap
        )
        self.router = MessageRouter(self.intake, albums)
        self.commands = Commands(service, self.status, platform=self.platform, now=now)
        self.webhook: WebhookReceiver | None = None
        self.webhook_server: WebhookServer | None = None
        if settings.telegram_webhook_url:
            self.webhook = WebhookReceiver(
                self.app, secret=make_secret(settings.telegram_webhook_secret), settle=self._settle
            )
            path = webhook_path(settings.telegram_webhook_url)
            if web is not None:
                web.add_route("POST", path, self.webhook.handle)
            else:
                self.webhook_server = WebhookServer(
                    self.webhook,
                    path=path,
                    host=webhook_host,
                    port=settings.port if settings.port is not None else 8080,
                )
        self.fetcher: UpdateFetcher | None = None
        if self.webhook is None:
            self.fetcher = UpdateFetcher(
                self.app,
                timeout=updates_timeout,
                allowed_updates=ALLOWED_UPDATES,
                settle=self._settle,
            )
        self.leadership: Leadership = leadership or SoleLeadership()
        self.leader_retry = leader_retry
        self.lead_name = f"telegram-polling:{token.split(':', 1)[0]}"  # the bot id, not secret
        self._lead: Lead | None = None
        self._lead_task: asyncio.Task[None] | None = None
        self._register()
        self._started = False

    # -- ChatAdapter ------------------------------------------------------------------------

    @property
    def platform(self) -> str:
        return "telegram"

    def upload_limit(self, target: Target) -> int:
        return self._upload_limit

    async def start(self) -> None:
        """Log in (getMe), set the command list, and start polling or the webhook.

        Raises PTB's ``InvalidToken``/``NetworkError`` when Telegram cannot be
        reached; whatever was started is stopped again first.
        """
        if self._started:
            return
        try:
            await self._start()
        except BaseException:
            self._started = True
            await self.stop()
            raise

    async def _start(self) -> None:
        await self.app.initialize()
        await set_commands(self.app.bot)
        await self.app.start()
        self.status.start()
        if self.webhook is not None:
            if self.webhook_server is not None:
                await self.webhook_server.start()
            await self.app.bot.set_webhook(
                self.settings.telegram_webhook_url,
                secret_token=self.webhook.secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        elif self.fetcher is not None:
            lead = await self._try_lead()
            if lead is not None:
                await self._begin_polling(lead)
            else:
                metrics.leading(POLLER_ROLE, False)
                log.info("telegram: another instance polls; this one stands by")
            self._lead_task = asyncio.create_task(self._keep_lead(), name="telegram-leader")
        self._started = True
        log.info("telegram: started as @%s (%s)", self.app.bot.username, self.mode)
        if not self.app.bot.bot.can_read_all_group_messages:
            log.warning("telegram: %s", PRIVACY_MODE_ON)

    async def stop(self) -> None:
        if not self._started:
            unprotect_logs(self._log_filter)
            return
        self._started = False
        await self._stop_leading()
        if self.webhook_server is not None:
            await self.webhook_server.stop()
        await self.router.albums.close()
        await self.status.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()  # a no-op when never initialized
        log.info("telegram: stopped")
        unprotect_logs(self._log_filter)

    async def drain(self) -> None:
        """Take no new updates (polling stops; the webhook answers 503, so Telegram keeps
        them for the next start); status edits and deliveries still go out."""
        if self.webhook is not None:
            self.webhook.draining = True
        await self._stop_leading()

    async def show_status(self, job: Job) -> str | None:
        return await self.status.show(job)

    async def deliver(self, job: Job, video: Video) -> str:
        return await self.deliverer.deliver(job, video)

    # -- internals --------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        """Whether this instance holds the polling lead (and so runs ``getUpdates``)."""
        return self._lead is not None

    async def _try_lead(self) -> Lead | None:
        try:
            return await self.leadership.try_lead(self.lead_name)
        except Exception as exc:  # the election's store is unreachable: try again later
            log.warning("telegram: cannot elect the polling instance now: %s", exc)
            return None

    async def _begin_polling(self, lead: Lead) -> None:
        self._lead = lead
        metrics.leading(POLLER_ROLE, True)
        assert self.fetcher is not None
        log.info("telegram: this instance leads: long polling starts")
        await self.fetcher.start()

    async def _end_polling(self) -> None:
        """Stop fetching (handlers in flight may finish), then give the lead up."""
        if self.fetcher is not None and (self.fetcher.running or self._lead is not None):
            await self.fetcher.stop(grace=self.router.albums.cap + 10)
        lead, self._lead = self._lead, None
        if lead is not None:
            metrics.leading(POLLER_ROLE, False)
            await lead.release()

    async def _keep_lead(self) -> None:
        """Poll while leading; stand by and try to lead every ``leader_retry`` s otherwise."""
        while True:
            if self._lead is None:
                await asyncio.sleep(self.leader_retry)
                lead = await self._try_lead()
                if lead is None:
                    continue
                await self._begin_polling(lead)
            assert self._lead is not None
            await self._lead.lost()
            log.warning("telegram: lost the polling lead: polling stops")
            await self._end_polling()

    async def _stop_leading(self) -> None:
        task, self._lead_task = self._lead_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._end_polling()

    @property
    def mode(self) -> str:
        return "webhook" if self.webhook is not None else "polling"

    def _register(self) -> None:
        c = self.commands
        app = self.app
        spoken = self._spoken
        app.add_handler(CommandHandler(["start", "help"], spoken(c.help)))
        app.add_handler(CommandHandler("settings", spoken(c.settings)))
        app.add_handler(CommandHandler("jobs", spoken(c.jobs)))
        app.add_handler(CommandHandler("cancel", spoken(c.cancel)))
        app.add_handler(CommandHandler("stats", spoken(c.stats)))
        app.add_handler(CommandHandler("language", spoken(c.language)))
        app.add_handler(CallbackQueryHandler(spoken(c.on_button), pattern=r"^keevx:"))
        app.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL,
                spoken(self.router.on_message),
            )
        )
        app.add_error_handler(self._on_error)

    def _spoken(self, callback: Callback) -> Callback:
        """``callback``, run in the language of the person the update comes from."""

        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            with speaking(await self._language(update)):
                await callback(update, context)

        return handle

    async def _language(self, update: Update) -> str:
        chat = update.effective_chat
        return await language_for(
            self.service, self.platform, update.effective_user, chat.id if chat else None
        )

    async def _settle(self, update: Update) -> None:
        msg = update.message
        if msg is not None and msg.media_group_id is not None:
            await self.router.albums.settled(msg.chat_id, msg.media_group_id)

    async def _on_album(self, parts: list[Message]) -> None:
        await self.router.on_album(parts)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        where = update.update_id if isinstance(update, Update) else "-"
        log.error("telegram: handling update %s failed", where, exc_info=context.error)
        if isinstance(update, Update) and update.message is not None:
            try:
                language = await self._language(update)
            except Exception as exc:  # the store may be what failed: say it in English
                log.warning("telegram: no language for the apology: %s", exc)
                language = None
            with speaking(language):
                await reply(update.message, _(texts.SORRY))
