"""The job store contract (:class:`bot.jobs.ports.JobStore`), run against every store.

A new store joins by adding one factory to :data:`STORES`; SQLite-only matters
(migrations, the schema, the file lock) stay in ``test_store.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapters.base import SharedState
from bot.errors import Conflict, StoreError
from bot.jobs.limits import RUNNING
from bot.jobs.ports import JobStore
from bot.model.job import ACTIVE, ImageData, Job, JobStatus, Target, TaskResult, TaskState
from bot.model.quota import Quota, QuotaExceeded, QuotaKind
from bot.model.request import Model, VideoRequest
from storage.memory import MemoryJobStore
from storage.postgres import PostgresJobStore
from storage.sqlite import SqliteJobStore

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
REQUEST = VideoRequest(
    prompt='Speak "привет" 🌊',
    model=Model.V,
    aspect_ratio="16:9",
    resolution="720p",
    duration=4,
    audio=False,
    count=1,
    image_count=1,
)
ANN = Target(
    platform="telegram", chat_id="-100", user_id="7", thread_id="3", reply_to="55", user_name="Ann"
)


async def _sqlite(request: pytest.FixtureRequest) -> JobStore:
    folder: Path = request.getfixturevalue("tmp_path")
    return await SqliteJobStore.open(str(folder / "sub" / "jobs.db"))


async def _memory(request: pytest.FixtureRequest) -> JobStore:
    return MemoryJobStore()


async def _postgres(request: pytest.FixtureRequest) -> JobStore:
    return await PostgresJobStore.open(request.getfixturevalue("pg_url"))  # tests/pg.py


# Every store that honours the contract: a new one joins here, with one line. Each
# factory takes the test's request, to ask for the fixtures it needs.
STORES: dict[str, Callable[[pytest.FixtureRequest], Awaitable[JobStore]]] = {
    "sqlite": _sqlite,
    "memory": _memory,
    "postgres": _postgres,
}
# Stores that several processes share: release_leases() must leave their leases alone.
SHARED = frozenset({"postgres"})


@pytest.fixture(params=list(STORES))
async def store(request: pytest.FixtureRequest) -> AsyncIterator[JobStore]:
    opened = await STORES[request.param](request)
    yield opened
    await opened.close()


def new_job(**changes: object) -> Job:
    job = Job(
        id=0,
        target=ANN,
        request=REQUEST,
        status=JobStatus.RECEIVED,
        created_at=T0,
        updated_at=T0,
        next_run_at=T0,
        images=("/spool/a/1.jpg",),
    )
    return job.evolve(**changes)


def user(user_id: str, platform: str = "telegram") -> Target:
    return Target(platform=platform, chat_id="1", user_id=user_id)


async def added(store: JobStore, **changes: object) -> Job:
    job, created = await store.add(new_job(**changes))
    assert created
    return job


async def stored(store: JobStore, job_id: int) -> Job:
    job = await store.get(job_id)
    assert job is not None
    return job


# --- adds and dedupe ---------------------------------------------------------


async def test_add_keeps_every_field_and_numbers_jobs(store: JobStore) -> None:
    job = new_job(
        id=99,
        version=7,
        status=JobStatus.SUBMITTED,
        images=("/spool/a/1.jpg", "/spool/a/2.jpg"),
        image_urls=("https://u/1.jpg",),
        tasks=(TaskResult(task_id="i2v-1", width=1280, done_after=41.5),),
        attempts=2,
        submitted_at=T0,
        finished_at=T0 + MINUTE,
        error="boom",
        status_message_id="m1",
        delivered_ids=("9",),
        dedupe_key="telegram:-100:55",
        again_of=3,
        adopted=True,
        queue_position=2,
        create_requests=1,
        language="pt_BR",
        request=REQUEST.evolve(count=2, notes=("a note",)),
    )
    first, created = await store.add(job)
    assert created and first.id > 0
    assert first == job.evolve(id=first.id, version=0)  # the id and version are the store's
    assert await store.get(first.id) == first
    second = await added(store)
    assert second.id > first.id
    assert await store.get(second.id + 1) is None


async def test_a_persons_language_is_kept_per_platform_and_can_be_forgotten(
    store: JobStore,
) -> None:
    assert await store.get_language("telegram", "7") is None
    await store.set_language("telegram", "7", "ru")
    await store.set_language("discord", "7", "es")
    await store.set_language("telegram", "7", "uk")  # a new choice replaces the old
    assert await store.get_language("telegram", "7") == "uk"
    assert await store.get_language("discord", "7") == "es"
    await store.set_language("telegram", "7", None)
    assert await store.get_language("telegram", "7") is None
    assert await store.get_language("discord", "7") == "es"


async def test_update_keeps_every_field(store: JobStore) -> None:
    job = await added(store, dedupe_key="k", queue_position=4)
    job = await store.update(
        job.evolve(
            status=JobStatus.SUBMITTED,
            tasks=(TaskResult(task_id="i2v-1", width=1280),),
            image_urls=("https://u/1.jpg",),
            images=(),
            submitted_at=T0,
            delivered_ids=("9",),
            queue_position=None,
            adopted=True,
            target=replace(job.target, chat_type="supergroup", origin="mention"),
            create_requests=1,
            attempts=3,
            error="e",
            status_message_id="s",
            language="uk",
        )
    )
    loaded = await stored(store, job.id)
    assert loaded == job
    assert loaded.request.prompt == 'Speak "привет" 🌊' and loaded.target.thread_id == "3"
    assert loaded.create_requests == 1 and loaded.adopted and loaded.queue_position is None
    assert (loaded.target.chat_type, loaded.target.origin) == ("supergroup", "mention")


async def test_jobs_come_back_in_utc(store: JobStore) -> None:
    east = timezone(timedelta(hours=3))
    job = await added(store, created_at=T0.astimezone(east), dedupe_key="k")
    loaded = await stored(store, job.id)
    assert loaded.created_at == T0 and loaded.created_at.utcoffset() == timedelta(0)


async def test_dedupe_key_returns_the_existing_job(store: JobStore) -> None:
    first, created = await store.add(new_job(dedupe_key="k"))
    second, created_again = await store.add(new_job(dedupe_key="k", attempts=5))
    assert created and not created_again and second == first
    assert await store.find("k") == first
    assert await store.find("other") is None
    a, b = await added(store), await added(store)  # no key: never a duplicate
    assert len({first.id, a.id, b.id}) == 3


async def test_dedupe_wins_over_a_quota_refusal(store: JobStore) -> None:
    first = await added(store, dedupe_key="k")
    full = Quota(max_active=1, max_videos=0, day_start=T0)
    again, created = await store.add(new_job(dedupe_key="k"), quota=full)
    assert again == first and not created


# --- quotas ------------------------------------------------------------------


async def test_quota_refuses_a_job_over_the_active_limit(store: JobStore) -> None:
    quota = Quota(max_active=2, max_videos=0, day_start=T0)
    first = await added(store)
    await store.add(new_job(), quota=quota)
    with pytest.raises(QuotaExceeded) as refused:
        await store.add(new_job(dedupe_key="third"), quota=quota)
    assert refused.value.kind is QuotaKind.ACTIVE and refused.value.used == 2
    assert await store.find("third") is None and len(await store.recent()) == 2
    _, created = await store.add(new_job(target=user("8")), quota=quota)  # another user
    assert created
    await store.update(first.evolve(status=JobStatus.DELIVERED))  # a finished job frees a place
    _, created = await store.add(new_job(), quota=quota)
    assert created


async def test_quota_refuses_a_job_over_the_daily_videos(store: JobStore) -> None:
    quota = Quota(max_active=0, max_videos=3, day_start=T0)
    await added(store, created_at=T0 - MINUTE, request=REQUEST.evolve(count=4))  # yesterday
    await store.add(new_job(request=REQUEST.evolve(count=2)), quota=quota)
    with pytest.raises(QuotaExceeded) as refused:
        await store.add(new_job(request=REQUEST.evolve(count=2)), quota=quota)
    assert refused.value.kind is QuotaKind.DAILY_VIDEOS and refused.value.used == 2
    _, created = await store.add(new_job(request=REQUEST.evolve(count=1)), quota=quota)
    assert created  # exactly at the limit fits
    assert await store.videos_since("telegram", "7", T0) == 3


async def test_zero_means_no_limit(store: JobStore) -> None:
    quota = Quota(max_active=0, max_videos=0, day_start=T0)
    for _ in range(5):
        _, created = await store.add(new_job(request=REQUEST.evolve(count=4)), quota=quota)
        assert created


async def test_the_active_limit_is_named_first(store: JobStore) -> None:
    await added(store, request=REQUEST.evolve(count=3))
    quota = Quota(max_active=1, max_videos=3, day_start=T0)
    with pytest.raises(QuotaExceeded) as refused:
        await store.add(new_job(), quota=quota)
    assert refused.value.kind is QuotaKind.ACTIVE and refused.value.used == 1


async def test_only_videos_that_arrived_or_may_yet_count_against_the_allowance(
    store: JobStore,
) -> None:
    made = TaskResult(task_id="t", status=TaskState.SUCCEEDED, video_url="https://v/1.mp4")
    arrived = replace(made, task_id="u", delivered_ids=("5",))
    failed = TaskResult(task_id="f", status=TaskState.FAILED, error="no")
    charged = [  # each job asks for 2 videos
        (new_job(status=JobStatus.FAILED, tasks=(failed, failed)), 0),
        (new_job(status=JobStatus.EXPIRED, tasks=(made,)), 0),
        (new_job(status=JobStatus.CANCELLED), 0),  # before Keevx: no task
        (new_job(status=JobStatus.UNDELIVERABLE, tasks=(made, made)), 0),
        (new_job(status=JobStatus.DELIVERED, tasks=(arrived, failed)), 1),
        (new_job(status=JobStatus.DELIVERED, tasks=(arrived, arrived)), 2),
        (new_job(status=JobStatus.CANCELLED, tasks=(made,)), 1),  # Keevx made one
        (new_job(status=JobStatus.UNKNOWN), 2),
        (new_job(status=JobStatus.SUBMITTED, tasks=(made, made)), 2),
    ]
    for job, _ in charged:
        await store.add(job.evolve(request=REQUEST.evolve(count=2)))
    await store.add(new_job(target=user("7", "discord")))  # same id, other platform
    spent = sum(n for _, n in charged)
    assert await store.videos_since("telegram", "7", T0) == spent
    assert await store.videos_since("telegram", "7", T0 + MINUTE) == 0
    quota = Quota(max_active=0, max_videos=spent + 1, day_start=T0)
    _, created = await store.add(new_job(), quota=quota)
    assert created


async def test_a_video_that_did_not_arrive_is_given_back_when_the_job_ends(
    store: JobStore,
) -> None:
    made = TaskResult(task_id="t", status=TaskState.SUCCEEDED, video_url="https://v/1.mp4")
    job, _ = await store.add(new_job(status=JobStatus.SUBMITTED, tasks=(made, made)))
    assert await store.videos_since("telegram", "7", T0) == 1  # REQUEST asks for one
    both = job.evolve(request=REQUEST.evolve(count=2))
    job = await store.update(both)
    assert await store.videos_since("telegram", "7", T0) == 2
    one = (replace(made, delivered_ids=("8",)), replace(made, task_id="x", error="gone"))
    await store.update(job.evolve(status=JobStatus.DELIVERED, tasks=one))
    assert await store.videos_since("telegram", "7", T0) == 1


# --- optimistic versions and transitions -------------------------------------


async def test_a_stale_write_conflicts(store: JobStore) -> None:
    job = await added(store)
    written = await store.update(job.evolve(attempts=1))
    assert written.version == job.version + 1
    with pytest.raises(Conflict):
        await store.update(job.evolve(attempts=2))
    with pytest.raises(Conflict):
        await store.update(job.evolve(id=job.id + 100))
    assert (await stored(store, job.id)).attempts == 1


async def test_transition_only_from_allowed_states(store: JobStore) -> None:
    job = await added(store)
    cancelled = await store.transition(
        job.id, ACTIVE, status=JobStatus.CANCELLED, images=(), finished_at=T0 + MINUTE
    )
    assert cancelled.status is JobStatus.CANCELLED and cancelled.images == ()
    assert cancelled.finished_at == T0 + MINUTE and cancelled.version == job.version + 1
    assert await store.get(job.id) == cancelled
    with pytest.raises(Conflict):
        await store.transition(job.id, ACTIVE, status=JobStatus.CANCELLED)
    with pytest.raises(StoreError) as missing:
        await store.transition(job.id + 100, ACTIVE, status=JobStatus.CANCELLED)
    assert not isinstance(missing.value, Conflict)
    with pytest.raises(Conflict):  # the cancel came first: the worker's copy is stale
        await store.update(job.evolve(status=JobStatus.UPLOADING))


# --- claims and owned leases -------------------------------------------------


async def test_claim_leases_each_job_once(store: JobStore) -> None:
    due = await added(store)
    later = await added(store, next_run_at=T0 + 5 * MINUTE)
    done = await added(store, status=JobStatus.DELIVERED)
    claimed = await store.claim_due(T0, 10, MINUTE, "w")
    assert [j.id for j in claimed] == [due.id]
    assert claimed[0].version == due.version + 1  # a claim is a write
    assert await store.claim_due(T0, 10, MINUTE, "w2") == []  # leased
    # The lease runs out: claimable again, with the later job now due too.
    again = await store.claim_due(T0 + 6 * MINUTE, 10, MINUTE, "w")
    assert [j.id for j in again] == [due.id, later.id]
    assert done.id not in {j.id for j in again}


async def test_claim_takes_the_earliest_due_first(store: JobStore) -> None:
    third = await added(store, next_run_at=T0 + 3 * MINUTE)
    first = await added(store, next_run_at=T0 + MINUTE)
    second = await added(store, next_run_at=T0 + 2 * MINUTE)
    tied = await added(store, next_run_at=T0 + 2 * MINUTE)
    claimed = await store.claim_due(T0 + 5 * MINUTE, 3, MINUTE, "w")
    assert [j.id for j in claimed] == [first.id, second.id, tied.id]
    assert [j.id for j in await store.claim_due(T0 + 5 * MINUTE, 3, MINUTE, "w")] == [third.id]
    assert await store.claim_due(T0 + 10 * MINUTE, 0, MINUTE, "w") == []


async def test_due_and_lease_ends_are_inclusive(store: JobStore) -> None:
    job = await added(store, next_run_at=T0 + MINUTE)
    assert await store.claim_due(T0 + MINUTE - timedelta(microseconds=1), 1, MINUTE, "a") == []
    assert len(await store.claim_due(T0 + MINUTE, 1, MINUTE, "a")) == 1
    assert await store.claim_due(T0 + 2 * MINUTE - timedelta(seconds=1), 1, MINUTE, "b") == []
    assert [j.id for j in await store.claim_due(T0 + 2 * MINUTE, 1, MINUTE, "b")] == [job.id]


async def test_a_stale_write_after_a_claim_conflicts(store: JobStore) -> None:
    job = await added(store)
    await store.claim_due(T0, 1, MINUTE, "w")
    with pytest.raises(Conflict):
        await store.update(job.evolve(attempts=1))


async def test_only_the_owner_renews_or_releases(store: JobStore) -> None:
    await added(store)
    (job,) = await store.claim_due(T0, 1, MINUTE, "a")
    assert not await store.renew(job.id, "b", T0 + 9 * MINUTE)
    assert not await store.release(job.id, "b")
    assert await store.renew(job.id, "a", T0 + 5 * MINUTE)
    assert await store.claim_due(T0 + 2 * MINUTE, 1, MINUTE, "b") == []  # renewed: still a's
    assert (await stored(store, job.id)).version == job.version  # a lease is not a write
    assert await store.release(job.id, "a")
    assert (await stored(store, job.id)).version == job.version
    assert not await store.release(job.id, "a")  # no longer held
    assert not await store.renew(job.id, "a", T0 + 9 * MINUTE)
    assert len(await store.claim_due(T0, 1, MINUTE, "b")) == 1
    assert not await store.renew(job.id + 100, "b", T0)
    assert not await store.release(job.id + 100, "b")


async def test_a_worker_that_lost_its_lease_cannot_touch_it(store: JobStore) -> None:
    await added(store)
    (job,) = await store.claim_due(T0, 1, MINUTE, "a")
    assert await store.renew(job.id, "a", T0 + 2 * MINUTE)  # an owner renews a lapsed lease
    (taken,) = await store.claim_due(T0 + 3 * MINUTE, 1, MINUTE, "b")  # a stopped renewing
    assert taken.id == job.id
    assert not await store.renew(job.id, "a", T0 + 9 * MINUTE)
    assert not await store.release(job.id, "a")
    with pytest.raises(Conflict):
        await store.update(job.evolve(attempts=1), release=True)
    assert await store.claim_due(T0 + 3 * MINUTE, 1, MINUTE, "c") == []  # still b's
    assert await store.release(job.id, "b")


async def test_release_not_before_retry_at(store: JobStore) -> None:
    job = await added(store)
    await store.claim_due(T0, 1, MINUTE, "w")
    assert await store.release(job.id, "w", retry_at=T0 + 5 * MINUTE)
    assert (await stored(store, job.id)).next_run_at == T0 + 5 * MINUTE
    assert await store.next_due() == T0 + 5 * MINUTE
    assert await store.claim_due(T0 + 4 * MINUTE, 1, MINUTE, "w") == []
    (again,) = await store.claim_due(T0 + 5 * MINUTE, 1, MINUTE, "w")
    assert await store.release(job.id, "w", retry_at=T0)  # never earlier than it was
    assert (await stored(store, job.id)).next_run_at == T0 + 5 * MINUTE
    assert (await stored(store, job.id)).version == again.version


async def test_update_keeps_the_lease_unless_it_releases(store: JobStore) -> None:
    await added(store)
    (job,) = await store.claim_due(T0, 1, MINUTE, "w")
    job = await store.update(job.evolve(attempts=1))
    assert await store.claim_due(T0, 1, MINUTE, "x") == []
    assert await store.renew(job.id, "w", T0 + 2 * MINUTE)
    await store.update(job.evolve(attempts=2), release=True)
    assert not await store.renew(job.id, "w", T0 + 3 * MINUTE)
    assert len(await store.claim_due(T0, 1, MINUTE, "x")) == 1


async def test_release_leases_makes_jobs_claimable(
    store: JobStore, request: pytest.FixtureRequest
) -> None:
    await added(store)
    await added(store)
    await added(store, next_run_at=T0 + MINUTE)
    assert len(await store.claim_due(T0, 10, timedelta(hours=1), "w")) == 2
    if request.node.callspec.params["store"] in SHARED:  # the leases may be live instances'
        assert await store.release_leases() == 0
        assert await store.claim_due(T0, 10, timedelta(hours=1), "w") == []
        return
    assert await store.release_leases() == 2
    assert await store.release_leases() == 0
    assert len(await store.claim_due(T0, 10, timedelta(hours=1), "w")) == 2


# --- due times ---------------------------------------------------------------


async def test_next_due_is_the_earliest_unleased_or_lease_end(store: JobStore) -> None:
    assert await store.next_due() is None
    await added(store, status=JobStatus.DELIVERED, next_run_at=T0 - MINUTE)
    assert await store.next_due() is None  # finished jobs are never due
    await added(store, next_run_at=T0 + 10 * MINUTE)
    assert await store.next_due() == T0 + 10 * MINUTE
    first = await added(store, next_run_at=T0)
    assert await store.next_due() == T0
    await store.claim_due(T0, 1, 3 * MINUTE, "w")
    assert await store.next_due() == T0 + 3 * MINUTE  # when its lease runs out
    await store.renew(first.id, "w", T0 + 20 * MINUTE)
    assert await store.next_due() == T0 + 10 * MINUTE
    await store.release(first.id, "w")
    assert await store.next_due() == T0


async def test_next_due_of_a_leased_job_due_later_than_its_lease(store: JobStore) -> None:
    job = await added(store)
    await store.claim_due(T0, 1, MINUTE, "w")
    await store.update((await stored(store, job.id)).evolve(next_run_at=T0 + 5 * MINUTE))
    assert await store.next_due() == T0 + 5 * MINUTE


# --- admission under MAX_ACTIVE_TOTAL ----------------------------------------


async def admit(store: JobStore, job: Job, max_running: int) -> Job | None:
    return await store.admit(job, max_running=max_running, running=RUNNING, now=T0 + MINUTE)


async def test_admit_fills_running_places_oldest_first(store: JobStore) -> None:
    busy = await added(store, status=JobStatus.SUBMITTED)
    older = await added(store)
    newer = await added(store)
    assert await admit(store, newer, 2) is None  # the older waiting job goes first
    admitted = await admit(store, older, 2)
    assert admitted is not None and admitted.status is JobStatus.UPLOADING
    assert admitted.updated_at == T0 + MINUTE and admitted.version == older.version + 1
    assert admitted == older.evolve(
        status=JobStatus.UPLOADING, updated_at=T0 + MINUTE, version=older.version + 1
    )
    assert await admit(store, newer, 2) is None  # two running
    await store.update(busy.evolve(status=JobStatus.DELIVERED))
    assert await admit(store, newer, 2) is not None


async def test_admit_refuses_a_stale_or_missing_job(store: JobStore) -> None:
    job = await added(store)
    await store.update(job.evolve(attempts=1))
    with pytest.raises(Conflict):
        await admit(store, job, 5)
    with pytest.raises(Conflict):
        await admit(store, job.evolve(id=job.id + 100), 5)
    running = await added(store, status=JobStatus.SUBMITTED)
    assert await admit(store, running, 5) is None  # not waiting: nothing to admit


# --- queries -----------------------------------------------------------------


async def test_queue_position_counts_older_waiting_jobs(store: JobStore) -> None:
    first = await added(store)
    await added(store, status=JobStatus.UPLOADING)
    await added(store, status=JobStatus.FAILED)
    third = await added(store)
    later = await added(store)
    assert await store.queue_position(first.id) == 1
    assert await store.queue_position(third.id) == 2
    assert await store.queue_position(later.id) == 3
    await store.update(first.evolve(status=JobStatus.UPLOADING))
    assert await store.queue_position(later.id) == 2


async def test_status_counts_jobs_and_delivered_videos_since(store: JobStore) -> None:
    await added(store, status=JobStatus.DELIVERED, delivered_ids=("1", "2"))
    await added(store, status=JobStatus.DELIVERED, delivered_ids=("3",))
    await added(store, status=JobStatus.FAILED)
    await added(store)
    await added(store, status=JobStatus.DELIVERED, delivered_ids=("4",), created_at=T0 - MINUTE)
    assert await store.status_counts(T0) == {
        JobStatus.DELIVERED: (2, 3),
        JobStatus.FAILED: (1, 0),
        JobStatus.RECEIVED: (1, 0),
    }
    assert await store.status_counts(T0 + MINUTE) == {}


async def test_find_by_task(store: JobStore) -> None:
    await added(store, tasks=(TaskResult(task_id="a"),))
    job = await added(store, tasks=(TaskResult(task_id="b"), TaskResult(task_id="c")))
    assert await store.find_by_task("c") == job
    assert await store.find_by_task("missing") is None


async def test_recent_is_newest_first_and_filters(store: JobStore) -> None:
    mine = await added(store)
    discord = await added(store, target=user("7", "discord"))
    other = await added(store, target=user("8"))
    mine_later = await added(store)
    assert [j.id for j in await store.recent()] == [mine_later.id, other.id, discord.id, mine.id]
    assert [j.id for j in await store.recent(limit=2)] == [mine_later.id, other.id]
    mine_only = await store.recent(platform="telegram", user_id="7")
    assert [j.id for j in mine_only] == [mine_later.id, mine.id]
    assert [j.id for j in await store.recent(platform="discord")] == [discord.id]
    assert [j.id for j in await store.recent(user_id="8")] == [other.id]
    assert await store.recent(limit=0) == []


async def test_count_active(store: JobStore) -> None:
    await added(store)
    await added(store, status=JobStatus.SUBMITTED)
    await added(store, status=JobStatus.DELIVERED)
    await added(store, target=user("8"))
    await added(store, target=user("7", "discord"), status=JobStatus.SUCCEEDED)
    assert await store.count_active() == 4
    assert await store.count_active(platform="telegram", user_id="7") == 2
    assert await store.count_active(platform="telegram", user_id="9") == 0
    received = frozenset({JobStatus.RECEIVED})
    assert await store.count_active(statuses=received) == 2
    assert await store.count_active(platform="telegram", user_id="8", statuses=received) == 1
    finished = frozenset({JobStatus.DELIVERED})
    assert await store.count_active(statuses=finished) == 1


async def test_count_active_filters_by_platform_alone(store: JobStore) -> None:
    await added(store)
    await added(store, target=user("7", "discord"))
    assert await store.count_active(platform="discord") == 1


# --- chat defaults and durations ---------------------------------------------


async def test_chat_defaults(store: JobStore) -> None:
    assert await store.get_defaults("telegram", "-100") == {}
    await store.set_defaults("telegram", "-100", {"model": "KL"})
    await store.set_defaults("telegram", "-100", {"aspect_ratio": "9:16", "count": 2})
    await store.set_defaults("discord", "-100", {"model": "V"})
    defaults = await store.get_defaults("telegram", "-100")
    assert defaults == {"aspect_ratio": "9:16", "count": 2}  # replaced, not merged
    defaults["count"] = 4
    assert await store.get_defaults("telegram", "-100") == {"aspect_ratio": "9:16", "count": 2}
    assert await store.get_defaults("discord", "-100") == {"model": "V"}
    assert await store.get_defaults("telegram", "-101") == {}


async def test_durations_newest_first(store: JobStore) -> None:
    assert await store.recent_durations(10) == []
    await store.record_duration("V/720p/4/1", 40.5, T0 + MINUTE)
    await store.record_duration("KL/1080p/6/1", 90, T0)  # recorded later, observed earlier
    await store.record_duration("V/720p/4/1", 42.0, T0 + 2 * MINUTE)
    assert await store.recent_durations(10) == [
        ("V/720p/4/1", 42.0),
        ("KL/1080p/6/1", 90.0),
        ("V/720p/4/1", 40.5),
    ]
    assert await store.recent_durations(2) == [("V/720p/4/1", 42.0), ("KL/1080p/6/1", 90.0)]
    assert all(type(s) is float for _, s in await store.recent_durations(10))


# --- images, kept until Keevx has them ----------------------------------------


async def test_images_are_kept_until_dropped(store: JobStore) -> None:
    png = ImageData("image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)
    await store.put_image("db:a", png)
    await store.put_image("db:b", ImageData("image/jpeg", b"\xff\xd8\xff"))
    assert await store.image("db:a") == png
    assert await store.image("db:missing") is None
    await store.drop_images(["db:a", "db:missing"])
    assert await store.image("db:a") is None
    assert await store.image("db:b") == ImageData("image/jpeg", b"\xff\xd8\xff")
    await store.drop_images([])


# --- copying a whole store (keevx-bot copy-db) ---------------------------------


async def _each(jobs: list[Job]) -> AsyncIterator[Job]:
    for job in jobs:
        yield job


async def _exported(store: JobStore, batch: int = 500) -> list[Job]:
    return [job async for job in store.export_jobs(batch)]


async def test_export_gives_every_job_oldest_first(store: JobStore) -> None:
    assert await _exported(store) == []
    jobs = [
        await added(store, status=status, dedupe_key=f"k{n}") for n, status in enumerate(JobStatus)
    ]
    await store.claim_due(T0, 10, MINUTE, "w")  # leased jobs are exported too
    now = [await stored(store, j.id) for j in jobs]
    assert await _exported(store) == now
    assert await _exported(store, batch=2) == now  # read a page at a time


async def test_import_keeps_ids_versions_and_every_field(store: JobStore) -> None:
    jobs = [
        new_job(
            id=5,
            version=9,
            status=JobStatus.SUBMITTED,
            tasks=(TaskResult(task_id="i2v-1", width=1280, done_after=41.5),),
            image_urls=("https://u/1.jpg",),
            submitted_at=T0,
            dedupe_key="telegram:-100:55",
            create_requests=1,
            target=replace(ANN, chat_type="supergroup", origin="mention"),
        ),
        new_job(id=6, status=JobStatus.DELIVERED, delivered_ids=("9",), finished_at=T0, again_of=5),
        new_job(id=40, version=2, queue_position=3, adopted=True, error="e"),
    ]
    assert await store.import_jobs(_each(jobs)) == 3
    assert await _exported(store) == jobs
    assert await store.find("telegram:-100:55") == jobs[0]
    assert await store.find_by_task("i2v-1") == jobs[0]
    # Unleased: the live ones are claimable at once, with their versions bumped as by any claim.
    claimed = await store.claim_due(T0, 10, MINUTE, "w")
    assert [(j.id, j.version) for j in claimed] == [(5, 10), (40, 3)]
    newer = await added(store)
    assert newer.id > 40  # the next id is above every copied one


async def test_import_refuses_a_store_that_has_jobs(store: JobStore) -> None:
    first = await added(store)
    with pytest.raises(StoreError, match="the target already has jobs"):
        await store.import_jobs(_each([new_job(id=first.id + 10)]))
    with pytest.raises(StoreError, match="the target already has jobs"):
        await store.import_jobs(_each([]))
    assert await _exported(store) == [first]


async def test_a_failed_import_inserts_nothing(store: JobStore) -> None:
    async def broken() -> AsyncIterator[Job]:
        yield new_job(id=3)
        raise RuntimeError("the source failed")

    with pytest.raises(RuntimeError):
        await store.import_jobs(broken())
    assert await _exported(store) == []
    assert await store.import_jobs(_each([new_job(id=3)])) == 1  # and it can be done again


async def test_defaults_durations_and_images_are_listed(store: JobStore) -> None:
    assert await store.all_defaults() == []
    assert await store.all_durations() == [] and await store.image_keys() == []
    await store.set_defaults("telegram", "-100", {"model": "KL", "count": 2})
    await store.set_defaults("discord", "7", {"aspect_ratio": "9:16"})
    await store.set_defaults("discord", "7", {"aspect_ratio": "16:9"})
    assert await store.all_defaults() == [
        ("discord", "7", {"aspect_ratio": "16:9"}),
        ("telegram", "-100", {"model": "KL", "count": 2}),
    ]
    east = timezone(timedelta(hours=3))
    await store.record_duration("V/720p/4/1", 40.5, (T0 + MINUTE).astimezone(east))
    await store.record_duration("KL/1080p/6/1", 90, T0)
    durations = [("V/720p/4/1", 40.5, T0 + MINUTE), ("KL/1080p/6/1", 90.0, T0)]
    assert await store.all_durations() == durations  # oldest recorded first, in UTC
    await store.import_durations([("V/720p/4/1", 41.0, T0 + 2 * MINUTE)])
    await store.import_durations([])
    assert await store.all_durations() == [*durations, ("V/720p/4/1", 41.0, T0 + 2 * MINUTE)]
    assert (await store.recent_durations(1)) == [("V/720p/4/1", 41.0)]
    await store.put_image("db:b", ImageData("image/jpeg", b"\xff\xd8\xff"))
    await store.put_image("db:a", ImageData("image/png", b"\x89PNG"))
    assert await store.image_keys() == ["db:a", "db:b"]
    await store.drop_images(["db:a"])
    assert await store.image_keys() == ["db:b"]


# --- what the adapters share (adapters.base.SharedState) ---------------------

SECOND = timedelta(seconds=1)
QUIET, CAP, LEASE = 2 * SECOND, 5 * SECOND, 30 * SECOND


def shared(store: JobStore) -> SharedState:
    assert isinstance(store, MemoryJobStore | SqliteJobStore | PostgresJobStore)
    return store


async def test_a_message_group_collects_parts_in_order_once_each(store: JobStore) -> None:
    groups = shared(store)
    await groups.add_to_group("g", 12, "twelve", T0, max_parts=3)
    await groups.add_to_group("g", 10, 'ten "quoted" 🌊', T0 + SECOND, max_parts=3)
    again = await groups.add_to_group("g", 12, "changed", T0 + 2 * SECOND, max_parts=3)
    assert again.parts == ('ten "quoted" 🌊', "twelve")  # a kept part is not replaced
    await groups.add_to_group("g", 11, "eleven", T0 + 3 * SECOND, max_parts=3)
    full = await groups.add_to_group("g", 13, "one too many", T0 + 4 * SECOND, max_parts=3)
    assert full.parts == ('ten "quoted" 🌊', "eleven", "twelve")
    assert (full.first_at, full.last_at, full.done) == (T0, T0 + 4 * SECOND, False)
    assert await groups.message_group("g") == full
    assert await groups.message_group("other") is None


async def test_a_message_group_is_claimed_once_it_settled(store: JobStore) -> None:
    groups = shared(store)
    await groups.add_to_group("g", 1, "a", T0, max_parts=10)
    await groups.add_to_group("g", 2, "b", T0 + SECOND, max_parts=10)
    times = {"quiet": QUIET, "cap": CAP, "lease": LEASE}
    assert await groups.claim_group("g", T0 + 2 * SECOND, **times) is None  # still quiet
    assert await groups.claim_group("unknown", T0 + 9 * SECOND, **times) is None
    claimed = await groups.claim_group("g", T0 + 3 * SECOND, **times)
    assert claimed is not None and claimed.parts == ("a", "b")
    assert claimed.claimed_until == T0 + 3 * SECOND + LEASE
    assert await groups.claim_group("g", T0 + 4 * SECOND, **times) is None  # claimed
    # The claimer died: once its claim ran out, another instance takes the group over.
    retaken = await groups.claim_group("g", T0 + 3 * SECOND + LEASE, **times)
    assert retaken is not None and retaken.parts == ("a", "b")
    await groups.finish_group("g")
    assert await groups.claim_group("g", T0 + 9 * MINUTE, **times) is None
    late = await groups.add_to_group("g", 3, "c", T0 + 9 * MINUTE, max_parts=10)
    assert late.done and late.parts == ("a", "b", "c") and late.last_at == T0 + SECOND


async def test_a_message_group_that_keeps_growing_is_capped(store: JobStore) -> None:
    groups = shared(store)
    times = {"quiet": QUIET, "cap": CAP, "lease": LEASE}
    for n in range(5):  # a part every second: never quiet for two
        await groups.add_to_group("g", n, str(n), T0 + n * SECOND, max_parts=10)
        assert await groups.claim_group("g", T0 + n * SECOND, **times) is None
    claimed = await groups.claim_group("g", T0 + CAP, **times)
    assert claimed is not None and len(claimed.parts) == 5


async def test_old_message_groups_are_forgotten(store: JobStore) -> None:
    groups = shared(store)
    await groups.add_to_group("old", 1, "a", T0, max_parts=10)
    await groups.add_to_group("new", 1, "b", T0 + MINUTE, max_parts=10)
    assert await groups.forget_groups(T0 + SECOND) == 1
    assert await groups.message_group("old") is None
    assert await groups.message_group("new") is not None


async def test_bot_state_values_are_kept_and_expire(store: JobStore) -> None:
    state = shared(store)
    assert await state.get_state("commands", T0) is None
    await state.set_state("commands", "abc")
    await state.set_state("commands", "def")
    await state.set_state("session", "42", expires=T0 + MINUTE)
    assert await state.get_state("commands", T0 + 9 * MINUTE) == "def"
    assert await state.get_state("session", T0) == "42"
    assert await state.get_state("session", T0 + MINUTE) is None
    assert await state.forget_state(T0 + 2 * MINUTE) == 1
    assert await state.get_state("commands", T0) == "def"
