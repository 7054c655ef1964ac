"""Posting a finished video: sendVideo in reply, or a link when too large.

Uploads show the ``upload_video`` chat action, repeated every few seconds (it
lasts 5 s), and get a write timeout that grows with the file. The thumbnail is
cut from the MP4 itself (JPEG ≤ 320 px, ≤ 200 kB) so no URL is fetched. Captions
and links speak the language the job was asked in, whenever they are posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError

from adapters.base import Video
from adapters.telegram import render, texts
from adapters.telegram.errors import translate
from adapters.telegram.status import button
from bot.i18n import _, speaking
from bot.model.job import Job
from bot.model.status import Action

__all__ = ["Deliverer", "make_thumbnail"]

log = logging.getLogger("adapters.telegram")

UPLOAD_BYTES_PER_SECOND = 256 * 1024  # a pessimistic uplink, for the write timeout
CHAT_ACTION_EVERY = 4.0


@dataclass(frozen=True)
class _Where:
    chat_id: int
    thread_id: int | None
    reply: ReplyParameters | None

    @classmethod
    def of(cls, job: Job) -> _Where:
        t = job.target
        reply = (
            ReplyParameters(int(t.reply_to), allow_sending_without_reply=True)
            if t.reply_to
            else None
        )
        return cls(int(t.chat_id), int(t.thread_id) if t.thread_id else None, reply)


def _caption(job: Job, label: str = "") -> str:
    """The video's caption, bounded at the send: Telegram refuses one over 1024 characters."""
    return render.fit(render.caption(job, label=label), render.CAPTION_LIMIT, html=True)


def _delete_markup(job: Job) -> InlineKeyboardMarkup:
    """Delete under each video: the requester or a chat admin removes the job's messages."""
    return InlineKeyboardMarkup([[button(Action.DELETE, job.id)]])


class Deliverer:
    """Sends a job's videos; every PTB error leaves as a ``DeliveryError``."""

    def __init__(self, bot: Bot, *, local_mode: bool, upload_limit: int) -> None:
        self.bot = bot
        self.local_mode = local_mode
        self.upload_limit = upload_limit

    async def deliver(self, job: Job, video: Video) -> str:
        where = _Where.of(job)
        with translate(), speaking(job.language):
            if video.path is None:
                return await self._link(job, where, video)
            async with self._uploading(where):
                label = (
                    _(texts.VIDEO_LABEL).format(number=video.number, total=video.total)
                    if video.total > 1
                    else ""
                )
                return await self._one(job, where, video, label)

    def _timeout(self, size: int) -> float:
        return max(60.0, size / UPLOAD_BYTES_PER_SECOND)

    async def _media(self, video: Video) -> Any:
        """What PTB should send: a path in local mode, else the bytes (read in a thread)."""
        assert video.path is not None
        if self.local_mode:
            return video.path
        return await asyncio.to_thread(video.path.read_bytes)

    async def _one(self, job: Job, where: _Where, video: Video, label: str) -> str:
        assert video.path is not None
        size = video.size or video.path.stat().st_size
        thumb = await asyncio.to_thread(make_thumbnail, video.path)
        msg = await self.bot.send_video(
            where.chat_id,
            video=await self._media(video),
            filename="video.mp4",
            caption=_caption(job, label),
            parse_mode=ParseMode.HTML,
            supports_streaming=True,
            width=video.width,
            height=video.height,
            duration=round(video.duration) if video.duration else None,
            thumbnail=thumb,
            message_thread_id=where.thread_id,
            reply_parameters=where.reply,
            reply_markup=_delete_markup(job),
            write_timeout=self._timeout(size),
            read_timeout=60,
        )
        return str(msg.message_id)

    async def _link(self, job: Job, where: _Where, video: Video) -> str:
        text = render.link_text(job, video.url, video.size, self.upload_limit)
        if video.thumbnail_url:
            try:
                msg = await self.bot.send_photo(
                    where.chat_id,
                    video.thumbnail_url,
                    caption=render.fit(text, render.CAPTION_LIMIT, html=True),
                    parse_mode=ParseMode.HTML,
                    message_thread_id=where.thread_id,
                    reply_parameters=where.reply,
                    reply_markup=_delete_markup(job),
                )
                return str(msg.message_id)
            except BadRequest as exc:  # Telegram could not fetch the thumbnail
                log.info("job %s: thumbnail refused (%s), sending the link alone", job.id, exc)
        msg = await self.bot.send_message(
            where.chat_id,
            render.fit(text, html=True),
            parse_mode=ParseMode.HTML,
            message_thread_id=where.thread_id,
            reply_parameters=where.reply,
            reply_markup=_delete_markup(job),
        )
        return str(msg.message_id)

    @contextlib.asynccontextmanager
    async def _uploading(self, where: _Where) -> AsyncIterator[None]:
        """Show ``upload_video`` now and every few seconds until the block ends."""

        async def keep() -> None:
            while True:
                try:
                    await self.bot.send_chat_action(
                        where.chat_id, ChatAction.UPLOAD_VIDEO, message_thread_id=where.thread_id
                    )
                except TelegramError as exc:
                    log.debug("chat action failed: %s", exc)
                    return
                await asyncio.sleep(CHAT_ACTION_EVERY)

        task = asyncio.create_task(keep(), name="telegram-upload-action")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def make_thumbnail(path: Path, *, max_side: int = 320, max_bytes: int = 200_000) -> bytes | None:
    """A JPEG of the video's first frame, or ``None`` when it cannot be made. Blocking."""
    try:
        import av
        from PIL import Image

        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
        image.thumbnail((max_side, max_side))
        for quality in (85, 70, 50, 30):
            buf = io.BytesIO()
            image.convert("RGB").save(buf, "JPEG", quality=quality)
            if buf.tell() <= max_bytes:
                return buf.getvalue()
    except Exception as exc:  # a thumbnail is a nicety: never fail a delivery over it
        log.debug("no thumbnail for the video: %s", exc.__class__.__name__)
    return None
