"""The job store's contract: the few operations the core needs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.errors import StoreError
from bot.job import Job, JobStatus

__all__ = ["Conflict", "JobStore"]


class Conflict(StoreError):
    """The job changed since it was read (a cancel raced a step): read it again."""


class JobStore(Protocol):
    """Durable jobs. Every method is one committed transaction."""

    async def add(self, job: Job) -> tuple[Job, bool]:
        """Insert ``job`` (its ``id`` is ignored); return the stored job and whether it is new.

        A job whose ``dedupe_key`` is already stored is not inserted: the
        existing one is returned with ``False``.
        """
        ...

    async def get(self, job_id: int) -> Job | None: ...

    async def find(self, dedupe_key: str) -> Job | None: ...

    async def update(
        self, job: Job, *, lease_until: datetime | None = None, keep_lease: bool = False
    ) -> Job:
        """Write every field of ``job`` if nobody wrote it since it was read.

        Returns the job with its new version; raises :class:`Conflict` if
        ``job.version`` is stale. The lease is set to ``lease_until`` (``None``
        releases it), or left as it is with ``keep_lease``.
        """
        ...

    async def transition(self, job_id: int, allowed: frozenset[JobStatus], **changes: Any) -> Job:
        """Apply ``changes`` only if the job's status is in ``allowed``; return the result.

        Raises :class:`Conflict` (job in another status) or ``StoreError`` (no such job).
        """
        ...

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Job]:
        """Lease up to ``limit`` active jobs due by ``now`` whose lease has run out."""
        ...

    async def next_due(self) -> datetime | None:
        """When the earliest active, unleased job falls due."""
        ...

    async def release_leases(self) -> int:
        """Drop every lease (at start: leases of a dead process); return how many."""
        ...

    async def recent(
        self,
        *,
        platform: str | None = None,
        user_id: str | None = None,
        limit: int = 20,
    ) -> list[Job]:
        """Newest jobs first, optionally one user's on one platform."""
        ...

    async def count_active(
        self,
        *,
        platform: str | None = None,
        user_id: str | None = None,
        statuses: frozenset[JobStatus] = ...,
    ) -> int:
        """How many jobs are in ``statuses`` (default: active), optionally one user's."""
        ...

    async def videos_since(self, platform: str, user_id: str, since: datetime) -> int:
        """Videos the user asked for since ``since``, less those given back (failed, expired,
        or cancelled before reaching Keevx)."""
        ...

    async def queue_position(self, job_id: int) -> int:
        """1 + the number of older jobs still waiting in ``received``."""
        ...

    async def status_counts(self, since: datetime) -> dict[JobStatus, tuple[int, int]]:
        """For jobs created since ``since``: status → (jobs, videos delivered)."""
        ...

    async def record_duration(self, kind: str, seconds: float, at: datetime) -> None:
        """Keep one finished task's duration (see :mod:`bot.durations`)."""
        ...

    async def recent_durations(self, limit: int) -> list[tuple[str, float]]:
        """Up to ``limit`` kept durations ``(kind, seconds)``, newest first."""
        ...

    async def get_defaults(self, platform: str, chat_id: str) -> dict[str, Any]: ...

    async def set_defaults(self, platform: str, chat_id: str, values: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...
