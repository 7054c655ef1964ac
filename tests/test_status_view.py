"""What each job state means for a person: bot.model.status.status_view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.model.job import ACTIVE, Job, JobStatus, Target, TaskResult, TaskState
from bot.model.request import Options, build_request
from bot.model.status import (
    CANCELLABLE,
    FAILED_REASON,
    VIDEO_LINK_LIFETIME,
    Action,
    Phase,
    StatusView,
    link_expires,
    status_view,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
URLS = ("https://keevx.example/a.jpg", "https://keevx.example/b.jpg")
AGAIN, CANCEL, DELETE = Action.AGAIN, Action.CANCEL, Action.DELETE


def make_job(status: JobStatus, *, images: int = 2, **changes: Any) -> Job:
    return Job(
        id=7,
        target=Target(platform="telegram", chat_id="1001", user_id="1001"),
        request=build_request("waves", Options(), images),
        status=status,
        created_at=T0,
        updated_at=T0,
        next_run_at=T0,
        **changes,
    )


EXPECTED: dict[JobStatus, StatusView] = {
    JobStatus.RECEIVED: StatusView(phase=Phase.QUEUED, actions=frozenset({CANCEL})),
    JobStatus.UPLOADING: StatusView(phase=Phase.UPLOADING, actions=frozenset({CANCEL})),
    JobStatus.SUBMITTING: StatusView(phase=Phase.STARTING, actions=frozenset({CANCEL})),
    JobStatus.SUBMITTED: StatusView(phase=Phase.GENERATING, actions=frozenset({CANCEL})),
    JobStatus.SUCCEEDED: StatusView(phase=Phase.SENDING),  # too late to cancel
    JobStatus.DELIVERED: StatusView(phase=Phase.DONE, actions=frozenset({AGAIN, DELETE})),
    JobStatus.FAILED: StatusView(
        phase=Phase.FAILED, reason="moderation said no", actions=frozenset({AGAIN})
    ),
    JobStatus.EXPIRED: StatusView(
        phase=Phase.GAVE_UP, reason="moderation said no", actions=frozenset({AGAIN})
    ),
    JobStatus.UNKNOWN: StatusView(  # the first video may still come: Again asks first
        phase=Phase.UNKNOWN,
        reason="moderation said no",
        actions=frozenset({AGAIN}),
        confirm_again=True,
    ),
    JobStatus.UNDELIVERABLE: StatusView(phase=Phase.UNDELIVERABLE, reason="moderation said no"),
    JobStatus.CANCELLED: StatusView(phase=Phase.CANCELLED),
}


def test_every_status_has_a_view() -> None:
    assert set(EXPECTED) == set(JobStatus)


@pytest.mark.parametrize("status", list(JobStatus))
def test_each_status_means_one_view(status: JobStatus) -> None:
    job = make_job(status, image_urls=URLS, error="moderation said no")
    assert status_view(job) == EXPECTED[status]


@pytest.mark.parametrize("status", list(JobStatus))
def test_only_endings_are_over(status: JobStatus) -> None:
    assert status_view(make_job(status)).over is status.terminal


def test_cancel_applies_until_the_video_is_made() -> None:
    assert set(ACTIVE - CANCELLABLE) == {JobStatus.SUCCEEDED}


def test_a_failure_without_an_error_still_says_why() -> None:
    assert status_view(make_job(JobStatus.FAILED)).reason == FAILED_REASON
    assert status_view(make_job(JobStatus.EXPIRED)).reason is None


def test_again_needs_every_image_at_keevx() -> None:
    assert AGAIN not in status_view(make_job(JobStatus.FAILED)).actions
    assert AGAIN not in status_view(make_job(JobStatus.FAILED, image_urls=URLS[:1])).actions
    one = make_job(JobStatus.DELIVERED, images=1, image_urls=URLS[:1])
    assert AGAIN in status_view(one).actions


def test_queue_position_only_while_queued() -> None:
    queued = make_job(JobStatus.RECEIVED, queue_position=3)
    assert status_view(queued).queue_position == 3
    assert status_view(make_job(JobStatus.RECEIVED, queue_position=0)).queue_position is None
    later = make_job(JobStatus.UPLOADING, queue_position=3)
    assert status_view(later).queue_position is None


def _task(n: int, state: TaskState) -> TaskResult:
    return TaskResult(task_id=f"t{n}", status=state)


@pytest.mark.parametrize(
    ("states", "phase", "done"),
    [
        ((TaskState.PENDING, TaskState.PENDING), Phase.WAITING, 0),
        ((TaskState.PENDING, TaskState.PROCESSING), Phase.GENERATING, 0),
        ((TaskState.SUCCEEDED, TaskState.PROCESSING), Phase.GENERATING, 1),
        ((TaskState.SUCCEEDED, TaskState.FAILED), Phase.GENERATING, 2),
    ],
)
def test_progress_while_generating(states: tuple[TaskState, ...], phase: Phase, done: int) -> None:
    tasks = tuple(_task(n, s) for n, s in enumerate(states))
    view = status_view(make_job(JobStatus.SUBMITTED, tasks=tasks))
    assert (view.phase, view.tasks_done, view.tasks_total) == (phase, done, len(states))


def test_a_link_expires_seven_days_after_its_video_was_made() -> None:
    """Counted from when the task was first seen finished, not from when it is posted."""
    submitted = T0 + timedelta(minutes=1)
    tasks = (
        TaskResult(task_id="t1", video_url="https://v/1.mp4", done_after=120.0),
        TaskResult(task_id="t2", video_url="https://v/2.mp4"),  # before done_after existed
    )
    job = make_job(
        JobStatus.DELIVERED, submitted_at=submitted, finished_at=T0 + timedelta(days=2), tasks=tasks
    )
    made = submitted + timedelta(seconds=120)
    assert link_expires(job, "https://v/1.mp4") == made + VIDEO_LINK_LIFETIME
    assert link_expires(job, "https://v/2.mp4") == submitted + VIDEO_LINK_LIFETIME
