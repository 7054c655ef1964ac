"""The application commands: ``/video``, ``/jobs``, ``/settings``, ``/language``, ``/stats``,
``/help`` and "Make a video".

Option choices, ranges and descriptions (:mod:`adapters.discord.options`) are written
from :data:`bot.model.rules.MODEL_RULES`, so they offer and state each model's limits
as the core enforces them; the core still validates and refuses with its own
sentence. Discord shows them in each reader's language through
:mod:`adapters.discord.translator`. Each command answers in its user's language
(:meth:`Intake.speaking_to`).
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from adapters.discord import render, texts
from adapters.discord.intake import PLATFORM, Intake, image_attachments
from adapters.discord.options import (
    COUNT_MAX,
    COUNT_MIN,
    choices,
    descriptions,
    language_choices,
    model_help,
)
from adapters.discord.sessions import Origin
from adapters.discord.translator import CHOICE_LIMIT, cut, said
from bot.errors import RequestInvalid
from bot.i18n import LANGUAGES, N_, _, language_of
from bot.model.request import MAX_PROMPT_CHARS, MODEL_RULES, Model, Options, validate_options

__all__ = ["PromptModal", "build_tree"]

log = logging.getLogger(__name__)


class PromptModal(discord.ui.Modal):
    """Asks for the prompt (and the model) for the photos of one message, in the
    language in use when it is made (its opener's)."""

    def __init__(self, intake: Intake, message: discord.Message, *, opened_by: int) -> None:
        # One modal per opening interaction: two people may open it on one message.
        super().__init__(
            title=_(texts.MODAL_TITLE), custom_id=f"keevx:make:{opened_by}", timeout=900
        )
        self.intake = intake
        self.message = message
        self.prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label=_(texts.MODAL_PROMPT),
            style=discord.TextStyle.paragraph,
            custom_id="keevx:prompt",
            max_length=MAX_PROMPT_CHARS,
        )
        self.model: discord.ui.Select[PromptModal] = discord.ui.Select(
            custom_id="keevx:model",
            required=False,
            options=[
                discord.SelectOption(label=cut(model_help(r), CHOICE_LIMIT), value=str(r.model))
                for r in MODEL_RULES.values()
            ],
        )
        self.add_item(discord.ui.Label(text=_(texts.MODAL_WHAT), component=self.prompt))
        self.add_item(discord.ui.Label(text=_(texts.MODAL_MODEL), component=self.model))

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        model = Model(self.model.values[0]) if self.model.values else None
        async with self.intake.speaking_to(interaction):
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
    described = descriptions()

    @tree.command(name="video", description=N_("Turn photos into an AI video with Keevx"))
    @app_commands.describe(**described)
    @app_commands.choices(**choices())
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
        async with intake.speaking_to(interaction):
            await intake.from_interaction(
                interaction,
                origin=Origin.SLASH,
                prompt=prompt,
                options=options,
                attachments=attachments,
            )

    @tree.command(name="jobs", description=N_("Your recent video jobs (only you see them)"))
    async def jobs(interaction: discord.Interaction[Any]) -> None:
        user = str(interaction.user.id)
        async with intake.speaking_to(interaction):
            recent = await intake.service.recent(PLATFORM, user)
            usage = await intake.service.usage(PLATFORM, user)
            await interaction.response.send_message(render.job_list(recent, usage), ephemeral=True)

    @tree.command(
        name="help", description=N_("How to make a video, the models, the options and tips")
    )
    async def help_(interaction: discord.Interaction[Any]) -> None:
        async with intake.speaking_to(interaction):
            await interaction.response.send_message(render.help_text(), ephemeral=True)

    @tree.command(name="stats", description=N_("Today's jobs, videos and queue (bot admins only)"))
    async def stats(interaction: discord.Interaction[Any]) -> None:
        async with intake.speaking_to(interaction):
            if not intake.service.is_admin(PLATFORM, str(interaction.user.id)):
                await interaction.response.send_message(_(texts.STATS_ADMINS_ONLY), ephemeral=True)
                return
            text = render.stats_text(await intake.service.stats())
            await interaction.response.send_message(text, ephemeral=True)

    @tree.command(name="language", description=N_("The language I answer you in"))
    @app_commands.describe(
        language=said(lambda: _("Pick yours, or go back to your Discord app's language"))
    )
    @app_commands.choices(language=language_choices(N_("My Discord app's language")))
    async def language(interaction: discord.Interaction[Any], language: str) -> None:
        chosen = language_of(language)  # None: back to the app's
        await intake.service.set_language(PLATFORM, str(interaction.user.id), chosen)
        async with intake.speaking_to(interaction) as now:
            if chosen is not None:
                text = _(texts.LANGUAGE_CHOSEN)
            elif language_of(interaction.locale.value) == now:
                text = _(texts.LANGUAGE_OF_THE_APP)
            else:
                text = _(texts.LANGUAGE_NOT_OF_THE_APP)
            await interaction.response.send_message(
                text.format(language=LANGUAGES[now]), ephemeral=True
            )

    @tree.command(name="settings", description=N_("This server's defaults for /video"))
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        **{k: v for k, v in described.items() if k in Options.__dataclass_fields__},
        language=said(
            lambda: _("The language for members whose Discord app's language I do not speak")
        ),
    )
    @app_commands.choices(
        **choices(), language=language_choices(N_("No language of the server's own"))
    )
    async def settings(
        interaction: discord.Interaction[Any],
        model: str | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        duration: int | None = None,
        audio: bool | None = None,
        count: app_commands.Range[int, COUNT_MIN, COUNT_MAX] | None = None,
        language: str | None = None,
    ) -> None:
        given = _options(model, aspect_ratio, resolution, duration, audio, count)
        async with intake.speaking_to(interaction):
            await _settings(intake, interaction, given, language)

    @app_commands.context_menu(name=N_("Make a video"))
    async def make_video(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        async with intake.speaking_to(interaction):
            if not image_attachments(message.attachments):
                await interaction.response.send_message(
                    _(texts.NO_PHOTOS_IN_MESSAGE), ephemeral=True
                )
                return
            await interaction.response.send_modal(
                PromptModal(intake, message, opened_by=interaction.id)
            )

    tree.add_command(make_video)
    return tree


async def _settings(
    intake: Intake, interaction: discord.Interaction[Any], given: Options, language: str | None
) -> None:
    """/settings: change the server's defaults (``None``: leave as they are) and show them."""
    if interaction.guild_id is None or not interaction.permissions.manage_guild:
        await interaction.response.send_message(
            _(texts.SETTINGS_NEED_MANAGE_SERVER), ephemeral=True
        )
        return
    guild = str(interaction.guild_id)
    current = await intake.service.chat_defaults(PLATFORM, guild)
    try:
        merged = validate_options(given, current).over(current)
    except RequestInvalid as exc:
        await interaction.response.send_message(render.refusal(str(exc)), ephemeral=True)
        return
    if given != Options():
        await intake.service.set_chat_defaults(PLATFORM, guild, merged)
    if language is not None:
        await intake.service.set_chat_language(PLATFORM, guild, language_of(language))
    server_language = await intake.service.chat_language(PLATFORM, guild)
    await interaction.response.send_message(
        render.settings_text(merged, server_language), ephemeral=True
    )
