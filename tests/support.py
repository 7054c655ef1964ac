"""Test helpers shared by several test modules."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import signal
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from adapters.base import Video
from bench.common import QuietAdapter
from bot.app.runtime import Core
from bot.errors import DeliveryError
from bot.jobs.callbacks import KeevxCallbacks
from bot.jobs.ports import JobStore
from bot.jobs.service import JobService
from bot.keevx.sandbox import SAMPLE_IMAGE
from bot.model.job import Job, JobStatus, Target
from bot.model.request import build_request, parse_command
from bot.settings import Settings
from tests.conftest import API_KEY


class RecordingAdapter(QuietAdapter):
    """A ChatAdapter that records what the core asked of it.

    ``fail_deliveries`` makes that many deliveries raise ``fail_with`` first.
    """

    def __init__(self, platform: str = "test", *, limit: int = 2**40) -> None:
        self.platform = platform
        self.limit = limit
        self.statuses: list[tuple[int, JobStatus]] = []
        self.delivered: list[tuple[int, Video]] = []
        self.video_bytes: list[int] = []
        self.fail_deliveries = 0
        self.fail_with: Exception = DeliveryError("platform is down")
        self.fail_status_for: set[str] = set()
        self.status_error: Exception | None = None
        self.finished: dict[int, asyncio.Event] = {}

    def upload_limit(self, target: Target) -> int:
        return self.limit

    async def show_status(self, job: Job) -> str | None:
        if job.target.chat_id in self.fail_status_for and self.status_error is not None:
            raise self.status_error
        self.statuses.append((job.id, job.status))
        if job.status.terminal:
            self.finished.setdefault(job.id, asyncio.Event()).set()
        return f"status-{job.id}"

    async def deliver(self, job: Job, video: Video) -> str:
        if self.fail_deliveries:
            self.fail_deliveries -= 1
            raise self.fail_with
        if video.path is not None:
            self.video_bytes.append(video.path.stat().st_size)
            assert video.path.read_bytes()[4:8] == b"ftyp"
        self.delivered.append((job.id, video))
        return f"video-{job.id}-{video.number - 1}"

    async def wait(self, job_id: int, timeout: float = 20) -> None:
        event = self.finished.setdefault(job_id, asyncio.Event())
        await asyncio.wait_for(event.wait(), timeout)


def photo(tmp_path: Path, name: str = "photo.jpg") -> Path:
    """A fresh copy of the sample photo (the service takes files over)."""
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_IMAGE, target)
    return target


async def submit(
    service: JobService,
    tmp_path: Path,
    text: str = "waves at sunset",
    *,
    images: int = 1,
    platform: str = "test",
    chat: str = "chat-1",
    user: str = "user-1",
    dedupe_key: str | None = None,
) -> Job:
    """Submit ``text`` with ``images`` copies of the sample photo as a user would."""
    command = parse_command(text)
    request = build_request(command.prompt, command.options, images)
    files = [photo(tmp_path / "in", f"{chat}-{user}-{n}-{id(request)}.jpg") for n in range(images)]
    return await service.submit(
        target=Target(platform=platform, chat_id=chat, user_id=user, user_name="Ann"),
        request=request,
        images=files,
        dedupe_key=dedupe_key,
    )


class RunningBot(Protocol):
    """A bot process a test started, with its log file."""

    @property
    def process(self) -> asyncio.subprocess.Process: ...

    @property
    def log_file(self) -> IO[bytes]: ...


async def stop_processes(bots: Sequence[RunningBot], grace: float = 30) -> None:
    """SIGTERM every bot still running, wait ``grace`` seconds (then kill), close the logs."""
    for bot in bots:
        if bot.process.returncode is None:
            bot.process.send_signal(signal.SIGTERM)
    for bot in bots:
        try:
            await asyncio.wait_for(bot.process.wait(), grace)
        except TimeoutError:
            bot.process.kill()
            await bot.process.wait()
        bot.log_file.close()


def callback_settings(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with the bot's web server on a free port and Keevx callbacks on; polling
    an hour apart, so only a callback makes the bot look at a task."""
    port = free_port()
    return dataclasses.replace(
        settings, port=port, public_url=f"http://127.0.0.1:{port}", poll_interval=3600, **changes
    )


def callbacks_of(core: Core, secret: str = API_KEY) -> KeevxCallbacks:
    """Callback URLs as the bot makes them with ``secret``."""
    return KeevxCallbacks(
        core.store,
        public_url=core.settings.public_url,
        secret=secret,
        now=lambda: datetime.now(UTC),
        wake=lambda: None,
    )


async def add_lost_job(store: JobStore, text: str, **fields: Any) -> Job:
    """A stored job whose create answer was lost (``unknown``), asked for with ``text``."""
    command = parse_command(text)
    now = datetime.now(UTC)
    job, _ = await store.add(
        Job(
            id=0,
            target=Target(platform="test", chat_id="chat-2", user_id="user-2"),
            request=build_request(command.prompt, command.options, 1),
            status=JobStatus.UNKNOWN,
            created_at=now,
            updated_at=now,
            next_run_at=now,
            **fields,
        )
    )
    return job


def free_port() -> int:
    """A loopback port nobody listens on right now (for a server the bot itself starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
