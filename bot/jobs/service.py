"""The job service: what adapters call to turn a chat request into a job."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from bot import metrics
from bot.errors import Conflict, RequestInvalid
from bot.i18n import N_, SOURCE, _, choose, current, language_of
from bot.jobs.images import DECODES_AT_ONCE, ImageFile, prepare_image
from bot.jobs.limits import Gatekeeper, Stats
from bot.jobs.links import ImageLinks
from bot.jobs.pipeline import forget_images
from bot.jobs.ports import JobStore
from bot.model.job import IMAGE_KEY_PREFIX, ImageData, Job, JobStatus, Target
from bot.model.quota import QuotaExceeded
from bot.model.request import Model, Options, VideoRequest
from bot.model.status import CANCELLABLE

__all__ = ["JobService"]

log = logging.getLogger(__name__)

LANGUAGE_KEY = "language"  # beside a chat's video options in its saved defaults

# Image checks run here, not in the loop's default executor: they wait their turn for
# one of the few decodes bot.jobs.images allows at once, and waiting there would starve
# the DNS look-ups and file work that share the default executor.
_IMAGE_THREADS = ThreadPoolExecutor(max_workers=DECODES_AT_ONCE, thread_name_prefix="image")


# The sentences for requests about a job that cannot be done (said with ``_``).
NO_JOB = N_("There is no job #{job}.")
NOT_YOURS_AGAIN = N_("Only the person who asked for job #{job} can use Again on it.")
NOT_YOURS_CANCEL = N_("Only the person who asked for job #{job} can cancel it.")
NOTHING_TO_REPEAT = N_(
    "Job #{job} never reached Keevx, so there is nothing to repeat: send the photos again."
)
TOO_LATE = N_("Job #{job}'s video is already made and on its way: it is too late to cancel.")
ALREADY_OVER = N_("Job #{job} has already ended: there is nothing to cancel.")


class JobService:
    """Validates, persists and starts jobs; the adapters' one entry point.

    Adapters parse chat text with :func:`bot.model.request.parse_command` and
    :func:`bot.model.request.build_request` (refusals are ``RequestInvalid``), download
    the images to local files, then call :meth:`submit` with those and the command's
    image links, which the service fetches itself (``links``). The poller does the
    rest, showing progress and results through the adapter.
    """

    def __init__(
        self,
        store: JobStore,
        *,
        now: Callable[[], datetime],
        wake: Callable[[], None] = lambda: None,
        gate: Gatekeeper | None = None,
        links: ImageLinks | None = None,
        default_language: str = SOURCE,
    ) -> None:
        self._default_language = default_language
        self._store = store
        self._gate = gate
        self._links = links
        self._now = now
        self._wake = wake

    async def find(self, dedupe_key: str) -> Job | None:
        """The job already made from this platform event, if any (check before downloading)."""
        return await self._store.find(dedupe_key)

    async def submit(
        self,
        *,
        target: Target,
        request: VideoRequest,
        images: Sequence[Path],
        links: Sequence[str] = (),
        dedupe_key: str | None = None,
    ) -> Job:
        """Check the images, commit the job, and start it; return once it is stored.

        ``images`` are local files the service takes over (the caller must not reuse
        them); ``links`` are image links (:attr:`bot.model.request.Command.links`),
        fetched here and then treated like uploads, after ``images``. Once checked,
        the images are kept in the store, where every instance reads them. Raises
        ``RequestInvalid`` for a link or an image that is not usable (nothing is
        stored then). A ``dedupe_key`` seen before returns the existing job and makes
        nothing new. The status message is shown through the adapter right after the
        commit.
        """
        given = len(images) + len(links)
        if given != request.image_count:
            raise ValueError(f"request is for {request.image_count} images, got {given}")
        if links and self._links is None:
            raise ValueError("image links given to a service that cannot fetch them")
        if dedupe_key is not None and (seen := await self._store.find(dedupe_key)) is not None:
            return seen
        if self._gate is not None:
            await self._gate.check_limits(target, request)
        keys = await self._keep_images(images, links)
        try:
            job, created = await self._add(
                self._new_job(target, request, images=keys, dedupe_key=dedupe_key)
            )
        except BaseException:
            await self._store.drop_images(keys)
            raise
        if not created:
            await self._store.drop_images(keys)
            log.info("job %s: duplicate of %s, nothing new", job.id, dedupe_key)
            return job
        log.info("job %s: received from %s (%s)", job.id, target.platform, request.summary())
        self._wake()
        return job

    async def _keep_images(self, images: Sequence[Path], links: Sequence[str]) -> tuple[str, ...]:
        """Fetch the links, check (and re-encode) every image, then keep them in the store;
        return their keys."""
        loop = asyncio.get_running_loop()
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="keevx-images-"))
        keys: list[str] = []
        try:
            fetched = await self._links.fetch(links, folder) if self._links and links else []
            labelled = [
                *((path, _photo_label(n, len(images))) for n, path in enumerate(images, 1)),
                *((path, _linked_label(n, len(fetched))) for n, path in enumerate(fetched, 1)),
            ]
            # In this context, so the refusals are said in the language in use here.
            work = functools.partial(contextvars.copy_context().run, _prepare, labelled, folder)
            prepared = await loop.run_in_executor(_IMAGE_THREADS, work)
            for image in prepared:
                data = await asyncio.to_thread(image.path.read_bytes)
                key = f"{IMAGE_KEY_PREFIX}{uuid.uuid4().hex}"
                await self._store.put_image(key, ImageData(image.content_type, data))
                keys.append(key)
        except BaseException:
            await self._store.drop_images(keys)
            raise
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        return tuple(keys)

    async def again(self, job_id: int, user_id: str, *, dedupe_key: str | None = None) -> Job:
        """A new job with the same request and images as ``job_id`` (the requester's only)."""
        old = await self._get_for(job_id, user_id, NOT_YOURS_AGAIN, force=False)
        if dedupe_key is not None and (seen := await self._store.find(dedupe_key)) is not None:
            return seen
        if self._gate is not None:
            await self._gate.check_limits(old.target, old.request)
        if len(old.image_urls) != old.request.image_count:
            raise RequestInvalid(_(NOTHING_TO_REPEAT).format(job=job_id), field="job", value=job_id)
        job, created = await self._add(
            self._new_job(
                old.target,
                old.request,
                image_urls=old.image_urls,
                dedupe_key=dedupe_key,
                again_of=old.id,
            )
        )
        if created:
            log.info("job %s: again of job %s", job.id, old.id)
            self._wake()
        return job

    async def cancel(self, job_id: int, user_id: str, *, force: bool = False) -> Job:
        """Stop waiting for a job and never deliver it; ``force`` for moderators.

        Raises ``RequestInvalid`` with a sentence when the job is not the
        user's, not found, or already finished.
        """
        job = await self._get_for(job_id, user_id, NOT_YOURS_CANCEL, force=force)
        if job.status is JobStatus.SUCCEEDED:
            raise RequestInvalid(_(TOO_LATE).format(job=job_id), field="job", value=job_id)
        try:
            cancelled = await self._store.transition(
                job_id,
                CANCELLABLE,
                status=JobStatus.CANCELLED,
                error="cancelled by request",
                finished_at=self._now(),
                updated_at=self._now(),
                images=(),
                next_run_at=self._now(),
            )
        except Conflict:
            current = await self._store.get(job_id)
            if current is not None and current.status is JobStatus.SUCCEEDED:
                raise RequestInvalid(
                    _(TOO_LATE).format(job=job_id), field="job", value=job_id
                ) from None
            raise RequestInvalid(
                _(ALREADY_OVER).format(job=job_id), field="job", value=job_id
            ) from None
        metrics.job_saved(job, cancelled)
        await forget_images(self._store, job.images)
        log.info("job %s: cancelled by %s", job_id, user_id)
        return cancelled

    async def check_limits(self, target: Target, request: VideoRequest) -> None:
        """Raise ``LimitReached`` if access lists or fair-use limits refuse this request.

        Adapters call it before downloading anything; :meth:`submit` checks again.
        """
        if self._gate is not None:
            await self._gate.check_limits(target, request)

    def allows(self, target: Target) -> bool:
        """Whether the access lists let this chat and user use the bot at all."""
        return self._gate is None or self._gate.allows(target)

    def is_admin(self, platform: str, user_id: str) -> bool:
        return self._gate is not None and self._gate.is_admin(platform, user_id)

    async def usage(self, platform: str, user_id: str) -> tuple[str, ...]:
        """Where the user stands against the fair-use limits, as sentences for ``/jobs``."""
        return () if self._gate is None else await self._gate.usage(platform, user_id)

    async def stats(self) -> Stats:
        """Today's numbers, for admins' ``/stats``."""
        if self._gate is None:
            raise RuntimeError("no gatekeeper configured")
        return await self._gate.stats()

    async def get(self, job_id: int) -> Job | None:
        return await self._store.get(job_id)

    async def recent(self, platform: str, user_id: str, limit: int = 10) -> list[Job]:
        """The user's most recent jobs on a platform, newest first."""
        return await self._store.recent(platform=platform, user_id=user_id, limit=limit)

    async def chat_defaults(self, platform: str, chat_id: str) -> Options:
        """A chat's (Telegram) or server's (Discord) saved defaults; empty when none."""
        values = await self._store.get_defaults(platform, chat_id)
        known = {k: v for k, v in values.items() if k in Options.__dataclass_fields__}
        if known.get("model") is not None:
            known["model"] = Model(known["model"])
        return Options(**known)

    async def set_chat_defaults(self, platform: str, chat_id: str, options: Options) -> None:
        values = {k: (v.value if isinstance(v, Model) else v) for k, v in asdict(options).items()}
        kept = {k: v for k, v in values.items() if v is not None}
        if language := await self.chat_language(platform, chat_id):
            kept[LANGUAGE_KEY] = language  # the chat's language is no video option
        await self._store.set_defaults(platform, chat_id, kept)

    async def _add(self, job: Job) -> tuple[Job, bool]:
        """Store ``job`` if the requester's fair-use limits allow it, in one atomic step."""
        quota = self._gate.quota(job.target) if self._gate is not None else None
        try:
            return await self._store.add(job, quota=quota)
        except QuotaExceeded as over:
            assert self._gate is not None
            raise self._gate.refusal(over, job.request) from None

    def _new_job(
        self,
        target: Target,
        request: VideoRequest,
        *,
        images: tuple[str, ...] = (),
        image_urls: tuple[str, ...] = (),
        dedupe_key: str | None,
        again_of: int | None = None,
    ) -> Job:
        now = self._now()
        return Job(
            id=0,
            target=target,
            request=request,
            status=JobStatus.RECEIVED,
            created_at=now,
            updated_at=now,
            next_run_at=now,
            images=images,
            image_urls=image_urls,
            dedupe_key=dedupe_key,
            again_of=again_of,
            language=current(),  # what it says later (status, result) stays in it
        )

    # --- languages ---------------------------------------------------------------------

    async def language_for(
        self, platform: str, user_id: str, *, spoken: str | None = None, chat_id: str | None = None
    ) -> str:
        """Which language to answer a person in: the one they chose, else the one their
        platform says they speak (``spoken``), else the chat's default, else the operator's."""
        chosen = await self._store.get_language(platform, user_id)
        chat = await self.chat_language(platform, chat_id) if chat_id is not None else None
        return choose(chosen, spoken, chat, self._default_language)

    async def set_language(self, platform: str, user_id: str, language: str | None) -> None:
        """Remember a person's own choice (``None``: go back to their platform's language)."""
        await self._store.set_language(platform, user_id, language_of(language))

    async def chat_language(self, platform: str, chat_id: str) -> str | None:
        """A chat's (server's) default language, for people whose own is not known."""
        values = await self._store.get_defaults(platform, chat_id)
        return language_of(values.get(LANGUAGE_KEY))

    async def set_chat_language(self, platform: str, chat_id: str, language: str | None) -> None:
        values = await self._store.get_defaults(platform, chat_id)
        values.pop(LANGUAGE_KEY, None)
        if chosen := language_of(language):
            values[LANGUAGE_KEY] = chosen
        await self._store.set_defaults(platform, chat_id, values)

    async def _get_for(self, job_id: int, user_id: str, not_yours: str, *, force: bool) -> Job:
        """The job, if ``user_id`` asked for it (or ``force``); else ``not_yours`` refuses."""
        job = await self._store.get(job_id)
        if job is None:
            raise RequestInvalid(_(NO_JOB).format(job=job_id), field="job", value=job_id)
        if job.target.user_id != user_id and not force:
            raise RequestInvalid(_(not_yours).format(job=job_id), field="job", value=job_id)
        return job


def _photo_label(number: int, count: int) -> str:
    """How a refusal names photo ``number`` of ``count``: "the photo" or "photo 2"."""
    return _("the photo") if count == 1 else _("photo {number}").format(number=number)


def _linked_label(number: int, count: int) -> str:
    """How a refusal names the image behind link ``number`` of ``count``."""
    if count == 1:
        return _("the image at the link")
    return _("the image at link {number}").format(number=number)


def _prepare(images: Sequence[tuple[Path, str]], folder: Path) -> list[ImageFile]:
    """Move the images into ``folder``, checked and re-encoded where needed (blocking).

    Each comes with the label its refusal sentence names it by.
    """
    prepared = []
    for number, (source, label) in enumerate(images, start=1):
        staged = folder / f"{number}.img"
        shutil.move(str(source), staged)
        prepared.append(prepare_image(staged, label=label))
    return prepared
