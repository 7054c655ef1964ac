"""Every text the Telegram adapter shows: status lines, captions, lists and help.

Plain functions of core objects, no PTB calls, so they are easy to test.
Captions and status texts are HTML (``parse_mode="HTML"``): user text is escaped.
Whatever is sent goes through :func:`fit` first: Telegram refuses a text over
4096 characters (a caption over 1024, a button answer over 200) outright.
"""

from __future__ import annotations

import html
import re
from datetime import datetime

from telegram.constants import CallbackQueryLimit, MessageLimit

from bot.jobs.limits import Stats
from bot.model.help import HELP_TEXT
from bot.model.job import ACTIVE, Job, JobStatus
from bot.model.request import Options
from bot.model.status import Phase, StatusView, status_view

__all__ = [
    "ANSWER_LIMIT",
    "CAPTION_LIMIT",
    "TEXT_LIMIT",
    "caption",
    "elapsed",
    "fit",
    "help_text",
    "job_line",
    "link_text",
    "settings_text",
    "stats_text",
    "status_text",
]

CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH  # 1024
TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
ANSWER_LIMIT = CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH  # 200

_TELEGRAM_HELP = (
    "In groups, use /video, mention me, or reply to me; an image sent as a file works too.\n"
    "/jobs — your recent videos · /cancel [number] — stop waiting for one · "
    "/settings — this chat's defaults"
)


def _esc(text: str) -> str:
    """Escape user text for Telegram HTML (quotes need no escaping outside attributes)."""
    return html.escape(text, quote=False)


def help_text() -> str:
    """The core's help text, then what only Telegram offers (HTML)."""
    return _esc(HELP_TEXT) + "\n\n" + _TELEGRAM_HELP


def elapsed(since: datetime | None, now: datetime) -> str:
    """``42 s``, ``3 min 5 s`` or ``1 h 2 min``."""
    if since is None:
        return ""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def about(seconds: float) -> str:
    """A rough duration: ``40 s``, ``3 min``, ``1 h 10 min``."""
    if seconds < 60:
        return f"{max(10, round(seconds / 10) * 10)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


_ICONS = {
    Phase.DONE: "✅",
    Phase.FAILED: "⚠️",
    Phase.GAVE_UP: "⌛",
    Phase.UNKNOWN: "❓",
    Phase.CANCELLED: "✖️",
    Phase.UNDELIVERABLE: "⚠️",
}
_WORDS = {
    Phase.QUEUED: "queued",
    Phase.UPLOADING: "uploading the images",
    Phase.STARTING: "sending to Keevx",
    Phase.WAITING: "waiting in Keevx's queue",
    Phase.GENERATING: "processing",
    Phase.SENDING: "ready, sending the video",
    Phase.UNKNOWN: (
        "outcome unknown: the request reached Keevx but its answer was lost. "
        "It was not sent again, so you are not charged twice; "
        "send /video again if no video arrives"
    ),
    Phase.UNDELIVERABLE: "could not be delivered here",
    Phase.CANCELLED: (
        "cancelled. Keevx cannot stop a generation that already started, "
        "but this one will not be delivered"
    ),
}


def _state(job: Job, view: StatusView, now: datetime) -> str:
    """The view in words; times from the job's own clock fields."""
    phase = view.phase
    if phase is Phase.QUEUED and view.queue_position:
        return f"queued · number {view.queue_position} in line"
    if phase in (Phase.WAITING, Phase.GENERATING):
        line = f"{_WORDS[phase]} · {elapsed(job.submitted_at or job.created_at, now)}"
        if view.usual_seconds:
            line += f" · usually ready in about {about(view.usual_seconds)}"
        return line
    if phase is Phase.DONE:
        done = f"done in {elapsed(job.created_at, job.finished_at or now)}"
        return f"{done}. {view.reason}" if view.reason else done
    if phase is Phase.FAILED:
        return f"failed: {view.reason}"
    if phase is Phase.GAVE_UP:
        took = elapsed(job.submitted_at or job.created_at, job.finished_at or now)
        return f"gave up: Keevx did not finish within {took}"
    return _WORDS[phase]


def status_text(job: Job, now: datetime) -> str:
    """``🎬 1 image · model V · 16:9 · 720p · 4 s — queued``, the job id and any notes (HTML)."""
    view = status_view(job)
    icon = _ICONS.get(view.phase, "🎬")
    lines = [f"{icon} {_esc(job.request.summary())} — {_esc(_state(job, view, now))}"]
    lines += [f"<i>{_esc(note)}</i>" for note in job.request.notes]
    lines.append(f"job #{job.id}")
    return "\n".join(lines)


def _requester(job: Job) -> str:
    t = job.target
    name = _esc(t.user_name or "you")
    if t.user_id.isdigit():
        return f'<a href="tg://user?id={t.user_id}">{name}</a>'
    return name


def _is_group(job: Job) -> bool:
    kind = job.target.chat_type
    if isinstance(kind, str):
        return kind != "private"
    return job.target.chat_id.startswith("-")


def caption(job: Job, *, label: str = "") -> str:
    """The video's caption (HTML): the prompt, cut so the whole fits in 1024 characters.

    ``label`` (e.g. ``video 2/3``) follows the parameters. Lengths are counted in
    UTF-16 units, the stricter of the ways Telegram is said to count.
    """
    tail = f"\n\n{_esc(job.request.summary())}"
    if label:
        tail += f" · {_esc(label)}"
    if _is_group(job):
        tail += f"\nfor {_requester(job)}"
    budget = CAPTION_LIMIT - _units(_visible(tail))
    prompt = job.request.prompt
    if _units(prompt) > budget:
        prompt = _cut(prompt, budget - 1).rstrip() + "…"
    return _esc(prompt) + tail


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, units: int) -> str:
    """The longest prefix of ``text`` within ``units`` UTF-16 units."""
    out, used = [], 0
    for ch in text:
        used += _units(ch)
        if used > units:
            break
        out.append(ch)
    return "".join(out)


# An HTML tag, an entity, or one character: the pieces :func:`fit` never splits.
_PIECE = re.compile(r"<[^>]*>|&#?\w+;|.", re.S)
_TAG = re.compile(r"<(/?)([a-z-]+)")


def fit(text: str, limit: int = TEXT_LIMIT, *, html: bool = False) -> str:
    """``text`` cut to ``limit`` visible characters (UTF-16 units) with ``…``, if longer.

    Telegram counts a text after parsing its entities and refuses one that is
    too long, so the user would get nothing. With ``html`` the cut never
    splits a tag or an entity, and the tags still open there are closed.
    """
    visible = _visible(text) if html else text
    if _units(visible) <= limit:
        return text
    if not html:
        return _cut(text, limit - 1) + "…"
    out: list[str] = []
    open_tags: list[str] = []
    used = 0
    for match in _PIECE.finditer(text):
        piece = match.group()
        if piece.startswith("<"):
            tag = _TAG.match(piece)
            if tag is not None and tag[1]:
                if open_tags and open_tags[-1] == tag[2]:
                    open_tags.pop()
            elif tag is not None:
                open_tags.append(tag[2])
        else:
            used += _units(_visible(piece))
            if used > limit - 1:
                break
        out.append(piece)
    return "".join(out) + "…" + "".join(f"</{t}>" for t in reversed(open_tags))


def _visible(fragment: str) -> str:
    """An HTML fragment as Telegram shows it (tags and entities resolved)."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def link_text(job: Job, url: str, size: int | None, limit: int) -> str:
    """The message for a video too large to upload: the link, its size, its 7-day life."""
    mb = f"{size / 1_000_000:.0f} MB" if size else "too large"
    prompt = job.request.prompt
    if len(prompt) > 300:
        prompt = prompt[:299] + "…"
    parts = [
        _esc(prompt),
        "",
        _esc(job.request.summary()),
        f"The video ({mb}) is over Telegram's {limit // 1_000_000} MB upload limit: "
        f'<a href="{html.escape(url, quote=True)}">download it here</a>. '
        "The link expires in 7 days.",
    ]
    if _is_group(job):
        parts.append(f"for {_requester(job)}")
    return "\n".join(parts)


def job_line(job: Job, now: datetime) -> str:
    """One line of /jobs (HTML)."""
    if job.status in ACTIVE:
        age = elapsed(job.created_at, now)
    else:
        age = elapsed(job.created_at, job.finished_at or job.updated_at)
    error = f": {job.error}" if job.error and job.status is JobStatus.FAILED else ""
    return (
        f"#{job.id} · <b>{job.status.value}</b>{_esc(error)} · {age} · "
        f"{_esc(job.request.summary())}\n"
        f"   <i>{_esc(job.request.prompt[:80])}</i>"
    )


def settings_text(defaults: Options, *, is_group: bool) -> str:
    """This chat's defaults; ``model default`` where none is saved."""
    values = [
        ("Model", defaults.model.value if defaults.model else None),
        ("Aspect ratio", defaults.aspect_ratio),
        ("Resolution", defaults.resolution),
        ("Duration", f"{defaults.duration} s" if defaults.duration else None),
        ("Audio", None if defaults.audio is None else ("on" if defaults.audio else "off")),
    ]
    where = "this group" if is_group else "this chat"
    lines = [f"<b>Defaults for {where}</b> (options in a request win):"]
    lines += [f"• {name}: {_esc(v) if v else 'model default'}" for name, v in values]
    if is_group:
        lines.append("Group admins can change them.")
    return "\n".join(lines)


def stats_text(stats: Stats) -> str:
    """/stats for admins: today's jobs by state, videos, failures, queue (HTML)."""
    states = ", ".join(f"{s.value} {n}" for s, n in stats.by_status.items() if n) or "none"
    return (
        f"<b>Today (UTC)</b>: {stats.jobs} jobs — {_esc(states)}\n"
        f"Videos delivered: {stats.videos_delivered} · failures: {stats.failures} · "
        f"waiting in line: {stats.queue_length}"
    )
