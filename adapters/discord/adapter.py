"""The Discord adapter: the core's :class:`~adapters.base.ChatAdapter` on discord.py.

Status messages and results go through the job's interaction while its
token is usable (slash commands and Again clicks); otherwise, after a
restart, and for context-menu and mention jobs, the bot posts with its own
token in the channel or thread of the request, replying to the request's
message and mentioning the requester. The requester is the only one such a
post may notify (``allowed_mentions``): not a user or role named in a prompt,
not @everyone, not the author of a message a context-menu job replies to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import discord

from adapters.base import Video
from adapters.discord import render, texts
from adapters.discord.actions import Buttons
from adapters.discord.client import VideoBotClient
from adapters.discord.endpoints import point_at
from adapters.discord.errors import delivery_errors, token_expired
from adapters.discord.intake import PLATFORM, Intake
from adapters.discord.sessions import Origin, Session, Sessions
from adapters.discord.views import result_view, status_view
from bot.errors import DeliveryError, RecipientGone
from bot.jobs.service import JobService
from bot.model.database_url import database_kind, sqlite_path
from bot.model.job import Job, JobStatus, Target
from bot.settings import Settings

__all__ = ["DEFAULT_UPLOAD_LIMIT", "DiscordAdapter"]

log = logging.getLogger(__name__)

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


def _commands_stamp(database_url: str) -> Path | None:
    """Beside a SQLite file; none in memory or with PostgreSQL (commands sync at each start)."""
    if database_kind(database_url) != "sqlite":
        return None
    path = sqlite_path(database_url)
    if path == ":memory:":
        return None
    db = Path(path)
    return db.with_name(f"{db.stem}.discord-commands")


class DiscordAdapter:
    """Runs a discord.py client and shows jobs and results in Discord."""

    def __init__(
        self, settings: Settings, service: JobService, *, guild_ready_timeout: float = 2.0
    ) -> None:
        self._settings = settings
        self._sessions = Sessions()
        self._intake = Intake(service, self._sessions)
        self._buttons = Buttons(self._intake, self.show_status)
        self._guild_ready_timeout = guild_ready_timeout
        self._client: VideoBotClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._shown: dict[int, str] = {}

    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def client(self) -> VideoBotClient:
        """The running discord.py client."""
        if self._client is None:
            raise RuntimeError("the Discord adapter is not started")
        return self._client

    async def start(self) -> None:
        """Log in (syncing commands in ``setup_hook``), then run the gateway in the background."""
        if self._client is not None:
            return
        point_at(self._settings.discord_api_url, self._settings.discord_gateway_url)
        client = VideoBotClient(
            intake=self._intake,
            buttons=self._buttons,
            guild_ids=self._settings.discord_guild_ids,
            commands_stamp=_commands_stamp(self._settings.database_url),
            guild_ready_timeout=self._guild_ready_timeout,
        )
        try:
            await client.login(self._settings.discord_bot_token)
        except BaseException:
            await client.close()
            raise
        self._client = client
        self._task = asyncio.create_task(self._run(client), name="discord-gateway")

    async def _run(self, client: VideoBotClient) -> None:
        try:
            await client.connect(reconnect=True)
        except Exception:
            log.exception("the Discord gateway stopped")

    async def drain(self) -> None:
        """New requests are asked to come back later; statuses and results still go out."""
        self._intake.draining = True

    async def stop(self) -> None:
        client, task = self._client, self._task
        self._client = self._task = None
        if client is not None:
            await client.close()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

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
        message by id with the bot token (a deleted one is posted anew).
        Raises ``RecipientGone`` when the bot may not post there.
        """
        content = render.status_text(job)
        if job.status_message_id and self._shown.get(job.id) == content:
            return job.status_message_id  # nothing changed: no edit
        view = status_view(job)
        message_id: str | None = None
        session = await self._sessions.ready(job)
        if session is not None:
            message_id = await self._status_by_interaction(job, session, content, view)
        if message_id is None:
            message_id = await self._status_by_bot(job, content, view)
        if job.status.terminal:
            self._shown.pop(job.id, None)
            self._sessions.drop(job)
        else:
            self._shown[job.id] = content
        return message_id

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
        if job.status_message_id is not None:
            try:
                with delivery_errors("status edit"):
                    await channel.get_partial_message(int(job.status_message_id)).edit(
                        content=content, view=view, allowed_mentions=_NO_PINGS
                    )
                return job.status_message_id
            except RecipientGone:
                pass  # deleted, or not editable with the bot token: post anew
            if job.status in (JobStatus.DELIVERED, JobStatus.CANCELLED):
                return job.status_message_id  # nothing worth a new message
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
        """Tell the requester privately, while an interaction of the job is still usable."""
        session = self._sessions.get(job)
        if session is None:
            return
        with contextlib.suppress(discord.HTTPException, DeliveryError):
            await session.interaction.followup.send(
                render.fit(texts.ABOUT_JOB.format(job=job.id, text=text)),
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
