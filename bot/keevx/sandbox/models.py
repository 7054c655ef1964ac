"""What the sandbox is told (:class:`SandboxConfig`) and what it remembers.

Tests read the records (calls, uploads, tasks) to check what the bot really
sent over HTTP, so they are plain dataclasses with no behaviour beyond the
task's status, which follows the event loop's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.keevx.sandbox.checks import CreateSpec
from bot.keevx.sandbox.faults import FAULT_KINDS

__all__ = [
    "FAULTS",
    "RecordedCall",
    "SandboxConfig",
    "SandboxTask",
    "UploadedFile",
]

FAULTS = frozenset(FAULT_KINDS)
"""The names ``SandboxConfig.faults`` may hold; :data:`.faults.FAULT_KINDS` says what each does."""


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """How the emulated Keevx behaves; the defaults feel like a fast, healthy Keevx."""

    delay: float | Callable[[], float] = 5.0
    """Seconds from create until a task finishes; a callable is drawn once per task."""
    delay_for: Callable[[CreateSpec], float] | None = None
    """If set, used instead of ``delay``: the delay drawn from the task's request, so
    benchmarks can make (say) 4k take longer than 720p, as on the real Keevx."""
    pending_fraction: float = 0.2
    """The first part of the delay reports PENDING, the rest PROCESSING."""
    failure_rate: float = 0.0
    """Chance a task ends FAILED (prompts containing ``#fail`` always do)."""
    fault_rate: float = 0.0
    """Chance any API call (not /media) is answered by one of ``faults``."""
    faults: tuple[str, ...] = ("429", "500", "drop")
    """Drawn from uniformly; see :data:`FAULTS`. Faults that only touch creates
    ("502-after-create", "evil-task-id") leave other calls alone."""
    trickle_interval: float = 1.0
    """Seconds between the bytes of an answer spoiled by the "trickle" fault."""
    seed: int | None = None
    render_height: int = 720
    """Cap on the video's short side; tests use e.g. 144 to stay fast."""
    fps: int = 24
    min_video_bytes: int = 0
    """Pad each MP4 to at least this size, to exercise upload limits."""
    api_key: str | None = None
    """If set the bearer token must equal it; if None any non-empty token passes."""
    reuse_video: bool = False
    """Render one MP4 and thumbnail per (aspect ratio, duration, audio) and serve it for
    every later task alike (showing the first task's image): benchmarks create thousands
    of tasks, and rendering each would cost more than the bot they measure."""

    def __post_init__(self) -> None:
        for name in ("pending_fraction", "failure_rate", "fault_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if unknown := set(self.faults) - FAULTS:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {sorted(FAULTS)}")
        if self.fault_rate > 0 and not self.faults:
            raise ValueError("fault_rate > 0 needs at least one fault")
        if self.trickle_interval < 0:
            raise ValueError("trickle_interval must not be negative")
        if not callable(self.delay) and self.delay < 0:
            raise ValueError("delay must not be negative")
        if self.render_height < 2 or self.fps < 1 or self.min_video_bytes < 0:
            raise ValueError("render_height >= 2, fps >= 1 and min_video_bytes >= 0 required")

    def draw_delay(self, spec: CreateSpec | None = None) -> float:
        """The delay for one new task (made from ``spec``)."""
        if self.delay_for is not None and spec is not None:
            return max(0.0, self.delay_for(spec))
        return max(0.0, self.delay() if callable(self.delay) else self.delay)


@dataclass(frozen=True, kw_only=True)
class RecordedCall:
    """One API request as the sandbox saw it, and how it was answered."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased header names."""
    json: Any = None
    """The parsed JSON body, if the request had one."""
    filename: str | None = None
    """The uploaded file's name, for multipart uploads that got that far."""
    status: int | None = None
    """HTTP status answered; None when the connection was dropped."""
    fault: str | None = None
    """The injected fault (one of :data:`FAULTS`), or None."""


@dataclass(frozen=True, kw_only=True)
class UploadedFile:
    """An image stored by the upload endpoint."""

    file_id: str
    file_name: str
    url: str
    path: Path
    content_type: str
    size: int


@dataclass(kw_only=True)
class SandboxTask:
    """One video task; its status is derived from the clock until it finishes."""

    task_id: str
    request: dict[str, Any]
    """The create request's JSON body."""
    spec: CreateSpec
    """The same request, checked."""
    images: list[Path]
    """Local copies of the request's uploaded images; the video pans over the first."""
    created: float
    """Event-loop time of creation; ``pending_until`` and ``due`` are on the same clock."""
    pending_until: float
    due: float
    fail_reason: str | None
    """Decided at creation: the error_message it will end with, or None to succeed."""
    outcome: str | None = None
    """SUCCEEDED or FAILED once finished."""
    error_message: str = ""
    video_path: Path | None = None
    thumbnail_path: Path | None = None
    width: int = 0
    height: int = 0
    clock: Callable[[], float] = field(repr=False)
    wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def status(self) -> str:
        """PENDING, PROCESSING, SUCCEEDED or FAILED, as a query would answer now.

        A task past its due time whose video is still rendering is PROCESSING.
        """
        if self.outcome is not None:
            return self.outcome
        return "PENDING" if self.clock() < self.pending_until else "PROCESSING"

    @property
    def duration(self) -> int:
        """The requested duration in seconds."""
        return self.spec.duration

    @property
    def callback_url(self) -> str | None:
        """Where the finished task is POSTed, if the request asked."""
        return self.spec.callback_url
