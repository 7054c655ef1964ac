"""Buttons whose ``custom_id`` carries the job id, so they survive restarts.

``keevx:again:<job>``, ``keevx:delete:<job>`` and ``keevx:cancel:<job>`` are
one :class:`discord.ui.DynamicItem` template, registered once in
``setup_hook``: discord.py rebuilds the button from any message's
``custom_id`` when it is clicked, whether or not this process sent it.
The click itself is handled by the client (:class:`ButtonHandler`).
"""

from __future__ import annotations

import re
from typing import Any, Protocol, cast

import discord

from bot.model import status
from bot.model.job import Job
from bot.model.status import Action

__all__ = ["Action", "ButtonHandler", "JobButton", "result_view", "status_view"]

MAX_LINK_URL = 512  # Discord's limit for a link button's url

_LOOK: dict[Action, tuple[str, discord.ButtonStyle]] = {
    Action.AGAIN: ("Again", discord.ButtonStyle.primary),
    Action.DELETE: ("Delete", discord.ButtonStyle.secondary),
    Action.CANCEL: ("Cancel", discord.ButtonStyle.danger),
}


class ButtonHandler(Protocol):
    """What the client does when a job button is clicked."""

    async def on_job_button(
        self, interaction: discord.Interaction[Any], action: Action, job_id: int
    ) -> None: ...


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"keevx:(?P<action>{'|'.join(Action)}):(?P<job>[0-9]{{1,19}})",
):
    """A job button; its state is entirely in its ``custom_id``."""

    def __init__(self, action: Action, job_id: int) -> None:
        label, style = _LOOK[action]
        super().__init__(
            discord.ui.Button(label=label, style=style, custom_id=f"keevx:{action}:{job_id}")
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        return cls(Action(match["action"]), int(match["job"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = cast(ButtonHandler, interaction.client)
        await handler.on_job_button(interaction, self.action, self.job_id)


def status_view(job: Job) -> discord.ui.View | None:
    """The Cancel button while the job can be stopped; Again and Delete sit on each video."""
    if Action.CANCEL not in status.status_view(job).actions:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton(Action.CANCEL, job.id))
    return view


def result_view(job: Job, url: str | None) -> discord.ui.View:
    """Again, Delete, and a link to the video file."""
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton(Action.AGAIN, job.id))
    view.add_item(JobButton(Action.DELETE, job.id))
    if url and len(url) <= MAX_LINK_URL and url.startswith(("http://", "https://")):
        view.add_item(discord.ui.Button(label="Open video", url=url))
    return view
