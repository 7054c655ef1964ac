"""Telegram adapter (python-telegram-bot 22): photos in, videos back.

Import :class:`TelegramAdapter`; everything else is internal.
"""

from adapters.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
