"""The sentences only the Discord adapter says, in one place.

Each is a whole sentence (or a label) with named placeholders, filled with
``str.format``; what both platforms say comes from the core (help, refusals,
the reasons a job ended). Discord markdown is allowed: these are the bot's own.
"""

from __future__ import annotations

from typing import Final

# /help: what only Discord offers, around the core's help.
HOW_TO_ASK: Final = (
    "Use /video with a prompt and a photo (image2 to image7 add more), pick **Apps › Make a"
    " video** on a message with photos, or mention me in a message with photos and write"
    " the prompt after the mention."
)
OPTIONS_HINT: Final = "In /video, pick the options from its list, or type them into the prompt."
SETTINGS_HINT: Final = "/settings changes them for this server (members with Manage Server)."
COMMANDS: Final = "/jobs shows your recent videos and limits; only you see the answer."
HELP_COMMAND: Final = "How to make a video, the models, the options and tips"

# Status and result messages.
JOB_HEAD: Final = "**Job #{job}** · {summary}"
JOB_PART_HEAD: Final = "**Job #{job}** ({index}/{total}) · {summary}"
STARTED: Final = "{phase} · started {started}"
QUEUED_AT: Final = "{phase}, number {position} in line · started {started}"
USUALLY_READY: Final = "{line} · usually ready {when}"
ENDED: Final = "{line} · ended {ended}"
LINK_TITLE: Final = "Watch the video (job #{job})"
LINK_BODY: Final = (
    "The file is over this channel's upload limit, so here is the link.\n"
    "The link expires {expires} (7 days after the video was made)."
)
NO_JOBS: Final = "You have no jobs yet: try `/video`."
STATS: Final = (
    "**Today (UTC)**: {jobs} — {states}\n"
    "Videos delivered: {videos} · failures: {failures} · waiting in line: {waiting}"
)
JOBS_ONE: Final = "{count} job"
JOBS_MANY: Final = "{count} jobs"
NO_STATES: Final = "none"
CANNOT_POST: Final = "I may not post in that channel, so the video cannot be delivered."
ABOUT_JOB: Final = "Job #{job}: {text}"
STATS_ADMINS_ONLY: Final = "Only the bot's admins can see /stats."
LIMIT_IN_PUBLIC: Final = (
    "You have reached a limit on your videos for now: /jobs shows you the details."
)

# /settings
SETTINGS: Final = "This server's defaults: {values}."
NO_SETTINGS: Final = "This server has no defaults of its own: each model's own apply."
SETTING_ITEMS: Final = {
    "model": "model {value}",
    "aspect_ratio": "aspect ratio {value}",
    "resolution": "resolution {value}",
    "duration": "{value} s",
    "audio": "audio {value}",
}
ON: Final = "on"
OFF: Final = "off"
VIDEO_ONE: Final = "{count} video"
VIDEO_MANY: Final = "{count} videos"

# Buttons.
NO_JOB_ANY_MORE: Final = "There is no job #{job} any more."
DELETE_NOT_YOURS: Final = "Only the person who asked for job #{job} or a moderator can delete it."
CANCEL_NOT_YOURS: Final = "Only the person who asked for job #{job} or a moderator can cancel it."
DELETE_FAILED: Final = (
    "I could not delete the video here: I may be missing the Manage Messages permission."
)
AGAIN_BUTTON: Final = "Again"
AGAIN_ANYWAY_BUTTON: Final = "Again anyway"
DELETE_BUTTON: Final = "Delete"
CANCEL_BUTTON: Final = "Cancel"
OPEN_BUTTON: Final = "Open video"
