"""Deciding which messages are requests, and where their images are.

Private chats: a photo (or image file, or album) with a caption is a request;
so is ``/video …`` sent with a photo or as a reply to one, a plain-text reply
to a photo, and a text with image links (the core fetches them). Groups: only
``/video``, ``/video@<bot>``, a mention of the bot or a reply to the bot count;
other photos are ignored (album parts are still collected, in case their
caption turns out to address the bot).
``CommandHandler`` never sees captions, so ``/video`` is recognised here for
text and captions alike. An album is answered in its sender's language, looked
up again when it is handed over (maybe on another instance than its parts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from adapters.telegram import texts
from adapters.telegram.albums import AlbumCollector
from adapters.telegram.intake import ImageRef, Intake, images_of, reply
from adapters.telegram.language import language_for
from bot.i18n import _, speaking
from bot.model.links import links_in

__all__ = ["Addressing", "MessageRouter", "addressing"]

log = logging.getLogger("adapters.telegram")


@dataclass(frozen=True)
class Addressing:
    """Whether a message speaks to the bot, and its text without the command or mention."""

    to_bot: bool
    is_video_command: bool
    text: str
    other_command: bool = False


def addressing(msg: Message, bot_username: str, bot_id: int) -> Addressing:
    """Read the command word, the mentions and the reply of ``msg``."""
    text = msg.text if msg.text is not None else (msg.caption or "")
    parse = msg.parse_entities if msg.text is not None else msg.parse_caption_entities
    name = bot_username.lower()
    first = text.split(maxsplit=1)
    if first and first[0].startswith("/"):
        word, _, at = first[0][1:].partition("@")
        rest = first[1] if len(first) > 1 else ""
        if at and at.lower() != name:
            return Addressing(False, False, text)  # another bot's command
        if word.lower() == "video":
            return Addressing(True, True, rest)
        return Addressing(False, False, text, other_command=True)
    mentioned = False
    for entity, value in parse([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
        if (entity.type == MessageEntity.MENTION and value[1:].lower() == name) or (
            entity.user is not None and entity.user.id == bot_id
        ):
            mentioned = True
            text = text.replace(value, " ", 1)
    replied = msg.reply_to_message
    to_bot_reply = (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == bot_id
        and replied.forum_topic_created is None
    )
    private = msg.chat.type == ChatType.PRIVATE
    return Addressing(private or mentioned or to_bot_reply, False, " ".join(text.split()))


class MessageRouter:
    """The PTB callback for every new message (not edits)."""

    def __init__(self, intake: Intake, albums: AlbumCollector) -> None:
        self.intake = intake
        self.albums = albums

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.message
        if msg is None:
            return
        if msg.media_group_id is not None:
            await self.albums.add(msg)
            return
        bot = context.bot
        addr = addressing(msg, bot.username, bot.id)
        if addr.other_command and msg.chat.type == ChatType.PRIVATE:
            # known ones never get here
            await reply(msg, _(texts.UNKNOWN_COMMAND).format(hint=_(texts.HINT)))
            return
        if not addr.to_bot or addr.other_command:
            return
        own = images_of(msg)
        if own:
            if not addr.text and not addr.is_video_command:
                await reply(msg, _(texts.HINT_PHOTO))
                return
            await self.intake.submit(msg, own, addr.text, dedupe_key=self.key(msg))
            return
        replied = await self._replied_images(msg)
        if replied or links_in(addr.text):
            await self.intake.submit(msg, replied, addr.text, dedupe_key=self.key(msg))
            return
        if addr.is_video_command or msg.chat.type == ChatType.PRIVATE:
            await reply(msg, _(texts.HINT))

    async def on_album(self, parts: list[Message]) -> None:
        """One request from a finished album, if its caption (or chat) addresses the bot."""
        lead = next((p for p in parts if p.caption), parts[0])
        service, platform = self.intake.service, self.intake.platform
        with speaking(await language_for(service, platform, lead.from_user, lead.chat_id)):
            await self._album(lead, parts)

    async def _album(self, lead: Message, parts: list[Message]) -> None:
        me = lead.get_bot()
        addr = addressing(lead, me.username, me.id)
        if not addr.to_bot or addr.other_command:
            return
        images = [ref for p in parts for ref in images_of(p)]
        if not images:
            return
        if not addr.text and not addr.is_video_command:
            await reply(lead, _(texts.HINT_PHOTO))
            return
        key = f"telegram:{lead.chat_id}:album:{lead.media_group_id}"
        # An album has two parts or more: one alone in a group means privacy mode hid the rest.
        lone = len(parts) == 1 and lead.chat.type != ChatType.PRIVATE
        notes = (_(texts.ALBUM_PART_ONLY),) if lone else ()
        await self.intake.submit(lead, images, addr.text, dedupe_key=key, notes=notes)

    async def _replied_images(self, msg: Message) -> list[ImageRef]:
        replied = msg.reply_to_message
        if replied is None:
            return []
        if replied.media_group_id is not None:
            parts = await self.albums.album(replied.chat_id, replied.media_group_id)
            if parts:
                return [ref for p in parts for ref in images_of(p)]
        return images_of(replied)

    @staticmethod
    def key(msg: Message) -> str:
        return f"telegram:{msg.chat_id}:{msg.message_id}"
