"""The application commands: ``/video``, ``/jobs``, ``/settings``, ``/stats``, ``/help`` and
"Make a video".

Option choices, ranges and descriptions are written from
:data:`bot.model.rules.MODEL_RULES`, so they offer and state each model's limits
as the core enforces them; the core still validates and refuses with its own
sentence.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from adapters.discord import render, texts
from adapters.discord.intake import PLATFORM, Intake, image_attachments
from adapters.discord.sessions import Origin
from bot.errors import RequestInvalid
from bot.model.request import (
    MAX_PROMPT_CHARS,
    MODEL_RULES,
    Model,
    ModelRules,
    Options,
    validate_options,
)
from bot.model.rules import MAX_IMAGES, join_or, values_for

__all__ = ["PromptModal", "build_tree"]

log = logging.getLogger(__name__)

COUNT_MIN, COUNT_MAX = min(values_for("count")), max(values_for("count"))


def _choices() -> dict[str, list[app_commands.Choice[Any]]]:
    """The options with a fixed set of values, as the rules table lists them.

    A fresh list per command: discord.py keeps the list it is given.
    """
    fixed = {
        name: [app_commands.Choice(name=str(v), value=v) for v in values_for(name)]
        for name in ("aspect_ratio", "resolution", "duration")
    }
    return {"model": [app_commands.Choice(name=str(m), value=str(m)) for m in MODEL_RULES]} | fixed


def _durations(rules: ModelRules) -> str:
    single = "/".join(str(d) for d in rules.single_durations)
    multi = "/".join(str(d) for d in rules.multi_durations)
    return f"{single} s" if single == multi else f"{single} s ({multi} s with several images)"


def _model_help(rules: ModelRules) -> str:
    audio = ", audio" if rules.audio else ""
    images = f"1-{rules.max_images} images"
    return f"{rules.model}: {images}, {_durations(rules)}, ≤{rules.resolutions[-1]}{audio}"


def _orientation(ratio: str) -> str:
    width, height = (int(n) for n in ratio.split(":"))
    return "landscape" if width > height else "portrait" if width < height else "square"


def _image_limits() -> str:
    return ", ".join(f"{r.model} takes up to {r.max_images}" for r in MODEL_RULES.values())


DESCRIPTIONS = {
    "prompt": f"What should happen in the video (at most {MAX_PROMPT_CHARS} characters); "
    "links to images work as photos",
    "image": "The photo to animate (JPG, PNG or WebP, up to 20 MB), or its link in the prompt",
    "model": " · ".join(_model_help(r) for r in MODEL_RULES.values())[:100],
    "aspect_ratio": join_or(f"{a} ({_orientation(a)})" for a in values_for("aspect_ratio")),
    "resolution": " · ".join(
        f"{r.model}: {', '.join(r.resolutions)}" for r in MODEL_RULES.values()
    ),
    "duration": " · ".join(f"{r.model}: {_durations(r)}" for r in MODEL_RULES.values())[:100],
    "audio": " · ".join(
        f"{r.model}: {'with sound' if r.audio else 'silent only'}" for r in MODEL_RULES.values()
    ),
    "count": f"How many videos to make from this request ({COUNT_MIN}-{COUNT_MAX})",
    **{f"image{n}": f"Another photo ({_image_limits()})" for n in range(2, MAX_IMAGES + 1)},
}


class PromptModal(discord.ui.Modal, title="Make a video"):
    """Asks for the prompt (and the model) for the photos of one message."""

    def __init__(self, intake: Intake, message: discord.Message, *, opened_by: int) -> None:
        # One modal per opening interaction: two people may open it on one message.
        super().__init__(custom_id=f"keevx:make:{opened_by}", timeout=900)
        self.intake = intake
        self.message = message
        self.prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label="Prompt",
            style=discord.TextStyle.paragraph,
            custom_id="keevx:prompt",
            max_length=MAX_PROMPT_CHARS,
        )
        self.model: discord.ui.Select[PromptModal] = discord.ui.Select(
            custom_id="keevx:model",
            required=False,
            options=[
                discord.SelectOption(label=_model_help(r)[:100], value=str(r.model))
                for r in MODEL_RULES.values()
            ],
        )
        self.add_item(discord.ui.Label(text="What should happen?", component=self.prompt))
        self.add_item(discord.ui.Label(text="Model (optional)", component=self.model))

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        model = Model(self.model.values[0]) if self.model.values else None
        await self.intake.from_interaction(
            interaction,
            origin=Origin.CONTEXT,
            prompt=self.prompt.value,
            options=Options(model=model),
            attachments=image_attachments(self.message.attachments),
            reply_to=self.message.id,
        )


def _options(
    model: str | None,
    aspect_ratio: str | None,
    resolution: str | None,
    duration: int | None,
    audio: bool | None,
    count: int | None,
) -> Options:
    """The core's options from a command's choices (``None``: not given)."""
    return Options(
        model=Model(model) if model else None,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        duration=duration,
        audio=audio,
        count=count,
    )


def build_tree(client: discord.Client, intake: Intake) -> app_commands.CommandTree[Any]:
    """A command tree with the bot's commands, bound to ``intake``."""
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)

    @tree.command(name="video", description="Turn photos into an AI video with Keevx")
    @app_commands.describe(**DESCRIPTIONS)
    @app_commands.choices(**_choices())
    async def video(
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        image: discord.Attachment | None = None,
        model: str | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        duration: int | None = None,
        audio: bool | None = None,
        count: app_commands.Range[int, COUNT_MIN, COUNT_MAX] | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        image5: discord.Attachment | None = None,
        image6: discord.Attachment | None = None,
        image7: discord.Attachment | None = None,
    ) -> None:
        given = [image, image2, image3, image4, image5, image6, image7]
        attachments = [a for a in given if a is not None]
        options = _options(model, aspect_ratio, resolution, duration, audio, count)
        await intake.from_interaction(
            interaction,
            origin=Origin.SLASH,
            prompt=prompt,
            options=options,
            attachments=attachments,
        )

    @tree.command(name="jobs", description="Your recent video jobs (only you see them)")
    async def jobs(interaction: discord.Interaction[Any]) -> None:
        user = str(interaction.user.id)
        recent = await intake.service.recent(PLATFORM, user)
        usage = await intake.service.usage(PLATFORM, user)
        await interaction.response.send_message(render.job_list(recent, usage), ephemeral=True)

    @tree.command(name="help", description=texts.HELP_COMMAND)
    async def help_(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message(render.help_text(), ephemeral=True)

    @tree.command(name="stats", description="Today's jobs, videos and queue (bot admins only)")
    async def stats(interaction: discord.Interaction[Any]) -> None:
        if not intake.service.is_admin(PLATFORM, str(interaction.user.id)):
            await interaction.response.send_message(texts.STATS_ADMINS_ONLY, ephemeral=True)
            return
        text = render.stats_text(await intake.service.stats())
        await interaction.response.send_message(text, ephemeral=True)

    @tree.command(name="settings", description="This server's defaults for /video")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        **{k: v for k, v in DESCRIPTIONS.items() if k in Options.__dataclass_fields__}
    )
    @app_commands.choices(**_choices())
    async def settings(
        interaction: discord.Interaction[Any],
        model: str | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        duration: int | None = None,
        audio: bool | None = None,
        count: app_commands.Range[int, COUNT_MIN, COUNT_MAX] | None = None,
    ) -> None:
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            await interaction.response.send_message(
                "Only members with Manage Server can change this server's defaults.",
                ephemeral=True,
            )
            return
        guild = str(interaction.guild_id)
        given = _options(model, aspect_ratio, resolution, duration, audio, count)
        current = await intake.service.chat_defaults(PLATFORM, guild)
        try:
            merged = validate_options(given, current).over(current)
        except RequestInvalid as exc:
            await interaction.response.send_message(render.refusal(str(exc)), ephemeral=True)
            return
        if given != Options():
            await intake.service.set_chat_defaults(PLATFORM, guild, merged)
        await interaction.response.send_message(render.settings_text(merged), ephemeral=True)

    @app_commands.context_menu(name="Make a video")
    async def make_video(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        if not image_attachments(message.attachments):
            await interaction.response.send_message(
                "That message has no photos: pick a message with JPG, PNG or WebP images.",
                ephemeral=True,
            )
            return
        await interaction.response.send_modal(
            PromptModal(intake, message, opened_by=interaction.id)
        )

    tree.add_command(make_video)
    return tree
