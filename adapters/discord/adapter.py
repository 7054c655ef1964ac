"""The Discord adapter: the core's :class:`~adapters.base.ChatAdapter` on discord.py.

Status messages and results go through the job's interaction while its
token is usable (slash commands and Again clicks) on the instance that received
it; otherwise, after a restart, on other instances, and for context-menu and
mention jobs, the bot posts and edits with its own token over REST, in the
channel or thread of the request, replying to the request's message and
mentioning the requester.

With several instances on one store exactly one holds the gateway (elected by
``leadership``, as Telegram's long polling is), so each event reaches one of
them; every instance logs in over REST, so any of them shows statuses and
delivers results. When the leader dies another takes over within
``leader_retry`` seconds (plus the election's own check). The requester is the only one such a
post may notify (``allowed_mentions``): not a user or role named in a prompt,
not @everyone, not the author of a message a context-menu job replies to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import discord

from adapters.base import BotState, Lead, Leadership, SoleLeadership, Video
from adapters.discord import render, texts
from adapters.discord.actions import Buttons
from adapters.discord.client import VideoBotClient, sync_commands
from adapters.discord.endpoints import point_at
from adapters.discord.errors import delivery_errors, token_expired
from adapters.discord.intake import PLATFORM, Intake
from adapters.discord.sessions import Origin, Session, Sessions
from adapters.discord.views import result_view, status_view
from bot import metrics
from bot.errors import DeliveryError, RecipientGone
from bot.i18n import _, speaking
from bot.jobs.service import JobService
from bot.model.job import Job, JobStatus, Target
from bot.settings import Settings

__all__ = ["DEFAULT_UPLOAD_LIMIT", "DiscordAdapter"]

log = logging.getLogger(__name__)
GATEWAY_ROLE = "discord_gateway"  # the metrics' leader role of the gateway instance

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
_NO_PINGS = discord.AllowedMentions.none()


def _requester_only(target: Target) -> discord.AllowedMentions:
    """Notify the requester, named in the text, and nobody else (the reply pings no one)."""
    return discord.AllowedMentions(
        everyone=False,
        roles=False,
        users=[discord.Object(int(target.user_id))],
        replied_user=False,
    )


class DiscordAdapter:
    """Runs a discord.py client and shows jobs and results in Discord.

    ``shared`` is the store's state every instance sees (the synced commands' hash,
    interaction responses' ids). Without ``leadership`` this instance is the only one
    (it always holds the gateway).
    """

    def __init__(
        self,
        settings: Settings,
        service: JobService,
        *,
        shared: BotState,
        leadership: Leadership | None = None,
        leader_retry: float = 5.0,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        self._settings = settings
        self._shared = shared
        self._sessions = Sessions(shared)
        self._intake = Intake(service, self._sessions, self._first_status)
        self._buttons = Buttons(self._intake, self.show_status)
        self._guild_ready_timeout = guild_ready_timeout
        self.leadership: Leadership = leadership or SoleLeadership()
        self.leader_retry = leader_retry
        self._client: VideoBotClient | None = None
        self._lead: Lead | None = None
        self._lead_task: asyncio.Task[None] | None = None
        self._gateway: asyncio.Task[None] | None = None
        self._synced = False
        self._shown: dict[int, tuple[str, str]] = {}  # job id -> (message id, content)
        self._showing: dict[int, asyncio.Lock] = {}

    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def client(self) -> VideoBotClient:
        """The running discord.py client."""
        if self._client is None:
            raise RuntimeError("the Discord adapter is not started")
        return self._client

    @property
    def leading(self) -> bool:
        """Whether this instance holds the gateway."""
        return self._lead is not None

    async def start(self) -> None:
        """Log in over REST, then hold the gateway in the background if elected (syncing
        the commands first), or stand by and try again every ``leader_retry`` s."""
        if self._client is not None:
            return
        point_at(self._settings.discord_api_url, self._settings.discord_gateway_url)
        client = VideoBotClient(
            intake=self._intake,
            buttons=self._buttons,
            guild_ready_timeout=self._guild_ready_timeout,
        )
        try:
            await client.login(self._settings.discord_bot_token)
        except BaseException:
            await client.close()
            raise
        self._client = client
        self._lead_task = asyncio.create_task(self._keep_lead(), name="discord-leader")

    @property
    def _lead_name(self) -> str:
        return f"discord-gateway:{self.client.application_id}"

    async def _keep_lead(self) -> None:
        """Hold the gateway while leading; stand by and try to lead otherwise."""
        first = True
        while True:
            if not first:
                await asyncio.sleep(self.leader_retry)
            first = False
            try:
                lead = await self.leadership.try_lead(self._lead_name)
            except Exception as exc:  # the election's store is unreachable: try again later
                log.warning("discord: cannot elect the gateway instance now: %s", exc)
                continue
            if lead is None:
                log.debug("discord: another instance holds the gateway")
                continue
            self._lead = lead
            metrics.leading(GATEWAY_ROLE, True)
            try:
                await self._hold_gateway(lead)
            finally:
                metrics.leading(GATEWAY_ROLE, False)
                await self._end_gateway()

    async def _hold_gateway(self, lead: Lead) -> None:
        """Connect the gateway; return when the lead is lost or the gateway stopped."""
        client = self.client
        if not self._synced:
            try:
                await sync_commands(
                    client.tree,
                    self._settings.discord_guild_ids,
                    self._shared,
                    client.application_id,
                )
                self._synced = True
            except Exception:
                log.exception("discord: syncing the commands failed; trying at the next lead")
        log.info("discord: this instance leads: connecting the gateway")
        self._gateway = asyncio.create_task(self._run(client), name="discord-gateway")
        lost = asyncio.create_task(lead.lost(), name="discord-lead-check")
        try:
            await asyncio.wait({self._gateway, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not self._gateway.done():
            log.warning("discord: lost the gateway lead: disconnecting")

    async def _run(self, client: VideoBotClient) -> None:
        try:
            await client.connect(reconnect=True)
        except Exception:
            log.exception("the Discord gateway stopped")

    async def _end_gateway(self) -> None:
        """Disconnect the gateway (REST stays logged in) and give the lead up."""
        task, self._gateway = self._gateway, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        client = self._client
        if client is not None and client.ws is not None:
            with contextlib.suppress(Exception):
                await client.ws.close(code=1000)
        lead, self._lead = self._lead, None
        if lead is not None:
            await lead.release()

    async def drain(self) -> None:
        """New requests are asked to come back later; statuses and results still go out."""
        self._intake.draining = True

    async def stop(self) -> None:
        task, self._lead_task = self._lead_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._end_gateway()
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def upload_limit(self, target: Target) -> int:
        """What an interaction there last reported, else the guild's limit (10 MiB by default)."""
        reported = self._sessions.limits.get(target.guild_id or target.chat_id)
        if reported:
            return reported
        if self._client is not None and target.guild_id is not None:
            guild = self._client.get_guild(int(target.guild_id))
            if guild is not None:
                return guild.filesize_limit
        return DEFAULT_UPLOAD_LIMIT

    # -- status ------------------------------------------------------------

    async def show_status(self, job: Job) -> str | None:
        """Create or edit the job's one status message; skip the edit when nothing changed.

        Edits the interaction's response while its token is usable, else the
        message by id with the bot token (a deleted one is posted anew). In the job's
        language, whoever's click (a moderator's Cancel) made the change.
        Raises ``RecipientGone`` when the bot may not post there.
        """
        lock = self._showing.setdefault(job.id, asyncio.Lock())
        with speaking(job.language):
            async with lock:  # one edit at a time
                return await self._show_status(job)

    async def _show_status(self, job: Job) -> str | None:
        content = render.status_text(job)
        shown_id, shown = self._shown.get(job.id, (None, None))
        if shown == content and job.status_message_id in (None, shown_id):
            return shown_id  # nothing changed: no edit
        view = status_view(job)
        message_id: str | None = None
        session = await self._sessions.ready(job)
        if session is not None:
            message_id = await self._status_by_interaction(job, session, content, view)
        if message_id is None:
            message_id = await self._status_by_bot(job, content, view)
        if job.status.terminal:
            self._shown.pop(job.id, None)
            self._showing.pop(job.id, None)
            self._sessions.drop(job)
        elif message_id is not None:
            self._shown[job.id] = (message_id, content)
        return message_id

    async def _first_status(self, job: Job) -> None:
        """Show a job made from an interaction in the interaction's response, at once, and
        tell the other instances which message that is (they may work the job)."""
        try:
            message_id = await self.show_status(job)
        except DeliveryError as exc:
            log.warning("job %s: first status not shown: %s", job.id, exc)
            return
        if message_id is not None:
            await self._sessions.share(job, message_id)

    async def _status_by_interaction(
        self, job: Job, session: Session, content: str, view: discord.ui.View | None
    ) -> str | None:
        try:
            with delivery_errors("status via interaction"):
                try:
                    msg = await session.interaction.edit_original_response(
                        content=content, view=view, allowed_mentions=_NO_PINGS
                    )
                except discord.HTTPException as exc:
                    if not token_expired(exc):
                        raise
                    log.info("job %s: interaction token expired, using the bot token", job.id)
                    self._sessions.drop(job)
                    return None
        except RecipientGone:
            return None  # the response message was deleted: post a new one
        return str(msg.id)

    async def _status_by_bot(
        self, job: Job, content: str, view: discord.ui.View | None
    ) -> str | None:
        channel = self._channel(job.target)
        # The first status of a job another instance took from an interaction goes into
        # that interaction's response, so no "thinking…" is left behind.
        shown = job.status_message_id or await self._sessions.shared_response(job)
        if shown is not None:
            try:
                with delivery_errors("status edit"):
                    await channel.get_partial_message(int(shown)).edit(
                        content=content, view=view, allowed_mentions=_NO_PINGS
                    )
                return shown
            except RecipientGone:
                pass  # deleted, or not editable with the bot token: post anew
            if job.status in (JobStatus.DELIVERED, JobStatus.CANCELLED):
                return shown  # nothing worth a new message
        with delivery_errors("status message"):
            msg = await channel.send(
                render.status_text(job, mention=True),
                view=view or discord.utils.MISSING,
                **self._reply(job.target),
                allowed_mentions=_requester_only(job.target),
            )
        return str(msg.id)

    # -- results -----------------------------------------------------------

    async def deliver(self, job: Job, video: Video) -> str:
        """Post the video: the MP4 when it fits, else an embed with the link.

        Raises ``TooLarge`` (Discord refused the size: the core resends a link),
        ``RecipientGone`` (no permission, channel gone) or ``DeliveryError``.
        """
        with speaking(job.language):
            return await self._deliver(job, video)

    async def _deliver(self, job: Job, video: Video) -> str:
        session = await self._sessions.ready(job)
        if session is not None and session.origin not in (Origin.SLASH, Origin.AGAIN):
            session = None  # context-menu jobs answer the message they were made from
        if session is not None:
            message_id = await self._result_by_interaction(job, session, video)
            if message_id is not None:
                return message_id
        return await self._result_by_bot(job, video)

    def _result_parts(self, job: Job, video: Video, *, mention: bool) -> dict[str, Any]:
        parts: dict[str, Any] = {
            "content": render.result_text(job, video.number - 1, video.total, mention=mention),
            "view": result_view(job, video.url),
        }
        if video.path is not None and (video.size or 0) <= self.upload_limit(job.target):
            parts["file"] = discord.File(video.path, filename=f"keevx-{job.id}-{video.number}.mp4")
        else:
            parts["embed"] = render.link_embed(job, video)
        return parts

    async def _result_by_interaction(self, job: Job, session: Session, video: Video) -> str | None:
        parts = self._result_parts(job, video, mention=False)
        with delivery_errors("result via interaction"):
            try:
                msg = await session.interaction.followup.send(
                    **parts, wait=True, allowed_mentions=_NO_PINGS
                )
            except discord.HTTPException as exc:
                if not token_expired(exc):
                    raise
                log.info("job %s: interaction token expired, posting with the bot token", job.id)
                self._sessions.drop(job)
                return None
        return str(msg.id)

    async def _result_by_bot(self, job: Job, video: Video) -> str:
        parts = self._result_parts(job, video, mention=True)
        try:
            with delivery_errors("result message"):
                msg = await self._channel(job.target).send(
                    **parts, **self._reply(job.target), allowed_mentions=_requester_only(job.target)
                )
        except RecipientGone:
            await self._explain(job, texts.CANNOT_POST)
            raise
        return str(msg.id)

    async def _explain(self, job: Job, text: str) -> None:
        """Tell the requester privately, while an interaction of the job is still usable
        (``text``: a sentence of :mod:`texts`, said here)."""
        session = self._sessions.get(job)
        if session is None:
            return
        with contextlib.suppress(discord.HTTPException, DeliveryError):
            await session.interaction.followup.send(
                render.fit(_(texts.ABOUT_JOB).format(job=job.id, text=_(text))),
                ephemeral=True,
                allowed_mentions=_NO_PINGS,
            )

    # -- places ------------------------------------------------------------

    def _channel(self, target: Target) -> discord.PartialMessageable:
        guild_id = int(target.guild_id) if target.guild_id else None
        return self.client.get_partial_messageable(
            int(target.thread_id or target.chat_id), guild_id=guild_id
        )

    @staticmethod
    def _reply(target: Target) -> dict[str, Any]:
        """``send`` keywords making a reply to the request's message, when there is one."""
        if target.reply_to is None:
            return {}
        reference = discord.MessageReference(
            message_id=int(target.reply_to),
            channel_id=int(target.thread_id or target.chat_id),
            fail_if_not_exists=False,
        )
        return {"reference": reference}
