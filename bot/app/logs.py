"""Logging set-up that keeps secrets out of every line."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable

__all__ = ["RedactingFilter", "quiet_libraries", "setup_logging"]

# Telegram puts the bot token in every URL path: /bot<token>/method, /file/bot<token>/path.
_TELEGRAM_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")


class RedactingFilter(logging.Filter):
    """Replaces known secrets, and anything shaped like a Telegram token, with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Redact these too: a secret made at run time (a generated webhook secret)."""
        known = {*self._secrets, *(s for s in secrets if len(s) >= 4)}
        self._secrets = tuple(sorted(known, key=len, reverse=True))  # longest first

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _TELEGRAM_TOKEN.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text or record.exc_info:
            data["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(data, ensure_ascii=False)


# Libraries whose lower levels print secrets or flood: httpx logs every request URL at
# INFO (Telegram's hold the bot token); discord.py logs interaction and webhook URLs and
# whole gateway events (interaction tokens) at DEBUG; aiosqlite every statement.
_QUIET = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "telegram.ext.Updater": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    "discord.http": logging.INFO,
    "discord.webhook.async_": logging.INFO,
    "discord.gateway": logging.INFO,
    "aiosqlite": logging.INFO,
}


def setup_logging(
    secrets: Iterable[str], *, level: int = logging.INFO, json_lines: bool = False
) -> None:
    """Log to stderr through the redacting filter; quiet the HTTP libraries' URL logging."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_libraries()


def quiet_libraries() -> Callable[[], None]:
    """Raise the chatty libraries' log levels (see ``_QUIET``); returns an undo for tests."""
    before = {name: logging.getLogger(name).level for name in _QUIET}
    for name, floor in _QUIET.items():
        logging.getLogger(name).setLevel(floor)

    def undo() -> None:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)

    return undo
