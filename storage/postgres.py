"""The PostgreSQL job store: one database shared by several bot instances.

psycopg 3 async through a connection pool, with no server-side prepared statements
(``prepare_threshold=None``), so it works behind PgBouncer in transaction mode. Every
method is one transaction. What must be atomic across instances is: claims (``FOR UPDATE
SKIP LOCKED`` in a materialized CTE, Oban's recipe), a user's quota check and insert (an
advisory transaction lock per user), admission under ``MAX_ACTIVE_TOTAL`` (one advisory
lock) and migrations (one advisory lock, so instances starting together do not race).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from bot.errors import Conflict, StoreError
from bot.model.database_url import redacted_url, url_passwords
from bot.model.groups import MessageGroup
from bot.model.job import ACTIVE, TERMINAL, ImageData, Job, JobStatus, Target, TaskResult
from bot.model.quota import Quota, QuotaExceeded, QuotaKind
from bot.model.request import VideoRequest
from storage.sqlite import DURATIONS_KEPT, IMPORT_BATCH, batches

__all__ = ["MIGRATIONS", "PostgresJobStore"]

Cursor = psycopg.AsyncCursor[DictRow]

# Each entry moves the schema one version up; never edit a released entry.
log = logging.getLogger(__name__)

CHANNEL = "keevx_jobs"  # LISTEN/NOTIFY channel: "look for due jobs now"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        dedupe_key TEXT UNIQUE,
        status TEXT NOT NULL,
        target JSONB NOT NULL,
        request JSONB NOT NULL,
        images JSONB NOT NULL DEFAULT '[]',
        image_urls JSONB NOT NULL DEFAULT '[]',
        tasks JSONB NOT NULL DEFAULT '[]',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_run_at TIMESTAMPTZ NOT NULL,
        lease_owner TEXT,
        lease_until TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        submitted_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        error TEXT,
        status_message_id TEXT,
        delivered_ids JSONB NOT NULL DEFAULT '[]',
        again_of BIGINT,
        adopted BOOLEAN NOT NULL DEFAULT FALSE,
        queue_position INTEGER,
        create_requests INTEGER NOT NULL DEFAULT 0,
        version BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_due ON jobs (next_run_at, id) WHERE status NOT IN
        ('delivered', 'failed', 'expired', 'unknown', 'undeliverable', 'cancelled');
    CREATE INDEX jobs_user ON jobs (platform, user_id, id);
    CREATE INDEX jobs_status ON jobs (status, id);
    CREATE INDEX jobs_created ON jobs (created_at);
    CREATE TABLE chat_defaults (
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        options JSONB NOT NULL,
        PRIMARY KEY (platform, chat_id)
    );
    CREATE TABLE task_durations (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind TEXT NOT NULL,
        seconds DOUBLE PRECISION NOT NULL,
        observed_at TIMESTAMPTZ NOT NULL
    );
    """,
    # 2: tell every instance when a job may have become claimable: one was added, its due
    # time moved, or a lease was let go (NOTIFY is sent at commit, once per transaction).
    f"""
    CREATE FUNCTION keevx_jobs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}', '');
        RETURN NULL;
    END $$;
    CREATE TRIGGER jobs_added AFTER INSERT ON jobs
        FOR EACH STATEMENT EXECUTE FUNCTION keevx_jobs_changed();
    CREATE TRIGGER jobs_due AFTER UPDATE ON jobs FOR EACH ROW
        WHEN (NEW.next_run_at IS DISTINCT FROM OLD.next_run_at
              OR (OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NULL))
        EXECUTE FUNCTION keevx_jobs_changed();
    """,
    # 3: images live in the database until Keevx has them, where every instance reads them.
    """
    CREATE TABLE images (
        key TEXT PRIMARY KEY,
        content_type TEXT NOT NULL,
        data BYTEA NOT NULL
    );
    """,
    # 4: what each job counts against its requester's daily allowance (Job.videos_charged:
    # videos that did not arrive are given back), as the old rule had it for older rows.
    """
    ALTER TABLE jobs ADD COLUMN videos_charged INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET videos_charged = (request->>'count')::int
    WHERE status NOT IN ('failed', 'expired') AND NOT (status = 'cancelled' AND tasks = '[]');
    """,
    # 5: what the adapters share: requests sent as several messages (Telegram albums)
    # collected until one instance hands them over, and a few named values.
    """
    CREATE TABLE message_groups (
        key TEXT PRIMARY KEY,
        parts JSONB NOT NULL,
        first_at TIMESTAMPTZ NOT NULL,
        last_at TIMESTAMPTZ NOT NULL,
        claimed_until TIMESTAMPTZ,
        done BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX message_groups_last ON message_groups (last_at);
    CREATE TABLE bot_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        expires_at TIMESTAMPTZ
    );
    """,
    # 6: the language a job was asked in, and the one each person chose.
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

# Advisory lock keys: (LOCKS, purpose) for the store's own, (QUOTA_LOCKS, user hash) per user.
LOCKS, QUOTA_LOCKS = 0x6B656576, 0x6B657671  # "keev", "kevq"
MIGRATE_LOCK, ADMIT_LOCK = 1, 2
RELISTEN_AFTER = 1.0  # seconds before listening again after the connection failed

# Spelled as the partial index ``jobs_due`` is, so the planner can prove it applies.
_LIVE = f"status NOT IN ({', '.join(repr(s.value) for s in JobStatus if s in TERMINAL)})"

SQL_CLAIM = f"""
WITH due AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE {_LIVE} AND next_run_at <= %(now)s
      AND (lease_until IS NULL OR lease_until <= %(now)s)
    ORDER BY next_run_at, id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET lease_owner = %(owner)s, lease_until = %(until)s, version = version + 1
WHERE id IN (SELECT id FROM due)
RETURNING *
"""
# The earliest of max(next_run_at, lease_until) over live jobs, reading only the first
# unleased job and the leased ones due before it (as SQLite's ``SQL_NEXT_DUE``).
SQL_NEXT_DUE = f"""
WITH first AS (
    SELECT next_run_at AS at FROM jobs WHERE {_LIVE} AND lease_until IS NULL
    ORDER BY next_run_at LIMIT 1
)
SELECT MIN(t) FROM (
    SELECT at AS t FROM first
    UNION ALL
    SELECT GREATEST(next_run_at, lease_until) FROM jobs
    WHERE {_LIVE} AND next_run_at < COALESCE((SELECT at FROM first), 'infinity')
) AS due
"""
# Each row carries what it counts (Job.videos_charged), kept up to date by every write.
SQL_VIDEOS_SINCE = """
SELECT COALESCE(SUM(videos_charged), 0) FROM jobs
WHERE platform = %(platform)s AND user_id = %(user_id)s AND created_at >= %(since)s
"""
SQL_ACTIVE_OF_USER = f"""
SELECT COUNT(*) FROM jobs WHERE platform = %(platform)s AND user_id = %(user_id)s AND {_LIVE}
"""
SQL_STATUS_COUNTS = """
SELECT status, COUNT(*) AS jobs, COALESCE(SUM(jsonb_array_length(delivered_ids)), 0) AS videos
FROM jobs WHERE created_at >= %s GROUP BY status
"""
# A part is added unless kept already or the group is full; the row lock of the upsert
# orders instances adding parts of one group at once.
SQL_ADD_TO_GROUP = """
INSERT INTO message_groups AS g (key, parts, first_at, last_at)
VALUES (%(key)s, jsonb_build_object(%(part)s::text, %(payload)s::text), %(now)s, %(now)s)
ON CONFLICT (key) DO UPDATE SET
    parts = CASE
        WHEN g.parts ? %(part)s::text
          OR (SELECT COUNT(*) FROM jsonb_object_keys(g.parts)) >= %(max_parts)s
        THEN g.parts ELSE g.parts || excluded.parts END,
    last_at = CASE WHEN g.done THEN g.last_at ELSE GREATEST(g.last_at, excluded.last_at) END
RETURNING *
"""
# Two instances claiming at once: the second waits for the first's row lock, then
# re-reads the row and finds it claimed.
SQL_CLAIM_GROUP = """
UPDATE message_groups SET claimed_until = %(until)s
WHERE key = %(key)s AND NOT done AND (claimed_until IS NULL OR claimed_until <= %(now)s)
  AND LEAST(last_at + %(quiet)s, first_at + %(cap)s) <= %(now)s
RETURNING *
"""


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _columns(job: Job) -> dict[str, Any]:
    """The row for ``job`` (minus ``id``, ``version`` and the lease)."""
    return {
        "platform": job.target.platform,
        "chat_id": job.target.chat_id,
        "user_id": job.target.user_id,
        "dedupe_key": job.dedupe_key,
        "status": JobStatus(job.status).value,
        "target": Jsonb(job.target.to_dict()),
        "request": Jsonb(job.request.to_dict()),
        "tasks": Jsonb([t.to_dict() for t in job.tasks]),
        "images": Jsonb(list(job.images)),
        "image_urls": Jsonb(list(job.image_urls)),
        "delivered_ids": Jsonb(list(job.delivered_ids)),
        "again_of": job.again_of,
        "adopted": job.adopted,
        "queue_position": job.queue_position,
        "attempts": job.attempts,
        "next_run_at": job.next_run_at,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "submitted_at": job.submitted_at,
        "finished_at": job.finished_at,
        "error": job.error,
        "status_message_id": job.status_message_id,
        "create_requests": job.create_requests,
        "videos_charged": job.videos_charged,
        "language": job.language,
    }


def _job(row: Mapping[str, Any]) -> Job:
    try:
        return Job(
            id=row["id"],
            target=Target.from_dict(row["target"]),
            request=VideoRequest.from_dict(row["request"]),
            status=JobStatus(row["status"]),
            created_at=row["created_at"].astimezone(UTC),
            updated_at=row["updated_at"].astimezone(UTC),
            next_run_at=row["next_run_at"].astimezone(UTC),
            images=tuple(row["images"]),
            image_urls=tuple(row["image_urls"]),
            tasks=tuple(TaskResult.from_dict(t) for t in row["tasks"]),
            attempts=row["attempts"],
            submitted_at=_utc(row["submitted_at"]),
            finished_at=_utc(row["finished_at"]),
            error=row["error"],
            status_message_id=row["status_message_id"],
            delivered_ids=tuple(row["delivered_ids"]),
            dedupe_key=row["dedupe_key"],
            again_of=row["again_of"],
            adopted=row["adopted"],
            queue_position=row["queue_position"],
            create_requests=row["create_requests"],
            language=row["language"],
            version=row["version"],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(f"job {row.get('id')} cannot be read: {type(exc).__name__}") from exc


def _group(row: Mapping[str, Any]) -> MessageGroup:
    parts: dict[str, str] = row["parts"]
    return MessageGroup(
        parts=tuple(parts[p] for p in sorted(parts, key=int)),
        first_at=row["first_at"].astimezone(UTC),
        last_at=row["last_at"].astimezone(UTC),
        claimed_until=_utc(row["claimed_until"]),
        done=bool(row["done"]),
    )


def _user_lock(job: Job) -> int:
    """A stable 32-bit key for the job's user: every instance locks the same one."""
    who = f"{job.target.platform}\0{job.target.user_id}".encode()
    return int.from_bytes(hashlib.blake2b(who, digest_size=4).digest(), "big", signed=True)


def _limit(limit: int) -> int | None:
    """SQL's ``LIMIT`` as SQLite reads it: a negative limit is none."""
    return limit if limit >= 0 else None


class PostgresJobStore:
    """:class:`bot.jobs.ports.JobStore` on a PostgreSQL database that many instances share."""

    def __init__(self, pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]], url: str):
        self._pool = pool
        self._url = url
        self._where = redacted_url(url)  # for error messages: never the password
        self._hidden = url_passwords(url)

    @classmethod
    async def open(
        cls, url: str, *, min_size: int = 1, max_size: int = 10, wait: float = 10.0
    ) -> PostgresJobStore:
        """Connect to ``url``, migrate the schema, and open a pool of ``max_size`` connections.

        ``wait`` bounds each connection attempt and each wait for a pooled connection.

        Raises :class:`StoreError` (naming the server, never the password) when the
        server cannot be reached, refuses, or holds a schema newer than this bot's.
        """
        seconds = max(2, round(wait))  # libpq counts whole seconds, at least 2
        try:
            conn = await psycopg.AsyncConnection.connect(
                url, connect_timeout=seconds, prepare_threshold=None, row_factory=dict_row
            )
            async with conn:
                await _migrate(conn)
            pool = AsyncConnectionPool(
                url,
                connection_class=psycopg.AsyncConnection[DictRow],
                kwargs={
                    "prepare_threshold": None,
                    "row_factory": dict_row,
                    "connect_timeout": seconds,
                },
                min_size=min_size,
                max_size=max_size,
                timeout=wait,
                check=AsyncConnectionPool.check_connection,  # a server restart costs no error
                name="keevx-bot",
                open=False,
            )
            await pool.open(wait=True, timeout=wait)
        except psycopg.Error as exc:
            raise _wrap(exc, redacted_url(url), url_passwords(url)) from None
        return cls(pool, url)

    async def close(self) -> None:
        await self._pool.close()

    async def watch(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever another instance (or this one) makes a job claimable.

        Runs until cancelled, on a connection of its own (LISTEN needs a session, not a
        pooled one). Notifications sent while it reconnects are lost, so it wakes once
        after each (re)connection; the poller's own timer is the safety net.
        """
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, prepare_threshold=None
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    wake()
                    async for _ in conn.notifies():
                        wake()
            except psycopg.Error as exc:
                log.warning(
                    "not listening for job changes, retrying: %s",
                    _wrap(exc, self._where, self._hidden),
                )
                await asyncio.sleep(RELISTEN_AFTER)

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Cursor]:
        """One transaction (committed at the end, rolled back on error); driver errors wrapped."""
        try:
            async with self._pool.connection() as conn, conn.cursor() as cursor:
                yield cursor
        except psycopg.Error as exc:
            raise _wrap(exc, self._where, self._hidden) from exc

    async def add(self, job: Job, *, quota: Quota | None = None) -> tuple[Job, bool]:
        columns = _columns(job)
        names = ", ".join(columns)
        values = ", ".join(f"%({c})s" for c in columns)
        async with self._tx() as cur:
            if quota is not None:
                await cur.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", (QUOTA_LOCKS, _user_lock(job))
                )
                refusal = await _over(cur, job, quota)
                if refusal is not None:
                    if job.dedupe_key is not None and (found := await _find(cur, job.dedupe_key)):
                        return found, False
                    raise refusal
            await cur.execute(
                f"INSERT INTO jobs ({names}) VALUES ({values}) "
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING *",
                columns,
            )
            row = await cur.fetchone()
            if row is not None:
                return _job(row), True
            if job.dedupe_key is not None and (found := await _find(cur, job.dedupe_key)):
                return found, False
        raise StoreError("job was neither inserted nor found")

    async def get(self, job_id: int) -> Job | None:
        return await self._one("SELECT * FROM jobs WHERE id = %s", (job_id,))

    async def put_image(self, key: str, image: ImageData) -> None:
        async with self._tx() as cur:
            await cur.execute(
                "INSERT INTO images (key, content_type, data) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET content_type = excluded.content_type, "
                "data = excluded.data",
                (key, image.content_type, image.data),
            )

    async def image(self, key: str) -> ImageData | None:
        async with self._tx() as cur:
            await cur.execute("SELECT content_type, data FROM images WHERE key = %s", (key,))
            row = await cur.fetchone()
        return ImageData(str(row["content_type"]), bytes(row["data"])) if row else None

    async def drop_images(self, keys: Sequence[str]) -> None:
        async with self._tx() as cur:
            await cur.execute("DELETE FROM images WHERE key = ANY(%s)", (list(keys),))

    async def find(self, dedupe_key: str) -> Job | None:
        async with self._tx() as cur:
            return await _find(cur, dedupe_key)

    async def find_by_task(self, task_id: str) -> Job | None:
        return await self._one(
            "SELECT * FROM jobs WHERE tasks @> %s ORDER BY id LIMIT 1",
            (Jsonb([{"task_id": task_id}]),),
        )

    async def update(self, job: Job, *, release: bool = False) -> Job:
        columns = _columns(job)
        sets = ", ".join(f"{c} = %({c})s" for c in columns)
        if release:
            sets += ", lease_owner = NULL, lease_until = NULL"
        row = await self._one(
            f"UPDATE jobs SET {sets}, version = version + 1 "
            "WHERE id = %(id)s AND version = %(version)s RETURNING *",
            {**columns, "id": job.id, "version": job.version},
        )
        if row is None:
            raise Conflict(f"job {job.id} changed since it was read")
        return row

    async def transition(self, job_id: int, allowed: frozenset[JobStatus], **changes: Any) -> Job:
        async with self._tx() as cur:
            await cur.execute("SELECT * FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
            row = await cur.fetchone()
            if row is None:
                raise StoreError(f"job {job_id} does not exist")
            current = _job(row)
            if current.status not in allowed:
                raise Conflict(f"job {job_id} is {current.status}")
            return await _write(cur, current.evolve(**changes))

    async def admit(
        self, job: Job, *, max_running: int, running: frozenset[JobStatus], now: datetime
    ) -> Job | None:
        async with self._tx() as cur:
            await cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCKS, ADMIT_LOCK))
            await cur.execute("SELECT * FROM jobs WHERE id = %s FOR UPDATE", (job.id,))
            row = await cur.fetchone()
            if row is None or row["version"] != job.version:
                raise Conflict(f"job {job.id} changed since it was read")
            current = _job(row)
            if current.status is not JobStatus.RECEIVED:
                return None
            await cur.execute(
                "SELECT (SELECT COUNT(*) FROM jobs WHERE status = ANY(%s))"
                " + (SELECT COUNT(*) FROM jobs WHERE status = %s AND id < %s) AS taken",
                ([s.value for s in running], JobStatus.RECEIVED.value, job.id),
            )
            taken = await cur.fetchone()
            if taken is None or taken["taken"] >= max_running:
                return None
            return await _write(cur, current.evolve(status=JobStatus.UPLOADING, updated_at=now))

    async def claim_due(self, now: datetime, limit: int, lease: timedelta, owner: str) -> list[Job]:
        params = {"now": now, "until": now + lease, "limit": _limit(limit), "owner": owner}
        jobs = await self._many(SQL_CLAIM, params)
        return sorted(jobs, key=lambda j: (j.next_run_at, j.id))

    async def renew(self, job_id: int, owner: str, until: datetime) -> bool:
        return await self._count(
            "UPDATE jobs SET lease_until = %s WHERE id = %s AND lease_owner = %s",
            (until, job_id, owner),
        )

    async def release(self, job_id: int, owner: str, *, retry_at: datetime | None = None) -> bool:
        return await self._count(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, "
            "next_run_at = GREATEST(next_run_at, %s::timestamptz) "
            "WHERE id = %s AND lease_owner = %s",
            (retry_at, job_id, owner),
        )

    async def next_due(self) -> datetime | None:
        value = await self._scalar(SQL_NEXT_DUE, ())
        return _utc(value)

    async def release_leases(self) -> int:
        """Nothing to do: other instances hold these leases, and a dead one's run out."""
        return 0

    async def recent(
        self, *, platform: str | None = None, user_id: str | None = None, limit: int = 20
    ) -> list[Job]:
        where, params = _filters(platform, user_id)
        return await self._many(
            f"SELECT * FROM jobs WHERE {where} ORDER BY id DESC LIMIT %(limit)s",
            params | {"limit": _limit(limit)},
        )

    async def count_active(
        self,
        *,
        platform: str | None = None,
        user_id: str | None = None,
        statuses: frozenset[JobStatus] = ACTIVE,
    ) -> int:
        where, params = _filters(platform, user_id)
        params["statuses"] = [s.value for s in statuses]
        sql = f"SELECT COUNT(*) FROM jobs WHERE {where} AND status = ANY(%(statuses)s)"
        return int(await self._scalar(sql, params) or 0)

    async def videos_since(self, platform: str, user_id: str, since: datetime) -> int:
        params = {"platform": platform, "user_id": user_id, "since": since}
        return int(await self._scalar(SQL_VIDEOS_SINCE, params) or 0)

    async def queue_position(self, job_id: int) -> int:
        sql = "SELECT COUNT(*) FROM jobs WHERE status = %s AND id < %s"
        return 1 + int(await self._scalar(sql, (JobStatus.RECEIVED.value, job_id)) or 0)

    async def status_counts(self, since: datetime) -> dict[JobStatus, tuple[int, int]]:
        async with self._tx() as cur:
            await cur.execute(SQL_STATUS_COUNTS, (since,))
            rows = await cur.fetchall()
        return {JobStatus(r["status"]): (int(r["jobs"]), int(r["videos"])) for r in rows}

    async def get_defaults(self, platform: str, chat_id: str) -> dict[str, Any]:
        sql = "SELECT options FROM chat_defaults WHERE platform = %s AND chat_id = %s"
        return dict(await self._scalar(sql, (platform, chat_id)) or {})

    async def set_defaults(self, platform: str, chat_id: str, values: dict[str, Any]) -> None:
        await self._count(
            "INSERT INTO chat_defaults (platform, chat_id, options) VALUES (%s, %s, %s) "
            "ON CONFLICT (platform, chat_id) DO UPDATE SET options = excluded.options",
            (platform, chat_id, Jsonb(values)),
        )

    async def get_language(self, platform: str, user_id: str) -> str | None:
        sql = "SELECT language FROM people WHERE platform = %s AND user_id = %s"
        value = await self._scalar(sql, (platform, user_id))
        return str(value) if value is not None else None

    async def set_language(self, platform: str, user_id: str, language: str | None) -> None:
        if language is None:
            sql = "DELETE FROM people WHERE platform = %s AND user_id = %s"
            await self._count(sql, (platform, user_id))
            return
        await self._count(
            "INSERT INTO people (platform, user_id, language) VALUES (%s, %s, %s) "
            "ON CONFLICT (platform, user_id) DO UPDATE SET language = excluded.language",
            (platform, user_id, language),
        )

    async def record_duration(self, kind: str, seconds: float, at: datetime) -> None:
        async with self._tx() as cur:
            await cur.execute(
                "INSERT INTO task_durations (kind, seconds, observed_at) "
                "VALUES (%s, %s, %s) RETURNING id",
                (kind, float(seconds), at),
            )
            row = await cur.fetchone()
            if row is not None and row["id"] % 1000 == 0:  # prune now and then, by key
                await cur.execute(
                    "DELETE FROM task_durations WHERE id <= %s", (row["id"] - DURATIONS_KEPT,)
                )

    async def recent_durations(self, limit: int) -> list[tuple[str, float]]:
        async with self._tx() as cur:
            await cur.execute(
                "SELECT kind, seconds FROM task_durations ORDER BY id DESC LIMIT %s",
                (_limit(limit),),
            )
            return [(str(r["kind"]), float(r["seconds"])) for r in await cur.fetchall()]

    # --- copying a whole store -----------------------------------------------

    async def export_jobs(self, batch: int = 500) -> AsyncIterator[Job]:
        after = -(2**63)  # below any id
        while True:
            page = await self._many(
                "SELECT * FROM jobs WHERE id > %s ORDER BY id LIMIT %s", (after, batch)
            )
            for job in page:
                yield job
            if len(page) < batch:
                return
            after = page[-1].id

    async def import_jobs(self, jobs: AsyncIterable[Job]) -> int:
        """As the port says: ids written over the identity, then its sequence moved past them."""
        count = 0
        async with self._tx() as cur:
            await cur.execute("LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE")  # no add meanwhile
            await cur.execute("SELECT EXISTS (SELECT 1 FROM jobs) AS taken")
            if (row := await cur.fetchone()) is not None and row["taken"]:
                raise StoreError("the target already has jobs")
            async for page in batches(jobs, IMPORT_BATCH):
                rows = [_columns(j) | {"id": j.id, "version": j.version} for j in page]
                names = ", ".join(rows[0])
                values = ", ".join(f"%({c})s" for c in rows[0])
                await cur.executemany(
                    f"INSERT INTO jobs ({names}) OVERRIDING SYSTEM VALUE VALUES ({values})", rows
                )
                count += len(rows)
            if count:
                await cur.execute(
                    "SELECT setval(seq, GREATEST(MAX(id), nextval(seq))) "
                    "FROM jobs, pg_get_serial_sequence('jobs', 'id') AS seq GROUP BY seq"
                )
        return count

    async def all_defaults(self) -> list[tuple[str, str, dict[str, Any]]]:
        async with self._tx() as cur:
            await cur.execute(
                "SELECT platform, chat_id, options FROM chat_defaults "
                'ORDER BY platform COLLATE "C", chat_id COLLATE "C"'  # as Python sorts
            )
            rows = await cur.fetchall()
        return [(str(r["platform"]), str(r["chat_id"]), dict(r["options"])) for r in rows]

    async def all_durations(self) -> list[tuple[str, float, datetime]]:
        async with self._tx() as cur:
            await cur.execute("SELECT kind, seconds, observed_at FROM task_durations ORDER BY id")
            rows = await cur.fetchall()
        return [
            (str(r["kind"]), float(r["seconds"]), r["observed_at"].astimezone(UTC)) for r in rows
        ]

    async def import_durations(self, durations: Sequence[tuple[str, float, datetime]]) -> None:
        if not durations:
            return
        async with self._tx() as cur:
            await cur.executemany(
                "INSERT INTO task_durations (kind, seconds, observed_at) VALUES (%s, %s, %s)",
                [(kind, float(seconds), at) for kind, seconds, at in durations],
            )

    async def image_keys(self) -> list[str]:
        async with self._tx() as cur:
            await cur.execute('SELECT key FROM images ORDER BY key COLLATE "C"')
            return [str(r["key"]) for r in await cur.fetchall()]

    # --- what adapters share (``adapters.base.SharedState``) ---------------------

    async def add_to_group(
        self, key: str, part: int, payload: str, now: datetime, *, max_parts: int
    ) -> MessageGroup:
        params = {
            "key": key,
            "part": str(part),
            "payload": payload,
            "now": now,
            "max_parts": max_parts,
        }
        async with self._tx() as cur:
            await cur.execute(SQL_ADD_TO_GROUP, params)
            row = await cur.fetchone()
        if row is None:
            raise StoreError(f"message group {key} was neither added nor found")
        return _group(row)

    async def claim_group(
        self, key: str, now: datetime, *, quiet: timedelta, cap: timedelta, lease: timedelta
    ) -> MessageGroup | None:
        params = {"key": key, "now": now, "until": now + lease, "quiet": quiet, "cap": cap}
        async with self._tx() as cur:
            await cur.execute(SQL_CLAIM_GROUP, params)
            row = await cur.fetchone()
        return _group(row) if row is not None else None

    async def finish_group(self, key: str) -> None:
        await self._count(
            "UPDATE message_groups SET done = TRUE, claimed_until = NULL WHERE key = %s", (key,)
        )

    async def message_group(self, key: str) -> MessageGroup | None:
        async with self._tx() as cur:
            await cur.execute("SELECT * FROM message_groups WHERE key = %s", (key,))
            row = await cur.fetchone()
        return _group(row) if row is not None else None

    async def forget_groups(self, before: datetime) -> int:
        async with self._tx() as cur:
            await cur.execute("DELETE FROM message_groups WHERE last_at < %s", (before,))
            return cur.rowcount

    async def get_state(self, key: str, now: datetime) -> str | None:
        value = await self._scalar(
            "SELECT value FROM bot_state WHERE key = %s "
            "AND (expires_at IS NULL OR expires_at > %s)",
            (key, now),
        )
        return str(value) if value is not None else None

    async def set_state(self, key: str, value: str, *, expires: datetime | None = None) -> None:
        await self._count(
            "INSERT INTO bot_state (key, value, expires_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at",
            (key, value, expires),
        )

    async def forget_state(self, before: datetime) -> int:
        async with self._tx() as cur:
            await cur.execute("DELETE FROM bot_state WHERE expires_at < %s", (before,))
            return cur.rowcount

    async def _one(self, sql: str, params: Any) -> Job | None:
        async with self._tx() as cur:
            await cur.execute(sql, params)
            row = await cur.fetchone()
        return _job(row) if row is not None else None

    async def _many(self, sql: str, params: Any) -> list[Job]:
        async with self._tx() as cur:
            await cur.execute(sql, params)
            return [_job(r) for r in await cur.fetchall()]

    async def _scalar(self, sql: str, params: Any) -> Any:
        async with self._tx() as cur:
            await cur.execute(sql, params)
            row = await cur.fetchone()
        return next(iter(row.values())) if row else None

    async def _count(self, sql: str, params: Any) -> bool:
        """Run a write; whether it touched exactly one row."""
        async with self._tx() as cur:
            await cur.execute(sql, params)
            return cur.rowcount == 1


async def _find(cur: Cursor, dedupe_key: str) -> Job | None:
    await cur.execute("SELECT * FROM jobs WHERE dedupe_key = %s", (dedupe_key,))
    row = await cur.fetchone()
    return _job(row) if row is not None else None


async def _write(cur: Cursor, job: Job) -> Job:
    """Write every field of ``job`` (its row is locked by the caller) and bump the version."""
    columns = _columns(job)
    sets = ", ".join(f"{c} = %({c})s" for c in columns)
    await cur.execute(
        f"UPDATE jobs SET {sets}, version = version + 1 WHERE id = %(id)s RETURNING *",
        {**columns, "id": job.id},
    )
    row = await cur.fetchone()
    if row is None:
        raise StoreError(f"job {job.id} vanished while locked")
    return _job(row)


async def _over(cur: Cursor, job: Job, quota: Quota) -> QuotaExceeded | None:
    """The refusal if ``job`` does not fit its user's ``quota`` (under the user's lock)."""
    who = {"platform": job.target.platform, "user_id": job.target.user_id}
    await cur.execute(SQL_ACTIVE_OF_USER, who)
    active = int(next(iter((await cur.fetchone() or {"n": 0}).values())))
    if quota.max_active and active >= quota.max_active:
        return QuotaExceeded(QuotaKind.ACTIVE, used=active)
    if not quota.max_videos:
        return None
    await cur.execute(SQL_VIDEOS_SINCE, who | {"since": quota.day_start})
    used = int(next(iter((await cur.fetchone() or {"n": 0}).values())))
    if used + job.request.count > quota.max_videos:
        return QuotaExceeded(QuotaKind.DAILY_VIDEOS, used=used)
    return None


def _filters(platform: str | None, user_id: str | None) -> tuple[str, dict[str, Any]]:
    """A ``WHERE`` clause (``true`` when empty) applying each filter given."""
    given = {k: v for k, v in (("platform", platform), ("user_id", user_id)) if v is not None}
    return " AND ".join([f"{k} = %({k})s" for k in given] or ["true"]), given


async def _migrate(conn: psycopg.AsyncConnection[DictRow]) -> None:
    """Bring the schema to the newest version in one transaction, under an advisory lock.

    Two instances starting together queue on the lock; the second finds the work done.
    """
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCKS, MIGRATE_LOCK))
        await cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        await cur.execute("SELECT COALESCE(MAX(version), 0) AS version FROM schema_version")
        row = await cur.fetchone()
        version = int(row["version"]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"database schema {version} is newer than this bot ({len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await cur.execute(script)
            await cur.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))


def _wrap(exc: psycopg.Error, where: str, hidden: tuple[str, ...]) -> StoreError:
    """A :class:`StoreError` naming the server and the driver's reason, never the password."""
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    for secret in hidden:
        reason = reason.replace(secret, "***")
    return StoreError(f"PostgreSQL at {where}: {reason}")
