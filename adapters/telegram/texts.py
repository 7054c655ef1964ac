"""The sentences only the Telegram adapter says, in one place.

Each is a whole sentence (or a label) with named placeholders, filled with
``str.format`` after translating it: marked ``N_`` here, said as ``_(texts.X)``
(plural phrases are said with ``ngettext`` in :mod:`adapters.telegram.render`).
What both platforms say comes from the core (help, refusals, the reasons a job
ended). Plain text unless the name ends in ``_HTML``.
"""

from __future__ import annotations

from typing import Final

from bot.i18n import N_
from bot.model.job import JobStatus

# /help: what only Telegram offers, around the core's help.
HOW_TO_ASK: Final = N_(
    "Send me a photo (or an album) with a caption saying what should happen, or reply to a"
    " photo with /video and what should happen. In groups, use /video, mention me or reply"
    " to me; an image sent as a file works too."
)
SETTINGS_HINT: Final = N_("/settings changes them for this chat; in a group, its admins can.")
COMMANDS: Final = N_(
    "/jobs — your recent videos and limits · /cancel [number] — stop waiting for one ·"
    " /settings — this chat's defaults · /language — the language I speak to you in"
)

# The command list Telegram shows when "/" is typed, per language (setMyCommands).
COMMAND_LIST: Final = (
    ("video", N_("Make a video from a photo: /video and what should happen")),
    ("settings", N_("This chat's default model, aspect ratio, resolution, duration")),
    ("jobs", N_("Your recent videos")),
    ("cancel", N_("Stop waiting for a video: /cancel [job number]")),
    ("language", N_("The language I speak to you in")),
    ("help", N_("What I do, the options and an example")),
)

# Answers the adapter gives on its own: how to ask, what it cannot fetch, its own failure.
HINT: Final = N_(
    "Send me a photo with a caption describing the video, or reply to a photo with /video and"
    " a description. /help shows the options."
)
UNKNOWN_COMMAND: Final = N_("I don't know that command. {hint}")
HINT_PHOTO: Final = N_(
    "Got the photo. Reply to it with /video and a description, or send it again with a caption."
)
TOO_BIG: Final = N_(
    "This image is over Telegram's 20 MB download limit for bots, so I cannot fetch it."
    " Send it as a photo (Telegram compresses it) or a smaller file."
)
IMAGE_REFUSED: Final = N_("Telegram would not give me that image. Please send it again.")
IMAGE_FETCH_FAILED: Final = N_("Fetching the image from Telegram failed. Please try again.")
SORRY: Final = N_("Sorry, something went wrong on my side. Please try again.")

# Status messages: the state after the request's summary, and the job's number.
QUEUED: Final = N_("queued")
QUEUED_AT: Final = N_("queued · number {position} in line")
UPLOADING: Final = N_("uploading the images")
STARTING: Final = N_("sending to Keevx")
WAITING: Final = N_("waiting in Keevx's queue · {elapsed}")
GENERATING: Final = N_("processing · {elapsed}")
USUALLY_READY: Final = N_("{state} · usually ready in about {about}")
SENDING: Final = N_("ready, sending the video")
DONE: Final = N_("done in {elapsed}")
FAILED: Final = N_("failed")
FAILED_BECAUSE_HTML: Final = N_("<b>failed</b>: {reason}")
GAVE_UP: Final = N_("gave up after {elapsed}")
UNKNOWN: Final = N_("outcome unknown")
UNDELIVERABLE: Final = N_("could not be delivered")
CANCELLED: Final = N_("cancelled")
CANCELLED_LATE: Final = N_(
    "Keevx cannot stop a generation that already started, but this video will not be delivered."
)
JOB_NUMBER: Final = N_("job #{job}")
VIDEO_LABEL: Final = N_("video {number}/{total}")
ALBUM_PART_ONLY: Final = N_(
    "Only one photo of this album reached me: in this group I see just the photo with the"
    " caption. Send the album to me in a private chat to use all its photos."
)

# Videos too large to upload, posted as a link.
LINK_HTML: Final = N_(
    "The video ({size}) is over Telegram's {limit} upload limit:"
    ' <a href="{url}">download it here</a>. The link works until {expires} UTC,'
    " 7 days after the video was made."
)
SIZE_UNKNOWN: Final = N_("size unknown")
FOR_REQUESTER_HTML: Final = N_("for {requester}")
YOU: Final = N_("you")

# /settings
SETTINGS_TITLE_HTML: Final = N_("<b>Defaults for {where}</b> (options in a request win):")
THIS_GROUP: Final = N_("this group")
THIS_CHAT: Final = N_("this chat")
SETTING_LINE: Final = N_("• {name}: {value}")
MODEL_DEFAULT: Final = N_("model default")
ADMINS_CHANGE: Final = N_("Group admins can change them.")
RESET: Final = N_("Reset to model defaults")
SETTING_NAMES: Final = {
    "model": N_("Model"),
    "aspect_ratio": N_("Aspect ratio"),
    "resolution": N_("Resolution"),
    "duration": N_("Duration"),
    "audio": N_("Audio"),
    "count": N_("Videos per request"),
    "language": N_("Language"),
}
AUDIO_ON: Final = N_("audio on")
AUDIO_OFF: Final = N_("audio off")
ON: Final = N_("on")
OFF: Final = N_("off")
CHAT_LANGUAGE_NONE: Final = N_("each person's own")
CHAT_LANGUAGE_NOTE: Final = N_(
    "I speak to each person in the language they chose with /language, else in their"
    " Telegram app's; the chat's language is for those whose language I don't speak."
)

# /language
LANGUAGE_PROMPT: Final = N_("Which language should I speak to you in? Now: {language}.")
LANGUAGE_APP: Final = N_("The language of my Telegram app")
LANGUAGE_CHOSEN: Final = N_("From now on I speak {language} with you.")
LANGUAGE_FOLLOWS_APP: Final = N_(
    "From now on I speak to you in your Telegram app's language when I know it: now {language}."
)

# Commands and buttons.
NO_JOBS: Final = N_("No videos yet. Send a photo with a caption to make one.")
NONE_IN_PROGRESS: Final = N_("You have no video in progress.")
CANCEL_USAGE: Final = N_("Use /cancel, or /cancel with a job number, e.g. /cancel 12.")
CANCELLED_JOB: Final = N_(
    "Cancelled job #{job}. Keevx cannot stop a generation that already started, but this"
    " video will not be delivered."
)
CANCELLED_EARLY: Final = N_("Cancelled job #{job} before it reached Keevx.")
STATS_ADMINS_ONLY: Final = N_("Only the bot's admins can see /stats.")
STATS_HTML: Final = N_(
    "<b>Today (UTC)</b>: {jobs} — {states}\n"
    "Videos delivered: {videos} · failures: {failures} · waiting in line: {waiting}"
)
STATUS_NAMES: Final = {
    JobStatus.RECEIVED: N_("queued"),
    JobStatus.UPLOADING: N_("uploading"),
    JobStatus.SUBMITTING: N_("sending"),
    JobStatus.SUBMITTED: N_("processing"),
    JobStatus.SUCCEEDED: N_("made"),
    JobStatus.DELIVERED: N_("delivered"),
    JobStatus.FAILED: N_("failed"),
    JobStatus.EXPIRED: N_("gave up"),
    JobStatus.UNKNOWN: N_("outcome unknown"),
    JobStatus.UNDELIVERABLE: N_("undeliverable"),
    JobStatus.CANCELLED: N_("cancelled"),
}
NO_STATES: Final = N_("none")
AGAIN_STARTED: Final = N_("Making it again as job #{job}.")
TOO_OLD: Final = N_("This message is too old; send /settings again.")
ADMINS_ONLY: Final = N_("Only group admins can change the defaults.")
ALREADY_SET: Final = N_("Already set.")
SAVED: Final = N_("Saved. New requests in this chat use it.")
DELETED: Final = N_("Deleted.")
DELETE_NOT_YOURS: Final = N_(
    "Only the person who asked for job #{job} or a group admin can delete it."
)
DELETE_FAILED: Final = N_(
    "I could not delete everything: in a group I may need the right to delete messages."
)
LIMIT_IN_GROUP: Final = N_(
    "You have reached a limit on your videos for now. Send me /jobs in a private chat to see"
    " the details."
)

# Button labels.
CANCEL_BUTTON: Final = N_("Cancel")
AGAIN_BUTTON: Final = N_("Again")
AGAIN_ANYWAY_BUTTON: Final = N_("Again anyway")
DELETE_BUTTON: Final = N_("Delete")
