"""The Discord adapter (discord.py 2.7): ``/video``, "Make a video", mentions, buttons."""

from adapters.discord.adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]
