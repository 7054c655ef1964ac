"""The steps that move a leased job from one status to the next.

Each status change is committed before the work it announces, so a crash
anywhere leaves a job the next start can resume: ``received`` and
``uploading`` start again, ``submitting`` found at start means the create
request may have reached Keevx and becomes ``unknown`` (never resent),
``submitted`` polls again, ``succeeded`` delivers what is not delivered yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bot import metrics
from bot.errors import (
    ApiRejected,
    ApiTimeout,
    Conflict,
    DeliveryError,
    KeevxCode,
    KeevxError,
    RateLimited,
    RecipientGone,
)
from bot.i18n import N_, _, speaking
from bot.jobs.callbacks import matches_request
from bot.jobs.delivery import RESULT_POLICY, ResultRefused, deliver_video
from bot.jobs.images import MAX_IMAGE_BYTES
from bot.jobs.limits import Gatekeeper
from bot.jobs.ports import JobStore
from bot.jobs.safe_fetch import FetchPolicy
from bot.jobs.schedule import FixedSchedule, PollSchedule
from bot.keevx.client import KeevxClient
from bot.model.job import IMAGE_KEY_PREFIX, Job, JobStatus, TaskResult, TaskState
from bot.model.rules import MAX_PROMPT_CHARS
from bot.model.status import FAILED_REASON, LOST_ANSWER, RESTARTED

if TYPE_CHECKING:
    from adapters.base import ChatAdapter

__all__ = ["Pipeline", "Timing"]

log = logging.getLogger(__name__)

VIDEO_URL_LIFETIME = timedelta(days=7)
RECORD_ATTEMPTS = 5  # tries to commit what exists nowhere else: new task ids, posted videos

# What the requester reads about a job that ended badly: whole sentences, no codes
# (the log has those), said in the job's language and stored as said. Keevx's
# refusals by business code first.
_REJECTIONS = {
    KeevxCode.PARAMETER: N_("Keevx did not accept the request's settings."),
    KeevxCode.TOKEN: N_("Keevx did not accept this bot's access: please tell the bot's operator."),
    KeevxCode.TASK_NOT_FOUND: N_("Keevx no longer knows this video."),
    KeevxCode.IMAGE_TOO_LARGE: N_("Keevx refused a photo as too large: the limit is {mb} MB."),
    KeevxCode.PROMPT_TOO_LONG: N_(
        "Keevx refused the prompt as too long: it takes at most {chars} characters."
    ),
    KeevxCode.IMAGE_URL_INACCESSIBLE: N_("Keevx could not read a photo I uploaded."),
    KeevxCode.IMAGE_FORMAT: N_("Keevx refused a photo's format: use JPG, PNG or WebP."),
}
REFUSED = N_("Keevx refused the request.")
UNREACHABLE = N_("Keevx could not be reached, so I stopped trying. Please try again later.")
BOT_FAILED = N_(
    "Something went wrong on my side, so I stopped trying: please send your request again."
)
IMAGES_LOST = N_("I lost the photos before Keevx got them: please send them again.")
# Why a task given up at POLL_TIMEOUT did not arrive (the view says it for the job).
TOOK_TOO_LONG = N_("Keevx did not finish the video in time, so I stopped waiting for it.")
LINK_EXPIRED = N_("The video's link expired before I could post it.")
LINK_REFUSED = N_("Keevx sent a video link I may not download, so I cannot post the video.")
CHAT_GONE = N_("I may no longer post here, so the video cannot be delivered.")
# A task Keevx failed, with Keevx's own words (its language, which the bot cannot translate).
KEEVX_FAILED = N_("Keevx could not make this video ({reason}).")


def explain(error: KeevxError) -> str:
    """A sentence for the requester, in the language in use; never a URL, a key or a code."""
    if isinstance(error, ApiRejected) and error.kind is not None:
        return _(_REJECTIONS[error.kind]).format(
            mb=MAX_IMAGE_BYTES // 2**20, chars=MAX_PROMPT_CHARS
        )
    if isinstance(error, ApiRejected):  # its code and HTTP status are in the log, not here
        return _(REFUSED)
    return _(UNREACHABLE)


def _task_error(state: TaskState, keevx_says: str) -> str | None:
    """What a task's error says: Keevx's words for a failed task, within a sentence of ours."""
    if not keevx_says:
        return None
    return (
        _(KEEVX_FAILED).format(reason=keevx_says.rstrip("."))
        if state is TaskState.FAILED
        else keevx_says
    )


@dataclass(frozen=True)
class Timing:
    poll_interval: timedelta
    poll_timeout: timedelta
    # Renewed every third of it while a job is worked, so it bounds how long a dead
    # instance's job waits before another instance takes it over.
    lease: timedelta = timedelta(seconds=30)
    max_attempts: int = 5  # for uploads and submits that fail retryably
    backoff_base: timedelta = timedelta(seconds=5)
    backoff_cap: timedelta = timedelta(minutes=10)

    def backoff(self, attempts: int) -> timedelta:
        delay: timedelta = self.backoff_base * 2 ** max(attempts - 1, 0)
        return min(delay, self.backoff_cap)


class Pipeline:
    """Moves one leased job as far as it can go now, then releases it."""

    def __init__(
        self,
        store: JobStore,
        keevx: KeevxClient,
        adapters: Mapping[str, ChatAdapter],
        *,
        http: httpx.AsyncClient,
        timing: Timing,
        now: Callable[[], datetime],
        schedule: PollSchedule | None = None,
        callback_url: Callable[[Job], str | None] = lambda job: None,
        gate: Gatekeeper | None = None,
        results: FetchPolicy = RESULT_POLICY,
    ) -> None:
        self._gate = gate
        self._results = results
        self._store = store
        self._keevx = keevx
        self._adapters = adapters
        self._http = http
        self._timing = timing
        self._now = now
        self._schedule = schedule or FixedSchedule(timing.poll_interval)
        self._callback_url = callback_url

    async def advance(self, job: Job) -> Job:
        """Run the job's next steps; the returned job is stored and unleased."""
        with speaking(job.language):  # its messages stay in the language it was asked in
            return await self._advance(job)

    async def _advance(self, job: Job) -> Job:
        adapter = self._adapters.get(job.platform)
        if adapter is None:
            log.warning("job %s: no %s adapter running, trying later", job.id, job.platform)
            return await self._save(
                job, release=True, next_run_at=self._now() + self._timing.poll_interval
            )
        if job.status is JobStatus.SUBMITTING:
            # Claimed in `submitting`: the process that sent the create request died.
            return await self._finish(job, adapter, JobStatus.UNKNOWN, error=_(RESTARTED))
        if job.status is JobStatus.RECEIVED:
            if self._gate is not None:
                admitted = await self._gate.admit(job)
                if isinstance(admitted, int):
                    return await self._wait_in_queue(job, adapter, admitted)
                job = admitted
            job = await self._show(job, adapter, release=False)
            if job.status.terminal:
                return job
            if job.status is JobStatus.RECEIVED:
                job = await self._save(job, release=False, status=JobStatus.UPLOADING)
        if job.status is JobStatus.UPLOADING:
            job = await self._upload_and_submit(job, adapter)
        if job.status is JobStatus.SUBMITTED:
            job = await self._query_tasks(job, adapter)
        if job.status is JobStatus.SUCCEEDED and job.next_run_at <= self._now():
            job = await self._deliver(job, adapter)
        return job

    async def give_up(self, job_id: int) -> Job | None:
        """End a job that keeps failing for a reason the bot does not understand, and say so."""
        job = await self._store.get(job_id)
        if job is None or job.status.terminal:
            return job
        with speaking(job.language):
            return await self._give_up(job)

    async def _give_up(self, job: Job) -> Job | None:
        adapter = self._adapters.get(job.platform)
        if adapter is None:
            return None
        return await self._finish(job, adapter, JobStatus.FAILED, error=_(BOT_FAILED))

    async def _wait_in_queue(self, job: Job, adapter: ChatAdapter, position: int) -> Job:
        """MAX_ACTIVE_TOTAL is reached: show the queue position and look again soon."""
        again = self._now() + min(self._timing.poll_interval, timedelta(seconds=5))
        if job.queue_position == position:
            return await self._save(job, release=True, next_run_at=again)
        job = await self._save(job, release=False, queue_position=position, next_run_at=again)
        return await self._show(job, adapter, release=True)

    async def _upload_and_submit(self, job: Job, adapter: ChatAdapter) -> Job:
        try:
            urls = list(job.image_urls)
            for number, key in enumerate(job.images[len(urls) :], start=len(urls) + 1):
                async with _image_file(self._store, key, number) as (file, content_type, name):
                    uploaded = await self._keevx.upload(
                        file, content_type=content_type, file_name=name
                    )
                urls.append(uploaded.url)
                job = await self._save(job, release=False, image_urls=tuple(urls))
        except ImagesLost as exc:
            log.error("job %s: %s", job.id, exc)
            return await self._finish(job, adapter, JobStatus.FAILED, error=_(IMAGES_LOST))
        except ApiRejected as exc:
            log.warning("job %s: upload refused: %s", job.id, exc)
            return await self._finish(job, adapter, JobStatus.FAILED, error=explain(exc))
        except KeevxError as exc:
            return await self._retry_later(job, adapter, exc)
        # No status edit here: the request was just shown (a gone chat stopped it then),
        # and on Telegram each edit spends flood-limit budget on the path to Keevx.
        if job.create_requests:
            # Only a create that provably made no task is taken back: never send another.
            log.error("job %s: a create request may already have made a task", job.id)
            return await self._finish(job, adapter, JobStatus.UNKNOWN, error=_(LOST_ANSWER))
        job = await self._save(
            job, release=False, status=JobStatus.SUBMITTING, create_requests=job.create_requests + 1
        )
        body = job.request.keevx_body(list(job.image_urls), self._callback_url(job))
        try:
            task_ids = await self._keevx.create(body)
        except ApiTimeout:
            log.warning("job %s: create answer lost; outcome unknown, not resending", job.id)
            return await self._finish(job, adapter, JobStatus.UNKNOWN, error=_(LOST_ANSWER))
        except ApiRejected as exc:
            log.warning("job %s: create refused: %s", job.id, exc)  # it made no task either
            job = job.evolve(create_requests=job.create_requests - 1)
            return await self._finish(job, adapter, JobStatus.FAILED, error=explain(exc))
        except KeevxError as exc:
            # Provably not created (never sent, or 429/500): take it back, submit again later.
            job = await self._save(
                job,
                release=False,
                status=JobStatus.UPLOADING,
                create_requests=job.create_requests - 1,
            )
            return await self._retry_later(job, adapter, exc)
        log.info("job %s: submitted as %s", job.id, ", ".join(task_ids))
        spooled = job.images
        job = await self._record_tasks(job, task_ids)
        await forget_images(self._store, spooled)
        return await self._show(job, adapter, release=False)

    async def _record_tasks(self, job: Job, task_ids: list[str]) -> Job:
        """Commit the tasks Keevx just made; their ids exist nowhere else, so try hard.

        A concurrent write (a cancel) is merged rather than lost: a cancelled job
        keeps its tasks, so their videos count as spent. A failing store is retried
        a few times; if it keeps failing the job stays ``submitting`` and becomes
        ``unknown`` (a callback can still settle it), never submitted again.
        """
        tasks = tuple(TaskResult(task_id=t) for t in task_ids)
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            now = self._now()
            if job.status is JobStatus.SUBMITTING:
                changes: dict[str, Any] = {
                    "status": JobStatus.SUBMITTED,
                    "submitted_at": now,
                    "images": (),
                    "attempts": 0,
                }
            else:  # cancelled meanwhile: keep the record, nothing more
                changes = {}
            job = job.evolve(tasks=tasks, **changes)
            due = self._schedule.next_check(job, now) if changes else job.next_run_at
            try:
                return await self._save(job, release=job.status.terminal, next_run_at=due)
            except Conflict:
                current = await self._store.get(job.id)
                if current is None:
                    raise
                log.info("job %s: changed while submitting (now %s)", job.id, current.status)
                job = current
            except Exception as exc:
                if attempt == RECORD_ATTEMPTS:
                    raise
                log.warning("job %s: tasks not recorded yet (%s), trying again", job.id, exc)
                await asyncio.sleep(0.2 * attempt)
        raise Conflict(f"job {job.id} kept changing while its tasks were recorded")

    async def _query_tasks(self, job: Job, adapter: ChatAdapter) -> Job:
        now = self._now()
        if job.next_run_at > now:
            return await self._save(job, release=True)
        assert job.submitted_at is not None
        if now - job.submitted_at > self._timing.poll_timeout:
            # What is made is still delivered; only what never finished is given up.
            gave_up = frozenset(t.task_id for t in job.tasks if not t.done)
            took_too_long = _(TOOK_TOO_LONG)
            given_up = tuple(
                replace(t, status=TaskState.FAILED, error=took_too_long)
                if t.task_id in gave_up
                else t
                for t in job.tasks
            )
            return await self._conclude(job.evolve(tasks=given_up), adapter, gave_up=gave_up)
        tasks = list(job.tasks)
        misfits: set[str] = set()
        elapsed = (now - job.submitted_at).total_seconds()
        for i, task in enumerate(tasks):
            if task.done:
                continue
            try:
                status = await self._keevx.query(task.task_id)
            except ApiRejected as exc:
                if exc.kind is not KeevxCode.TASK_NOT_FOUND:
                    log.warning("job %s: query refused: %s", job.id, exc)
                    continue
                tasks[i] = TaskResult(
                    task_id=task.task_id, status=TaskState.FAILED, error=explain(exc)
                )
                continue
            except KeevxError as exc:
                log.info("job %s: query failed, next poll retries: %s", job.id, exc)
                continue
            if job.adopted and not matches_request(
                job.request, duration=status.duration, width=status.width, height=status.height
            ):
                # A callback named it, but it is not the video this job asked for.
                log.warning("job %s: adopted task %s does not fit, dropped", job.id, task.task_id)
                misfits.add(task.task_id)
                continue
            tasks[i] = TaskResult(
                task_id=task.task_id,
                status=status.status,
                video_url=status.video_url or None,
                thumbnail_url=status.thumbnail_url or None,
                error=_task_error(status.status, status.error_message),
                width=status.width,
                height=status.height,
                duration=status.duration,
                running_after=task.running_after if status.done else elapsed,
                done_after=elapsed if status.done else None,
            )
        newly_done = [t for old, t in zip(job.tasks, tasks, strict=True) if t.done and not old.done]
        if misfits:
            tasks = [t for t in tasks if t.task_id not in misfits]
            if not tasks:
                return await self._finish(
                    job.evolve(tasks=()),
                    adapter,
                    JobStatus.UNKNOWN,
                    error=_(LOST_ANSWER),
                )
        job = job.evolve(tasks=tuple(tasks))
        for task in newly_done:
            await self._schedule.finished(job, task, now)
        if all(t.done for t in tasks):
            return await self._conclude(job, adapter)
        job = await self._save(job, release=False, next_run_at=self._schedule.next_check(job, now))
        if any(t.ready for t in job.tasks):
            # A finished video goes out now, while its siblings are still being made;
            # one that cannot be posted yet waits for the next poll.
            try:
                job = await self._post_ready(job, adapter)
            except RecipientGone as exc:
                log.warning("job %s: cannot be delivered: %s", job.id, exc)
                return await self._finish(job, adapter, JobStatus.UNDELIVERABLE, error=_(CHAT_GONE))
            except Exception as exc:  # DeliveryError, or an adapter bug: the next poll retries
                log.warning("job %s: a finished video was not posted yet: %r", job.id, exc)
        return await self._show(job, adapter, release=True)

    async def _conclude(
        self, job: Job, adapter: ChatAdapter, *, gave_up: frozenset[str] = frozenset()
    ) -> Job:
        """Every task is done: deliver what is left to deliver, or end the job.

        ``gave_up`` names the tasks just given up at POLL_TIMEOUT (by id, whatever the
        language their error is in): a job with no other trouble ends ``expired``.
        """
        if any(t.ready for t in job.tasks):
            return await self._save(
                job, release=False, status=JobStatus.SUCCEEDED, next_run_at=self._now()
            )
        if any(t.arrived for t in job.tasks):
            missing = [t for t in job.tasks if not t.arrived]
            # Why the others did not arrive (the first reason): the view says how many did.
            error = (missing[0].error or _(FAILED_REASON)) if missing else None
            log.info("job %s: delivered as %s", job.id, ", ".join(job.delivered_ids))
            spooled = job.images
            job = await self._save(
                job,
                release=False,
                status=JobStatus.DELIVERED,
                error=error,
                finished_at=self._now(),
                images=(),
            )
            await forget_images(self._store, spooled)
            return await self._show(job, adapter, release=True)
        errors = [t.error for t in job.tasks if t.error and t.task_id not in gave_up]
        if gave_up and not errors:
            return await self._finish(job, adapter, JobStatus.EXPIRED, error=_(TOOK_TOO_LONG))
        if any(t.status is TaskState.SUCCEEDED for t in job.tasks):
            error = next(t.error for t in job.tasks if t.status is TaskState.SUCCEEDED)
            return await self._finish(job, adapter, JobStatus.UNDELIVERABLE, error=error or "")
        error = next(iter(errors), None) or _(FAILED_REASON)
        return await self._finish(job, adapter, JobStatus.FAILED, error=error)

    async def _deliver(self, job: Job, adapter: ChatAdapter) -> Job:
        job = await self._show(job, adapter, release=False)
        if job.status.terminal:
            return job
        try:
            job = await self._post_ready(job, adapter)
        except RecipientGone as exc:
            # Say so where we still can (a status message may be editable where a video
            # may not be posted); _show copes if that fails too.
            log.warning("job %s: cannot be delivered: %s", job.id, exc)
            return await self._finish(job, adapter, JobStatus.UNDELIVERABLE, error=_(CHAT_GONE))
        except DeliveryError as exc:
            return await self._delivery_failed(job, adapter, exc)
        except Exception as exc:  # an adapter bug must not lose the job: retry later
            log.exception("job %s: delivery crashed", job.id)
            return await self._delivery_failed(job, adapter, exc)
        return await self._conclude(job, adapter)

    async def _post_ready(self, job: Job, adapter: ChatAdapter) -> Job:
        """Post each made, unposted video, recording each before the next is posted.

        A video whose link the policy refuses is marked as such (never retried);
        other failures raise, leaving what was posted recorded.
        """
        for task in [t for t in job.tasks if t.ready]:
            try:
                message_id = await deliver_video(
                    job, task, adapter, self._http, policy=self._results
                )
            except ResultRefused as exc:
                log.warning("job %s: task %s: %s", job.id, task.task_id, exc)
                job = await self._record_task(job, replace(task, error=_(LINK_REFUSED)))
                continue
            job = await self._record_task(job, replace(task, delivered_ids=(message_id,)))
        return job

    async def _record_task(self, job: Job, task: TaskResult) -> Job:
        """Commit ``task`` (just posted, or found undeliverable), whatever else changed.

        A write that came in meanwhile (a callback, a cancel) is merged rather than
        retried over: the video is posted, and posting it again is what must not happen.
        """
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            tasks = tuple(task if t.task_id == task.task_id else t for t in job.tasks)
            posted = job.delivered_ids + tuple(
                i for i in task.delivered_ids if i not in job.delivered_ids
            )
            try:
                return await self._save(job, release=False, tasks=tasks, delivered_ids=posted)
            except Conflict:
                current = await self._store.get(job.id)
                if current is None:
                    raise
                job = current
            except Exception as exc:
                if attempt == RECORD_ATTEMPTS:
                    raise
                log.warning("job %s: a posted video is not recorded yet (%s)", job.id, exc)
                await asyncio.sleep(0.2 * attempt)
        raise Conflict(f"job {job.id} kept changing while a posted video was recorded")

    async def _delivery_failed(self, job: Job, adapter: ChatAdapter, exc: Exception) -> Job:
        now = self._now()
        # Keevx keeps videos 7 days from completion, which is after submission.
        if now - (job.submitted_at or job.created_at) > VIDEO_URL_LIFETIME:
            expired = tuple(replace(t, error=_(LINK_EXPIRED)) if t.ready else t for t in job.tasks)
            return await self._conclude(job.evolve(tasks=expired), adapter)
        attempts = job.attempts + 1
        log.warning("job %s: delivery attempt %d failed: %s", job.id, attempts, exc)
        return await self._save(
            job, release=True, attempts=attempts, next_run_at=now + self._timing.backoff(attempts)
        )

    async def _retry_later(self, job: Job, adapter: ChatAdapter, exc: KeevxError) -> Job:
        attempts = job.attempts + 1
        if attempts >= self._timing.max_attempts:
            return await self._finish(job, adapter, JobStatus.FAILED, error=explain(exc))
        log.warning("job %s: attempt %d failed, retrying later: %s", job.id, attempts, exc)
        wait = self._timing.backoff(attempts)
        if isinstance(exc, RateLimited):  # Keevx said how long; a longer wait than we hold
            wait = max(wait, timedelta(seconds=exc.retry_after))
        return await self._save(
            job, release=True, attempts=attempts, next_run_at=self._now() + wait
        )

    async def _finish(
        self, job: Job, adapter: ChatAdapter, status: JobStatus, *, error: str
    ) -> Job:
        log.info("job %s: %s (%s)", job.id, status, error)
        spooled = job.images
        job = await self._save(
            job, release=False, status=status, error=error, finished_at=self._now(), images=()
        )
        await forget_images(self._store, spooled)
        return await self._show(job, adapter, release=True)

    async def _show(self, job: Job, adapter: ChatAdapter, *, release: bool) -> Job:
        """Update the status message; a vanished chat ends the job, other failures are ignored.

        ``release`` as in :meth:`_save`: whether this is the step's last write.
        """
        shown = job
        if job.status is JobStatus.SUBMITTED:
            shown = job.evolve(usual_seconds=self._schedule.usual_seconds(job))
        try:
            message_id = await adapter.show_status(shown)
        except RecipientGone as exc:
            log.warning("job %s: recipient gone: %s", job.id, exc)
            status = JobStatus.UNDELIVERABLE if not job.status.terminal else job.status
            spooled = job.images
            job = await self._save(
                job,
                release=True,
                status=status,
                error=_(CHAT_GONE),
                finished_at=self._now(),
                images=(),
            )
            await forget_images(self._store, spooled)
            return job
        except Exception as exc:
            log.warning("job %s: status message not updated: %s", job.id, exc)
            message_id = None
        if message_id and message_id != job.status_message_id:
            return await self._save(job, release=release, status_message_id=message_id)
        return await self._save(job, release=True) if release else job

    async def _save(self, job: Job, *, release: bool, **changes: Any) -> Job:
        """Commit ``changes``; ``release`` lets go of the lease (this step is the last for now)."""
        saved = await self._store.update(
            job.evolve(updated_at=self._now(), **changes), release=release
        )
        metrics.job_saved(job, saved)
        return saved


async def forget_images(store: JobStore, images: Sequence[str]) -> None:
    """Drop a job's images once Keevx has them (or never will).

    Keys name images in the store; anything else is a spool file left by an older version.
    """
    await store.drop_images([k for k in images if k.startswith(IMAGE_KEY_PREFIX)])
    _delete_spool_files([k for k in images if not k.startswith(IMAGE_KEY_PREFIX)])


def _delete_spool_files(names: Sequence[str]) -> None:
    for name in names:
        path = Path(name)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()


@contextlib.asynccontextmanager
async def _image_file(
    store: JobStore, key: str, number: int
) -> AsyncIterator[tuple[Path, str, str]]:
    """Image ``key`` as a local file to upload: its path, content type and a file name."""
    if not key.startswith(IMAGE_KEY_PREFIX):  # an older version's spool file
        path = Path(key)
        yield path, _SUFFIX_TYPES.get(path.suffix.lower(), "image/jpeg"), path.name
        return
    image = await store.image(key)
    if image is None:
        raise ImagesLost(f"image {key} is not in the store")
    suffix = next((s for s, t in _SUFFIX_TYPES.items() if t == image.content_type), ".jpg")
    fd, name = tempfile.mkstemp(prefix="keevx-upload-", suffix=suffix)
    path = Path(name)
    try:
        await asyncio.to_thread(_write, fd, image.data)
        yield path, image.content_type, f"{number}{suffix}"
    finally:
        path.unlink(missing_ok=True)


def _write(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as out:
        out.write(data)


class ImagesLost(Exception):
    """A job's image is gone from the store (deleted by hand?): it cannot be sent."""


_SUFFIX_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
