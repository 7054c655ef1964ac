"""The in-memory job store: SQLite's contract without a file, for tests and the embedded demo.

Nothing persists. The store lives in one asyncio process and no method awaits in the
middle, so each one is a single atomic step, as each SQLite statement is. Jobs are kept
and handed out as copies, normalised the way a database round trip normalises them
(datetimes in UTC, sequences as tuples), so both stores answer with equal jobs.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bot.errors import Conflict, StoreError
from bot.model.groups import MessageGroup
from bot.model.job import ACTIVE, ImageData, Job, JobStatus
from bot.model.quota import Quota, QuotaExceeded, QuotaKind
from storage.sqlite import DURATIONS_KEPT

__all__ = ["MemoryJobStore"]

T = TypeVar("T")
Who = tuple[str | None, str | None]  # (platform, user_id)


def _stored(job: Job, **changes: Any) -> Job:
    """``job`` with ``changes``, as a database would give it back: nothing a caller shares."""
    job = replace(job, **changes)
    normal: dict[str, Any] = {"status": JobStatus(job.status)}
    for f in fields(job):
        value = getattr(job, f.name)
        if isinstance(value, datetime):
            normal[f.name] = value.astimezone(UTC)
        elif isinstance(value, list):
            normal[f.name] = tuple(value)
    return replace(job, **normal)


def _out(job: Job) -> Job:
    """A job to hand out (jobs are frozen all the way down: the stored one will do)."""
    return job


def _limit(items: Iterable[T], limit: int) -> list[T]:
    """The first ``limit`` items; a negative limit is none, as SQL's ``LIMIT``."""
    return list(items) if limit < 0 else list(itertools.islice(items, limit))


def _who(job: Job) -> tuple[str, str]:
    return job.target.platform, job.target.user_id


class MemoryJobStore:
    """:class:`bot.jobs.ports.JobStore` in plain dicts (one process, no persistence)."""

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}  # by id, so iteration is oldest first
        self._keys: dict[str, int] = {}  # dedupe key -> id
        self._leases: dict[int, tuple[str, datetime]] = {}  # id -> (owner, until)
        self._ids = itertools.count(1)  # never reused, as SQLite's AUTOINCREMENT
        self._defaults: dict[tuple[str, str], str] = {}  # JSON, as SQLite keeps it
        self._languages: dict[tuple[str, str], str] = {}  # (platform, user id) -> language
        self._durations: deque[tuple[str, float, datetime]] = deque(maxlen=DURATIONS_KEPT)
        self._images: dict[str, ImageData] = {}
        self._groups: dict[str, MessageGroup] = {}
        self._group_parts: dict[str, dict[int, str]] = {}
        self._state: dict[str, tuple[str, datetime | None]] = {}

    async def close(self) -> None:
        pass

    async def add(self, job: Job, *, quota: Quota | None = None) -> tuple[Job, bool]:
        if job.dedupe_key is not None and job.dedupe_key in self._keys:
            return _out(self._jobs[self._keys[job.dedupe_key]]), False
        if quota is not None:
            self._check(job, quota)
        stored = _stored(job, id=next(self._ids), version=0)
        self._put(stored)
        return _out(stored), True

    def _check(self, job: Job, quota: Quota) -> None:
        """Raise :class:`QuotaExceeded` if ``job`` does not fit the user's ``quota``."""
        active = self._count(ACTIVE, _who(job))
        if quota.max_active and active >= quota.max_active:
            raise QuotaExceeded(QuotaKind.ACTIVE, used=active)
        used = self._videos(*_who(job), quota.day_start)
        if quota.max_videos and used + job.request.count > quota.max_videos:
            raise QuotaExceeded(QuotaKind.DAILY_VIDEOS, used=used)

    def _put(self, job: Job) -> None:
        """Store ``job``, keeping dedupe keys unique (SQLite's ``UNIQUE`` constraint)."""
        old = self._jobs.get(job.id)
        if job.dedupe_key is not None and self._keys.get(job.dedupe_key, job.id) != job.id:
            raise StoreError(f"job {job.id}: dedupe key already taken")
        if old is not None and old.dedupe_key is not None:
            del self._keys[old.dedupe_key]
        if job.dedupe_key is not None:
            self._keys[job.dedupe_key] = job.id
        self._jobs[job.id] = job

    async def get(self, job_id: int) -> Job | None:
        job = self._jobs.get(job_id)
        return _out(job) if job is not None else None

    async def put_image(self, key: str, image: ImageData) -> None:
        self._images[key] = image

    async def image(self, key: str) -> ImageData | None:
        return self._images.get(key)

    async def drop_images(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._images.pop(key, None)

    async def find(self, dedupe_key: str) -> Job | None:
        job_id = self._keys.get(dedupe_key)
        return _out(self._jobs[job_id]) if job_id is not None else None

    async def find_by_task(self, task_id: str) -> Job | None:
        for job in self._jobs.values():
            if any(t.task_id == task_id for t in job.tasks):
                return _out(job)
        return None

    async def update(self, job: Job, *, release: bool = False) -> Job:
        current = self._jobs.get(job.id)
        if current is None or current.version != job.version:
            raise Conflict(f"job {job.id} changed since it was read")
        stored = _stored(job, version=job.version + 1)
        self._put(stored)
        if release:
            self._leases.pop(job.id, None)
        return _out(stored)

    async def admit(
        self, job: Job, *, max_running: int, running: frozenset[JobStatus], now: datetime
    ) -> Job | None:
        current = self._jobs.get(job.id)
        if current is None or current.version != job.version:
            raise Conflict(f"job {job.id} changed since it was read")
        if current.status is not JobStatus.RECEIVED:
            return None
        if self._count(running) + self._waiting_before(job.id) >= max_running:
            return None
        stored = _stored(
            current, status=JobStatus.UPLOADING, updated_at=now, version=current.version + 1
        )
        self._put(stored)
        return _out(stored)

    async def transition(self, job_id: int, allowed: frozenset[JobStatus], **changes: Any) -> Job:
        current = self._jobs.get(job_id)
        if current is None:
            raise StoreError(f"job {job_id} does not exist")
        if current.status not in allowed:
            raise Conflict(f"job {job_id} is {current.status}")
        stored = _stored(current, **changes, version=current.version + 1)
        self._put(stored)
        return _out(stored)

    async def claim_due(self, now: datetime, limit: int, lease: timedelta, owner: str) -> list[Job]:
        due = sorted(
            (
                j
                for j in self._jobs.values()
                if j.status in ACTIVE and j.next_run_at <= now and self._unleased(j.id, now)
            ),
            key=lambda j: (j.next_run_at, j.id),
        )
        claimed = []
        for job in _limit(due, limit):
            self._leases[job.id] = (owner, now + lease)
            stored = replace(job, version=job.version + 1)
            self._jobs[job.id] = stored
            claimed.append(_out(stored))
        return claimed

    def _unleased(self, job_id: int, now: datetime) -> bool:
        lease = self._leases.get(job_id)
        return lease is None or lease[1] <= now

    async def renew(self, job_id: int, owner: str, until: datetime) -> bool:
        lease = self._leases.get(job_id)
        if lease is None or lease[0] != owner:
            return False
        self._leases[job_id] = (owner, until)
        return True

    async def release(self, job_id: int, owner: str, *, retry_at: datetime | None = None) -> bool:
        lease = self._leases.get(job_id)
        if lease is None or lease[0] != owner:
            return False
        del self._leases[job_id]
        job = self._jobs[job_id]
        if retry_at is not None and retry_at > job.next_run_at:
            self._jobs[job_id] = _stored(job, next_run_at=retry_at)  # not a write: no version
        return True

    async def next_due(self) -> datetime | None:
        times = [
            max(j.next_run_at, lease[1]) if (lease := self._leases.get(j.id)) else j.next_run_at
            for j in self._jobs.values()
            if j.status in ACTIVE
        ]
        return min(times, default=None)

    async def release_leases(self) -> int:
        count = len(self._leases)
        self._leases.clear()
        return count

    async def recent(
        self, *, platform: str | None = None, user_id: str | None = None, limit: int = 20
    ) -> list[Job]:
        newest = (
            _out(j)
            for j in reversed(self._jobs.values())
            if platform in (None, j.target.platform) and user_id in (None, j.target.user_id)
        )
        return _limit(newest, limit)

    async def count_active(
        self,
        *,
        platform: str | None = None,
        user_id: str | None = None,
        statuses: frozenset[JobStatus] = ACTIVE,
    ) -> int:
        return sum(
            1
            for j in self._jobs.values()
            if j.status in statuses
            and platform in (None, j.target.platform)
            and user_id in (None, j.target.user_id)
        )

    def _count(self, statuses: frozenset[JobStatus], who: Who | None = None) -> int:
        """Jobs in ``statuses``; only user ``who`` ``(platform, user_id)``'s if given."""
        return sum(
            1 for j in self._jobs.values() if j.status in statuses and who in (None, _who(j))
        )

    async def videos_since(self, platform: str, user_id: str, since: datetime) -> int:
        return self._videos(platform, user_id, since)

    def _videos(self, platform: str, user_id: str, since: datetime) -> int:
        return sum(
            j.videos_charged
            for j in self._jobs.values()
            if _who(j) == (platform, user_id) and j.created_at >= since
        )

    async def queue_position(self, job_id: int) -> int:
        return 1 + self._waiting_before(job_id)

    def _waiting_before(self, job_id: int) -> int:
        """Jobs older than ``job_id`` still waiting in ``received`` (they are admitted first)."""
        return sum(
            1 for j in self._jobs.values() if j.status is JobStatus.RECEIVED and j.id < job_id
        )

    async def status_counts(self, since: datetime) -> dict[JobStatus, tuple[int, int]]:
        counts: dict[JobStatus, tuple[int, int]] = {}
        for job in self._jobs.values():
            if job.created_at >= since:
                jobs, videos = counts.get(job.status, (0, 0))
                counts[job.status] = (jobs + 1, videos + len(job.delivered_ids))
        return counts

    async def record_duration(self, kind: str, seconds: float, at: datetime) -> None:
        self._durations.append((kind, float(seconds), at.astimezone(UTC)))

    async def recent_durations(self, limit: int) -> list[tuple[str, float]]:
        return _limit(((kind, s) for kind, s, _ in reversed(self._durations)), limit)

    async def get_defaults(self, platform: str, chat_id: str) -> dict[str, Any]:
        return dict(json.loads(self._defaults.get((platform, chat_id), "{}")))

    async def set_defaults(self, platform: str, chat_id: str, values: dict[str, Any]) -> None:
        self._defaults[(platform, chat_id)] = json.dumps(values)

    async def get_language(self, platform: str, user_id: str) -> str | None:
        return self._languages.get((platform, user_id))

    async def set_language(self, platform: str, user_id: str, language: str | None) -> None:
        if language is None:
            self._languages.pop((platform, user_id), None)
        else:
            self._languages[(platform, user_id)] = language

    # --- copying a whole store -----------------------------------------------

    async def export_jobs(self, batch: int = 500) -> AsyncIterator[Job]:
        for job in list(self._jobs.values()):  # by id: oldest first
            yield _out(job)

    async def import_jobs(self, jobs: AsyncIterable[Job]) -> int:
        if self._jobs:
            raise StoreError("the target already has jobs")
        try:
            async for job in jobs:
                if job.id in self._jobs:
                    raise StoreError(f"job {job.id}: id already taken")
                self._put(_stored(job))  # unleased: a lease is not part of a job
        except BaseException:  # one transaction: all or nothing
            self._jobs.clear()
            self._keys.clear()
            raise
        self._ids = itertools.count(max(self._jobs, default=0) + 1)
        return len(self._jobs)

    async def all_defaults(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(p, c, dict(json.loads(v))) for (p, c), v in sorted(self._defaults.items())]

    async def all_durations(self) -> list[tuple[str, float, datetime]]:
        return list(self._durations)

    async def import_durations(self, durations: Sequence[tuple[str, float, datetime]]) -> None:
        for kind, seconds, at in durations:
            await self.record_duration(kind, seconds, at)

    async def image_keys(self) -> list[str]:
        return sorted(self._images)

    # --- what adapters share (``adapters.base.SharedState``) ---------------------

    def _group(self, key: str) -> MessageGroup | None:
        group = self._groups.get(key)
        if group is None:
            return None
        parts = self._group_parts[key]
        return replace(group, parts=tuple(parts[p] for p in sorted(parts)))

    async def add_to_group(
        self, key: str, part: int, payload: str, now: datetime, *, max_parts: int
    ) -> MessageGroup:
        now = now.astimezone(UTC)
        group = self._groups.get(key)
        if group is None:
            group = MessageGroup(parts=(), first_at=now, last_at=now)
        elif not group.done:
            group = replace(group, last_at=max(group.last_at, now))
        self._groups[key] = group
        parts = self._group_parts.setdefault(key, {})
        if part not in parts and len(parts) < max_parts:
            parts[part] = payload
        found = self._group(key)
        assert found is not None
        return found

    async def claim_group(
        self, key: str, now: datetime, *, quiet: timedelta, cap: timedelta, lease: timedelta
    ) -> MessageGroup | None:
        group = self._groups.get(key)
        if (
            group is None
            or group.done
            or (group.claimed_until is not None and group.claimed_until > now)
            or group.settles_at(quiet, cap) > now
        ):
            return None
        self._groups[key] = replace(group, claimed_until=(now + lease).astimezone(UTC))
        return self._group(key)

    async def finish_group(self, key: str) -> None:
        if (group := self._groups.get(key)) is not None:
            self._groups[key] = replace(group, done=True, claimed_until=None)

    async def message_group(self, key: str) -> MessageGroup | None:
        return self._group(key)

    async def forget_groups(self, before: datetime) -> int:
        old = [k for k, g in self._groups.items() if g.last_at < before]
        for key in old:
            del self._groups[key], self._group_parts[key]
        return len(old)

    async def get_state(self, key: str, now: datetime) -> str | None:
        value, expires = self._state.get(key, (None, None))
        return value if expires is None or expires > now else None

    async def set_state(self, key: str, value: str, *, expires: datetime | None = None) -> None:
        self._state[key] = (value, expires.astimezone(UTC) if expires is not None else None)

    async def forget_state(self, before: datetime) -> int:
        old = [k for k, (_, e) in self._state.items() if e is not None and e < before]
        for key in old:
            del self._state[key]
        return len(old)
