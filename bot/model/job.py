"""A job: one user request, from intake to the delivered video(s)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.model.request import VideoRequest

__all__ = [
    "ACTIVE",
    "IMAGE_KEY_PREFIX",
    "TERMINAL",
    "ImageData",
    "Job",
    "JobStatus",
    "Target",
    "TaskResult",
    "TaskState",
    "Video",
]


class JobStatus(StrEnum):
    """Where a job is. Each change of status is one committed write."""

    RECEIVED = "received"  # row committed, images in the store
    UPLOADING = "uploading"  # sending images to Keevx
    SUBMITTING = "submitting"  # about to POST the task: a crash here means `unknown`
    SUBMITTED = "submitted"  # Keevx task ids known; polling
    SUCCEEDED = "succeeded"  # results known; delivering
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # the create request's answer was lost: never resubmitted
    UNDELIVERABLE = "undeliverable"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {
        JobStatus.DELIVERED,
        JobStatus.FAILED,
        JobStatus.EXPIRED,
        JobStatus.UNKNOWN,
        JobStatus.UNDELIVERABLE,
        JobStatus.CANCELLED,
    }
)
ACTIVE = frozenset(JobStatus) - TERMINAL


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where to answer and who asked, as plain ids that survive restarts.

    ``reply_to`` is the message holding the request; ``thread_id`` a thread
    or forum topic; ``guild_id`` a Discord server (``None`` elsewhere).
    ``chat_type`` (Telegram's private/group/…) and ``origin`` (what made a Discord
    job) are the adapters' own: the core stores them and never reads them.
    """

    platform: str
    chat_id: str
    user_id: str
    user_name: str = ""
    thread_id: str | None = None
    reply_to: str | None = None
    guild_id: str | None = None
    chat_type: str | None = None
    origin: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        return cls(**data)


class TaskState(StrEnum):
    """A Keevx task's status, as Keevx spells it."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def done(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)


@dataclass(frozen=True, kw_only=True)
class TaskResult:
    """One Keevx task of a job (``count`` > 1 gives several)."""

    task_id: str
    status: TaskState = TaskState.PENDING
    video_url: str | None = None
    thumbnail_url: str | None = None
    error: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    number: int = 1
    total: int = 1
    running_after: float | None = None  # seconds from submission when last seen unfinished
    done_after: float | None = None  # seconds from submission when first seen finished
    # The messages that carry its video, recorded right after they were posted, so a
    # retry or a restart never posts it again.
    delivered_ids: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.status.done

    @property
    def ready(self) -> bool:
        """Made, not posted yet, and nothing known that stops it from being posted."""
        return (
            self.status is TaskState.SUCCEEDED
            and bool(self.video_url)
            and not self.delivered_ids
            and self.error is None
        )

    @property
    def arrived(self) -> bool:
        return bool(self.delivered_ids)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != ()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskResult:
        return cls(
            **{
                **data,
                "status": TaskState(data.get("status", TaskState.PENDING)),
                "delivered_ids": tuple(data.get("delivered_ids", ())),
            }
        )


IMAGE_KEY_PREFIX = "db:"  # an image key the store holds, not a spool file path


@dataclass(frozen=True)
class ImageData:
    """A checked image, kept in the store (so every instance can read it) until Keevx has it."""

    content_type: str  # image/jpeg, image/png or image/webp
    data: bytes


@dataclass(frozen=True, kw_only=True)
class Job:
    """A stored job; change it with :meth:`evolve` and write it back."""

    id: int
    target: Target
    request: VideoRequest
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime
    # Keys of the images the store holds until Keevx has them (older jobs: spool file paths).
    images: tuple[str, ...] = ()
    image_urls: tuple[str, ...] = ()  # Keevx URLs of the uploaded images
    tasks: tuple[TaskResult, ...] = ()
    attempts: int = 0
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    status_message_id: str | None = None
    delivered_ids: tuple[str, ...] = ()
    dedupe_key: str | None = None
    again_of: int | None = None  # the job this one repeats ("Again")
    adopted: bool = False  # its tasks were named by callbacks after the create answer was lost
    queue_position: int | None = None  # the place in MAX_ACTIVE_TOTAL's line last shown
    # Create requests that may have made a Keevx task (one provably refused is taken
    # back): the engine keeps this at most 1, and the crash and fault tests check it.
    create_requests: int = 0
    language: str | None = None  # the one it was asked in: its messages stay in it
    version: int = 0  # bumped by every write; a stale write fails instead of clobbering
    # Seconds tasks like this one usually take (learned), for the status's estimate.
    # Filled in by the core when it shows a status; never stored.
    usual_seconds: float | None = None

    @property
    def platform(self) -> str:
        return self.target.platform

    @property
    def videos_charged(self) -> int:
        """What this job counts against its requester's daily allowance.

        A live job holds its whole ``count``; an ended one keeps only the videos that
        arrived, except when Keevx may have made more than we know of (``unknown``) or
        the requester cancelled tasks Keevx had already started.
        """
        if not self.status.terminal:
            return self.request.count
        if self.status is JobStatus.UNKNOWN:
            return max(self.request.count, len(self.tasks))
        if self.status is JobStatus.CANCELLED:
            return len(self.tasks)
        arrived = sum(t.arrived for t in self.tasks)
        if not arrived and self.delivered_ids:  # delivered before videos were tracked per task
            return sum(t.status is TaskState.SUCCEEDED for t in self.tasks)
        return arrived

    def evolve(self, **changes: Any) -> Job:
        return replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class Video:
    """A finished video handed to an adapter.

    ``path`` is a local MP4 the adapter may upload (deleted after the call);
    it is ``None`` when the file is over the adapter's upload limit, and the
    adapter posts ``url`` (valid for 7 days) with the thumbnail instead.
    ``number`` of ``total`` places it among its job's videos (``--count``).
    """

    url: str
    path: Path | None
    size: int | None
    thumbnail_url: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    number: int = 1
    total: int = 1
