"""What a job's state means for the person waiting: :func:`status_view` of a :class:`Job`.

The one place that decides, from a job's status, which phase a person sees,
which sentence explains an unhappy ending, how far the job got and which
buttons apply. Adapters only word and draw the view, each in its platform's way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from bot.i18n import N_, _, ngettext
from bot.model.job import ACTIVE, Job, JobStatus, TaskState

__all__ = [
    "AGAIN_AFTER",
    "CANCELLABLE",
    "CONFIRM_AGAIN",
    "LOST_ANSWER",
    "RESTARTED",
    "VIDEO_LINK_LIFETIME",
    "Action",
    "Phase",
    "StatusView",
    "link_expires",
    "shortfall",
    "status_view",
]

# Once the video is made (`succeeded`) it is being delivered: cancelling then would race
# the post, so the answer is "too late" instead.
CANCELLABLE: Final = ACTIVE - {JobStatus.SUCCEEDED}
# Endings worth repeating with the same images (they are at Keevx already).
AGAIN_AFTER: Final = frozenset(
    {JobStatus.DELIVERED, JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.UNKNOWN}
)
# Endings where the first video may still be made, and charged: Again asks first.
CONFIRM_AGAIN_AFTER: Final = frozenset({JobStatus.UNKNOWN})
# The sentences (English msgids: said with ``_(…)``, in the language in use). A job's
# error is stored as said, in the job's language; the view's own are said when shown.
FAILED_REASON: Final = N_("Keevx could not make this video.")
# Why a job ended `unknown`; the pipeline stores the one that applies as the job's error.
LOST_ANSWER: Final = N_(
    "My request may have reached Keevx, but its answer was lost, so I cannot tell whether"
    " the video is being made. I did not send the request again, so you are not charged"
    " twice; if Keevx made the video, it may still arrive here."
)
RESTARTED: Final = N_(
    "I restarted while I was asking Keevx to make this video, so I cannot tell whether"
    " Keevx got the request. I did not send it again, so you are not charged twice;"
    " if Keevx made the video, it may still arrive here."
)
CONFIRM_AGAIN: Final = N_(
    "Keevx may still be making job #{job}, so making it again may charge you twice."
    " Use “Again anyway” to go ahead."
)
VIDEO_LINK_LIFETIME: Final = timedelta(days=7)  # Keevx keeps a finished video this long


class Phase(StrEnum):
    """A job's state as the person who asked understands it."""

    QUEUED = "queued"  # waiting for its turn in the bot
    UPLOADING = "uploading"  # the photos are going to Keevx
    STARTING = "starting"  # the generation is being requested
    WAITING = "waiting"  # in Keevx's queue, nothing started yet
    GENERATING = "generating"
    SENDING = "sending"  # made; being posted
    DONE = "done"
    FAILED = "failed"
    GAVE_UP = "gave up"  # Keevx took too long
    UNKNOWN = "unknown"  # the request's answer was lost; never sent twice
    UNDELIVERABLE = "undeliverable"  # made, but it could not be posted
    CANCELLED = "cancelled"


class Action(StrEnum):
    """What a person may do about a job; the value names its button (``keevx:<action>:<id>``)."""

    AGAIN = "again"
    AGAIN_ANYWAY = "again-anyway"  # Again, once the person knows it may charge twice
    DELETE = "delete"
    CANCEL = "cancel"


@dataclass(frozen=True, kw_only=True)
class StatusView:
    """One job as a person sees it.

    ``reason`` explains an ending nobody asked for (``None`` otherwise);
    ``queue_position`` is the job's place in the bot's line while queued;
    ``tasks_done`` of ``tasks_total`` are the videos Keevx has finished, and
    ``videos_arrived`` those posted; a job that ended with fewer than it asked for
    is ``done`` with a ``reason`` that says how many arrived and why the rest did not.
    ``confirm_again`` says Again must ask first, since it may charge twice.
    """

    phase: Phase
    reason: str | None = None
    queue_position: int | None = None
    tasks_done: int = 0
    tasks_total: int = 0
    videos_arrived: int = 0
    usual_seconds: float | None = None  # while waiting or generating, when known
    actions: frozenset[Action] = frozenset()
    confirm_again: bool = False

    @property
    def over(self) -> bool:
        """Whether the job has ended, one way or another."""
        return self.phase in _ENDINGS


_PHASES: Final = {
    JobStatus.RECEIVED: Phase.QUEUED,
    JobStatus.UPLOADING: Phase.UPLOADING,
    JobStatus.SUBMITTING: Phase.STARTING,
    JobStatus.SUBMITTED: Phase.GENERATING,
    JobStatus.SUCCEEDED: Phase.SENDING,
    JobStatus.DELIVERED: Phase.DONE,
    JobStatus.FAILED: Phase.FAILED,
    JobStatus.EXPIRED: Phase.GAVE_UP,
    JobStatus.UNKNOWN: Phase.UNKNOWN,
    JobStatus.UNDELIVERABLE: Phase.UNDELIVERABLE,
    JobStatus.CANCELLED: Phase.CANCELLED,
}
_ENDINGS: Final = frozenset(_PHASES[s] for s in JobStatus if s.terminal)
_EXPLAINED: Final = frozenset(
    {JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.UNKNOWN, JobStatus.UNDELIVERABLE}
)


def status_view(job: Job) -> StatusView:
    """What ``job`` means for the person waiting for it."""
    status = job.status
    phase = _PHASES[status]
    pending = all(t.status is TaskState.PENDING for t in job.tasks)
    if phase is Phase.GENERATING and job.tasks and pending:
        phase = Phase.WAITING
    reason = job.error if status in _EXPLAINED else None
    if status is JobStatus.FAILED:
        reason = reason or _(FAILED_REASON)
    arrived = sum(t.arrived for t in job.tasks)
    if status is JobStatus.DELIVERED and 0 < arrived < len(job.tasks):
        reason = shortfall(arrived, len(job.tasks), job.error or _(FAILED_REASON))
    position = job.queue_position if status is JobStatus.RECEIVED else None
    actions: set[Action] = set()
    if status in CANCELLABLE:
        actions.add(Action.CANCEL)
    if status in AGAIN_AFTER and job.image_urls and len(job.image_urls) == job.request.image_count:
        actions.add(Action.AGAIN)
    if status is JobStatus.DELIVERED:
        actions.add(Action.DELETE)
    return StatusView(
        phase=phase,
        reason=reason,
        queue_position=position if position else None,
        tasks_done=sum(t.done for t in job.tasks),
        tasks_total=len(job.tasks),
        videos_arrived=arrived,
        usual_seconds=job.usual_seconds if phase in (Phase.WAITING, Phase.GENERATING) else None,
        actions=frozenset(actions),
        confirm_again=Action.AGAIN in actions and status in CONFIRM_AGAIN_AFTER,
    )


def link_expires(job: Job, url: str) -> datetime:
    """When Keevx deletes the video at ``url``: :data:`VIDEO_LINK_LIFETIME` after it was made.

    Made when the bot first saw its task finished; for older jobs, which did not
    record that, the submission (the earliest it can have been made) is used.
    """
    start = job.submitted_at or job.created_at
    task = next((t for t in job.tasks if t.video_url == url), None)
    made = start + timedelta(seconds=task.done_after or 0) if task is not None else start
    return made + VIDEO_LINK_LIFETIME


def shortfall(arrived: int, total: int, why: str) -> str:
    """How many of a job's videos arrived, and why the others did not.

    Two sentences, each in the plural form of its own count: ``total`` for the
    videos asked for, ``missing`` for the rest ("the other one" / "the other 2").
    """
    missing = total - arrived
    arrived_of = ngettext(
        "{arrived} of {total} video arrived.", "{arrived} of {total} videos arrived.", total
    )
    did_not = ngettext(
        "The other one did not: {why}.", "The other {missing} did not: {why}.", missing
    )
    return " ".join(
        (
            arrived_of.format(arrived=arrived, total=total),
            did_not.format(missing=missing, why=why.rstrip(".")),
        )
    )
