"""What the bot has learned about how long Keevx takes, per kind of task.

A kind is ``(model, resolution, duration, count)``: the parameters that
plausibly change how long Keevx renders. Each succeeded task adds one sample,
seconds from submission to finish: exact with callbacks; without, polling
only brackets it between two checks and :meth:`Durations.impute` picks it. The summary lives in
memory, a bounded window of recent samples per kind, loaded once at start
from the store (:meth:`Durations.load`) and kept in step as tasks finish
(:meth:`Durations.observe` writes each sample through to the store), so a
status check never touches the database and a restart forgets nothing.

A kind with too few samples borrows from a broader one: the same model,
resolution and duration with any count, then the same model and resolution,
the same model, and finally every task.
"""

from __future__ import annotations

import bisect
import logging
import math
import random
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from bot.model.request import VideoRequest

__all__ = ["DurationLog", "Durations", "kind_of"]

log = logging.getLogger(__name__)

Kind = tuple[str, ...]


def kind_of(request: VideoRequest) -> str:
    """The kind of a request's tasks as a stored key, e.g. ``"V/1080p/6/1"``."""
    return f"{request.model.value}/{request.resolution}/{request.duration}/{request.count}"


def _levels(kind: str) -> list[Kind]:
    """The kind and its broader kinds, most specific first (ending with ``()``: all tasks)."""
    parts = tuple(kind.split("/"))
    return [parts[:n] for n in range(len(parts), -1, -1)]


class DurationLog(Protocol):
    """Where samples are kept across restarts (the job store implements it)."""

    async def record_duration(self, kind: str, seconds: float, at: datetime) -> None: ...

    async def recent_durations(self, limit: int) -> list[tuple[str, float]]:
        """Up to ``limit`` samples ``(kind, seconds)``, newest first."""
        ...


class Durations:
    """A sliding window of recent task durations per kind, with quantiles.

    ``window`` samples are kept per kind (and per broader kind); a kind's
    quantiles are used once it has ``min_samples``. Memory is bounded by
    the number of kinds times ``window`` floats, whatever the traffic.
    """

    def __init__(
        self, *, window: int = 256, min_samples: int = 8, log: DurationLog | None = None
    ) -> None:
        if window < 1 or min_samples < 1:
            raise ValueError("window and min_samples must be at least 1")
        self.window = window
        self.min_samples = min_samples
        self._log = log
        self._recent: dict[Kind, deque[float]] = {}
        self._sorted: dict[Kind, list[float]] = {}  # cache, dropped when a kind changes

    async def load(self, *, limit: int = 20_000) -> int:
        """Read the newest ``limit`` samples from the log (once, at start); return how many."""
        if self._log is None:
            return 0
        rows = await self._log.recent_durations(limit)
        self.extend(reversed(rows))  # oldest first, so the newest stay in each window
        return len(rows)

    def extend(self, samples: Iterable[tuple[str, float]]) -> None:
        """Add samples ``(kind, seconds)`` in memory only (oldest first)."""
        for kind, seconds in samples:
            self._add(kind, seconds)

    async def observe(self, kind: str, seconds: float, at: datetime) -> None:
        """Learn one finished task: in memory at once, and in the log for the next start."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        self._add(kind, seconds)
        if self._log is None:
            return
        try:
            await self._log.record_duration(kind, seconds, at)
        except Exception as exc:  # learning is best effort: never fail a job over it
            log.warning("duration sample not stored: %s", type(exc).__name__)

    def impute(self, low: float, high: float, *, narrow: float, rng: random.Random) -> float:
        """A duration for a task known only to have finished in (``low``, ``high``].

        Polling sees a task finish between two checks. Recording ``high`` (when it
        was seen) would bias every sample late, and a schedule that checks later
        each time would drift ever later. So: a uniform draw from the interval,
        or from its last ``narrow`` seconds when it is wider (a task done before
        the first check, whose start is unknown).
        """
        return rng.uniform(max(low, high - narrow), high)

    def samples(self, kind: str) -> list[float] | None:
        """Sorted samples of the most specific level with enough of them, or ``None``."""
        for level in _levels(kind):
            recent = self._recent.get(level)
            if recent is None or len(recent) < self.min_samples:
                continue
            cached = self._sorted.get(level)
            if cached is None:
                cached = self._sorted[level] = sorted(recent)
            return cached
        return None

    def count(self, kind: str) -> int:
        """How many samples the exact kind has (in the window)."""
        return len(self._recent.get(tuple(kind.split("/")), ()))

    def _add(self, kind: str, seconds: float) -> None:
        for level in _levels(kind):
            recent = self._recent.get(level)
            if recent is None:
                recent = self._recent[level] = deque(maxlen=self.window)
            recent.append(float(seconds))
            self._sorted.pop(level, None)


def quantile(ordered: list[float], p: float) -> float:
    """The ``p`` quantile of sorted ``ordered`` (linear interpolation, ``p`` in [0, 1])."""
    if not ordered:
        raise ValueError("no samples")
    pos = min(max(p, 0.0), 1.0) * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def rank(ordered: list[float], value: float) -> float:
    """The fraction of sorted ``ordered`` at or below ``value`` (the empirical CDF)."""
    return bisect.bisect_right(ordered, value) / len(ordered)
