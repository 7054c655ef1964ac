"""Buttons whose ``custom_id`` carries the job id, so they survive restarts.

``keevx:again:<job>``, ``keevx:again-anyway:<job>``, ``keevx:delete:<job>`` and
``keevx:cancel:<job>`` are one :class:`discord.ui.DynamicItem` template, registered once in
``setup_hook``: discord.py rebuilds the button from any message's
``custom_id`` when it is clicked, whether or not this process sent it.
The click itself is handled by the client (:class:`ButtonHandler`). Labels are in
the language in use when the view is made (the job's, for its status and results).
"""

from __future__ import annotations

import re
from typing import Any, Protocol, cast

import discord

from adapters.discord import texts
from bot.i18n import _
from bot.model import status
from bot.model.job import Job, JobStatus
from bot.model.status import Action

__all__ = ["Action", "ButtonHandler", "JobButton", "confirm_view", "result_view", "status_view"]

MAX_LINK_URL = 512  # Discord's limit for a link button's url

_LOOK: dict[Action, tuple[str, discord.ButtonStyle]] = {
    Action.AGAIN: (texts.AGAIN_BUTTON, discord.ButtonStyle.primary),
    Action.AGAIN_ANYWAY: (texts.AGAIN_ANYWAY_BUTTON, discord.ButtonStyle.danger),
    Action.DELETE: (texts.DELETE_BUTTON, discord.ButtonStyle.secondary),
    Action.CANCEL: (texts.CANCEL_BUTTON, discord.ButtonStyle.danger),
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
            discord.ui.Button(label=_(label), style=style, custom_id=f"keevx:{action}:{job_id}")
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
    """Cancel while the job can be stopped; Again once it ended without a video (a
    delivered job has Again and Delete on each video)."""
    actions = status.status_view(job).actions
    shown = [Action.CANCEL] if Action.CANCEL in actions else []
    if Action.AGAIN in actions and job.status is not JobStatus.DELIVERED:
        shown.append(Action.AGAIN)
    if not shown:
        return None
    view = discord.ui.View(timeout=None)
    for action in shown:
        view.add_item(JobButton(action, job.id))
    return view


def confirm_view(job_id: int) -> discord.ui.View:
    """The one button that repeats a job once its requester knows it may charge twice."""
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton(Action.AGAIN_ANYWAY, job_id))
    return view


def result_view(job: Job, url: str | None) -> discord.ui.View:
    """Again, Delete, and a link to the video file."""
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton(Action.AGAIN, job.id))
    view.add_item(JobButton(Action.DELETE, job.id))
    if url and len(url) <= MAX_LINK_URL and url.startswith(("http://", "https://")):
        view.add_item(discord.ui.Button(label=_(texts.OPEN_BUTTON), url=url))
    return view
