"""The SQLite job store on aiosqlite: WAL, a busy timeout, and ``user_version`` migrations."""

from __future__ import annotations

import fcntl
import functools
import inspect
import json
import sqlite3
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import aiosqlite

from bot.errors import Conflict, StoreError
from bot.model.groups import MessageGroup
from bot.model.job import ACTIVE, ImageData, Job, JobStatus, Target, TaskResult
from bot.model.quota import Quota, QuotaExceeded, QuotaKind
from bot.model.request import VideoRequest

__all__ = ["SqliteJobStore", "batches"]

# Each entry moves the schema one version up; never edit a released entry.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        dedupe_key TEXT UNIQUE,
        status TEXT NOT NULL,
        target TEXT NOT NULL,
        request TEXT NOT NULL,
        images TEXT NOT NULL DEFAULT '[]',
        image_urls TEXT NOT NULL DEFAULT '[]',
        tasks TEXT NOT NULL DEFAULT '[]',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_run_at REAL NOT NULL,
        lease_until REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        submitted_at REAL,
        finished_at REAL,
        error TEXT,
        status_message_id TEXT,
        delivered_ids TEXT NOT NULL DEFAULT '[]',
        extra TEXT NOT NULL DEFAULT '{}',
        version INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_due ON jobs (next_run_at) WHERE status NOT IN
        ('delivered', 'failed', 'expired', 'unknown', 'undeliverable', 'cancelled');
    CREATE INDEX jobs_user ON jobs (platform, user_id, id);
    CREATE TABLE chat_defaults (
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        options TEXT NOT NULL,
        PRIMARY KEY (platform, chat_id)
    );
    """,
    # 2: how long finished tasks took, per kind, for the adaptive poll schedule.
    """
    CREATE TABLE task_durations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        seconds REAL NOT NULL,
        observed_at REAL NOT NULL
    );
    """,
    # 3: who holds a job's lease (a worker renews and releases only its own), and how
    # many create requests may have made a Keevx task for it (never more than one).
    """
    ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
    ALTER TABLE jobs ADD COLUMN create_requests INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: the untyped `extra` gives way to typed columns (the core's) and target fields
    # (the adapters': Telegram's chat type, what made a Discord job).
    """
    ALTER TABLE jobs ADD COLUMN again_of INTEGER;
    ALTER TABLE jobs ADD COLUMN adopted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN queue_position INTEGER;
    UPDATE jobs SET
        again_of = json_extract(extra, '$.again_of'),
        adopted = COALESCE(json_extract(extra, '$.adopted'), 0),
        queue_position = json_extract(extra, '$.queue_position'),
        target = json_patch(target, json_object(
            'chat_type', json_extract(extra, '$.chat_type'),
            'origin', json_extract(extra, '$.origin')));
    ALTER TABLE jobs DROP COLUMN extra;
    """,
    # 5: images live in the database until Keevx has them, not in a spool folder.
    """
    CREATE TABLE images (
        key TEXT PRIMARY KEY,
        content_type TEXT NOT NULL,
        data BLOB NOT NULL
    );
    """,
    # 6: what each job counts against its requester's daily allowance (Job.videos_charged:
    # videos that did not arrive are given back), as the old rule had it for older rows.
    """
    ALTER TABLE jobs ADD COLUMN videos_charged INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET videos_charged = json_extract(request, '$.count')
    WHERE status NOT IN ('failed', 'expired') AND NOT (status = 'cancelled' AND tasks = '[]');
    """,
    # 7: what the adapters share: requests sent as several messages (Telegram albums)
    # collected until one instance hands them over, and a few named values.
    """
    CREATE TABLE message_groups (
        key TEXT PRIMARY KEY,
        parts TEXT NOT NULL,
        first_at REAL NOT NULL,
        last_at REAL NOT NULL,
        claimed_until REAL,
        done INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX message_groups_last ON message_groups (last_at);
    CREATE TABLE bot_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        expires_at REAL
    );
    """,
    # 8: the language a job was asked in, and the one each person chose.
    """
    ALTER TABLE jobs ADD COLUMN language TEXT;
    CREATE TABLE people (
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        language TEXT NOT NULL,
        PRIMARY KEY (platform, user_id)
    );
    """,
)

T = TypeVar("T")

DURATIONS_KEPT = 50_000  # rows; older samples are deleted as new ones arrive
IMPORT_BATCH = 500  # rows written per statement batch by the import methods


# Spelled as the partial index ``jobs_due`` is (terminal statuses in enum order), so
# SQLite can use it: with thousands of jobs in flight the poller's two queries then
# read a few index entries, not every active row (`status IN (...)` does not prove it).
_LIVE = f"status NOT IN ({', '.join(repr(s.value) for s in JobStatus if s.terminal)})"

SQL_CLAIM = f"""
UPDATE jobs SET lease_owner = :owner, lease_until = :until, version = version + 1
WHERE id IN (
    SELECT id FROM jobs
    WHERE {_LIVE} AND next_run_at <= :now
      AND (lease_until IS NULL OR lease_until <= :now)
    ORDER BY next_run_at LIMIT :limit
)
RETURNING *
"""
# The earliest of max(next_run_at, lease_until) over active jobs: the first unleased
# job's next_run_at, unless a leased job due before it has an earlier lease end.
# Only jobs due strictly before that first unleased one are read (via the index).
SQL_NEXT_DUE = f"""
WITH first AS (
    SELECT next_run_at AS at FROM jobs WHERE {_LIVE} AND lease_until IS NULL
    ORDER BY next_run_at LIMIT 1
)
SELECT MIN(t) FROM (
    SELECT at AS t FROM first
    UNION ALL
    SELECT MAX(next_run_at, COALESCE(lease_until, 0)) FROM jobs
    WHERE {_LIVE} AND next_run_at < COALESCE((SELECT at FROM first), 9e18)
)
"""
# Each row carries what it counts (Job.videos_charged), kept up to date by every write.
SQL_VIDEOS_SINCE = """
SELECT COALESCE(SUM(videos_charged), 0) FROM jobs
WHERE platform = :platform AND user_id = :user_id AND created_at >= :since
"""
SQL_ACTIVE_OF_USER = f"""
SELECT COUNT(*) FROM jobs WHERE platform = :platform AND user_id = :user_id AND {_LIVE}
"""
# One statement, so counting and inserting cannot be raced (SQLite runs it atomically).
SQL_ADD_WITHIN = f"""
WHERE (:max_active = 0 OR ({SQL_ACTIVE_OF_USER}) < :max_active)
  AND (:max_videos = 0 OR ({SQL_VIDEOS_SINCE}) + :count <= :max_videos)
"""
# Admits a waiting job only while fewer than :max_running jobs run, older waiting ones first.
SQL_ADMIT = """
UPDATE jobs SET status = :status, updated_at = :now, version = version + 1
WHERE id = :id AND version = :version AND status = 'received'
  AND (SELECT COUNT(*) FROM jobs WHERE status IN ({running}))
    + (SELECT COUNT(*) FROM jobs WHERE status = 'received' AND id < :id) < :max_running
RETURNING *
"""
SQL_STATUS_COUNTS = """
SELECT status, COUNT(*), COALESCE(SUM(json_array_length(delivered_ids)), 0)
FROM jobs WHERE created_at >= ? GROUP BY status
"""
# A part is added unless kept already or the group is full; parts are a JSON object.
SQL_ADD_TO_GROUP = """
INSERT INTO message_groups (key, parts, first_at, last_at)
VALUES (:key, json_object(:part, :payload), :now, :now)
ON CONFLICT (key) DO UPDATE SET
    parts = CASE
        WHEN json_type(message_groups.parts, :path) IS NOT NULL
          OR (SELECT COUNT(*) FROM json_each(message_groups.parts)) >= :max_parts
        THEN message_groups.parts
        ELSE json_set(message_groups.parts, :path, :payload) END,
    last_at = CASE WHEN message_groups.done THEN message_groups.last_at
        ELSE MAX(message_groups.last_at, excluded.last_at) END
RETURNING *
"""
SQL_CLAIM_GROUP = """
UPDATE message_groups SET claimed_until = :until
WHERE key = :key AND NOT done AND (claimed_until IS NULL OR claimed_until <= :now)
  AND MIN(last_at + :quiet, first_at + :cap) <= :now
RETURNING *
"""


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _encode(value: Any) -> Any:
    """A column value for one of :class:`Job`'s simple fields."""
    if isinstance(value, tuple | list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, JobStatus):
        return value.value
    return value


def _columns(job: Job) -> dict[str, Any]:
    """The row for ``job`` (minus ``id`` and ``version``)."""
    return {
        "platform": job.target.platform,
        "chat_id": job.target.chat_id,
        "user_id": job.target.user_id,
        "dedupe_key": job.dedupe_key,
        "status": job.status.value,
        "target": json.dumps(job.target.to_dict(), ensure_ascii=False),
        "request": json.dumps(job.request.to_dict(), ensure_ascii=False),
        "images": json.dumps(list(job.images)),
        "image_urls": json.dumps(list(job.image_urls)),
        "tasks": json.dumps([t.to_dict() for t in job.tasks], ensure_ascii=False),
        "attempts": job.attempts,
        "next_run_at": _ts(job.next_run_at),
        "created_at": _ts(job.created_at),
        "updated_at": _ts(job.updated_at),
        "submitted_at": _ts(job.submitted_at),
        "finished_at": _ts(job.finished_at),
        "error": job.error,
        "status_message_id": job.status_message_id,
        "delivered_ids": json.dumps(list(job.delivered_ids)),
        "again_of": job.again_of,
        "adopted": int(job.adopted),
        "queue_position": job.queue_position,
        "create_requests": job.create_requests,
        "videos_charged": job.videos_charged,
        "language": job.language,
    }


def _job(row: aiosqlite.Row) -> Job:
    try:
        return Job(
            id=row["id"],
            target=Target.from_dict(json.loads(row["target"])),
            request=VideoRequest.from_dict(json.loads(row["request"])),
            status=JobStatus(row["status"]),
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
            next_run_at=datetime.fromtimestamp(row["next_run_at"], UTC),
            images=tuple(json.loads(row["images"])),
            image_urls=tuple(json.loads(row["image_urls"])),
            tasks=tuple(TaskResult.from_dict(t) for t in json.loads(row["tasks"])),
            attempts=row["attempts"],
            submitted_at=_dt(row["submitted_at"]),
            finished_at=_dt(row["finished_at"]),
            error=row["error"],
            status_message_id=row["status_message_id"],
            delivered_ids=tuple(json.loads(row["delivered_ids"])),
            dedupe_key=row["dedupe_key"],
            again_of=row["again_of"],
            adopted=bool(row["adopted"]),
            queue_position=row["queue_position"],
            create_requests=row["create_requests"],
            language=row["language"],
            version=row["version"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"job {row['id']} cannot be read: {type(exc).__name__}") from exc


def _group(row: aiosqlite.Row) -> MessageGroup:
    parts: dict[str, str] = json.loads(row["parts"])
    return MessageGroup(
        parts=tuple(parts[p] for p in sorted(parts, key=int)),
        first_at=datetime.fromtimestamp(row["first_at"], UTC),
        last_at=datetime.fromtimestamp(row["last_at"], UTC),
        claimed_until=_dt(row["claimed_until"]),
        done=bool(row["done"]),
    )


def _database_errors_are_store_errors(cls: type[T]) -> type[T]:
    """Wrap each public coroutine so SQLite's own errors surface as :class:`StoreError`.

    The engine then tells a database failure (retry later) from a bug without knowing the
    driver; :class:`Conflict` and the other errors of the tree pass through untouched.
    """
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.iscoroutinefunction(method):
            continue

        @functools.wraps(method)
        async def wrapped(*args: Any, __method: Any = method, **kwargs: Any) -> Any:
            try:
                return await __method(*args, **kwargs)
            except sqlite3.Error as exc:
                raise StoreError(f"the database failed ({type(exc).__name__}: {exc})") from exc

        setattr(cls, name, wrapped)
    return cls


@_database_errors_are_store_errors
class SqliteJobStore:
    """:class:`bot.jobs.ports.JobStore` on one aiosqlite connection (one process per file)."""

    def __init__(self, db: aiosqlite.Connection, lock: IO[bytes] | None = None) -> None:
        self._db = db
        self._lock = lock

    @classmethod
    async def open(
        cls, path: str, *, busy_timeout_ms: int = 5000, exclusive: bool = False
    ) -> SqliteJobStore:
        """Open (creating if needed) and migrate the database at ``path`` (``":memory:"`` works).

        ``exclusive`` is for the process that works the jobs: it holds a lock on
        ``<path>.lock`` until :meth:`close`, so a second such process on the same file
        is refused (raises :class:`StoreError`). Leases then need no liveness check:
        any lease found at start was left by a dead process. Read-only users
        (``keevx-bot jobs``, ``doctor``) open without it, beside a running bot.
        """
        lock = None
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if exclusive:
                lock = _lock(path)
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            if lock is not None:
                lock.close()
            raise
        db.row_factory = aiosqlite.Row
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await _migrate(db)
        except BaseException:
            await db.close()
            if lock is not None:
                lock.close()
            raise
        return cls(db, lock)

    async def close(self) -> None:
        try:
            await self._db.close()
        finally:
            if self._lock is not None:
                self._lock.close()  # closing the file lets go of the lock

    async def add(self, job: Job, *, quota: Quota | None = None) -> tuple[Job, bool]:
        columns = _columns(job)
        names = ", ".join(columns)
        values = ", ".join(f":{c}" for c in columns)
        params: dict[str, Any] = dict(columns)
        where = "WHERE true"
        if quota is not None:
            where = SQL_ADD_WITHIN
            params |= {
                "max_active": quota.max_active,
                "max_videos": quota.max_videos,
                "since": quota.day_start.timestamp(),
                "count": job.request.count,
            }
        rows = await self._db.execute_fetchall(
            f"INSERT INTO jobs ({names}) SELECT {values} {where} "
            "ON CONFLICT (dedupe_key) DO NOTHING RETURNING *",
            params,
        )
        row = next(iter(rows), None)
        if row is not None:
            return _job(row), True
        if job.dedupe_key is not None and (existing := await self.find(job.dedupe_key)):
            return existing, False
        if quota is None:
            raise StoreError("job was neither inserted nor found")
        raise await self._over(job, quota)

    async def _over(self, job: Job, quota: Quota) -> QuotaExceeded:
        """Which limit refused ``job`` (read after the refusal, so only the numbers may race)."""
        who = {"platform": job.target.platform, "user_id": job.target.user_id}
        active = await self._scalar(SQL_ACTIVE_OF_USER, who)
        if quota.max_active and active >= quota.max_active:
            return QuotaExceeded(QuotaKind.ACTIVE, used=active)
        since = quota.day_start.timestamp()
        return QuotaExceeded(
            QuotaKind.DAILY_VIDEOS,
            used=await self._scalar(SQL_VIDEOS_SINCE, who | {"since": since}),
        )

    async def get(self, job_id: int) -> Job | None:
        return await self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    async def put_image(self, key: str, image: ImageData) -> None:
        await self._db.execute(
            "INSERT OR REPLACE INTO images (key, content_type, data) VALUES (?, ?, ?)",
            (key, image.content_type, image.data),
        )

    async def image(self, key: str) -> ImageData | None:
        rows = await self._db.execute_fetchall(
            "SELECT content_type, data FROM images WHERE key = ?", (key,)
        )
        row = next(iter(rows), None)
        return ImageData(str(row[0]), bytes(row[1])) if row else None

    async def drop_images(self, keys: Sequence[str]) -> None:
        await self._db.executemany("DELETE FROM images WHERE key = ?", [(k,) for k in keys])

    async def find(self, dedupe_key: str) -> Job | None:
        return await self._one("SELECT * FROM jobs WHERE dedupe_key = ?", (dedupe_key,))

    async def find_by_task(self, task_id: str) -> Job | None:
        return await self._one(
            "SELECT * FROM jobs WHERE EXISTS (SELECT 1 FROM json_each(jobs.tasks) "
            "WHERE json_extract(value, '$.task_id') = ?) LIMIT 1",
            (task_id,),
        )

    async def update(self, job: Job, *, release: bool = False) -> Job:
        columns = _columns(job)
        sets = ", ".join(f"{c} = :{c}" for c in columns)
        if release:
            sets += ", lease_owner = NULL, lease_until = NULL"
        row = await self._one(
            f"UPDATE jobs SET {sets}, version = version + 1 "
            "WHERE id = :id AND version = :version RETURNING *",
            {**columns, "id": job.id, "version": job.version},
        )
        if row is None:
            raise Conflict(f"job {job.id} changed since it was read")
        return row

    async def admit(
        self, job: Job, *, max_running: int, running: frozenset[JobStatus], now: datetime
    ) -> Job | None:
        states = ", ".join(f"'{s.value}'" for s in running)
        row = await self._one(
            SQL_ADMIT.format(running=states),
            {
                "id": job.id,
                "version": job.version,
                "status": JobStatus.UPLOADING.value,
                "now": now.timestamp(),
                "max_running": max_running,
            },
        )
        if row is not None:
            return row
        current = await self.get(job.id)
        if current is None or current.version != job.version:
            raise Conflict(f"job {job.id} changed since it was read")
        return None

    async def transition(self, job_id: int, allowed: frozenset[JobStatus], **changes: Any) -> Job:
        sets = ", ".join(f"{c} = :{c}" for c in changes)
        states = ", ".join(f"'{s.value}'" for s in allowed)
        params = {c: _encode(v) for c, v in changes.items()} | {"id": job_id}
        job = await self._one(
            f"UPDATE jobs SET {sets}, version = version + 1 "
            f"WHERE id = :id AND status IN ({states}) RETURNING *",
            params,
        )
        if job is not None:
            # What it counts follows from the whole row; a later write sets its own.
            await self._db.execute(
                "UPDATE jobs SET videos_charged = ? WHERE id = ? AND version = ?",
                (job.videos_charged, job.id, job.version),
            )
            return job
        current = await self.get(job_id)
        if current is None:
            raise StoreError(f"job {job_id} does not exist")
        raise Conflict(f"job {job_id} is {current.status}")

    async def claim_due(self, now: datetime, limit: int, lease: timedelta, owner: str) -> list[Job]:
        params = {
            "now": now.timestamp(),
            "until": (now + lease).timestamp(),
            "limit": limit,
            "owner": owner,
        }
        rows = await self._db.execute_fetchall(SQL_CLAIM, params)
        return sorted((_job(r) for r in rows), key=lambda j: j.next_run_at)

    async def renew(self, job_id: int, owner: str, until: datetime) -> bool:
        async with self._db.execute(
            "UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?",
            (until.timestamp(), job_id, owner),
        ) as cursor:
            return cursor.rowcount == 1

    async def release(self, job_id: int, owner: str, *, retry_at: datetime | None = None) -> bool:
        async with self._db.execute(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, "
            "next_run_at = MAX(next_run_at, COALESCE(?, 0)) WHERE id = ? AND lease_owner = ?",
            (_ts(retry_at), job_id, owner),
        ) as cursor:
            return cursor.rowcount == 1

    async def next_due(self) -> datetime | None:
        rows = await self._db.execute_fetchall(SQL_NEXT_DUE)
        row = next(iter(rows), None)
        return _dt(row[0]) if row else None

    async def release_leases(self) -> int:
        async with self._db.execute(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_until IS NOT NULL"
        ) as cursor:
            return cursor.rowcount

    async def recent(
        self, *, platform: str | None = None, user_id: str | None = None, limit: int = 20
    ) -> list[Job]:
        where, params = [], []
        if platform is not None:
            where.append("platform = ?")
            params.append(platform)
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return await self._many(
            f"SELECT * FROM jobs {clause} ORDER BY id DESC LIMIT ?", (*params, limit)
        )

    async def count_active(
        self,
        *,
        platform: str | None = None,
        user_id: str | None = None,
        statuses: frozenset[JobStatus] = ACTIVE,
    ) -> int:
        states = ", ".join(f"'{s.value}'" for s in statuses)
        sql = f"SELECT COUNT(*) FROM jobs WHERE status IN ({states})"
        params: list[Any] = []
        for column, value in (("platform", platform), ("user_id", user_id)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        return await self._scalar(sql, params)

    async def videos_since(self, platform: str, user_id: str, since: datetime) -> int:
        return await self._scalar(
            SQL_VIDEOS_SINCE,
            {"platform": platform, "user_id": user_id, "since": since.timestamp()},
        )

    async def queue_position(self, job_id: int) -> int:
        return 1 + await self._scalar(
            "SELECT COUNT(*) FROM jobs WHERE status = 'received' AND id < ?", (job_id,)
        )

    async def status_counts(self, since: datetime) -> dict[JobStatus, tuple[int, int]]:
        rows = await self._db.execute_fetchall(SQL_STATUS_COUNTS, (since.timestamp(),))
        return {JobStatus(r[0]): (int(r[1]), int(r[2])) for r in rows}

    async def _scalar(self, sql: str, params: Iterable[Any] | dict[str, Any]) -> int:
        bound = params if isinstance(params, dict) else tuple(params)
        rows = await self._db.execute_fetchall(sql, bound)
        row = next(iter(rows), None)
        return int(row[0]) if row and row[0] is not None else 0

    async def get_defaults(self, platform: str, chat_id: str) -> dict[str, Any]:
        rows = await self._db.execute_fetchall(
            "SELECT options FROM chat_defaults WHERE platform = ? AND chat_id = ?",
            (platform, chat_id),
        )
        row = next(iter(rows), None)
        return dict(json.loads(row[0])) if row else {}

    async def set_defaults(self, platform: str, chat_id: str, values: dict[str, Any]) -> None:
        await self._db.execute(
            "INSERT INTO chat_defaults (platform, chat_id, options) VALUES (?, ?, ?) "
            "ON CONFLICT (platform, chat_id) DO UPDATE SET options = excluded.options",
            (platform, chat_id, json.dumps(values)),
        )

    async def get_language(self, platform: str, user_id: str) -> str | None:
        rows = await self._db.execute_fetchall(
            "SELECT language FROM people WHERE platform = ? AND user_id = ?", (platform, user_id)
        )
        row = next(iter(rows), None)
        return str(row[0]) if row else None

    async def set_language(self, platform: str, user_id: str, language: str | None) -> None:
        if language is None:
            sql = "DELETE FROM people WHERE platform = ? AND user_id = ?"
            await self._db.execute(sql, (platform, user_id))
            return
        await self._db.execute(
            "INSERT INTO people (platform, user_id, language) VALUES (?, ?, ?) "
            "ON CONFLICT (platform, user_id) DO UPDATE SET language = excluded.language",
            (platform, user_id, language),
        )

    async def record_duration(self, kind: str, seconds: float, at: datetime) -> None:
        rows = await self._db.execute_fetchall(
            "INSERT INTO task_durations (kind, seconds, observed_at) VALUES (?, ?, ?) RETURNING id",
            (kind, seconds, at.timestamp()),
        )
        row = next(iter(rows), None)
        if row is not None and row[0] % 1000 == 0:  # prune now and then, by primary key
            await self._db.execute(
                "DELETE FROM task_durations WHERE id <= ?", (row[0] - DURATIONS_KEPT,)
            )

    async def recent_durations(self, limit: int) -> list[tuple[str, float]]:
        return [
            (str(r[0]), float(r[1]))
            for r in await self._db.execute_fetchall(
                "SELECT kind, seconds FROM task_durations ORDER BY id DESC LIMIT ?", (limit,)
            )
        ]

    # --- copying a whole store -----------------------------------------------

    async def export_jobs(self, batch: int = 500) -> AsyncIterator[Job]:
        after = -(2**63)  # below any id
        while True:
            try:
                page = await self._many(
                    "SELECT * FROM jobs WHERE id > ? ORDER BY id LIMIT ?", (after, batch)
                )
            except sqlite3.Error as exc:  # a generator is not wrapped by the decorator
                raise StoreError(f"the database failed ({type(exc).__name__}: {exc})") from exc
            for job in page:
                yield job
            if len(page) < batch:
                return
            after = page[-1].id

    async def import_jobs(self, jobs: AsyncIterable[Job]) -> int:
        """As the port says; AUTOINCREMENT moves past each explicit id by itself."""
        count = 0
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            if await self._scalar("SELECT EXISTS (SELECT 1 FROM jobs)", ()):
                raise StoreError("the target already has jobs")
            async for page in batches(jobs, IMPORT_BATCH):
                rows = [_columns(j) | {"id": j.id, "version": j.version} for j in page]
                names = ", ".join(rows[0])
                values = ", ".join(f":{c}" for c in rows[0])
                await self._db.executemany(f"INSERT INTO jobs ({names}) VALUES ({values})", rows)
                count += len(rows)
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")
        return count

    async def all_defaults(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (str(r[0]), str(r[1]), dict(json.loads(r[2])))
            for r in await self._db.execute_fetchall(
                "SELECT platform, chat_id, options FROM chat_defaults ORDER BY platform, chat_id"
            )
        ]

    async def all_durations(self) -> list[tuple[str, float, datetime]]:
        rows = await self._db.execute_fetchall(
            "SELECT kind, seconds, observed_at FROM task_durations ORDER BY id"
        )
        return [(str(r[0]), float(r[1]), datetime.fromtimestamp(r[2], UTC)) for r in rows]

    async def import_durations(self, durations: Sequence[tuple[str, float, datetime]]) -> None:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            await self._db.executemany(
                "INSERT INTO task_durations (kind, seconds, observed_at) VALUES (?, ?, ?)",
                [(kind, float(seconds), at.timestamp()) for kind, seconds, at in durations],
            )
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")

    async def image_keys(self) -> list[str]:
        return [
            str(r[0])
            for r in await self._db.execute_fetchall("SELECT key FROM images ORDER BY key")
        ]

    # --- what adapters share (``adapters.base.SharedState``) ---------------------

    async def add_to_group(
        self, key: str, part: int, payload: str, now: datetime, *, max_parts: int
    ) -> MessageGroup:
        params = {
            "key": key,
            "part": str(part),
            "path": f'$."{part}"',
            "payload": payload,
            "now": now.timestamp(),
            "max_parts": max_parts,
        }
        rows = await self._db.execute_fetchall(SQL_ADD_TO_GROUP, params)
        row = next(iter(rows), None)
        if row is None:
            raise StoreError(f"message group {key} was neither added nor found")
        return _group(row)

    async def claim_group(
        self, key: str, now: datetime, *, quiet: timedelta, cap: timedelta, lease: timedelta
    ) -> MessageGroup | None:
        params = {
            "key": key,
            "now": now.timestamp(),
            "until": (now + lease).timestamp(),
            "quiet": quiet.total_seconds(),
            "cap": cap.total_seconds(),
        }
        rows = await self._db.execute_fetchall(SQL_CLAIM_GROUP, params)
        row = next(iter(rows), None)
        return _group(row) if row is not None else None

    async def finish_group(self, key: str) -> None:
        await self._db.execute(
            "UPDATE message_groups SET done = 1, claimed_until = NULL WHERE key = ?", (key,)
        )

    async def message_group(self, key: str) -> MessageGroup | None:
        rows = await self._db.execute_fetchall("SELECT * FROM message_groups WHERE key = ?", (key,))
        row = next(iter(rows), None)
        return _group(row) if row is not None else None

    async def forget_groups(self, before: datetime) -> int:
        async with self._db.execute(
            "DELETE FROM message_groups WHERE last_at < ?", (before.timestamp(),)
        ) as cursor:
            return cursor.rowcount

    async def get_state(self, key: str, now: datetime) -> str | None:
        rows = await self._db.execute_fetchall(
            "SELECT value FROM bot_state WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (key, now.timestamp()),
        )
        row = next(iter(rows), None)
        return str(row[0]) if row is not None else None

    async def set_state(self, key: str, value: str, *, expires: datetime | None = None) -> None:
        await self._db.execute(
            "INSERT INTO bot_state (key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at",
            (key, value, _ts(expires)),
        )

    async def forget_state(self, before: datetime) -> int:
        async with self._db.execute(
            "DELETE FROM bot_state WHERE expires_at < ?", (before.timestamp(),)
        ) as cursor:
            return cursor.rowcount

    # Each statement is run and read to its end in one call on the database's thread: a
    # cursor left open between calls (an INSERT … RETURNING read with fetchone) let another
    # coroutine's execute of the same cached statement bind to it mid-step (SQLite's
    # "bad parameter or other API misuse", seen with 40 simultaneous requests under load).
    async def _one(self, sql: str, params: Any) -> Job | None:
        rows = await self._db.execute_fetchall(sql, params)
        row = next(iter(rows), None)
        return _job(row) if row is not None else None

    async def _many(self, sql: str, params: Iterable[Any]) -> list[Job]:
        return [_job(r) for r in await self._db.execute_fetchall(sql, tuple(params))]


async def batches(items: AsyncIterable[T], size: int) -> AsyncIterator[list[T]]:
    """``items`` in lists of up to ``size`` (the last may be shorter; none is empty)."""
    page: list[T] = []
    async for item in items:
        page.append(item)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def _lock(path: str) -> IO[bytes]:
    """Hold an exclusive lock beside the database; the OS drops it when the process dies."""
    handle = open(f"{path}.lock", "ab")  # noqa: SIM115 - held open until close()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreError(
            f"another keevx-bot process is already running on {path}: stop it first "
            "(one process per SQLite file)"
        ) from None
    return handle


async def _migrate(db: aiosqlite.Connection) -> None:
    """Bring the schema to the newest version, one committed step per migration."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise StoreError(f"database schema {version} is newer than this bot ({len(MIGRATIONS)})")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await db.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
        )
