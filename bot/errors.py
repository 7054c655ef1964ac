"""The errors keevx-bot raises, as one small tree.

    BotError
    ├── ConfigError            a setting is missing or malformed
    ├── KeevxError             talking to the Keevx API went wrong
    │   ├── ApiTimeout         a create may have made a task, but its answer is lost or unusable
    │   ├── ApiUnavailable     network failure, deadline or 5xx: worth trying again later
    │   │   └── ApiProtocolError   an answer that is not Keevx's API: a redirect, a bad shape
    │   ├── ApiRejected        Keevx refused (4xx, business code): trying again won't help
    │   └── RateLimited        429: retries used up, or Keevx asks to wait longer than we would
    ├── RequestInvalid         the user's request breaks a rule; holds the friendly sentence
    │   └── LimitReached       not allowed here, or over a fair-use limit
    ├── StoreError             the job store failed
    │   └── Conflict           the job changed since it was read: read it again
    └── DeliveryError          a platform refused or failed to take a result
        ├── TooLarge           the file is over the place's upload limit
        └── RecipientGone      the chat is gone or blocked the bot: never retry

Messages hold ids, codes and field names only: never a URL, a token or a key.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ApiProtocolError",
    "ApiRejected",
    "ApiTimeout",
    "ApiUnavailable",
    "BotError",
    "ConfigError",
    "Conflict",
    "DeliveryError",
    "KeevxCode",
    "KeevxError",
    "LimitReached",
    "RateLimited",
    "RecipientGone",
    "RequestInvalid",
    "StoreError",
    "TooLarge",
]


class BotError(Exception):
    """Root of every error keevx-bot raises on purpose."""


class ConfigError(BotError):
    """A setting is missing or malformed; the message names the variable."""


class KeevxError(BotError):
    """Talking to the Keevx API failed."""


class ApiTimeout(KeevxError):
    """A create request may have reached Keevx, but no usable answer came back.

    Lost or reset connections, the deadline, gateway errors (502, 503, 504),
    redirects and malformed answers all leave the outcome unknown: sending the
    request again could create (and charge for) a second task, so callers must
    not retry.
    """


class ApiUnavailable(KeevxError):
    """Keevx could not be reached, was too slow or kept failing: try again later.

    ``status`` is the HTTP status when Keevx (or a proxy) answered one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ApiProtocolError(ApiUnavailable):
    """Keevx answered something that is not its API: a redirect, or a 2xx of the wrong shape.

    Not a refusal: a proxy or a bad deploy may be in the way, so it is retried
    like an outage (except for a create, which raises :class:`ApiTimeout`).
    """


class KeevxCode(IntEnum):
    """Keevx's documented business error codes."""

    PARAMETER = 100001
    TOKEN = 100002
    TASK_NOT_FOUND = 100003
    IMAGE_TOO_LARGE = 100004
    PROMPT_TOO_LONG = 100005
    IMAGE_URL_INACCESSIBLE = 100006
    IMAGE_FORMAT = 100007


class ApiRejected(KeevxError):
    """Keevx answered with an error envelope or a 4xx status."""

    def __init__(self, message: str, *, status: int, code: int | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def kind(self) -> KeevxCode | None:
        """The documented meaning of :attr:`code`, when it has one."""
        try:
            return KeevxCode(self.code) if self.code is not None else None
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"{self.args[0]} (HTTP {self.status}, code {self.code})"


class RateLimited(KeevxError):
    """Keevx answered 429 too often, or asked to wait longer than the client will.

    ``retry_after`` is its advice in seconds (0 when it gave none); a create
    answered 429 was not made, so the caller may reschedule it after that.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestInvalid(BotError):
    """A request breaks one of the models' rules.

    ``str(error)`` is the one friendly sentence to show the user; ``field``,
    ``value`` and ``allowed`` say what was wrong for code that needs it.
    """

    def __init__(
        self, message: str, *, field: str, value: object = None, allowed: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.allowed = allowed


class LimitReached(RequestInvalid):
    """The user may not ask (access lists) or must wait (fair-use limits).

    ``field`` names the limit, e.g. ``MAX_ACTIVE_PER_USER``; the message says
    which limit and when it frees up. A ``personal`` one tells the user's own
    usage, so it is shown to that user alone, never posted for a group to read.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str,
        value: object = None,
        allowed: tuple[str, ...] = (),
        personal: bool = False,
    ) -> None:
        super().__init__(message, field=field, value=value, allowed=allowed)
        self.personal = personal


class StoreError(BotError):
    """The job store failed or its data is unusable."""


class Conflict(StoreError):
    """The job changed since it was read (a cancel, a callback, another worker): read it again."""


class DeliveryError(BotError):
    """A platform failed to take a message or a video; worth retrying later."""


class TooLarge(DeliveryError):
    """The file is over the destination's upload limit: send a link instead."""


class RecipientGone(DeliveryError):
    """The chat is gone or the bot may no longer post there: never retry."""
