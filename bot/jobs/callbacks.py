"""Keevx's completion callbacks: a nudge to check a task now, never trusted on its own."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.errors import Conflict
from bot.jobs.ports import JobStore
from bot.keevx.client import valid_task_id
from bot.model.job import Job, JobStatus, TaskResult
from bot.model.request import VideoRequest

__all__ = ["CALLBACK_PATH", "Announced", "KeevxCallbacks", "matches_request"]

log = logging.getLogger(__name__)

CALLBACK_PATH = "/keevx/callback/{job_id}/{token}"

# Plain ASCII digits that fit SQLite's integer, and the token's own shape.
_JOB_ID = re.compile(r"[0-9]{1,18}")
_TOKEN = re.compile(r"[0-9a-f]{32}")


class KeevxCallbacks:
    """Builds per-job callback URLs and handles the POSTs that come back.

    Each URL carries a token derived from a secret, so a stranger cannot
    make the bot poll; a callback only moves the job's next status check to
    now, and the poller's own query decides what happened. Without a secret
    (the sandbox has no API key) a random one is drawn: the URLs then last as
    long as the process, as the sandbox's tasks do.
    """

    def __init__(
        self,
        store: JobStore,
        *,
        public_url: str,
        secret: str,
        now: Callable[[], datetime],
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._public_url = public_url.rstrip("/")
        secret = secret or secrets.token_urlsafe(32)
        self._key = hashlib.sha256(b"keevx-bot callback\0" + secret.encode()).digest()
        self._now = now
        self._wake = wake

    def token(self, job_id: int) -> str:
        return hmac.new(self._key, str(job_id).encode(), hashlib.sha256).hexdigest()[:32]

    def url_for(self, job: Job) -> str:
        path = CALLBACK_PATH.format(job_id=job.id, token=self.token(job.id))
        return f"{self._public_url}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        raw_id, token = request.match_info["job_id"], request.match_info["token"]
        # The shapes first: int() and compare_digest raise on odd input ("²", 5000 digits).
        valid = _JOB_ID.fullmatch(raw_id) and _TOKEN.fullmatch(token)
        if not valid or not hmac.compare_digest(token, self.token(int(raw_id))):
            return _answer(404, "not found")
        job_id = int(raw_id)
        try:
            announced = Announced.parse(await request.json())
        except (ValueError, KeyError, TypeError, RecursionError):
            return _answer(400, "bad callback")
        task_id = announced.task_id
        for _ in range(3):  # a concurrent write (another callback, the poller) means: read again
            job = await self._store.get(job_id)
            if job is None or (job.status.terminal and job.status is not JobStatus.UNKNOWN):
                return _answer(200, "ignored")
            known = task_id in {t.task_id for t in job.tasks}
            if not known and not await self._may_adopt(job, announced):
                return _answer(200, "ignored")
            if known and job.status is not JobStatus.SUBMITTED:
                return _answer(200, "ignored")
            changes: dict[str, object] = {"next_run_at": self._now()}
            if not known:
                # The create answer was lost, but the task exists: this URL is this job's alone.
                log.info("job %s: adopting task %s announced by its callback", job_id, task_id)
                changes |= {
                    "status": JobStatus.SUBMITTED,
                    "tasks": (*job.tasks, TaskResult(task_id=task_id)),
                    "submitted_at": job.submitted_at or job.updated_at,
                    "finished_at": None,
                    "error": None,
                    "adopted": True,
                }
            try:
                await self._store.update(job.evolve(**changes))
            except Conflict:
                continue
            log.info("job %s: callback for %s, checking now", job_id, task_id)
            self._wake()
            break
        return _answer(200, "ok")

    async def _may_adopt(self, job: Job, announced: Announced) -> bool:
        """Whether ``job`` may take the task a callback announces (its create answer was lost).

        Whoever holds the URL could name any task, so only one no other job holds,
        and whose reported shape (when the callback carries it) fits the request.
        """
        if not _adoptable(job):
            reason = "a task it does not know"
        elif (owner := await self._store.find_by_task(announced.task_id)) is not None:
            reason = f"a task of job {owner.id}"
        elif not matches_request(
            job.request,
            duration=announced.duration,
            width=announced.width,
            height=announced.height,
        ):
            reason = "a task that does not match its request"
        else:
            return True
        log.info("job %s: callback for %s, ignored", job.id, reason)
        return False


@dataclass(frozen=True)
class Announced:
    """What a callback says about a task: its id and, if present, the video's shape."""

    task_id: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None

    @classmethod
    def parse(cls, body: Any) -> Announced:
        """Read Keevx's callback body; raises ``ValueError``/``KeyError``/``TypeError``."""
        data = body["data"]
        task_id = data["task_id"]
        if not valid_task_id(task_id):
            raise ValueError("not a Keevx task id")
        return cls(
            task_id=task_id,
            duration=_number(data.get("duration")),
            width=_whole(data.get("width")),
            height=_whole(data.get("height")),
        )


def matches_request(
    request: VideoRequest,
    *,
    duration: float | None,
    width: int | None,
    height: int | None,
) -> bool:
    """Whether a video of this shape could be ``request``'s; what is unknown does not refuse.

    Durations of one model differ by 2 s or more, so half a second tells them apart.
    """
    if duration is not None and abs(duration - request.duration) > 0.5:
        return False
    if width and height and width != height:
        across, _, down = request.aspect_ratio.partition(":")
        if (width > height) != (int(across) > int(down)):
            return False
    return True


def _answer(status: int, msg: str) -> web.Response:
    return web.json_response({"code": 0 if status == 200 else status, "msg": msg}, status=status)


def _adoptable(job: Job) -> bool:
    """Whether a callback may add a task: the create answer was lost, so ids are missing."""
    if job.status is JobStatus.UNKNOWN:
        return True
    return job.adopted and len(job.tasks) < job.request.count


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None
