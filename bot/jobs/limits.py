"""Who may use the bot, and how much: access lists and fair-use limits."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.errors import LimitReached
from bot.i18n import N_, _, duration, ngettext
from bot.jobs.ports import JobStore
from bot.model.job import Job, JobStatus, Target
from bot.model.quota import Quota, QuotaExceeded, QuotaKind
from bot.model.request import VideoRequest
from bot.model.rules import plural
from bot.settings import Settings

__all__ = ["Gatekeeper", "Stats"]

# Jobs that hold a place against MAX_ACTIVE_TOTAL (waiting ones are `received`).
RUNNING = frozenset(
    {
        JobStatus.UPLOADING,
        JobStatus.SUBMITTING,
        JobStatus.SUBMITTED,
        JobStatus.SUCCEEDED,
    }
)


@dataclass(frozen=True)
class Stats:
    """Today's numbers for admins (UTC day)."""

    by_status: dict[JobStatus, int]
    videos_delivered: int
    failures: int
    queue_length: int

    @property
    def jobs(self) -> int:
        return sum(self.by_status.values())


# The sentences (said with ``_``): a refusal names the limit and when it frees up;
# usage is /jobs' summary.
NOT_HERE = N_("Sorry, this bot is not available here. Ask the bot's operator for access.")
OVER_ACTIVE = N_(
    "You already have {jobs} in progress, and at most {limit} may run at once:"
    " send this again when one is finished."
)
USAGE_ACTIVE = N_("You have {jobs} in progress; at most {limit} may run at once.")


def _over_daily(total: int) -> str:
    return ngettext(
        "That would make {total} video today; the daily limit is {limit} and you have {left}"
        " left. The count starts again at 00:00 UTC (in {wait}).",
        "That would make {total} videos today; the daily limit is {limit} and you have {left}"
        " left. The count starts again at 00:00 UTC (in {wait}).",
        total,
    )


def _usage_daily(made: int) -> str:
    return ngettext(
        "Today you have made {videos} video of the {limit} allowed; the count starts again"
        " at 00:00 UTC (in {wait}).",
        "Today you have made {videos} videos of the {limit} allowed; the count starts again"
        " at 00:00 UTC (in {wait}).",
        made,
    )


def _jobs(count: int) -> str:
    return plural(count, "{count} video job", "{count} video jobs")


def _matches(ids: Collection[str], platform: str, value: str | None) -> bool:
    return value is not None and (value in ids or f"{platform}:{value}" in ids)


def _wait(delta: timedelta) -> str:
    return duration(delta.total_seconds(), minutes_only=True)


class Gatekeeper:
    """Applies ``ALLOWED_*``, ``ADMIN_USERS`` and the fair-use limits from :class:`Settings`.

    Ids in the lists are plain (``123``) or platform-qualified (``telegram:123``).
    Admins are exempt from every limit.
    """

    def __init__(self, settings: Settings, store: JobStore, *, now: Callable[[], datetime]) -> None:
        self._settings = settings
        self._store = store
        self._now = now

    def is_admin(self, platform: str, user_id: str) -> bool:
        return _matches(self._settings.admin_users, platform, user_id)

    def allows(self, target: Target) -> bool:
        """Whether this chat, server and user may use the bot at all."""
        s, platform = self._settings, target.platform
        if self.is_admin(platform, target.user_id):
            return True
        if s.allowed_users and not _matches(s.allowed_users, platform, target.user_id):
            return False
        if s.allowed_chats and platform != "discord":
            return _matches(s.allowed_chats, platform, target.chat_id)
        if s.allowed_guilds and platform == "discord":
            return _matches(s.allowed_guilds, platform, target.guild_id)
        return True

    async def check_limits(self, target: Target, request: VideoRequest) -> None:
        """Raise :class:`LimitReached` naming the limit and when it frees up.

        An early answer, before anything is downloaded; the binding check is the
        store's, made in the same step that stores the job (see :meth:`quota`).
        """
        if not self.allows(target):
            raise LimitReached(_(NOT_HERE), field="ALLOWED")
        quota = self.quota(target)
        if quota is None:
            return
        platform, user = target.platform, target.user_id
        if quota.max_active:
            active = await self._store.count_active(platform=platform, user_id=user)
            if active >= quota.max_active:
                raise self.refusal(QuotaExceeded(QuotaKind.ACTIVE, used=active), request)
        if quota.max_videos:
            used = await self._store.videos_since(platform, user, quota.day_start)
            if used + request.count > quota.max_videos:
                raise self.refusal(QuotaExceeded(QuotaKind.DAILY_VIDEOS, used=used), request)

    def quota(self, target: Target) -> Quota | None:
        """The fair-use limits this user's next job must fit (``None``: no limit applies)."""
        return self._quota(target.platform, target.user_id)

    def _quota(self, platform: str, user_id: str) -> Quota | None:
        s = self._settings
        if self.is_admin(platform, user_id):
            return None
        if not (s.max_active_per_user or s.daily_videos_per_user):
            return None
        return Quota(
            max_active=s.max_active_per_user,
            max_videos=s.daily_videos_per_user,
            day_start=self._midnight(),
        )

    def refusal(self, over: QuotaExceeded, request: VideoRequest) -> LimitReached:
        """The sentence for a job the quota refused."""
        s = self._settings
        if over.kind is QuotaKind.ACTIVE:
            return LimitReached(
                _(OVER_ACTIVE).format(jobs=_jobs(over.used), limit=s.max_active_per_user),
                field="MAX_ACTIVE_PER_USER",
                value=over.used,
                personal=True,
            )
        return LimitReached(
            _over_daily(over.used + request.count).format(
                total=over.used + request.count,
                limit=s.daily_videos_per_user,
                left=max(s.daily_videos_per_user - over.used, 0),
                wait=self._until_midnight(),
            ),
            field="DAILY_VIDEOS_PER_USER",
            value=over.used,
            personal=True,
        )

    async def usage(self, platform: str, user_id: str) -> tuple[str, ...]:
        """Where the user stands against the fair-use limits, as sentences (none: no limits).

        The detail a personal refusal leaves out where others could read it.
        """
        quota = self._quota(platform, user_id)
        if quota is None:
            return ()
        lines = []
        if quota.max_active:
            active = await self._store.count_active(platform=platform, user_id=user_id)
            lines.append(_(USAGE_ACTIVE).format(jobs=_jobs(active), limit=quota.max_active))
        if quota.max_videos:
            used = await self._store.videos_since(platform, user_id, quota.day_start)
            lines.append(
                _usage_daily(used).format(
                    videos=used, limit=quota.max_videos, wait=self._until_midnight()
                )
            )
        return tuple(lines)

    def _until_midnight(self) -> str:
        return _wait(self._midnight() + timedelta(days=1) - self._now())

    async def admit(self, job: Job) -> Job | int:
        """Let a waiting job start under MAX_ACTIVE_TOTAL: the job as admitted (``uploading``;
        unchanged when there is no such limit), or its queue position when it must wait."""
        limit = self._settings.max_active_total
        if not limit:
            return job
        admitted = await self._store.admit(job, max_running=limit, running=RUNNING, now=self._now())
        return admitted if admitted is not None else await self._store.queue_position(job.id)

    def _midnight(self) -> datetime:
        now = self._now()
        return datetime.combine(now.date(), time(), tzinfo=now.tzinfo)

    async def stats(self) -> Stats:
        counts = await self._store.status_counts(self._midnight())
        return Stats(
            by_status={status: jobs for status, (jobs, _) in counts.items()},
            videos_delivered=sum(videos for _, videos in counts.values()),
            failures=sum(
                counts.get(s, (0, 0))[0]
                for s in (JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.UNKNOWN)
            ),
            queue_length=await self._store.count_active(statuses=frozenset({JobStatus.RECEIVED})),
        )
