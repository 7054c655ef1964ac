"""Configuration from environment variables (and an optional ``.env`` file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import ConfigError
from bot.i18n import LANGUAGES, SOURCE, language_of
from bot.model.database_url import database_kind, url_passwords

__all__ = ["Settings"]

DEFAULT_DATABASE_URL = "sqlite:///data/keevx-bot.db"
POLL_STRATEGIES = ("adaptive", "fixed")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def _language(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name, "").strip()
    if not raw:
        return SOURCE
    language = language_of(raw)
    if language is None:
        raise ConfigError(f"{name} must be one of {', '.join(LANGUAGES)}, not {raw!r}")
    return language


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


def _ids(env: Mapping[str, str], name: str) -> tuple[int, ...]:
    raw = env.get(name, "").replace(",", " ").split()
    try:
        return tuple(int(x) for x in raw)
    except ValueError:
        raise ConfigError(f"{name} must be a comma-separated list of numeric ids") from None


def _set(env: Mapping[str, str], name: str) -> frozenset[str]:
    """A comma- or space-separated list of ids, each plain or as ``platform:id``."""
    return frozenset(env.get(name, "").replace(",", " ").split())


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _str(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, "").strip() or default


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting the bot reads. Secrets are kept out of ``repr``."""

    keevx_api_key: str = field(default="", repr=False)
    keevx_base_url: str = "https://api.keevx.com/v1"
    keevx_sandbox: bool = False
    keevx_max_rps: float = 5.0
    sandbox_delay: float = 8.0
    retry_wait_429: float = 30.0
    retry_wait_500: float = 10.0
    max_retries: int = 3
    telegram_bot_token: str = field(default="", repr=False)
    telegram_api_url: str = "https://api.telegram.org"
    telegram_local_mode: bool = False
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = field(default="", repr=False)
    discord_bot_token: str = field(default="", repr=False)
    discord_api_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = ""
    discord_guild_ids: tuple[int, ...] = ()
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)  # may hold a password
    poll_interval: float = 30.0
    poll_timeout: float = 1200.0
    poll_concurrency: int = 8
    poll_strategy: str = "adaptive"  # or "fixed": every POLL_INTERVAL, Keevx's own recipe
    allowed_chats: frozenset[str] = frozenset()
    allowed_guilds: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()
    admin_users: frozenset[str] = frozenset()
    max_active_per_user: int = 2
    daily_videos_per_user: int = 10
    max_active_total: int = 0  # 0: no limit
    port: int | None = None  # the web server runs only when PORT is set
    allow_private_image_urls: bool = False  # image links may point at private addresses
    public_url: str = ""
    default_language: str = SOURCE  # for people whose language is not known otherwise

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, dotenv: Path | None = None
    ) -> Settings:
        """Read settings from ``env`` (default: ``os.environ`` plus ``./.env``).

        Variables already in the environment win over the ``.env`` file.
        """
        if env is None:
            merged: dict[str, str] = {}
            path = dotenv or Path(".env")
            if path.is_file():
                from dotenv import dotenv_values

                merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
            merged.update(os.environ)
            env = merged
        settings = cls(
            keevx_api_key=_str(env, "KEEVX_API_KEY"),
            keevx_base_url=_str(env, "KEEVX_BASE_URL", cls.keevx_base_url).rstrip("/"),
            keevx_sandbox=_flag(env, "KEEVX_SANDBOX"),
            keevx_max_rps=_float(env, "KEEVX_MAX_RPS", cls.keevx_max_rps),
            sandbox_delay=_float(env, "KEEVX_SANDBOX_DELAY", cls.sandbox_delay),
            retry_wait_429=_float(env, "KEEVX_RETRY_WAIT_429", cls.retry_wait_429),
            retry_wait_500=_float(env, "KEEVX_RETRY_WAIT_500", cls.retry_wait_500),
            max_retries=_int(env, "KEEVX_MAX_RETRIES", cls.max_retries),
            telegram_bot_token=_str(env, "TELEGRAM_BOT_TOKEN"),
            telegram_api_url=_str(env, "TELEGRAM_API_URL", cls.telegram_api_url).rstrip("/"),
            telegram_local_mode=_flag(env, "TELEGRAM_LOCAL_MODE"),
            telegram_webhook_url=_str(env, "TELEGRAM_WEBHOOK_URL"),
            telegram_webhook_secret=_str(env, "TELEGRAM_WEBHOOK_SECRET"),
            discord_bot_token=_str(env, "DISCORD_BOT_TOKEN"),
            discord_api_url=_str(env, "DISCORD_API_URL", cls.discord_api_url).rstrip("/"),
            discord_gateway_url=_str(env, "DISCORD_GATEWAY_URL"),
            discord_guild_ids=_ids(env, "DISCORD_GUILD_IDS"),
            database_url=_str(env, "DATABASE_URL", DEFAULT_DATABASE_URL),
            poll_interval=_float(env, "POLL_INTERVAL", cls.poll_interval),
            poll_timeout=_float(env, "POLL_TIMEOUT", cls.poll_timeout),
            poll_concurrency=_int(env, "POLL_CONCURRENCY", cls.poll_concurrency),
            poll_strategy=_str(env, "POLL_STRATEGY", cls.poll_strategy).lower(),
            allowed_chats=_set(env, "ALLOWED_CHATS"),
            allowed_guilds=_set(env, "ALLOWED_GUILDS"),
            allowed_users=_set(env, "ALLOWED_USERS"),
            admin_users=_set(env, "ADMIN_USERS"),
            max_active_per_user=_int(env, "MAX_ACTIVE_PER_USER", cls.max_active_per_user),
            daily_videos_per_user=_int(env, "DAILY_VIDEOS_PER_USER", cls.daily_videos_per_user),
            max_active_total=_int(env, "MAX_ACTIVE_TOTAL", cls.max_active_total),
            port=_int(env, "PORT", -1) if env.get("PORT", "").strip() else None,
            public_url=_str(env, "PUBLIC_URL").rstrip("/"),
            allow_private_image_urls=_flag(env, "ALLOW_PRIVATE_IMAGE_URLS"),
            default_language=_language(env, "DEFAULT_LANGUAGE"),
        )
        if settings.poll_interval <= 0:
            raise ConfigError("POLL_INTERVAL must be more than 0 seconds")
        if settings.poll_strategy not in POLL_STRATEGIES:
            raise ConfigError(
                f"POLL_STRATEGY must be one of {', '.join(POLL_STRATEGIES)}, "
                f"not {settings.poll_strategy!r}"
            )
        database_kind(settings.database_url)  # fail early on a malformed URL
        return settings

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never be printed, for log redaction."""
        return tuple(
            s
            for s in (
                self.keevx_api_key,
                self.telegram_bot_token,
                self.discord_bot_token,
                self.telegram_webhook_secret,
                *url_passwords(self.database_url),
            )
            if s
        )

    @property
    def platforms(self) -> tuple[str, ...]:
        """The platforms whose token is set, in start order."""
        names = []
        if self.telegram_bot_token:
            names.append("telegram")
        if self.discord_bot_token:
            names.append("discord")
        return tuple(names)
