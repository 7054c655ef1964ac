"""The background loop: claim due jobs from the store and advance them, a few at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from bot.job import ACTIVE, Job
from bot.pipeline import Pipeline, Timing
from storage.base import Conflict, JobStore

__all__ = ["Poller"]

log = logging.getLogger(__name__)


class Poller:
    """Runs :class:`Pipeline` on every job that falls due, with bounded concurrency.

    Jobs are claimed with a lease, so a job is worked on by one task at a
    time; a crash leaves leases that :meth:`run` drops at start (one process
    per database), which resumes every unfinished job.
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
            free = self._concurrency - len(self._working)
            if free > 0:
                for job in await self._store.claim_due(self._now(), free, self._timing.lease):
                    task = asyncio.create_task(self._advance(job), name=f"job-{job.id}")
                    self._working.add(task)
                    task.add_done_callback(self._done)
            await self._idle()

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

    async def _advance(self, job: Job) -> None:
        try:
            await self._pipeline.advance(job)
        except Conflict:
            # Someone else wrote the job (a cancel, a callback): let go of it as it now stands.
            current = await self._store.get(job.id)
            log.info("job %s changed meanwhile (now %s)", job.id, current and current.status)
            if current is not None and current.status in ACTIVE:
                with contextlib.suppress(Conflict):
                    await self._store.update(current)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The job keeps its last committed status; its lease runs out and it is retried.
            log.exception("job %s: unexpected error", job.id)
