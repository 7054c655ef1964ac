"""The sentences only the Telegram adapter says, in one place.

Each is a whole sentence (or a label) with named placeholders, filled with
``str.format``; what both platforms say comes from the core (help, refusals,
the reasons a job ended). Plain text unless the name ends in ``_HTML``.
"""

from __future__ import annotations

from typing import Final

# /help: what only Telegram offers, around the core's help.
HOW_TO_ASK: Final = (
    "Send me a photo (or an album) with a caption saying what should happen, or reply"
    " /video <prompt> to a photo. In groups, use /video, mention me or reply to me;"
    " an image sent as a file works too."
)
SETTINGS_HINT: Final = "/settings changes them for this chat; in a group, its admins can."
COMMANDS: Final = (
    "/jobs — your recent videos and limits · /cancel [number] — stop waiting for one ·"
    " /settings — this chat's defaults"
)

# Status messages: the state after the request's summary, and the job's number.
QUEUED: Final = "queued"
QUEUED_AT: Final = "queued · number {position} in line"
UPLOADING: Final = "uploading the images"
STARTING: Final = "sending to Keevx"
WAITING: Final = "waiting in Keevx's queue · {elapsed}"
GENERATING: Final = "processing · {elapsed}"
USUALLY_READY: Final = "{state} · usually ready in about {about}"
SENDING: Final = "ready, sending the video"
DONE: Final = "done in {elapsed}"
FAILED: Final = "failed"
FAILED_BECAUSE_HTML: Final = "<b>failed</b>: {reason}"
GAVE_UP: Final = "gave up after {elapsed}"
UNKNOWN: Final = "outcome unknown"
UNDELIVERABLE: Final = "could not be delivered"
CANCELLED: Final = "cancelled"
CANCELLED_LATE: Final = (
    "Keevx cannot stop a generation that already started, but this video will not be delivered."
)
JOB_NUMBER: Final = "job #{job}"
ALBUM_PART_ONLY: Final = (
    "Only one photo of this album reached me: in this group I see just the photo with the"
    " caption. Send the album to me in a private chat to use all its photos."
)

# Videos too large to upload, posted as a link.
LINK_HTML: Final = (
    "The video ({size}) is over Telegram's {limit} MB upload limit:"
    ' <a href="{url}">download it here</a>. The link works until {expires},'
    " 7 days after the video was made."
)
SIZE_MB: Final = "{mb} MB"
SIZE_UNKNOWN: Final = "size unknown"
FOR_REQUESTER_HTML: Final = "for {requester}"
EXPIRY_DATE: Final = "{day} {month} {year}, {time} UTC"

# /settings
SETTINGS_TITLE_HTML: Final = "<b>Defaults for {where}</b> (options in a request win):"
THIS_GROUP: Final = "this group"
THIS_CHAT: Final = "this chat"
SETTING_LINE: Final = "• {name}: {value}"
MODEL_DEFAULT: Final = "model default"
ADMINS_CHANGE: Final = "Group admins can change them."
RESET: Final = "Reset to model defaults"
SETTING_NAMES: Final = {
    "model": "Model",
    "aspect_ratio": "Aspect ratio",
    "resolution": "Resolution",
    "duration": "Duration",
    "audio": "Audio",
    "count": "Videos per request",
}
SECONDS: Final = "{seconds} s"
AUDIO_ON: Final = "audio on"
AUDIO_OFF: Final = "audio off"
ON: Final = "on"
OFF: Final = "off"
VIDEO_ONE: Final = "{count} video"
VIDEO_MANY: Final = "{count} videos"

# Commands and buttons.
NO_JOBS: Final = "No videos yet. Send a photo with a caption to make one."
NONE_IN_PROGRESS: Final = "You have no video in progress."
CANCEL_USAGE: Final = "Use /cancel or /cancel <job number>, e.g. /cancel 12."
CANCELLED_JOB: Final = (
    "Cancelled job #{job}. Keevx cannot stop a generation that already started, but this"
    " video will not be delivered."
)
CANCELLED_EARLY: Final = "Cancelled job #{job} before it reached Keevx."
STATS_ADMINS_ONLY: Final = "Only the bot's admins can see /stats."
STATS_HTML: Final = (
    "<b>Today (UTC)</b>: {jobs} — {states}\n"
    "Videos delivered: {videos} · failures: {failures} · waiting in line: {waiting}"
)
JOBS_ONE: Final = "{count} job"
JOBS_MANY: Final = "{count} jobs"
NO_STATES: Final = "none"
AGAIN_STARTED: Final = "Making it again as job #{job}."
TOO_OLD: Final = "This message is too old; send /settings again."
ADMINS_ONLY: Final = "Only group admins can change the defaults."
ALREADY_SET: Final = "Already set."
SAVED: Final = "Saved. New requests in this chat use it."
DELETED: Final = "Deleted."
DELETE_NOT_YOURS: Final = "Only the person who asked for job #{job} or a group admin can delete it."
DELETE_FAILED: Final = (
    "I could not delete everything: in a group I may need the right to delete messages."
)
LIMIT_IN_GROUP: Final = (
    "You have reached a limit on your videos for now. Send me /jobs in a private chat to see"
    " the details."
)

# Button labels.
CANCEL_BUTTON: Final = "Cancel"
AGAIN_BUTTON: Final = "Again"
AGAIN_ANYWAY_BUTTON: Final = "Again anyway"
DELETE_BUTTON: Final = "Delete"
