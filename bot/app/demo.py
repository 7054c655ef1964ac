"""``keevx-bot demo``: the whole pipeline on the sandbox, with the terminal as the chat."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TextIO

from bot.app.runtime import Core
from bot.model.job import Job, JobStatus, Target, Video
from bot.model.request import build_request, parse_command
from bot.settings import Settings

__all__ = ["DemoAdapter", "run_demo"]

SAMPLE_PROMPT = "Gentle waves roll in at sunset, the camera slowly glides along the shore"


class DemoAdapter:
    """A :class:`~adapters.base.ChatAdapter` that prints progress and saves videos to a folder."""

    platform = "demo"

    def __init__(self, out_dir: Path, stream: TextIO = sys.stdout) -> None:
        self.out_dir = out_dir
        self.stream = stream
        self.saved: list[Path] = []
        self.finished = asyncio.Event()
        self._last = ""
        self._started = time.monotonic()

    async def start(self) -> None:
        self._started = time.monotonic()

    async def drain(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def upload_limit(self, target: Target) -> int:
        return 2**40

    async def show_status(self, job: Job) -> str | None:
        line = f"job {job.id}: {job.status}"
        if job.error:
            line += f" ({job.error})"
        if line != self._last:
            elapsed = time.monotonic() - self._started
            print(f"[{elapsed:5.1f} s] {line}", file=self.stream, flush=True)
            self._last = line
        if job.status.terminal:
            self.finished.set()
        return "status"

    async def deliver(self, job: Job, video: Video) -> str:
        if video.path is None:
            print(f"video {video.number}: {video.url}", file=self.stream)
            return video.url
        self.out_dir.mkdir(parents=True, exist_ok=True)
        suffix = f"-{video.number}" if video.total > 1 else ""
        target = self.out_dir / f"keevx-demo-{job.id}{suffix}.mp4"
        shutil.copyfile(video.path, target)
        self.saved.append(target)
        return str(target)


def sample_image() -> Path:
    """The bundled sample photo."""
    return Path(str(resources.files("bot.keevx.sandbox") / "sample.jpg"))


async def run_demo(
    images: Sequence[Path],
    text: str,
    *,
    out_dir: Path,
    delay: float = 3.0,
    stream: TextIO = sys.stdout,
) -> Job:
    """Make one video from ``images`` with the chat-syntax ``text`` on the sandbox."""
    command = parse_command(text)
    request = build_request(command.prompt or SAMPLE_PROMPT, command.options, len(images))
    for note in request.notes:
        print(note, file=stream)
    print(f"🎬 {request.summary()}", file=stream)
    with tempfile.TemporaryDirectory(prefix="keevx-demo-") as scratch:
        settings = replace(
            Settings(),
            keevx_sandbox=True,
            sandbox_delay=delay,
            database_url=f"sqlite:///{Path(scratch) / 'demo.db'}",
            poll_interval=0.5,
        )
        copies = []
        for number, image in enumerate(images, start=1):
            copy = Path(scratch) / f"input-{number}{image.suffix}"
            shutil.copyfile(image, copy)
            copies.append(copy)
        adapter = DemoAdapter(out_dir, stream)
        async with Core(settings) as core:
            await core.attach(adapter)
            job = await core.service.submit(
                target=Target(platform="demo", chat_id="terminal", user_id="you"),
                request=request,
                images=copies,
            )
            await adapter.finished.wait()
            final = await core.service.get(job.id)
    assert final is not None
    for path in adapter.saved:
        print(f"saved {path}", file=stream)
    if final.status is not JobStatus.DELIVERED:
        print(f"no video: {final.status} ({final.error})", file=stream)
    return final
