"""Every text the Telegram adapter shows: status lines, captions, lists and help.

Plain functions of core objects, no PTB calls, so they are easy to test; the
sentences themselves are in :mod:`adapters.telegram.texts` and the core. Each
speaks the language in use (:func:`bot.i18n.speaking`), numbers, sizes, durations
and dates included.
Captions and status texts are HTML (``parse_mode="HTML"``): user text is escaped.
Whatever is sent goes through :func:`fit` first: Telegram refuses a text over
4096 characters (a caption over 1024, a button answer over 200) outright.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from babel.dates import format_timedelta
from babel.units import format_unit
from telegram.constants import CallbackQueryLimit, MessageLimit

from adapters.telegram import texts
from bot.errors import LimitReached, RequestInvalid
from bot.i18n import LANGUAGES, _, current, date_time, duration, ngettext, number
from bot.jobs.limits import Stats
from bot.model.help import HELP
from bot.model.job import Job
from bot.model.request import Options
from bot.model.status import Phase, StatusView, link_expires, status_view

__all__ = [
    "ANSWER_LIMIT",
    "CAPTION_LIMIT",
    "TEXT_LIMIT",
    "caption",
    "elapsed",
    "esc",
    "fit",
    "help_text",
    "job_line",
    "link_text",
    "megabytes",
    "refusal",
    "settings_text",
    "stats_text",
    "status_text",
]

CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH  # 1024
TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
ANSWER_LIMIT = CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH  # 200


def esc(text: str) -> str:
    """Escape user text for Telegram HTML (quotes need no escaping outside attributes)."""
    return html.escape(text, quote=False)


def help_text() -> str:
    """The core's help (read in the language in use), with what only Telegram offers (HTML)."""
    blocks = [
        [HELP.intro, _(texts.HOW_TO_ASK)],
        [HELP.usage],
        list(HELP.models),
        [HELP.defaults, _(texts.SETTINGS_HINT)],
        [HELP.example],
        [HELP.narration],
        [HELP.tips_heading, *HELP.tips],
        [_(texts.COMMANDS)],
    ]
    return "\n\n".join("\n".join(esc(line) for line in block) for block in blocks)


def refusal(exc: RequestInvalid, *, group: bool) -> str:
    """The core's refusal; in a group, one telling the user's own usage becomes a short
    sentence without the numbers (``/jobs`` in a private chat has them)."""
    if group and isinstance(exc, LimitReached) and exc.personal:
        return _(texts.LIMIT_IN_GROUP)
    return str(exc)


def elapsed(since: datetime | None, now: datetime) -> str:
    """``42 sec``, ``3 min 5 sec`` or ``1 hr 2 min``, in the language's short units."""
    if since is None:
        return ""
    return duration((now - since).total_seconds())


def about(seconds: float) -> str:
    """A rough duration in one unit: ``40 sec``, ``3 min``, ``1 hr``."""
    rough = max(10, round(seconds / 10) * 10) if seconds < 60 else round(seconds / 60) * 60
    return format_timedelta(timedelta(seconds=rough), format="short", locale=current())


def megabytes(size: int) -> str:
    """``52 MB``: a file size as the language writes it."""
    return format_unit(
        size / 1_000_000, "digital-megabyte", length="short", format="#,##0", locale=current()
    )


_ICONS = {
    Phase.DONE: "✅",
    Phase.FAILED: "⚠️",
    Phase.GAVE_UP: "⌛",
    Phase.UNKNOWN: "❓",
    Phase.CANCELLED: "✖️",
    Phase.UNDELIVERABLE: "⚠️",
}
_WORDS = {
    Phase.QUEUED: texts.QUEUED,
    Phase.UPLOADING: texts.UPLOADING,
    Phase.STARTING: texts.STARTING,
    Phase.WAITING: texts.WAITING,
    Phase.GENERATING: texts.GENERATING,
    Phase.SENDING: texts.SENDING,
    Phase.DONE: texts.DONE,
    Phase.FAILED: texts.FAILED,
    Phase.GAVE_UP: texts.GAVE_UP,
    Phase.UNKNOWN: texts.UNKNOWN,
    Phase.UNDELIVERABLE: texts.UNDELIVERABLE,
    Phase.CANCELLED: texts.CANCELLED,
}


def _state(job: Job, view: StatusView, now: datetime) -> str:
    """The view in words; times from the job's own clock fields."""
    phase = view.phase
    if phase is Phase.QUEUED and view.queue_position:
        return _(texts.QUEUED_AT).format(position=number(view.queue_position))
    if phase in (Phase.WAITING, Phase.GENERATING):
        state = _(_WORDS[phase]).format(elapsed=elapsed(job.submitted_at or job.created_at, now))
        if view.usual_seconds:
            return _(texts.USUALLY_READY).format(state=state, about=about(view.usual_seconds))
        return state
    if phase is Phase.GAVE_UP:
        since, now = job.submitted_at or job.created_at, job.finished_at or now
    else:
        since, now = job.created_at, job.finished_at or now
    return _(_WORDS[phase]).format(elapsed=elapsed(since, now))


def _explanation(job: Job, view: StatusView) -> str | None:
    """The sentence under an unhappy ending: the core's reason, or why a cancel came late."""
    if view.phase is Phase.CANCELLED:
        return _(texts.CANCELLED_LATE) if job.submitted_at is not None or job.tasks else None
    return view.reason


def status_text(job: Job, now: datetime) -> str:
    """``🎬 1 image · model V · 16:9 · 720p · 4 s — queued``, notes, why it ended, the job
    number (HTML)."""
    view = status_view(job)
    icon = _ICONS.get(view.phase, "🎬")
    lines = [f"{icon} {esc(job.request.summary())} — {esc(_state(job, view, now))}"]
    lines += [f"<i>{esc(note)}</i>" for note in job.request.notes]
    if explanation := _explanation(job, view):
        lines.append(esc(explanation))
    lines.append(esc(_(texts.JOB_NUMBER).format(job=job.id)))
    return "\n".join(lines)


def _requester(job: Job) -> str:
    t = job.target
    name = esc(t.user_name or _(texts.YOU))
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
    tail = f"\n\n{esc(job.request.summary())}"
    if label:
        tail += f" · {esc(label)}"
    if _is_group(job):
        tail += "\n" + _(texts.FOR_REQUESTER_HTML).format(requester=_requester(job))
    budget = CAPTION_LIMIT - _units(_visible(tail))
    prompt = job.request.prompt
    if _units(prompt) > budget:
        prompt = _cut(prompt, budget - 1).rstrip() + "…"
    return esc(prompt) + tail


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
    """The message for a video too large to upload: the link, its size, and until when it
    works (7 days after Keevx made the video, whenever this is posted)."""
    mb = megabytes(size) if size else _(texts.SIZE_UNKNOWN)
    prompt = job.request.prompt
    if len(prompt) > 300:
        prompt = prompt[:299] + "…"
    parts = [
        esc(prompt),
        "",
        esc(job.request.summary()),
        _(texts.LINK_HTML).format(
            size=esc(mb),
            limit=esc(megabytes(limit)),
            url=html.escape(url, quote=True),
            expires=esc(date_time(link_expires(job, url).astimezone(UTC))),
        ),
    ]
    if _is_group(job):
        parts.append(_(texts.FOR_REQUESTER_HTML).format(requester=_requester(job)))
    return "\n".join(parts)


def job_line(job: Job, now: datetime) -> str:
    """One line of /jobs (HTML): its number, state, parameters and prompt; a failure's reason."""
    view = status_view(job)
    if view.phase is Phase.FAILED and view.reason:
        state = _(texts.FAILED_BECAUSE_HTML).format(reason=esc(view.reason))
    else:
        state = f"<b>{esc(_state(job, view, now))}</b>"
    return (
        f"#{job.id} · {state} · {esc(job.request.summary())}\n"
        f"   <i>{esc(job.request.prompt[:80])}</i>"
    )


def videos(count: int) -> str:
    """``1 video``, ``2 videos``."""
    return ngettext("{count} video", "{count} videos", count).format(count=number(count))


def jobs(count: int) -> str:
    """``1 job``, ``2 jobs``."""
    return ngettext("{count} job", "{count} jobs", count).format(count=number(count))


def language_name(code: str | None) -> str:
    """A language by its own name (``Русский``), as a person looking for theirs reads it."""
    return LANGUAGES.get(code or "", code or "")


def setting_values(defaults: Options) -> dict[str, str | None]:
    """Each saved default as shown (``None``: not saved), by :class:`Options` field."""
    audio = defaults.audio
    return {
        "model": defaults.model.value if defaults.model else None,
        "aspect_ratio": defaults.aspect_ratio,
        "resolution": defaults.resolution,
        "duration": duration(defaults.duration) if defaults.duration else None,
        "audio": None if audio is None else _(texts.ON if audio else texts.OFF),
        "count": videos(defaults.count) if defaults.count else None,
    }


def settings_text(defaults: Options, *, is_group: bool, language: str | None = None) -> str:
    """This chat's defaults, ``model default`` where none is saved; its language last."""
    where = _(texts.THIS_GROUP if is_group else texts.THIS_CHAT)
    shown = {
        **setting_values(defaults),
        "language": language_name(language) if language else _(texts.CHAT_LANGUAGE_NONE),
    }
    lines = [_(texts.SETTINGS_TITLE_HTML).format(where=esc(where))]
    lines += [
        esc(
            _(texts.SETTING_LINE).format(
                name=_(texts.SETTING_NAMES[field]), value=value or _(texts.MODEL_DEFAULT)
            )
        )
        for field, value in shown.items()
    ]
    lines.append(esc(_(texts.CHAT_LANGUAGE_NOTE)))
    if is_group:
        lines.append(esc(_(texts.ADMINS_CHANGE)))
    return "\n".join(lines)


def stats_text(stats: Stats) -> str:
    """/stats for admins: today's jobs by state, videos, failures, queue (HTML)."""
    states = ", ".join(
        f"{_(texts.STATUS_NAMES[s])} {number(n)}" for s, n in stats.by_status.items() if n
    )
    return _(texts.STATS_HTML).format(
        jobs=jobs(stats.jobs),
        states=esc(states or _(texts.NO_STATES)),
        videos=number(stats.videos_delivered),
        failures=number(stats.failures),
        waiting=number(stats.queue_length),
    )
