"""The sentences only the Discord adapter says, in one place.

Each is a whole sentence (or a label) with named placeholders, marked ``N_`` for the
``discord`` catalog and said with ``_(texts.X).format(...)`` where it is used, so it
comes out in the language in use there; what both platforms say comes from the core
(help, refusals, the reasons a job ended). Discord markdown is allowed: these are the
bot's own. Plural phrases are ``ngettext`` calls where they are said.
"""

from __future__ import annotations

from typing import Final

from bot.i18n import N_
from bot.model.job import JobStatus
from bot.model.status import Phase

# /help: what only Discord offers, around the core's help.
HOW_TO_ASK: Final = N_(
    "Use /video with a prompt and a photo (image2 to image7 add more), pick **Apps › Make a"
    " video** on a message with photos, or mention me in a message with photos and write"
    " the prompt after the mention."
)
OPTIONS_HINT: Final = N_("In /video, pick the options from its list, or type them into the prompt.")
SETTINGS_HINT: Final = N_("/settings changes them for this server (members with Manage Server).")
COMMANDS: Final = N_(
    "/jobs shows your recent videos and limits; only you see the answer."
    " /language changes the language I answer you in."
)

# Status and result messages.
JOB_HEAD: Final = N_("**Job #{job}** · {summary}")
JOB_PART_HEAD: Final = N_("**Job #{job}** ({index}/{total}) · {summary}")
STARTED: Final = N_("{phase} · started {started}")
QUEUED_AT: Final = N_("{phase}, number {position} in line · started {started}")
USUALLY_READY: Final = N_("{line} · usually ready {when}")
ENDED: Final = N_("{line} · ended {ended}")
PHASES: Final[dict[Phase, str]] = {
    Phase.QUEUED: N_("⏳ queued"),
    Phase.UPLOADING: N_("⏳ sending the photos to Keevx"),
    Phase.STARTING: N_("⏳ starting the generation"),
    Phase.WAITING: N_("🎬 generating"),
    Phase.GENERATING: N_("🎬 generating"),
    Phase.SENDING: N_("📤 posting the result"),
    Phase.DONE: N_("✅ done"),
    Phase.FAILED: N_("❌ failed"),
    Phase.GAVE_UP: N_("⌛ gave up waiting"),
    Phase.UNKNOWN: N_("❔ outcome unknown"),
    Phase.UNDELIVERABLE: N_("🚫 could not be posted"),
    Phase.CANCELLED: N_("🛑 cancelled"),
}
LINK_TITLE: Final = N_("Watch the video (job #{job})")
LINK_BODY: Final = N_(
    "The file is over this channel's upload limit, so here is the link.\n"
    "The link expires {expires} (7 days after the video was made)."
)
SIZE: Final = N_("{size} MiB")
NO_JOBS: Final = N_("You have no jobs yet: try `/video`.")
CANNOT_POST: Final = N_("I may not post in that channel, so the video cannot be delivered.")
ABOUT_JOB: Final = N_("Job #{job}: {text}")
LIMIT_IN_PUBLIC: Final = N_(
    "You have reached a limit on your videos for now: /jobs shows you the details."
)
RESTARTING: Final = N_("The bot is restarting: please send that again in a minute.")

# /stats (bot admins)
STATS: Final = N_(
    "**Today (UTC)**: {jobs} — {states}\n"
    "Videos delivered: {videos} · failures: {failures} · waiting in line: {waiting}"
)
STATES: Final[dict[JobStatus, str]] = {  # how many jobs are in each
    JobStatus.RECEIVED: N_("received {count}"),
    JobStatus.UPLOADING: N_("uploading {count}"),
    JobStatus.SUBMITTING: N_("submitting {count}"),
    JobStatus.SUBMITTED: N_("submitted {count}"),
    JobStatus.SUCCEEDED: N_("succeeded {count}"),
    JobStatus.DELIVERED: N_("delivered {count}"),
    JobStatus.FAILED: N_("failed {count}"),
    JobStatus.EXPIRED: N_("expired {count}"),
    JobStatus.UNKNOWN: N_("unknown {count}"),
    JobStatus.UNDELIVERABLE: N_("undeliverable {count}"),
    JobStatus.CANCELLED: N_("cancelled {count}"),
}
NO_STATES: Final = N_("none so far")
STATS_ADMINS_ONLY: Final = N_("Only the bot's admins can see /stats.")

# Mentions
HINT_REPLIED: Final = N_(
    'I see no photo in the message you replied to. Use "Make a video" in that'
    " message's menu (Apps), or mention me again with the photo attached or its link."
)
HINT: Final = N_(
    "Attach a photo (or paste a link to one) and say what should happen, e.g."
    " {bot} waves at sunset --ar 9:16. /video works too, and so does"
    ' "Make a video" in a message\'s menu (Apps).'
)

# Attachments, refused before anything is downloaded (or when Discord withholds one).
NOT_A_PHOTO: Final = N_("The image ({file}) is not a photo: attach a JPG, PNG or WebP image.")
NOT_A_PHOTO_NTH: Final = N_(
    "Image {number} ({file}) is not a photo: attach a JPG, PNG or WebP image."
)
TOO_LARGE: Final = N_(
    "The image is {size} MB: I can take photos up to {cap} MB (over 20 MB they are re-encoded)."
)
TOO_LARGE_NTH: Final = N_(
    "Image {number} is {size} MB: I can take photos up to {cap} MB"
    " (over 20 MB they are re-encoded)."
)
TOO_LARGE_UNSIZED: Final = N_(
    "The image is more than {cap} MB: I can take photos up to {cap} MB"
    " (over 20 MB they are re-encoded)."
)
TOO_LARGE_UNSIZED_NTH: Final = N_(
    "Image {number} is more than {cap} MB: I can take photos up to {cap} MB"
    " (over 20 MB they are re-encoded)."
)
NOT_HANDED: Final = N_("Discord would not hand over the image: please send it again.")
NOT_HANDED_NTH: Final = N_("Discord would not hand over image {number}: please send it again.")

# /settings
SETTINGS: Final = N_("This server's defaults: {values}.")
NO_SETTINGS: Final = N_("This server has no defaults of its own: each model's own apply.")
SETTING_ITEMS: Final = {
    "model": N_("model {value}"),
    "aspect_ratio": N_("aspect ratio {value}"),
    "resolution": N_("resolution {value}"),
    "language": N_("language {value}"),
}
AUDIO_ON: Final = N_("with audio")
AUDIO_OFF: Final = N_("without audio")
SETTINGS_NEED_MANAGE_SERVER: Final = N_(
    "Only members with Manage Server can change this server's defaults."
)

# /language
LANGUAGE_CHOSEN: Final = N_("From now on I answer you in {language}.")
LANGUAGE_OF_THE_APP: Final = N_(
    "From now on I answer you in your Discord app's language, {language}."
)
LANGUAGE_NOT_OF_THE_APP: Final = N_(
    "I do not speak your Discord app's language, so I answer you in {language}."
)

# "Make a video" on a message
NO_PHOTOS_IN_MESSAGE: Final = N_(
    "That message has no photos: pick a message with JPG, PNG or WebP images."
)
MODAL_TITLE: Final = N_("Make a video")
MODAL_PROMPT: Final = N_("Prompt")
MODAL_WHAT: Final = N_("What should happen?")
MODAL_MODEL: Final = N_("Model (optional)")

# Buttons.
NO_JOB_ANY_MORE: Final = N_("There is no job #{job} any more.")
DELETE_NOT_YOURS: Final = N_(
    "Only the person who asked for job #{job} or a moderator can delete it."
)
CANCEL_NOT_YOURS: Final = N_(
    "Only the person who asked for job #{job} or a moderator can cancel it."
)
DELETE_FAILED: Final = N_(
    "I could not delete the video here: I may be missing the Manage Messages permission."
)
AGAIN_BUTTON: Final = N_("Again")
AGAIN_ANYWAY_BUTTON: Final = N_("Again anyway")
DELETE_BUTTON: Final = N_("Delete")
CANCEL_BUTTON: Final = N_("Cancel")
OPEN_BUTTON: Final = N_("Open video")
