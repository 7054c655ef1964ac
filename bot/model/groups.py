"""A request sent as several messages (a Telegram album), as the store has collected it.

Platforms send some requests in parts with no count and no end marker, and the parts
may reach different instances. The store collects them under one key; the group is
handed over (made into one job) once, by whichever instance claims it after it settled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["MessageGroup"]


@dataclass(frozen=True)
class MessageGroup:
    """The parts collected so far and where the handover stands."""

    parts: tuple[str, ...]  # each part's payload, in part order (opaque to the store)
    first_at: datetime  # the first part arrived
    last_at: datetime  # the latest part arrived
    claimed_until: datetime | None = None  # an instance is handing it over until then
    done: bool = False  # handed over: later parts make nothing new

    def settles_at(self, quiet: timedelta, cap: timedelta) -> datetime:
        """When it may be handed over: ``quiet`` after the latest part, at most ``cap``
        after the first (the window restarts with each part but is capped)."""
        return min(self.last_at + quiet, self.first_at + cap)
