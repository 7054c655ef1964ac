"""The background loop: claim due jobs from the store and advance them, a few at a time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.errors import Conflict
from bot.jobs.pipeline import Pipeline, Timing
from bot.jobs.ports import JobStore
from bot.model.job import ACTIVE, Job

__all__ = ["Poller"]

log = logging.getLogger(__name__)

# A job whose step keeps failing for a reason the bot does not understand (a bug, a
# database that keeps erroring) ends, with a message, after this many tries in a row.
MAX_UNEXPECTED_FAILURES = 5
# A Conflict means someone else wrote the job (a cancel, a callback): read it again and
# carry on from there while the lease is still ours, at most this many times in one go.
MAX_REREADS = 5


class Poller:
    """Runs :class:`Pipeline` on every job that falls due, with bounded concurrency.

    A job is claimed under a lease owned by one worker: the worker renews it while it
    works (a long download or a long 429 wait never lets it lapse), writes only if the
    job is unchanged since it read it, and lets go only of a lease it still holds. A
    worker that loses its lease stops at once, so a job is never worked on twice. Leases
    left by a dead process are dropped at start (SQLite: one process per database).
    """

    def __init__(
        self,
        store: JobStore,
        pipeline: Pipeline,
        *,
        timing: Timing,
        now: Callable[[], datetime],
        concurrency: int = 8,
        max_idle: float = 60.0,
    ) -> None:
        self._store = store
        self._pipeline = pipeline
        self._timing = timing
        self._now = now
        self._concurrency = max(1, concurrency)
        self._max_idle = max_idle
        self._wake = asyncio.Event()
        self._stopping = False
        self._working: set[asyncio.Task[None]] = set()
        self._instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._claims = itertools.count(1)
        self._failures: dict[int, int] = {}

    def wake(self) -> None:
        """Look for due jobs now (a job was added or changed)."""
        self._wake.set()

    async def run(self) -> None:
        """Work until :meth:`stop`; leases left by a dead process are dropped first."""
        released = await self._store.release_leases()
        if released:
            log.info("resuming %d job(s) left by the previous run", released)
        while not self._stopping:
            self._wake.clear()
            try:
                await self._claim()
                await self._idle()
            except Exception:  # the store failed: try again shortly, never stop polling
                log.exception("poller: could not look for due jobs")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; give jobs in progress ``grace`` seconds, then cancel them.

        A cancelled job keeps its last committed status and resumes at next start.
        """
        self._stopping = True
        self._wake.set()
        if self._working:
            _, pending = await asyncio.wait(set(self._working), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.info("left %d job(s) in progress for the next start", len(pending))
                await asyncio.wait(pending)

    async def _claim(self) -> None:
        free = self._concurrency - len(self._working)
        if free <= 0:
            return
        owner = f"{self._instance}/{next(self._claims)}"
        for job in await self._store.claim_due(self._now(), free, self._timing.lease, owner):
            task = asyncio.create_task(self._work(job, owner), name=f"job-{job.id}")
            self._working.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._working.discard(task)
        self._wake.set()

    async def _idle(self) -> None:
        """Sleep until the next job falls due, a slot frees up, or :meth:`wake`."""
        timeout = self._max_idle
        if len(self._working) < self._concurrency:
            due = await self._store.next_due()
            if due is not None:
                timeout = min(max((due - self._now()).total_seconds(), 0.0), self._max_idle)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _work(self, job: Job, owner: str) -> None:
        """Advance ``job`` while a companion task keeps its lease; stop if the lease is lost."""
        worker = asyncio.current_task()
        assert worker is not None
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lease(job.id, owner, worker, lost))
        try:
            await self._advance(job, owner)
        except asyncio.CancelledError:
            if not lost.is_set():
                # Stopping (SIGTERM): the job keeps its last committed status; let go of
                # its lease so another instance takes it now, not when the lease runs out.
                with contextlib.suppress(Exception):
                    await self._store.release(job.id, owner)
                raise
            worker.uncancel()
            log.warning("job %s: lease lost, stopped working on it", job.id)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _keep_lease(
        self, job_id: int, owner: str, worker: asyncio.Task[None], lost: asyncio.Event
    ) -> None:
        """Renew the lease every third of its length; cancel ``worker`` once it is not ours."""
        lease = self._timing.lease
        every = lease.total_seconds() / 3
        held_until = self._now() + lease
        while True:
            await asyncio.sleep(every)
            try:
                until = self._now() + lease
                if await self._store.renew(job_id, owner, until):
                    held_until = until
                    continue
                log.warning("job %s: another worker holds its lease now", job_id)
            except Exception as exc:
                if self._now() + timedelta(seconds=every) < held_until:
                    log.warning("job %s: lease not renewed, trying again: %s", job_id, exc)
                    continue
                log.warning("job %s: lease could not be renewed in time: %s", job_id, exc)
            lost.set()
            worker.cancel()
            return

    async def _advance(self, job: Job, owner: str) -> None:
        try:
            for _ in range(MAX_REREADS):
                try:
                    await self._pipeline.advance(job)
                except Conflict:
                    current = await self._store.get(job.id)
                    if current is None or current.status not in ACTIVE:
                        break
                    # Someone else wrote the job (a cancel, a callback): carry on from
                    # what is stored now, as long as the lease is still this worker's.
                    until = self._now() + self._timing.lease
                    if not await self._store.renew(job.id, owner, until):
                        log.info("job %s: changed and taken over meanwhile", job.id)
                        return
                    log.info("job %s: changed meanwhile (now %s)", job.id, current.status)
                    job = current
                    continue
                self._failures.pop(job.id, None)
                return
            await self._store.release(job.id, owner)
        except asyncio.CancelledError:
            raise
        except Exception:
            await self._failed(job, owner)

    async def _failed(self, job: Job, owner: str) -> None:
        """An unexpected error: retry after a short backoff, give up after a few in a row."""
        failures = self._failures[job.id] = self._failures.get(job.id, 0) + 1
        log.exception("job %s: unexpected error (%d in a row)", job.id, failures)
        if failures >= MAX_UNEXPECTED_FAILURES:
            self._failures.pop(job.id, None)
            try:
                await self._pipeline.give_up(job.id)
                return
            except Exception:
                log.exception("job %s: could not be ended either", job.id)
        retry_at = self._now() + self._timing.backoff(failures)
        for attempt in range(3):
            try:
                await self._store.release(job.id, owner, retry_at=retry_at)
                return
            except Exception as exc:
                log.warning("job %s: lease not released (%s); trying again", job.id, exc)
                await asyncio.sleep(0.5 * (attempt + 1))
        # The lease then runs out by itself, within Timing.lease.
