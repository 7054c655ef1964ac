"""Turning a slash command, a context-menu modal or a mention into a job.

Every path does the same: refuse early with the core's sentence (bad
options, attachments that are not images or too large), acknowledge, download
the attachments at once, streamed to disk under a byte cap (their CDN URLs
are signed and expire, and are never passed on), and call
:meth:`bot.jobs.service.JobService.submit` with a ``dedupe_key`` of the Discord
event, so a re-delivered event makes no second job. Image links in the text go
to the service as they are: the core fetches them.

A mention uses its own image attachments, else those of the message it replies
to; a mention with neither (nor a link) is answered with a hint.

Each request is answered in its asker's language (:meth:`Intake.language`), and its
job made in it, so the job's status and results stay in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import discord

from adapters.discord import texts
from adapters.discord.download import TIMEOUT, DownloadFailed, DownloadTooLarge, save_to_file
from adapters.discord.render import mention_hint, public_refusal, refusal
from adapters.discord.sessions import Origin, Sessions
from bot.errors import RequestInvalid, StoreError
from bot.i18n import _, choose, number, speaking
from bot.jobs.service import JobService
from bot.model.job import Job, Target
from bot.model.links import links_in
from bot.model.request import Options, VideoRequest, build_request, parse_command

__all__ = [
    "Intake",
    "check_attachments",
    "image_attachments",
    "interaction_key",
    "looks_like_image",
    "target_of",
]

log = logging.getLogger(__name__)

# Larger photos than Keevx takes (20 MB) are fetched and re-encoded by the core;
# this bounds each file one request may make the bot download (streamed to disk).
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024

# Discord fails an interaction not answered within 3 s; answer by this much after it.
ACK_WITHIN = 2.5

PLATFORM = "discord"


def interaction_key(interaction: discord.Interaction[Any]) -> str:
    return f"discord:interaction:{interaction.id}"


_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def looks_like_image(att: discord.Attachment) -> bool:
    """Discord's content type says image (or, when it gives none, the file name does).

    Only a first filter: the core checks the bytes after download.
    """
    if att.content_type:
        return att.content_type.startswith("image/")
    return att.filename.lower().endswith(_IMAGE_SUFFIXES)


def image_attachments(attachments: Sequence[discord.Attachment]) -> list[discord.Attachment]:
    """The attachments that look like images."""
    return [a for a in attachments if looks_like_image(a)]


def _about(one: str, nth: str, place: int, count: int, **values: object) -> str:
    """The sentence about the only image (``one``) or about image ``place`` of several."""
    return (_(one) if count == 1 else _(nth)).format(number=place, **values)


def _too_large(place: int, count: int, size: int | None) -> RequestInvalid:
    cap = number(MAX_DOWNLOAD_BYTES // 1_048_576)
    if size is None:
        sentence = _about(
            texts.TOO_LARGE_UNSIZED, texts.TOO_LARGE_UNSIZED_NTH, place, count, cap=cap
        )
    else:
        weight = number(size / 1_048_576)
        sentence = _about(texts.TOO_LARGE, texts.TOO_LARGE_NTH, place, count, size=weight, cap=cap)
    return RequestInvalid(sentence, field="image", value=size)


def check_attachments(attachments: Sequence[discord.Attachment]) -> None:
    """Refuse what is not an image or too large, before anything is downloaded."""
    for place, att in enumerate(attachments, start=1):
        if not looks_like_image(att):
            sentence = _about(
                texts.NOT_A_PHOTO, texts.NOT_A_PHOTO_NTH, place, len(attachments), file=att.filename
            )
            raise RequestInvalid(
                sentence,
                field="image",
                value=att.filename,
                allowed=("image/jpeg", "image/png", "image/webp"),
            )
        if att.size > MAX_DOWNLOAD_BYTES:
            raise _too_large(place, len(attachments), att.size)


def target_of(
    channel: object,
    channel_id: int | None,
    guild_id: int | None,
    user: discord.abc.User,
    *,
    reply_to: int | None = None,
) -> Target:
    """Plain ids for where to answer; a thread keeps its parent as ``chat_id``."""
    thread_id: str | None = None
    chat_id = str(channel_id)
    if isinstance(channel, discord.Thread):
        thread_id = str(channel.id)
        chat_id = str(channel.parent_id)
    return Target(
        platform=PLATFORM,
        chat_id=chat_id,
        user_id=str(user.id),
        user_name=user.display_name,
        thread_id=thread_id,
        reply_to=str(reply_to) if reply_to is not None else None,
        guild_id=str(guild_id) if guild_id is not None else None,
    )


async def _download(attachments: Sequence[discord.Attachment], folder: Path) -> list[Path]:
    """Stream each attachment into ``folder``, refusing past MAX_DOWNLOAD_BYTES.

    One short-lived session per request: Intake has no lifecycle to own a
    longer one, and discord.py's own session offers no streaming.
    """
    paths = []
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        for place, att in enumerate(attachments, start=1):
            path = folder / f"{place}{Path(att.filename).suffix.lower()[:8] or '.img'}"
            try:
                await save_to_file(http, att.url, path, max_bytes=MAX_DOWNLOAD_BYTES)
            except DownloadTooLarge as exc:
                raise _too_large(place, len(attachments), exc.declared) from exc
            except DownloadFailed as exc:
                log.warning("attachment %s of %s: download failed (%s)", place, att.id, exc)
                sentence = _about(texts.NOT_HANDED, texts.NOT_HANDED_NTH, place, len(attachments))
                raise RequestInvalid(sentence, field="image", value=att.filename) from exc
            paths.append(path)
    return paths


class Intake:
    """The adapter's way in: every request becomes one ``service.submit``."""

    def __init__(
        self,
        service: JobService,
        sessions: Sessions,
        shown: Callable[[Job], Awaitable[None]],
    ) -> None:
        """``shown(job)`` is awaited once a job made from an interaction is committed and
        the interaction answered: it shows the job's first status in the response."""
        self.service = service
        self.sessions = sessions
        self.shown = shown
        self._busy: set[str] = set()
        self.draining = False  # shutting down: new requests are asked to come back

    async def language(self, interaction: discord.Interaction[Any]) -> str:
        """Which language to answer an interaction in: its user's own choice, else their
        Discord app's (``locale``), else their server's default, else the operator's."""
        spoken = interaction.locale.value
        guild = str(interaction.guild_id) if interaction.guild_id is not None else None
        try:
            return await self.service.language_for(
                PLATFORM, str(interaction.user.id), spoken=spoken, chat_id=guild
            )
        except StoreError as exc:  # answer anyway, in the language Discord gave
            log.warning("interaction %s: language not looked up: %s", interaction.id, exc)
            return choose(spoken)

    @contextlib.asynccontextmanager
    async def speaking_to(self, interaction: discord.Interaction[Any]) -> AsyncIterator[str]:
        """Answer ``interaction`` (and make its job) in its user's language."""
        with speaking(await self.language(interaction)) as language:
            yield language

    async def mention_language(self, message: discord.Message) -> str:
        """A message's author's own choice, else the server's: the default chosen in
        /settings, else its ``preferred_locale`` (every server has one, ``en-US`` unless
        changed). A message does not say which language its author's app uses."""
        guild = message.guild
        spoken = guild.preferred_locale.value if guild is not None else None
        try:
            if guild is None:
                return await self.service.language_for(PLATFORM, str(message.author.id))
            chosen = await self.service.chat_language(PLATFORM, str(guild.id))
            return await self.service.language_for(
                PLATFORM, str(message.author.id), spoken=chosen or spoken, chat_id=str(guild.id)
            )
        except StoreError as exc:
            log.warning("message %s: language not looked up: %s", message.id, exc)
            return choose(spoken)

    async def defaults(self, guild_id: int | None) -> Options:
        if guild_id is None:
            return Options()
        return await self.service.chat_defaults(PLATFORM, str(guild_id))

    async def from_interaction(
        self,
        interaction: discord.Interaction[Any],
        *,
        origin: Origin,
        prompt: str,
        options: Options,
        attachments: Sequence[discord.Attachment],
        reply_to: int | None = None,
    ) -> Job | None:
        """A job from a slash command or a modal; answers the interaction itself."""
        key = interaction_key(interaction)
        if key in self._busy or await self.service.find(key) is not None:
            log.info("interaction %s delivered again: no new job", interaction.id)
            return None
        if self.draining:
            await interaction.response.send_message(_(texts.RESTARTING), ephemeral=True)
            return None
        self._busy.add(key)
        try:
            try:
                check_attachments(attachments)
                # Options typed into the prompt (--ar 9:16) count too; the command's own win.
                command = parse_command(prompt)
                request = build_request(
                    command.prompt,
                    options.over(command.options),
                    len(attachments) + len(command.links),
                    await self.defaults(interaction.guild_id),
                )
            except RequestInvalid as exc:
                await interaction.response.send_message(refusal(str(exc)), ephemeral=True)
                return None
            self.sessions.add(key, interaction, origin)
            target = target_of(
                interaction.channel,
                interaction.channel_id,
                interaction.guild_id,
                interaction.user,
                reply_to=reply_to,
            )
            return await self._commit_then_ack(
                interaction,
                key,
                self._submit(key, origin, target, request, attachments, command.links),
            )
        finally:
            self._busy.discard(key)

    async def from_mention(self, message: discord.Message, bot: discord.ClientUser) -> Job | None:
        """A job from a message that mentions the bot and carries images or image links.

        Without either, the images of the message it replies to are used; with
        none there either, a message that names the bot gets a hint (a reply
        to the bot only pings it, and may just say thanks). Answered in the author's
        own choice of language, else the server's.
        """
        if message.author.bot:
            return None
        with speaking(await self.mention_language(message)):
            return await self._from_mention(message, bot)

    async def _from_mention(self, message: discord.Message, bot: discord.ClientUser) -> Job | None:
        key = f"discord:message:{message.id}"
        if key in self._busy or await self.service.find(key) is not None:
            return None
        text = message.content
        named = any(m in text for m in (f"<@{bot.id}>", f"<@!{bot.id}>"))
        for mention in (f"<@{bot.id}>", f"<@!{bot.id}>"):
            text = text.replace(mention, " ")
        replied = message.reference.resolved if message.reference is not None else None
        images = image_attachments(message.attachments)
        if not images and isinstance(replied, discord.Message):
            images = image_attachments(replied.attachments)
        if not images and not links_in(text):
            if named:
                await _reply(message, mention_hint(bot.id, replied=replied is not None))
            return None
        if self.draining:
            await _reply(message, _(texts.RESTARTING))
            return None
        self._busy.add(key)
        try:
            try:
                command = parse_command(text.strip())
                check_attachments(images)
                request = build_request(
                    command.prompt,
                    command.options,
                    len(images) + len(command.links),
                    await self.defaults(message.guild.id if message.guild else None),
                )
            except RequestInvalid as exc:
                await _reply(message, refusal(str(exc)))
                return None
            target = target_of(
                message.channel,
                message.channel.id,
                message.guild.id if message.guild else None,
                message.author,
                reply_to=message.id,
            )
            try:
                return await self._submit(
                    key, Origin.MENTION, target, request, images, command.links
                )
            except RequestInvalid as exc:  # posted for the channel: no one's usage in it
                await _reply(message, public_refusal(exc))
                return None
        finally:
            self._busy.discard(key)

    async def again(self, interaction: discord.Interaction[Any], job: Job) -> Job | None:
        """The Again button: the same request as a new job, shown where it was clicked."""
        key = interaction_key(interaction)
        if self.draining:
            await interaction.response.send_message(_(texts.RESTARTING), ephemeral=True)
            return None
        self.sessions.add(key, interaction, Origin.AGAIN)
        return await self._commit_then_ack(
            interaction, key, self.service.again(job.id, str(interaction.user.id), dedupe_key=key)
        )

    async def _commit_then_ack(
        self, interaction: discord.Interaction[Any], key: str, submit: Awaitable[Job]
    ) -> Job | None:
        """Acknowledge the interaction only once its job is committed, if that fits in time.

        Discord wants an answer within 3 s. Committed first, a crash before the
        answer loses nothing (the job resumes and is delivered with the bot
        token); only a download too slow for the deadline is deferred before
        the commit. A refusal in time is answered directly, seen only by the user.
        """
        work = asyncio.ensure_future(submit)
        deadline = interaction.created_at + timedelta(seconds=ACK_WITHIN)
        left = (deadline - datetime.now(UTC)).total_seconds()
        done, _pending = await asyncio.wait({work}, timeout=max(left, 0.0))
        if done and isinstance(work.exception(), RequestInvalid):
            self.sessions.drop_key(key)
            await interaction.response.send_message(refusal(str(work.exception())), ephemeral=True)
            return None
        if not done:
            log.info("interaction %s: still downloading at the deadline, deferring", interaction.id)
        await interaction.response.defer(thinking=True)
        self.sessions.acknowledged(key)
        try:
            job = await work
        except RequestInvalid as exc:
            self.sessions.drop_key(key)
            await _refuse_after_defer(interaction, refusal(str(exc)))
            return None
        await self.shown(job)
        return job

    async def _submit(
        self,
        key: str,
        origin: Origin,
        target: Target,
        request: VideoRequest,
        attachments: Sequence[discord.Attachment],
        links: Sequence[str],
    ) -> Job:
        await self.service.check_limits(target, request)  # limits refuse before any download
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="keevx-discord-"))
        try:
            paths = await _download(attachments, folder)
            job = await self.service.submit(
                target=dataclasses.replace(target, origin=str(origin)),
                request=request,
                images=paths,
                links=links,
                dedupe_key=key,
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        log.info("job %s: made from %s %s", job.id, origin, key)
        return job


async def _refuse_after_defer(interaction: discord.Interaction[Any], text: str) -> None:
    """Replace the public "thinking…" with a refusal only the user sees."""
    try:
        await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("interaction %s: refusal not shown (code %s)", interaction.id, exc.code)


async def _reply(message: discord.Message, text: str) -> None:
    try:
        await message.reply(text, mention_author=False)
    except discord.HTTPException as exc:
        log.warning("message %s: refusal not posted (code %s)", message.id, exc.code)
