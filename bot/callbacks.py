"""Keevx's completion callbacks: a nudge to check a task now, never trusted on its own."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from bot.job import Job, JobStatus, TaskResult
from storage.base import Conflict, JobStore

__all__ = ["CALLBACK_PATH", "KeevxCallbacks"]

log = logging.getLogger(__name__)

CALLBACK_PATH = "/keevx/callback/{job_id}/{token}"


class KeevxCallbacks:
    """Builds per-job callback URLs and handles the POSTs that come back.

    Each URL carries a token derived from a secret, so a stranger cannot
    make the bot poll; a callback only moves the job's next status check to
    now, and the poller's own query decides what happened.
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
        if not raw_id.isdigit() or not hmac.compare_digest(token, self.token(int(raw_id))):
            return web.json_response({"code": 404, "msg": "not found"}, status=404)
        job_id = int(raw_id)
        try:
            body = await request.json()
            task_id = str(body["data"]["task_id"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"code": 400, "msg": "bad callback"}, status=400)
        for _ in range(3):  # a concurrent write (another callback, the poller) means: read again
            job = await self._store.get(job_id)
            if job is None or (job.status.terminal and job.status is not JobStatus.UNKNOWN):
                return web.json_response({"code": 0, "msg": "ignored"})
            known = task_id in {t.task_id for t in job.tasks}
            if not known and not _adoptable(job):
                log.info("job %s: callback for a task it does not know, ignored", job_id)
                return web.json_response({"code": 0, "msg": "ignored"})
            if known and job.status is not JobStatus.SUBMITTED:
                return web.json_response({"code": 0, "msg": "ignored"})
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
                    "extra": {**job.extra, "adopted": True},
                }
            try:
                await self._store.update(job.evolve(**changes))
            except Conflict:
                continue
            log.info("job %s: callback for %s, checking now", job_id, task_id)
            self._wake()
            break
        return web.json_response({"code": 0, "msg": "ok"})


def _adoptable(job: Job) -> bool:
    """Whether a callback may add a task: the create answer was lost, so ids are missing."""
    if job.status is JobStatus.UNKNOWN:
        return True
    return bool(job.extra.get("adopted")) and len(job.tasks) < job.request.count
