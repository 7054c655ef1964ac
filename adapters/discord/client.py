"""The discord.py client: one-time setup, mentions, and button clicks.

``setup_hook`` (run once per login, never again on reconnects) registers the
button template and the translator that gives the commands' texts in each language.
Commands are synced by the instance that holds the gateway (:func:`sync_commands`,
called by the adapter). Sync policy: with
``DISCORD_GUILD_IDS`` the commands are copied to those guilds and synced there
(instant, and cheap); without, they are synced globally only when the command set
changed since the last global sync, judged by a hash kept in the store, which
every instance shares (global sync takes a while to reach clients and is rate
limited, so it is never done on every start). The hash covers the translations, so a
changed catalog is synced too.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import discord
from discord import app_commands

from adapters.base import BotState
from adapters.discord.actions import Buttons
from adapters.discord.commands import build_tree
from adapters.discord.intake import Intake
from adapters.discord.metered import metered_trace
from adapters.discord.translator import CatalogTranslator
from adapters.discord.views import Action, JobButton

__all__ = ["VideoBotClient", "commands_digest", "sync_commands"]

log = logging.getLogger(__name__)


async def commands_digest(tree: app_commands.CommandTree[Any]) -> str:
    """A hash of the global command payloads as they would be synced, translations included."""
    translator = tree.translator
    payload = [
        await cmd.get_translated_payload(tree, translator) if translator else cmd.to_dict(tree)
        for cmd in tree.get_commands()
    ]
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


async def sync_commands(
    tree: app_commands.CommandTree[Any],
    guild_ids: Sequence[int],
    state: BotState,
    application_id: int | None,
) -> None:
    """Sync to ``guild_ids`` if given, else globally when the command set changed since the
    last global sync of this application (its hash is kept in ``state``)."""
    if guild_ids:
        for guild_id in guild_ids:
            guild = discord.Object(guild_id)
            tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), guild_id)
        return
    key = f"discord:global-commands:{application_id}"
    digest = await commands_digest(tree)
    if await state.get_state(key, datetime.now(UTC)) == digest:
        log.info("global commands unchanged since the last sync: not syncing")
        return
    synced = await tree.sync()
    log.info("synced %d global commands", len(synced))
    await state.set_state(key, digest)


# Guilds (for upload limits and channels) and messages (for mentions); nothing privileged.
_INTENTS = discord.Intents(guilds=True, guild_messages=True, dm_messages=True)


class VideoBotClient(discord.Client):
    """A client with the bot's commands; needs no privileged intent."""

    def __init__(
        self,
        *,
        intake: Intake,
        buttons: Buttons,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        super().__init__(
            intents=_INTENTS,
            guild_ready_timeout=guild_ready_timeout,
            # Nothing the bot posts notifies anyone unless that send says so (only job
            # posts do, and only the requester): a refusal repeating "<@id>" or
            # "@everyone" from a message must not ping.
            allowed_mentions=discord.AllowedMentions.none(),
            http_trace=metered_trace(),
        )
        self.intake = intake
        self.buttons = buttons
        self.tree = build_tree(self, intake)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(JobButton)
        await self.tree.set_translator(CatalogTranslator())

    async def on_message(self, message: discord.Message) -> None:
        me = self.user
        if me is None or message.author.bot:
            return
        if any(user.id == me.id for user in message.mentions):
            await self.intake.from_mention(message, me)

    async def on_job_button(
        self, interaction: discord.Interaction[Any], action: Action, job_id: int
    ) -> None:
        async with self.intake.speaking_to(interaction):
            await self.buttons.handle(interaction, action, job_id)
