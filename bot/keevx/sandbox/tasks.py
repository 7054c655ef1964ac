"""The sandbox's task lifecycle: queued, processing, rendered, called back.

Each task gets a background asyncio task that sleeps until it is due, so it
finishes on time even if nobody polls, exactly as Keevx's own queue would.
Rendering runs in a thread to keep the server answering meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bot.keevx.sandbox.checks import CreateSpec
from bot.keevx.sandbox.models import SandboxConfig, SandboxTask
from bot.keevx.sandbox.video import pad_mp4, render_thumbnail, render_video

__all__ = ["FAIL_MARKER", "Studio"]

log = logging.getLogger(__name__)

FAIL_MARKER = "#fail"
"""A prompt containing this always ends FAILED, so tests are deterministic."""
FAILURES = ("Content moderation rejected the image", "Video generation failed, please retry")
SHORT_SIDE = {"720p": 720, "1080p": 1080, "4k": 2160}


class Studio:
    """Owns the tasks: creates them, finishes them on time, renders, calls back."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.tasks: dict[str, SandboxTask] = {}
        self.clock: Callable[[], float] = time.monotonic
        self._rng = random.Random(None if config.seed is None else config.seed + 1)
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._renders: set[asyncio.Future[tuple[int, int]]] = set()
        self._folder = Path()
        self._origin = ""
        self._http: httpx.AsyncClient | None = None
        self._reused: dict[tuple[str, int, bool, int], tuple[int, int, Path, Path]] = {}

    def open(self, *, folder: Path, origin: str) -> None:
        """Start working: files go under ``folder``, URLs start with ``origin``."""
        self.clock = asyncio.get_running_loop().time
        self._folder, self._origin = folder, origin
        self._http = httpx.AsyncClient(timeout=10.0, trust_env=False)

    async def close(self) -> None:
        """Cancel unfinished tasks and wait for renders, whose threads can't be stopped."""
        for runner in self._runners.values():
            runner.cancel()
        await asyncio.gather(*self._runners.values(), return_exceptions=True)
        await asyncio.gather(*self._renders, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def create(self, spec: CreateSpec, body: dict[str, Any], images: list[Path]) -> str:
        """Queue one task for ``spec``; returns its id."""
        now, delay = self.clock(), self.config.draw_delay(spec)
        fail = None
        if FAIL_MARKER in spec.prompt:
            fail = FAILURES[0]
        elif self.config.failure_rate and self._rng.random() < self.config.failure_rate:
            fail = self._rng.choice(FAILURES)
        task = SandboxTask(
            task_id=f"i2v-{uuid.uuid4().hex}",
            request=dict(body),
            spec=spec,
            images=images,
            created=now,
            pending_until=now + delay * self.config.pending_fraction,
            due=now + delay,
            fail_reason=fail,
            clock=self.clock,
        )
        self.tasks[task.task_id] = task
        self._runners[task.task_id] = asyncio.create_task(self._run(task))
        return task.task_id

    def finish_now(self, task_id: str | None = None) -> None:
        """Make one task (or every unfinished one) due now instead of after its delay."""
        now = self.clock()
        for task in [self.tasks[task_id]] if task_id else list(self.tasks.values()):
            if task.outcome is None:
                task.due, task.pending_until = min(task.due, now), min(task.pending_until, now)
                task.wake.set()

    async def wait(self, task_id: str | None = None) -> None:
        """Wait until one task (or every task) has finished and its callback was sent."""
        runners = [self._runners[task_id]] if task_id else list(self._runners.values())
        if runners:
            await asyncio.wait(runners)

    def report(self, task: SandboxTask) -> dict[str, Any]:
        """The ``data`` fields a query and a callback share."""
        status = task.status
        done = status == "SUCCEEDED"
        return {
            "task_id": task.task_id,
            "status": status,
            "video_url": f"{self._origin}/media/videos/{task.task_id}.mp4" if done else "",
            "thumbnail_url": f"{self._origin}/media/thumbnails/{task.task_id}.webp" if done else "",
            "error_message": task.error_message,
        }

    async def _run(self, task: SandboxTask) -> None:
        """Finish ``task`` at its due time whether or not anyone asks, then call back."""
        while (left := task.due - self.clock()) > 0:
            task.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task.wake.wait(), left)
        if task.fail_reason is not None:
            task.error_message, task.outcome = task.fail_reason, "FAILED"
        else:
            try:
                await self._render(task)
                task.outcome = "SUCCEEDED"
            except Exception:
                log.exception("sandbox could not render %s", task.task_id)
                task.error_message, task.outcome = "Video rendering failed", "FAILED"
        if task.spec.callback_url:
            await self._call_back(task, task.spec.callback_url)

    async def _render(self, task: SandboxTask) -> None:
        spec = task.spec
        video = self._folder / "videos" / f"{task.task_id}.mp4"
        thumb = self._folder / "thumbnails" / f"{task.task_id}.webp"
        height = min(self.config.render_height, SHORT_SIDE[spec.resolution])
        key = (spec.aspect_ratio, spec.duration, spec.generate_audio, height)
        if self.config.reuse_video and key in self._reused:
            task.width, task.height, task.video_path, task.thumbnail_path = self._reused[key]
            return

        def work() -> tuple[int, int]:
            video.parent.mkdir(exist_ok=True)
            thumb.parent.mkdir(exist_ok=True)
            width, real_height, _ = render_video(
                task.images[0],
                video,
                aspect_ratio=spec.aspect_ratio,
                duration=spec.duration,
                height=height,
                fps=self.config.fps,
                audio=spec.generate_audio,
            )
            pad_mp4(video, self.config.min_video_bytes)
            render_thumbnail(task.images[0], thumb, aspect_ratio=spec.aspect_ratio)
            return width, real_height

        job = asyncio.ensure_future(asyncio.to_thread(work))
        self._renders.add(job)
        job.add_done_callback(self._renders.discard)
        task.width, task.height = await asyncio.shield(job)  # close() awaits the thread
        task.video_path, task.thumbnail_path = video, thumb
        if self.config.reuse_video:
            self._reused[key] = (task.width, task.height, video, thumb)

    async def _call_back(self, task: SandboxTask, url: str) -> None:
        """POST the documented callback body; a failing receiver is only logged."""
        body = {"code": 0, "msg": "ok", "task_type": "image_to_video", "data": self.report(task)}
        if self._http is None:
            return
        try:
            answer = await self._http.post(url, json=body)
            log.debug("callback for %s answered %s", task.task_id, answer.status_code)
        except httpx.HTTPError as exc:
            log.warning("callback for %s failed: %s", task.task_id, type(exc).__name__)
