"""What the job buttons do: Again, Delete and Cancel.

Who may click: Again only the requester (a new job counts against their
limits); Delete and Cancel the requester or a member with Manage Messages.
Refusals are ephemeral, so only the clicker sees them. Again on a job whose
video may still be made (and charged) first asks, privately, for "Again anyway".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from adapters.discord import render, texts
from adapters.discord.intake import Intake
from adapters.discord.views import confirm_view
from bot.errors import RequestInvalid
from bot.i18n import _
from bot.jobs.service import NOT_YOURS_AGAIN
from bot.model.job import Job
from bot.model.status import CONFIRM_AGAIN, Action, status_view

__all__ = ["Buttons"]

log = logging.getLogger(__name__)


async def _tell(interaction: discord.Interaction[Any], text: str) -> None:
    """Answer only the clicker; ``text`` may hold a core refusal, so it is escaped."""
    text = render.refusal(text)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


class Buttons:
    """Handles clicks on ``keevx:<action>:<job>`` buttons."""

    def __init__(self, intake: Intake, show_status: Callable[[Job], Awaitable[str | None]]) -> None:
        self._intake = intake
        self._show_status = show_status

    async def handle(
        self, interaction: discord.Interaction[Any], action: Action, job_id: int
    ) -> None:
        job = await self._intake.service.get(job_id)
        if job is None:
            await _tell(interaction, _(texts.NO_JOB_ANY_MORE).format(job=job_id))
            return
        user = str(interaction.user.id)
        requester = user == job.target.user_id
        moderator = interaction.permissions.manage_messages
        if action in (Action.AGAIN, Action.AGAIN_ANYWAY):
            if not requester:
                await _tell(interaction, _(NOT_YOURS_AGAIN).format(job=job_id))
            elif action is Action.AGAIN and status_view(job).confirm_again:
                await interaction.response.send_message(
                    _(CONFIRM_AGAIN).format(job=job_id), view=confirm_view(job_id), ephemeral=True
                )
            else:
                await self._intake.again(interaction, job)
        elif not (requester or moderator):
            refusal = texts.DELETE_NOT_YOURS if action is Action.DELETE else texts.CANCEL_NOT_YOURS
            await _tell(interaction, _(refusal).format(job=job_id))
        elif action is Action.DELETE:
            await self._delete(interaction, job)
        else:
            await self._cancel(interaction, job, force=moderator and not requester)

    async def _delete(self, interaction: discord.Interaction[Any], job: Job) -> None:
        await interaction.response.defer()
        channel = interaction.client.get_partial_messageable(
            interaction.channel_id or int(job.target.thread_id or job.target.chat_id),
            guild_id=interaction.guild_id,
        )
        ids = {int(i) for i in job.delivered_ids}
        if interaction.message is not None:
            ids.add(interaction.message.id)
        for message_id in sorted(ids):
            try:
                await channel.get_partial_message(message_id).delete()
            except discord.NotFound:
                continue
            except discord.HTTPException as exc:
                log.warning("job %s: result %s not deleted (code %s)", job.id, message_id, exc.code)
                await _tell(interaction, _(texts.DELETE_FAILED))
                return
        log.info("job %s: result deleted by %s", job.id, interaction.user.id)

    async def _cancel(
        self, interaction: discord.Interaction[Any], job: Job, *, force: bool
    ) -> None:
        try:
            cancelled = await self._intake.service.cancel(
                job.id, str(interaction.user.id), force=force
            )
        except RequestInvalid as exc:
            await _tell(interaction, str(exc))
            return
        await interaction.response.defer()
        await self._show_status(cancelled)
