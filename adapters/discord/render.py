"""Texts and embeds the Discord adapter posts: status lines, results, job lists.

Everything here is pure: a :class:`~bot.model.job.Job` in, strings or an
:class:`discord.Embed` out, in the language in use (:func:`bot.i18n.speaking`).
Times use Discord's timestamp markup (``<t:UNIX:R>``), which each reader's
client renders, in the reader's language, and keeps counting.

Text from users (prompts) and from Keevx (errors) goes through :func:`plain`,
so it shows as typed and cannot add headings, links or mentions to the bot's
message; whatever is posted goes through :func:`fit`, since Discord refuses
content over 2000 characters outright.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

import discord

from adapters.base import Video
from adapters.discord import texts
from adapters.discord.options import seconds
from bot.errors import LimitReached, RequestInvalid
from bot.i18n import LANGUAGES, _, duration, ngettext, number
from bot.jobs.limits import Stats
from bot.model.help import HELP
from bot.model.job import Job
from bot.model.rules import Options
from bot.model.status import VIDEO_LINK_LIFETIME, link_expires, status_view

__all__ = [
    "CONTENT_LIMIT",
    "LINK_LIFETIME",
    "fit",
    "help_text",
    "job_list",
    "link_embed",
    "mention_hint",
    "plain",
    "public_refusal",
    "refusal",
    "result_text",
    "settings_text",
    "stats_text",
    "status_text",
    "timestamp",
]

LINK_LIFETIME = VIDEO_LINK_LIFETIME
CONTENT_LIMIT = 2000  # characters (code points) in a message's content
MAX_ERROR_SHOWN = 300  # of a job's error, in a status line


def timestamp(when: datetime, style: str = "R") -> str:
    """Discord's ``<t:…:style>`` markup for an aware datetime."""
    return f"<t:{int(when.timestamp())}:{style}>"


# Every character that starts Discord markdown anywhere: emphasis, code, spoilers,
# masked links, and <@id>/<#id>/<t:…>/<:emoji:id> markup. discord.utils.escape_markdown
# is not enough: it escapes only the first of two masked links on a line, and leaves
# <@id> alone. Headings, subtext and lists count only at the start of a line.
_MARKUP = re.compile(r"[\\*_~|`\[\]<>]")
_LINE_MARKUP = re.compile(r"^(\s*)(#{1,3}|-#|[-+])(?=\s|$)", re.MULTILINE)
_ORDERED_LIST = re.compile(r"^(\s*\d+)\.(?=\s|$)", re.MULTILINE)


def plain(text: str) -> str:
    """``text`` as typed: no markdown, links, headings or mentions of its own.

    Each markdown character gets a backslash (Discord shows it as is), and
    ``@everyone``/``@here``/``@id`` are broken by discord.py's
    ``escape_mentions``; who is pinged is decided by ``allowed_mentions``.
    """
    escaped = _MARKUP.sub(r"\\\g<0>", text)
    escaped = _ORDERED_LIST.sub(r"\1\\.", _LINE_MARKUP.sub(r"\1\\\2", escaped))
    return discord.utils.escape_mentions(escaped)


def fit(text: str, limit: int = CONTENT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with ``…``, if longer (Discord refuses it).

    The cut never leaves half an escape: a backslash whose character was cut
    goes too.
    """
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut + "…"


def refusal(sentence: str) -> str:
    """A refusal from the core, as a reply: it may repeat what the user typed, so it is
    escaped like any user text, and bounded."""
    return fit(plain(sentence))


def mention_hint(bot_id: int, *, replied: bool) -> str:
    """The answer to a mention with no photo, no image link, and none in the message it
    replies to (``replied``: it replies to one). ``<@bot_id>`` shows the bot's name; the
    client's default ``allowed_mentions`` keeps it from pinging."""
    if replied:
        return _(texts.HINT_REPLIED)
    return _(texts.HINT).format(bot=f"<@{bot_id}>")


def public_refusal(exc: RequestInvalid) -> str:
    """:func:`refusal` for a reply everyone in the channel reads: one telling the user's own
    usage becomes a short sentence without the numbers (``/jobs`` shows them privately)."""
    if isinstance(exc, LimitReached) and exc.personal:
        return _(texts.LIMIT_IN_PUBLIC)
    return refusal(str(exc))


def help_text() -> str:
    """/help: the core's help, with what only Discord offers (markdown)."""
    blocks = [
        [HELP.intro, _(texts.HOW_TO_ASK)],
        [f"`{HELP.usage}`", _(texts.OPTIONS_HINT)],
        list(HELP.models),
        [HELP.defaults, _(texts.SETTINGS_HINT)],
        [HELP.example],
        [HELP.narration],
        [f"**{HELP.tips_heading}**", *HELP.tips],
        [_(texts.COMMANDS)],
    ]
    return fit("\n\n".join("\n".join(block) for block in blocks))


def _quote(text: str, budget: int) -> str:
    """User text as a block quote (each line quoted), escaped, within ``budget`` characters."""
    lines = plain(text).splitlines() or [""]
    return fit("\n".join(f"> {line}" for line in lines), max(budget, 2))


def state_line(job: Job) -> str:
    """``🎬 generating · started <t:…:R>``, with the reason for an unhappy ending."""
    view = status_view(job)
    started = timestamp(job.created_at)
    phase = _(texts.PHASES[view.phase])
    line = _(texts.STARTED).format(phase=phase, started=started)
    if view.queue_position:
        line = _(texts.QUEUED_AT).format(
            phase=phase, position=number(view.queue_position), started=started
        )
    if view.usual_seconds and job.submitted_at is not None:
        usually = job.submitted_at + timedelta(seconds=view.usual_seconds)
        line = _(texts.USUALLY_READY).format(line=line, when=timestamp(usually))
    if view.over and job.finished_at is not None:
        line = _(texts.ENDED).format(line=line, ended=timestamp(job.finished_at))
    notes = [f"*{plain(note)}*" for note in job.request.notes]
    if view.reason:
        notes.append(fit(plain(view.reason), MAX_ERROR_SHOWN))
    return "\n".join([line, *notes])


def _with_prompt(job: Job, head: str, tail: str = "") -> str:
    """``head``, the quoted prompt, then ``tail``: the prompt gets what room is left."""
    room = CONTENT_LIMIT - len(head) - len(tail) - 2
    return fit(f"{head}\n{_quote(job.request.prompt, room)}" + (f"\n{tail}" if tail else ""))


def status_text(job: Job, *, mention: bool = False) -> str:
    """The one status message of a job: parameters, prompt, state and start time."""
    head = f"<@{job.target.user_id}> " if mention else ""
    title = _(texts.JOB_HEAD).format(job=job.id, summary=job.request.summary())
    return _with_prompt(job, head + title, state_line(job))


def result_text(job: Job, index: int, total: int, *, mention: bool) -> str:
    """The text above a result: who asked, the prompt and the parameters."""
    head = f"<@{job.target.user_id}> " if mention else ""
    summary = job.request.summary()
    if total > 1:
        title = _(texts.JOB_PART_HEAD).format(
            job=job.id, index=index + 1, total=total, summary=summary
        )
    else:
        title = _(texts.JOB_HEAD).format(job=job.id, summary=summary)
    return _with_prompt(job, head + title)


def link_embed(job: Job, video: Video) -> discord.Embed:
    """An embed pointing at a video too large to attach (bots cannot embed video).

    The link's end is counted from when Keevx made the video, not from this post.
    """
    embed = discord.Embed(
        title=_(texts.LINK_TITLE).format(job=job.id),
        url=video.url,
        description=_(texts.LINK_BODY).format(expires=timestamp(link_expires(job, video.url))),
    )
    if video.thumbnail_url:
        embed.set_image(url=video.thumbnail_url)
    details = []
    if video.width and video.height:
        details.append(f"{video.width}×{video.height}")
    if video.duration:
        details.append(duration(round(video.duration)))
    if video.size:
        details.append(_(texts.SIZE).format(size=number(video.size / 1_048_576, decimals=1)))
    if details:
        embed.set_footer(text=" · ".join(details))
    return embed


def job_list(jobs: Sequence[Job], usage: Sequence[str] = ()) -> str:
    """The ``/jobs`` answer: one line per job, newest first, then where the user stands
    against the fair-use limits (``usage``, the core's sentences)."""
    tail = ["", *usage] if usage else []
    if not jobs:
        return fit("\n".join([_(texts.NO_JOBS), *tail]))
    lines = []
    for job in jobs:
        prompt = " ".join(job.request.prompt.split())
        short = prompt if len(prompt) <= 60 else prompt[:59] + "…"
        lines.append(
            f"**#{job.id}** · {_(texts.PHASES[status_view(job).phase])} · "
            f"{timestamp(job.created_at)} · {job.request.summary()} · {plain(short)}"
        )
    return fit("\n".join([*lines, *tail]))


def settings_text(defaults: Options, language: str | None = None) -> str:
    """A server's saved defaults in words: ``model KL, aspect ratio 9:16, 2 videos``, and
    its language (each by its own name) when it has one."""
    values = []
    for name, value in vars(defaults).items():
        if value is None:
            continue
        if name == "count":
            values.append(ngettext("{count} video", "{count} videos", value).format(count=value))
        elif name == "duration":
            values.append(seconds(value))
        elif name == "audio":
            values.append(_(texts.AUDIO_ON if value else texts.AUDIO_OFF))
        else:
            values.append(_(texts.SETTING_ITEMS[name]).format(value=value))
    if language is not None:
        values.append(_(texts.SETTING_ITEMS["language"]).format(value=LANGUAGES[language]))
    if not values:
        return _(texts.NO_SETTINGS)
    return _(texts.SETTINGS).format(values=", ".join(values))


def stats_text(stats: Stats) -> str:
    """/stats for admins: today's jobs by state, videos, failures, queue length."""
    states = ", ".join(
        _(texts.STATES[s]).format(count=number(n)) for s, n in stats.by_status.items() if n
    )
    return _(texts.STATS).format(
        jobs=ngettext("{count} job", "{count} jobs", stats.jobs).format(count=number(stats.jobs)),
        states=states or _(texts.NO_STATES),
        videos=number(stats.videos_delivered),
        failures=number(stats.failures),
        waiting=number(stats.queue_length),
    )
