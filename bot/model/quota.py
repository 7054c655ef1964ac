"""Fair-use quotas: what a new job must fit, and the refusal when it does not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.errors import StoreError

__all__ = ["Quota", "QuotaExceeded", "QuotaKind"]


@dataclass(frozen=True)
class Quota:
    """Per-user limits a new job must fit, checked in the same step that stores it (0 = none)."""

    max_active: int
    max_videos: int  # per day, counted from ``day_start``
    day_start: datetime


class QuotaKind(StrEnum):
    ACTIVE = "active"
    DAILY_VIDEOS = "daily_videos"


class QuotaExceeded(StoreError):
    """The job was not stored: it would break ``kind``; ``used`` is what the user has."""

    def __init__(self, kind: QuotaKind, *, used: int) -> None:
        super().__init__(f"over the {kind} quota ({used} used)")
        self.kind = kind
        self.used = used
