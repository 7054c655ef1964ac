"""When to ask Keevx about a submitted task next.

:class:`FixedSchedule` is Keevx's own recipe (every ``POLL_INTERVAL``).
:class:`AdaptiveSchedule` plans each job's checks from how long tasks of its
kind took before (:mod:`bot.jobs.durations`): the first check just before the
typical finish, checks close together where tasks usually finish, and
``POLL_INTERVAL`` as the longest gap once a task is overdue. With Keevx
callbacks on, it becomes a slow safety net for callbacks that never come.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Protocol

from bot.jobs.durations import Durations, kind_of, quantile, rank
from bot.model.job import Job, TaskResult, TaskState

__all__ = ["AdaptiveSchedule", "FixedSchedule", "PollSchedule"]


class PollSchedule(Protocol):
    """Decides the next status check of a submitted job, and learns from finished tasks."""

    def next_check(self, job: Job, now: datetime) -> datetime:
        """When to query the job's unfinished tasks next (``job.submitted_at`` is set)."""
        ...

    async def finished(self, job: Job, task: TaskResult, at: datetime) -> None:
        """``task`` of ``job`` was first seen finished at ``at``; called once per task."""
        ...

    def usual_seconds(self, job: Job) -> float | None:
        """How long tasks like the job's usually take (the median learned), if known."""
        ...


class FixedSchedule:
    """Keevx's own recipe: every ``interval``, the first one ``interval`` after submission."""

    def __init__(self, interval: timedelta) -> None:
        self.interval = interval

    def next_check(self, job: Job, now: datetime) -> datetime:
        return now + self.interval

    async def finished(self, job: Job, task: TaskResult, at: datetime) -> None:
        pass

    def usual_seconds(self, job: Job) -> float | None:
        return None


class AdaptiveSchedule:
    """Checks planned from learned durations; see the module docstring.

    Times are seconds since the job was submitted ("elapsed"). With samples
    for the job's kind (or a broader kind, see :class:`Durations`):

    * before the ``first`` quantile: one check there (jittered). Checks while
      almost every task still runs are the dearest; the fastest tenth pays for
      skipping them with a little delay. Polling cannot tell when those tasks
      finished, only that it was before this check, so the check sits at a
      quantile it measures itself (the share of tasks done by then), which keeps
      it from drifting with the guesses (see :meth:`Durations.impute`);
    * up to the ``last`` quantile: gaps as wide as the span of the middle
      ``mass_step`` of the distribution around the current elapsed time
      (narrow where tasks bunch up), between ``min_gap`` and ``max_gap`` ×
      interval (a little under it, so most deliveries beat the fixed recipe);
    * after it (overdue): every ``interval`` (minus jitter): the bound on delay.

    Without samples (the prior): the first check after ``min(2 × interval,
    timeout / 20)`` (Keevx quotes up to 20 minutes, so a minute with its
    defaults), then every ``interval``. With ``callbacks`` the checks only
    catch callbacks that were lost: the first at the learned 99th percentile
    but no sooner than ``safety_factor`` × interval, then every
    ``safety_factor`` × interval. No check is planned past ``timeout``,
    where the job expires.

    Jitter (a few percent, always shortening gaps) keeps jobs submitted
    together from querying together. Learning happens in :meth:`finished`,
    from succeeded tasks only (failures are often instant refusals); without
    callbacks a task's duration is imputed between the last check that saw
    it running and the one that saw it finished (:meth:`Durations.impute`).
    """

    def __init__(
        self,
        durations: Durations,
        *,
        interval: timedelta,
        timeout: timedelta,
        callbacks: bool = False,
        safety_factor: float = 4.0,
        first: float = 0.1,
        last: float = 0.95,
        mass_step: float = 0.3,
        min_gap: float = 0.25,
        max_gap: float = 0.9,
        rng: random.Random | None = None,
    ) -> None:
        self.durations = durations
        self.interval = interval.total_seconds()
        self.timeout = timeout.total_seconds()
        self.callbacks = callbacks
        self.safety_factor = safety_factor
        self.first, self.last, self.mass_step = first, last, mass_step
        self.min_gap = min_gap * self.interval
        self.max_gap = max_gap * self.interval
        self._rng = rng or random.Random()

    def next_check(self, job: Job, now: datetime) -> datetime:
        start = job.submitted_at or now
        elapsed = max((now - start).total_seconds(), 0.0)
        target = self.plan(kind_of(job.request), elapsed)
        # The expiry check happens at the deadline, not up to a gap after it.
        target = min(target, max(self.timeout, elapsed) + 0.001)
        return start + timedelta(seconds=target)

    def plan(self, kind: str, elapsed: float) -> float:
        """The elapsed time of the next check of a task of ``kind`` unfinished at ``elapsed``."""
        return max(self._plan(kind, elapsed), elapsed + self.min_gap)

    def _plan(self, kind: str, elapsed: float) -> float:
        samples = self.durations.samples(kind)
        if self.callbacks:
            net = self.interval * self.safety_factor
            first = max(quantile(samples, 0.99), net) if samples else net
            if elapsed < first * 0.95:  # not checked yet (the first check is jittered)
                return first * self._jitter(0.05)
            return elapsed + net * self._jitter(0.1)
        if samples is None:
            first = min(2 * self.interval, self.timeout / 20)
            if elapsed < first:
                return first
            return elapsed + self.interval * self._jitter(0.1)
        low, high = quantile(samples, self.first), quantile(samples, self.last)
        if elapsed < low * 0.97:  # not checked yet (the first check is jittered)
            return low * self._jitter(0.03)
        if elapsed >= high:
            return elapsed + self.interval * self._jitter(0.1)
        p = rank(samples, elapsed)
        half = self.mass_step / 2
        span = quantile(samples, min(p + half, 1.0)) - quantile(samples, max(p - half, 0.0))
        gap = min(max(span, self.min_gap), self.max_gap)
        return elapsed + gap * self._jitter(0.1)

    async def finished(self, job: Job, task: TaskResult, at: datetime) -> None:
        if task.status is not TaskState.SUCCEEDED or job.submitted_at is None:
            return
        kind, seen = kind_of(job.request), (at - job.submitted_at).total_seconds()
        if not self.callbacks:  # with callbacks the check comes right after the finish
            low = min(task.running_after or 0.0, seen)
            seen = self.durations.impute(low, seen, narrow=self.interval, rng=self._rng)
        await self.durations.observe(kind, seen, at)

    def usual_seconds(self, job: Job) -> float | None:
        samples = self.durations.samples(kind_of(job.request))
        return quantile(samples, 0.5) if samples else None

    def _jitter(self, spread: float) -> float:
        """A factor in [1 - spread, 1]: gaps only ever shrink, so bounds still hold."""
        return 1.0 - spread * self._rng.random()
