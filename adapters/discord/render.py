"""Texts and embeds the Discord adapter posts: status lines, results, job lists.

Everything here is pure: a :class:`~bot.job.Job` in, strings or an
:class:`discord.Embed` out. Times use Discord's timestamp markup
(``<t:UNIX:R>``), which each reader's client renders and keeps counting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import discord

from adapters.base import Video
from bot.job import Job, JobStatus
from bot.limits import Stats

__all__ = [
    "LINK_LIFETIME",
    "job_list",
    "link_embed",
    "result_text",
    "stats_text",
    "status_text",
    "timestamp",
]

LINK_LIFETIME = timedelta(days=7)
MAX_PROMPT_SHOWN = 1500  # a message holds 2000 characters

_STATES: dict[JobStatus, str] = {
    JobStatus.RECEIVED: "⏳ queued",
    JobStatus.UPLOADING: "⏳ sending the photos to Keevx",
    JobStatus.SUBMITTING: "⏳ starting the generation",
    JobStatus.SUBMITTED: "🎬 generating",
    JobStatus.SUCCEEDED: "📤 posting the result",
    JobStatus.DELIVERED: "✅ done",
    JobStatus.FAILED: "❌ failed",
    JobStatus.EXPIRED: "⌛ gave up waiting",
    JobStatus.UNKNOWN: "❔ outcome unknown",
    JobStatus.UNDELIVERABLE: "🚫 could not be posted",
    JobStatus.CANCELLED: "🛑 cancelled",
}


def timestamp(when: datetime, style: str = "R") -> str:
    """Discord's ``<t:…:style>`` markup for an aware datetime."""
    return f"<t:{int(when.timestamp())}:{style}>"


def _prompt(job: Job) -> str:
    prompt = job.request.prompt.replace("`", "'")
    if len(prompt) > MAX_PROMPT_SHOWN:
        prompt = prompt[: MAX_PROMPT_SHOWN - 1] + "…"
    return prompt


def state_line(job: Job) -> str:
    """``🎬 generating · started <t:…:R>``, with the error for failed jobs."""
    line = f"{_STATES.get(job.status, str(job.status))} · started {timestamp(job.created_at)}"
    if job.status.terminal and job.finished_at is not None:
        line += f" · ended {timestamp(job.finished_at)}"
    if job.error and job.status in (
        JobStatus.FAILED,
        JobStatus.EXPIRED,
        JobStatus.UNKNOWN,
        JobStatus.UNDELIVERABLE,
    ):
        line += f"\n{job.error}"
    return line


def status_text(job: Job, *, mention: bool = False) -> str:
    """The one status message of a job: parameters, prompt, state and start time."""
    head = f"<@{job.target.user_id}> " if mention else ""
    return f"{head}**Job {job.id}** · {job.request.summary()}\n> {_prompt(job)}\n{state_line(job)}"


def result_text(job: Job, index: int, total: int, *, mention: bool) -> str:
    """The text above a result: who asked, the prompt and the parameters."""
    head = f"<@{job.target.user_id}> " if mention else ""
    part = f" ({index + 1}/{total})" if total > 1 else ""
    return f"{head}**Job {job.id}**{part} · {job.request.summary()}\n> {_prompt(job)}"


def link_embed(job: Job, video: Video, *, now: datetime) -> discord.Embed:
    """An embed pointing at a video too large to attach (bots cannot embed video)."""
    expires = (job.finished_at or now) + LINK_LIFETIME
    embed = discord.Embed(
        title=f"Watch the video (job {job.id})",
        url=video.url,
        description=(
            "The file is over this channel's upload limit, so here is the link.\n"
            f"The link expires {timestamp(expires)} (7 days after the video was made)."
        ),
    )
    if video.thumbnail_url:
        embed.set_image(url=video.thumbnail_url)
    details = []
    if video.width and video.height:
        details.append(f"{video.width}×{video.height}")
    if video.duration:
        details.append(f"{video.duration:.0f} s")
    if video.size:
        details.append(f"{video.size / 1_048_576:.1f} MiB")
    if details:
        embed.set_footer(text=" · ".join(details))
    return embed


def job_list(jobs: Sequence[Job]) -> str:
    """The ``/jobs`` answer: one line per job, newest first."""
    if not jobs:
        return "You have no jobs yet: try `/video`."
    lines = []
    for job in jobs:
        prompt = job.request.prompt
        short = prompt if len(prompt) <= 60 else prompt[:59] + "…"
        lines.append(
            f"**{job.id}** · {_STATES.get(job.status, str(job.status))} · "
            f"{timestamp(job.created_at)} · {job.request.summary()} · {short}"
        )
    return "\n".join(lines)[:2000]


def stats_text(stats: Stats) -> str:
    """/stats for admins: today's jobs by state, videos, failures, queue length."""
    states = ", ".join(f"{s.value} {n}" for s, n in stats.by_status.items() if n) or "none"
    return (
        f"**Today (UTC)**: {stats.jobs} jobs — {states}\n"
        f"Videos delivered: {stats.videos_delivered} · failures: {stats.failures} · "
        f"waiting in line: {stats.queue_length}"
    )
