"""Keeping the bot token out of log lines, whoever configures logging.

PTB logs its base URLs (token included) at DEBUG when a ``Bot`` is built, and
httpx logs every request URL at INFO. ``bot.app.logs.setup_logging`` filters the
process's own handler; :func:`protect_logs` also covers handlers added later
(pytest's caplog, an embedding application): it quiets httpx and httpcore and
puts the core's :class:`~bot.app.logs.RedactingFilter` on PTB's loggers and ours.
A logger filter only sees records created at that very logger, hence the list.
A secret made later (a generated webhook secret) joins them via :func:`redact_also`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.app.logs import RedactingFilter

__all__ = ["PTB_LOGGERS", "protect_logs", "redact_also", "unprotect_logs"]

PTB_LOGGERS = (
    "telegram",
    "telegram.Bot",
    "telegram.ext",
    "telegram.ext.ExtBot",
    "telegram.ext.Application",
    "telegram.ext.Updater",
    "telegram.ext.AIORateLimiter",
    "telegram.ext.JobQueue",
    "telegram.request.BaseRequest",
    "telegram.request.HTTPXRequest",
    "adapters.telegram",
)


def protect_logs(secrets: Iterable[str]) -> RedactingFilter:
    """Quiet httpx/httpcore and redact ``secrets`` in PTB's and this adapter's loggers."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:  # NOTSET too: the root may go DEBUG later
            logger.setLevel(logging.WARNING)
    flt = RedactingFilter(secrets)
    for name in PTB_LOGGERS:
        logging.getLogger(name).addFilter(flt)
    return flt


def redact_also(secret: str) -> None:
    """Redact ``secret`` in every redacting filter in place: PTB's loggers', ours, the root's.

    For a secret made after :func:`protect_logs` ran, such as a generated webhook
    secret, which PTB logs at DEBUG among setWebhook's parameters.
    """
    filters = [f for name in PTB_LOGGERS for f in logging.getLogger(name).filters]
    filters += [f for handler in logging.getLogger().handlers for f in handler.filters]
    for flt in filters:
        if isinstance(flt, RedactingFilter):
            flt.add(secret)


def unprotect_logs(flt: logging.Filter) -> None:
    for name in PTB_LOGGERS:
        logging.getLogger(name).removeFilter(flt)
