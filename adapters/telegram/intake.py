"""From Telegram messages holding images and a prompt to one submitted job.

The order matters: a repeated update is recognised (``service.find``) before
anything is downloaded; the request is validated by the core before the images
are fetched; images are downloaded by PTB into a private temp directory whose
files the service takes over. Image links in the text go to the service as they
are: the core fetches them. ``File.file_path`` embeds the bot token: it is
never logged, stored or passed on; only local paths leave this module.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from telegram import Bot, Message
from telegram.constants import ChatType, FileSizeLimit, ParseMode
from telegram.error import BadRequest, TelegramError

from adapters.telegram import texts
from adapters.telegram.errors import is_too_big
from adapters.telegram.render import fit, refusal
from bot.errors import RequestInvalid
from bot.i18n import _
from bot.jobs.service import JobService
from bot.model.job import Target
from bot.model.request import build_request, parse_command

__all__ = ["ImageRef", "Intake", "images_of"]

log = logging.getLogger("adapters.telegram")


@dataclass(frozen=True)
class ImageRef:
    """An image in a message: enough to download it, nothing secret."""

    file_id: str
    size: int | None
    suffix: str


def images_of(msg: Message) -> list[ImageRef]:
    """The images one message carries: its largest photo size, or an image document."""
    if msg.photo:
        largest = msg.photo[-1]
        return [ImageRef(largest.file_id, largest.file_size, ".jpg")]
    doc = msg.document
    if doc is not None and (doc.mime_type or "").startswith("image/"):
        suffix = Path(doc.file_name or "").suffix.lower() or ".img"
        return [ImageRef(doc.file_id, doc.file_size, suffix)]
    return []


async def reply(msg: Message, text: str, *, html: bool = False) -> None:
    """Answer ``msg`` in its chat and topic; failures are logged, never raised."""
    try:
        await msg.reply_text(
            fit(text, html=html),
            do_quote=True,
            allow_sending_without_reply=True,
            parse_mode=ParseMode.HTML if html else None,
        )
    except TelegramError as exc:
        log.warning("could not answer in chat %s: %s", msg.chat_id, exc)


class Intake:
    """Validates, downloads and submits; one instance per adapter."""

    def __init__(self, bot: Bot, service: JobService, *, platform: str, local_mode: bool) -> None:
        self.bot = bot
        self.service = service
        self.platform = platform
        self.local_mode = local_mode
        self.download_limit = (
            FileSizeLimit.FILESIZE_DOWNLOAD_LOCAL_MODE
            if local_mode
            else FileSizeLimit.FILESIZE_DOWNLOAD
        )

    async def submit(
        self,
        msg: Message,
        images: Sequence[ImageRef],
        text: str,
        *,
        dedupe_key: str,
        notes: Sequence[str] = (),
    ) -> None:
        """Make one job from ``images`` and the prompt/options ``text``; answer ``msg``.

        ``notes`` are the adapter's own remarks for the status message, after the core's
        (said in the asker's language: the job keeps them as they are).
        """
        existing = await self.service.find(dedupe_key)
        if existing is not None:
            log.info("job %s: update seen again (%s), nothing new", existing.id, dedupe_key)
            return
        chat_id = str(msg.chat_id)
        try:
            command = parse_command(text)
            defaults = await self.service.chat_defaults(self.platform, chat_id)
            count = len(images) + len(command.links)
            request = build_request(command.prompt, command.options, count, defaults)
        except RequestInvalid as exc:
            await reply(msg, str(exc))
            return
        if notes:
            request = request.evolve(notes=(*request.notes, *notes))
        if any(ref.size is not None and ref.size > self.download_limit for ref in images):
            if not self.local_mode:
                log.info("image over 20 MB refused: TELEGRAM_LOCAL_MODE=1 would lift the limit")
            await reply(msg, _(texts.TOO_BIG))
            return
        user = msg.from_user
        target = Target(
            platform=self.platform,
            chat_id=chat_id,
            user_id=str(user.id) if user else chat_id,
            user_name=(user.full_name if user else msg.chat.effective_name or ""),
            thread_id=str(msg.message_thread_id) if msg.is_topic_message else None,
            reply_to=str(msg.message_id),
            chat_type=msg.chat.type,
        )
        group = msg.chat.type != ChatType.PRIVATE
        try:
            await self.service.check_limits(target, request)  # before downloading anything
        except RequestInvalid as exc:
            log.info("request refused by %s (chat %s)", exc.field, chat_id)
            await reply(msg, refusal(exc, group=group))
            return
        spool = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="keevx-tg-"))
        try:
            paths = [await self._download(ref, spool, i) for i, ref in enumerate(images)]
            job = await self.service.submit(
                target=target,
                request=request,
                images=paths,
                links=command.links,
                dedupe_key=dedupe_key,
            )
            log.info("job %s: submitted from chat %s", job.id, chat_id)
        except RequestInvalid as exc:
            await reply(msg, refusal(exc, group=group))
        except BadRequest as exc:
            if is_too_big(exc):
                await reply(msg, _(texts.TOO_BIG))
            else:
                log.warning("could not fetch an image: %s", exc)
                await reply(msg, _(texts.IMAGE_REFUSED))
        except TelegramError as exc:
            log.warning("could not fetch an image: %s", exc.__class__.__name__)
            await reply(msg, _(texts.IMAGE_FETCH_FAILED))
        finally:
            await asyncio.to_thread(shutil.rmtree, spool, True)

    async def _download(self, ref: ImageRef, spool: Path, index: int) -> Path:
        """Fetch one image into ``spool``. ``File.file_path`` (a URL with the token, or a
        local path in local mode) is used here and nowhere else."""
        tg_file = await self.bot.get_file(ref.file_id)
        path = spool / f"image{index + 1}{ref.suffix}"
        source = tg_file.file_path
        if self.local_mode and source and Path(source).is_absolute():
            # the local Bot API server wrote it to disk: copy without blocking the loop
            await asyncio.to_thread(shutil.copyfile, source, path)
            return path
        data = await tg_file.download_as_bytearray()
        await asyncio.to_thread(path.write_bytes, bytes(data))
        return path
