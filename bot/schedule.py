"""When to ask Keevx about a submitted task next."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from bot.job import Job

__all__ = ["FixedSchedule", "PollSchedule"]


class PollSchedule(Protocol):
    """Decides the next status check of a submitted job."""

    def next_check(self, job: Job, now: datetime) -> datetime:
        """When to query the job's unfinished tasks next (``job.submitted_at`` is set)."""
        ...


class FixedSchedule:
    """Keevx's own recipe: every ``interval``, the first one ``interval`` after submission."""

    def __init__(self, interval: timedelta) -> None:
        self.interval = interval

    def next_check(self, job: Job, now: datetime) -> datetime:
        return now + self.interval
