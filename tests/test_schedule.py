"""Poll schedules on a fake clock: the prior, learned durations, callbacks, restarts."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app.runtime import Core
from bot.errors import ConfigError
from bot.jobs.durations import Durations, kind_of, quantile
from bot.jobs.schedule import AdaptiveSchedule, FixedSchedule
from bot.model.job import Job, JobStatus, Target, TaskResult, TaskState
from bot.model.request import Model, VideoRequest
from bot.settings import Settings
from storage import SqliteJobStore
from storage.sqlite import SQL_CLAIM, SQL_NEXT_DUE
from tests.support import RecordingAdapter, submit

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
INTERVAL, TIMEOUT = timedelta(seconds=30), timedelta(minutes=20)
REQUEST = VideoRequest(
    prompt="waves",
    model=Model.V,
    aspect_ratio="16:9",
    resolution="1080p",
    duration=6,
    audio=False,
    count=1,
    image_count=1,
)
KIND = kind_of(REQUEST)
PARAMS = {"now": 0.0, "until": 0.0, "limit": 8, "owner": "w"}


def submitted(request: VideoRequest = REQUEST) -> Job:
    return Job(
        id=1,
        target=Target(platform="test", chat_id="c", user_id="u"),
        request=request,
        status=JobStatus.SUBMITTED,
        created_at=T0,
        updated_at=T0,
        next_run_at=T0,
        tasks=(TaskResult(task_id="i2v-1"),),
        submitted_at=T0,
    )


def learned(median: float = 300.0, sigma: float = 0.3, n: int = 256) -> Durations:
    rng = random.Random(5)
    durations = Durations()
    durations.extend((KIND, median * math.exp(rng.gauss(0, sigma))) for _ in range(n))
    return durations


def checks(schedule: AdaptiveSchedule, until: float, job: Job | None = None) -> list[float]:
    """Elapsed seconds of every check of a job still unfinished at ``until`` (the fake clock)."""
    job, now, seen = job or submitted(), T0, []
    while (now - T0).total_seconds() < until:
        now = schedule.next_check(job, now)
        seen.append((now - T0).total_seconds())
    return seen


def test_fixed_schedule_is_keevx_recipe() -> None:
    assert FixedSchedule(INTERVAL).next_check(submitted(), T0) == T0 + INTERVAL


def test_prior_without_samples_looks_after_a_minute_then_every_interval() -> None:
    schedule = AdaptiveSchedule(Durations(), interval=INTERVAL, timeout=TIMEOUT)
    seen = checks(schedule, 600)
    assert seen[0] == 60  # min(2 × interval, timeout / 20)
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert all(27 <= g <= 30 for g in gaps)


def test_learned_first_check_just_before_typical_finish() -> None:
    durations = learned()
    schedule = AdaptiveSchedule(durations, interval=INTERVAL, timeout=TIMEOUT)
    samples = durations.samples(KIND)
    assert samples is not None
    first = checks(schedule, 1)[0]
    expected = quantile(samples, 0.1)
    assert expected * 0.97 <= first <= expected
    assert first < quantile(samples, 0.5)


def test_learned_gaps_dense_near_median_bounded_when_overdue() -> None:
    durations = learned(sigma=0.1)  # 20% of tasks finish within ~15 s of the median
    schedule = AdaptiveSchedule(durations, interval=INTERVAL, timeout=TIMEOUT)
    samples = durations.samples(KIND)
    assert samples is not None
    seen = checks(schedule, TIMEOUT.total_seconds())
    gaps = {a: b - a for a, b in itertools.pairwise(seen[:-1])}  # the last: deadline
    assert all(g <= 30 for g in gaps.values())  # never more than POLL_INTERVAL
    near_median = [g for t, g in gaps.items() if abs(t - quantile(samples, 0.5)) < 20]
    overdue = [g for t, g in gaps.items() if t > quantile(samples, 0.95)]
    assert max(near_median) < min(overdue)
    assert all(g >= 27 for g in overdue)  # jitter only shortens
    assert seen[-1] == pytest.approx(TIMEOUT.total_seconds(), abs=0.01)  # expires on time


def test_jitter_spreads_jobs_submitted_together() -> None:
    schedule = AdaptiveSchedule(learned(), interval=INTERVAL, timeout=TIMEOUT)
    firsts = {schedule.next_check(submitted(), T0) for _ in range(50)}
    assert len(firsts) > 40


def test_callbacks_make_polling_a_slow_safety_net() -> None:
    durations = learned(median=60, sigma=0.1)
    schedule = AdaptiveSchedule(durations, interval=INTERVAL, timeout=TIMEOUT, callbacks=True)
    seen = checks(schedule, TIMEOUT.total_seconds())
    assert 114 <= seen[0] <= 120  # no sooner than 4 × interval, though tasks take ~1 min
    gaps = [b - a for a, b in itertools.pairwise(seen)][:-1]  # the last: deadline
    assert all(108 <= g <= 120 for g in gaps)
    assert seen[-1] == pytest.approx(TIMEOUT.total_seconds(), abs=0.01)
    slow = AdaptiveSchedule(learned(median=600), interval=INTERVAL, timeout=TIMEOUT, callbacks=True)
    assert checks(slow, 1)[0] > 900  # the learned 99th percentile, when that is later


def test_sparse_kind_borrows_from_a_broader_one() -> None:
    durations = learned(median=100)
    other = dataclasses.replace(REQUEST, duration=8, count=2)
    assert durations.samples(kind_of(other)) is not None  # same model and resolution
    durations.extend((kind_of(other), 900.0) for _ in range(durations.min_samples))
    samples = durations.samples(kind_of(other))
    assert samples is not None and set(samples) == {900.0}


def test_adaptive_needs_fewer_checks_than_fixed_at_no_worse_p95_delay() -> None:
    """The schedule alone, on the fake clock, over tasks drawn like the learned ones."""
    durations = learned()
    schedule = AdaptiveSchedule(durations, interval=INTERVAL, timeout=TIMEOUT, rng=random.Random(1))
    rng = random.Random(2)
    fixed_q, fixed_d, adaptive_q, adaptive_d = [], [], [], []
    for _ in range(2000):
        took = 300 * math.exp(rng.gauss(0, 0.3))
        n = math.ceil(took / 30)
        fixed_q.append(n)
        fixed_d.append(n * 30 - took)
        elapsed, count = 0.0, 0
        while elapsed < took:
            elapsed, count = schedule.plan(KIND, elapsed), count + 1
        adaptive_q.append(count)
        adaptive_d.append(elapsed - took)
    assert sum(adaptive_q) <= 0.6 * sum(fixed_q)

    def p95(xs: list[float]) -> float:
        return sorted(xs)[int(0.95 * len(xs))]

    assert p95(adaptive_d) <= p95(fixed_d)


def test_imputed_durations_stay_between_checks() -> None:
    durations, rng = Durations(), random.Random(4)
    assert all(100 <= durations.impute(100, 110, narrow=30, rng=rng) <= 110 for _ in range(50))
    # Done before the first check: somewhere in the last poll interval before it.
    assert all(220 <= durations.impute(0, 250, narrow=30, rng=rng) <= 250 for _ in range(50))


def test_learning_from_its_own_checks_does_not_drift() -> None:
    """Without callbacks, the schedule learns only from what its checks saw; it must hold."""
    durations = learned()
    schedule = AdaptiveSchedule(durations, interval=INTERVAL, timeout=TIMEOUT, rng=random.Random(1))
    rng, firsts = random.Random(3), []
    for _generation in range(4):
        firsts.append(schedule.plan(KIND, 0.0))
        delays = []
        for _ in range(1000):
            took = 300 * math.exp(rng.gauss(0, 0.3))
            elapsed, running = 0.0, 0.0
            while elapsed < took:
                running, elapsed = elapsed, schedule.plan(KIND, elapsed)
            delays.append(elapsed - took)
            durations.extend([(KIND, durations.impute(running, elapsed, narrow=30, rng=rng))])
        assert sorted(delays)[950] <= 29.5
    assert max(firsts) - min(firsts) < 25


async def test_learning_survives_a_restart(tmp_path: Path) -> None:
    store = await SqliteJobStore.open(str(tmp_path / "bot.db"))
    schedule = AdaptiveSchedule(  # with callbacks, a task's finish is known exactly
        Durations(log=store), interval=INTERVAL, timeout=TIMEOUT, callbacks=True
    )
    job = submitted()
    for n in range(10):
        done = TaskResult(task_id=f"i2v-{n}", status=TaskState.SUCCEEDED)
        await schedule.finished(job, done, T0 + timedelta(seconds=200 + n))
    await schedule.finished(
        job, TaskResult(task_id="x", status=TaskState.FAILED), T0
    )  # not learned
    await store.close()

    class CountingLog:
        def __init__(self, inner: SqliteJobStore) -> None:
            self.inner, self.reads = inner, 0

        async def record_duration(self, kind: str, seconds: float, at: datetime) -> None:
            await self.inner.record_duration(kind, seconds, at)

        async def recent_durations(self, limit: int) -> list[tuple[str, float]]:
            self.reads += 1
            return await self.inner.recent_durations(limit)

    reopened = await SqliteJobStore.open(str(tmp_path / "bot.db"))
    counting = CountingLog(reopened)
    durations = Durations(log=counting)
    assert await durations.load() == 10
    assert durations.samples(KIND) == [200.0 + n for n in range(10)]
    again = AdaptiveSchedule(durations, interval=INTERVAL, timeout=TIMEOUT)
    checks(again, 1200)
    assert counting.reads == 1  # checks are planned from memory, never from the table
    await reopened.close()


def test_poll_strategy_setting() -> None:
    assert Settings.from_env({}).poll_strategy == "adaptive"
    assert Settings.from_env({"POLL_STRATEGY": "Fixed"}).poll_strategy == "fixed"
    with pytest.raises(ConfigError, match="POLL_STRATEGY"):
        Settings.from_env({"POLL_STRATEGY": "smart"})


async def test_core_learns_from_delivered_jobs(settings: Settings, tmp_path: Path) -> None:
    adapter = RecordingAdapter()
    async with Core(settings) as core:
        assert isinstance(core.schedule, AdaptiveSchedule) and not core.schedule.callbacks
        await core.attach(adapter)
        job = await submit(core.service, tmp_path)
        await adapter.wait(job.id)
        final = await core.service.get(job.id)
        samples = await core.store.recent_durations(10)
    assert final is not None and final.status is JobStatus.DELIVERED
    (task,) = final.tasks
    assert task.done_after is not None and task.running_after is not None
    assert 0 < task.running_after < task.done_after
    ((kind, seconds),) = samples
    assert kind == kind_of(final.request)
    assert task.running_after <= seconds <= task.done_after  # between the last two checks
    async with Core(dataclasses.replace(settings, poll_strategy="fixed")) as core:
        assert isinstance(core.schedule, FixedSchedule)


async def test_poller_queries_use_the_due_index(tmp_path: Path) -> None:
    """next_due and claim_due read the partial index, and still honour leases."""
    store = await SqliteJobStore.open(str(tmp_path / "bot.db"))
    job = submitted()
    ids = []
    for offset in (10, 5, 1):
        added, _ = await store.add(job.evolve(next_run_at=T0 + timedelta(seconds=offset)))
        ids.append(added.id)
    late, mid, early = [await store.get(i) for i in ids]
    assert late and mid and early
    assert len(await store.claim_due(T0 + timedelta(seconds=5), 8, timedelta(0), "w")) == 2
    assert await store.renew(mid.id, "w", T0 + timedelta(seconds=20))
    assert await store.renew(early.id, "w", T0 + timedelta(seconds=3))
    assert await store.next_due() == T0 + timedelta(seconds=3)  # early's lease runs out first
    claimed = await store.claim_due(T0 + timedelta(seconds=4), 8, timedelta(seconds=100), "x")
    assert [j.id for j in claimed] == [early.id]  # mid is still leased, late not yet due
    assert await store.next_due() == T0 + timedelta(seconds=10)
    await store.close()
    with sqlite3.connect(tmp_path / "bot.db") as db:
        for sql in (SQL_CLAIM, SQL_NEXT_DUE):
            plan = [r[3] for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", PARAMS)]
            assert any("jobs_due" in step for step in plan)
            assert "SCAN jobs" not in plan  # no step reads the whole table
