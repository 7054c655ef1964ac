"""keevx-bot: photos in, AI videos out, in Telegram and Discord chats."""

from bot.errors import (
    ApiProtocolError,
    ApiRejected,
    ApiTimeout,
    ApiUnavailable,
    BotError,
    ConfigError,
    DeliveryError,
    KeevxError,
    RateLimited,
    RecipientGone,
    RequestInvalid,
    StoreError,
    TooLarge,
)
from bot.jobs.service import JobService
from bot.keevx.client import KeevxClient
from bot.model.job import Job, JobStatus, Target
from bot.model.request import Options, VideoRequest, build_request, parse_command
from bot.settings import Settings

__all__ = [
    "ApiProtocolError",
    "ApiRejected",
    "ApiTimeout",
    "ApiUnavailable",
    "BotError",
    "ConfigError",
    "DeliveryError",
    "Job",
    "JobService",
    "JobStatus",
    "KeevxClient",
    "KeevxError",
    "Options",
    "RateLimited",
    "RecipientGone",
    "RequestInvalid",
    "Settings",
    "StoreError",
    "Target",
    "TooLarge",
    "VideoRequest",
    "build_request",
    "parse_command",
]
