"""The job store's contract: the few operations the core needs."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from bot.model.job import ImageData, Job, JobStatus
from bot.model.quota import Quota

__all__ = ["JobEvents", "JobStore"]


class JobStore(Protocol):
    """Durable jobs. Every method is one committed transaction."""

    async def add(self, job: Job, *, quota: Quota | None = None) -> tuple[Job, bool]:
        """Insert ``job`` (its ``id`` is ignored); return the stored job and whether it is new.

        A job whose ``dedupe_key`` is already stored is not inserted: the
        existing one is returned with ``False``. With ``quota``, counting the
        user's jobs and inserting are one atomic step; a job over it raises
        :class:`~bot.model.quota.QuotaExceeded` and is not stored.
        """
        ...

    async def get(self, job_id: int) -> Job | None: ...

    async def put_image(self, key: str, image: ImageData) -> None:
        """Keep ``image`` under ``key`` (stored before the job that names it)."""
        ...

    async def image(self, key: str) -> ImageData | None: ...

    async def drop_images(self, keys: Sequence[str]) -> None:
        """Forget these images (Keevx has them, or never will); unknown keys are fine."""
        ...

    async def find(self, dedupe_key: str) -> Job | None: ...

    async def find_by_task(self, task_id: str) -> Job | None:
        """The job that holds Keevx task ``task_id``, if any (rare: a scan is fine)."""
        ...

    async def update(self, job: Job, *, release: bool = False) -> Job:
        """Write every field of ``job`` if nobody wrote it since it was read.

        Returns the job with its new version; raises :class:`~bot.errors.Conflict` if
        ``job.version`` is stale (a claim, a cancel or a callback came first).
        ``release`` also lets go of the job's lease. The lease is not a field:
        only :meth:`claim_due`, :meth:`renew` and :meth:`release` change it.
        """
        ...

    async def transition(self, job_id: int, allowed: frozenset[JobStatus], **changes: Any) -> Job:
        """Apply ``changes`` only if the job's status is in ``allowed``; return the result.

        Raises :class:`~bot.errors.Conflict` (another status) or ``StoreError`` (no such job).
        """
        ...

    async def admit(
        self, job: Job, *, max_running: int, running: frozenset[JobStatus], now: datetime
    ) -> Job | None:
        """Move a waiting job to ``uploading`` if it fits under ``max_running`` jobs in
        ``running``, older waiting jobs first; atomically. ``None``: no room yet.

        Raises :class:`~bot.errors.Conflict` if ``job.version`` is stale.
        """
        ...

    async def claim_due(self, now: datetime, limit: int, lease: timedelta, owner: str) -> list[Job]:
        """Lease up to ``limit`` active jobs due by ``now`` whose lease has run out to ``owner``."""
        ...

    async def renew(self, job_id: int, owner: str, until: datetime) -> bool:
        """Extend ``owner``'s lease on a job to ``until``; ``False``: it is not ``owner``'s."""
        ...

    async def release(self, job_id: int, owner: str, *, retry_at: datetime | None = None) -> bool:
        """Let go of ``owner``'s lease (not due before ``retry_at``); ``False``: not ``owner``'s."""
        ...

    async def next_due(self) -> datetime | None:
        """When the earliest active, unleased job falls due."""
        ...

    async def release_leases(self) -> int:
        """At start, drop the leases no live worker can hold; return how many.

        Only a store that one process owns (SQLite, under its file lock) drops anything;
        a store several instances share (PostgreSQL) returns 0 and leaves every lease
        alone, since its holder may be alive: a dead instance's leases run out by
        themselves (see ``Timing.lease``; they are renewed while a job is worked).
        """
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
        """How many jobs are in ``statuses`` (default: active); each given filter applies."""
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
        """Keep one finished task's duration (see :mod:`bot.jobs.durations`)."""
        ...

    async def recent_durations(self, limit: int) -> list[tuple[str, float]]:
        """Up to ``limit`` kept durations ``(kind, seconds)``, newest first."""
        ...

    async def get_defaults(self, platform: str, chat_id: str) -> dict[str, Any]: ...

    async def set_defaults(self, platform: str, chat_id: str, values: dict[str, Any]) -> None: ...

    async def get_language(self, platform: str, user_id: str) -> str | None:
        """The language a person chose for themselves, if they did."""
        ...

    async def set_language(self, platform: str, user_id: str, language: str | None) -> None:
        """Remember a person's choice of language (``None``: forget it)."""
        ...

    # --- copying a whole store (``keevx-bot copy-db``) ---------------------------

    def export_jobs(self, batch: int = 500) -> AsyncIterator[Job]:
        """Every job, all statuses, oldest (lowest id) first, read ``batch`` at a time.

        Leases are not part of a job, so they are not exported.
        """
        ...

    async def import_jobs(self, jobs: AsyncIterable[Job]) -> int:
        """Insert ``jobs`` exactly as they are (ids, versions, every field), unleased, in one
        transaction; return how many. New jobs are then numbered above every imported id.

        Raises :class:`~bot.errors.StoreError` ("the target already has jobs") and inserts
        nothing if the store holds any job: ids are kept, so they must not collide.
        """
        ...

    async def all_defaults(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every chat's defaults ``(platform, chat_id, values)``, ordered by platform and chat."""
        ...

    async def all_durations(self) -> list[tuple[str, float, datetime]]:
        """Every kept duration ``(kind, seconds, at)``, oldest recorded first."""
        ...

    async def import_durations(self, durations: Sequence[tuple[str, float, datetime]]) -> None:
        """Record ``durations`` (oldest first, as :meth:`all_durations` gives them) at once."""
        ...

    async def image_keys(self) -> list[str]:
        """The keys of every image still held, sorted."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class JobEvents(Protocol):
    """A store several instances share: it says when any of them made a job claimable."""

    async def watch(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` on every such change until cancelled; never raises for a lost
        connection (it listens again)."""
        ...
