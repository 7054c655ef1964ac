"""Every Prometheus metric the bot exports, in one place, with the helpers that record them.

The core, the Keevx client and the adapters record here (one line at each point);
``GET /metrics`` (:mod:`bot.app.probes`) renders :data:`REGISTRY`. A registry is per
process: with several instances, Prometheus scrapes each one and sums in its queries.
Labels carry names from small fixed sets (a status, an endpoint, a platform), never an
id, a chat or a URL.

Imports only the model and the errors, so every layer may import it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from bot.errors import (
    ApiProtocolError,
    ApiRejected,
    ApiTimeout,
    ApiUnavailable,
    RateLimited,
)
from bot.model.job import TERMINAL, Job, JobStatus

__all__ = [
    "FLOOD_WAIT",
    "JOBS_FINISHED",
    "JOBS_IN_FLIGHT",
    "JOBS_WAITING",
    "JOB_DELIVERY_LAG",
    "JOB_DURATION",
    "KEEVX_ENDPOINTS",
    "KEEVX_REQUESTS",
    "KEEVX_RESULTS",
    "KEEVX_RETRIES",
    "LEADER",
    "PLATFORM_SENDS",
    "READY",
    "REGISTRY",
    "SEND_RESULTS",
    "VIDEOS_DELIVERED",
    "flood_wait",
    "job_saved",
    "keevx_request",
    "keevx_result",
    "leading",
    "platform_send",
    "platform_started",
]

REGISTRY = CollectorRegistry()
"""The bot's own registry (not prometheus_client's global one), plus process CPU and memory."""
ProcessCollector(registry=REGISTRY)

_P = "keevx_bot"
KEEVX_ENDPOINTS = ("upload", "create", "query")
KEEVX_RESULTS = (
    "ok",
    "rate_limited",
    "server_error",
    "rejected",
    "no_answer",
    "network_error",
    "bad_answer",
    "error",
)
SEND_RESULTS = ("ok", "flood_limited", "refused", "failed")
# A job takes from seconds (the sandbox) to Keevx's 20-minute timeout and beyond.
_JOB_BUCKETS = (5, 15, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, float("inf"))
_SHORT_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, float("inf"))

JOBS_FINISHED = Counter(
    f"{_P}_jobs_finished",
    "Jobs that reached a final status, by that status (delivered, failed, expired, unknown, "
    "undeliverable, cancelled) and platform",
    ["status", "platform"],
    registry=REGISTRY,
)
VIDEOS_DELIVERED = Counter(
    f"{_P}_videos_delivered",
    "Videos posted to chats (a job with --count 2 posts two)",
    ["platform"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    f"{_P}_job_duration_seconds",
    "Seconds from a request to its delivered videos",
    ["platform"],
    buckets=_JOB_BUCKETS,
    registry=REGISTRY,
)
JOB_DELIVERY_LAG = Histogram(
    f"{_P}_job_delivery_lag_seconds",
    "Seconds from the bot seeing a job's last video finished at Keevx to the videos posted "
    "(download, upload, flood limits, delivery retries)",
    ["platform"],
    buckets=_SHORT_BUCKETS,
    registry=REGISTRY,
)
KEEVX_REQUESTS = Counter(
    f"{_P}_keevx_requests",
    "HTTP requests to Keevx, each attempt counted, by endpoint (upload, create, query) and result "
    "(ok, rate_limited = 429, server_error = 5xx, rejected = other 4xx or an error code, "
    "no_answer, network_error, bad_answer)",
    ["endpoint", "result"],
    registry=REGISTRY,
)
KEEVX_RETRIES = Counter(
    f"{_P}_keevx_retries",
    "Keevx requests sent again by the client after a 429, a 5xx or a connection failure",
    ["endpoint"],
    registry=REGISTRY,
)
JOBS_WAITING = Gauge(
    f"{_P}_jobs_waiting",
    "Jobs received but not yet sent to Keevx (in the MAX_ACTIVE_TOTAL line or about to go), "
    "in the whole store: instances sharing a database report the same number",
    registry=REGISTRY,
)
JOBS_IN_FLIGHT = Gauge(
    f"{_P}_jobs_in_flight",
    "Jobs uploading, at Keevx or being delivered, in the whole store: instances sharing a "
    "database report the same number",
    registry=REGISTRY,
)
PLATFORM_SENDS = Counter(
    f"{_P}_platform_sends",
    "Chat platform API calls that post or edit a message or answer a click, by platform and "
    "result (ok, flood_limited, refused = other 4xx, failed = 5xx or network)",
    ["platform", "result"],
    registry=REGISTRY,
)
FLOOD_WAIT = Histogram(
    f"{_P}_flood_wait_seconds",
    "How long a platform's flood limit (Telegram retry_after, Discord 429) told the bot to wait, "
    "each time it did",
    ["platform"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, float("inf")),
    registry=REGISTRY,
)
LEADER = Gauge(
    f"{_P}_leader",
    "1 while this instance holds a role only one instance may hold (telegram_poller: the "
    "getUpdates long poll; discord_gateway), else 0",
    ["role"],
    registry=REGISTRY,
)
READY = Gauge(
    f"{_P}_ready",
    "1 while /readyz answers 200: the store is open, the platforms are started, not draining",
    registry=REGISTRY,
)


for _endpoint in KEEVX_ENDPOINTS:  # at 0 from the start: see platform_started
    KEEVX_RETRIES.labels(_endpoint)
    for _result in KEEVX_RESULTS:
        KEEVX_REQUESTS.labels(_endpoint, _result)


def platform_started(platform: str) -> None:
    """Start ``platform``'s series at 0, so they show before its first event and a
    Prometheus ``increase()`` counts that event (a series first seen at 1 loses it)."""
    for status in TERMINAL:
        JOBS_FINISHED.labels(status.value, platform)
    for result in SEND_RESULTS:
        PLATFORM_SENDS.labels(platform, result)
    for labelled in (VIDEOS_DELIVERED, JOB_DURATION, JOB_DELIVERY_LAG, FLOOD_WAIT):
        labelled.labels(platform)


def job_saved(before: Job, after: Job) -> None:
    """Count a job that ``after`` shows newly final (``before`` was not), with its timings."""
    if before.status.terminal or not after.status.terminal:
        return
    platform = after.platform
    JOBS_FINISHED.labels(after.status.value, platform).inc()
    if after.status is not JobStatus.DELIVERED or after.finished_at is None:
        return
    VIDEOS_DELIVERED.labels(platform).inc(len(after.delivered_ids))
    JOB_DURATION.labels(platform).observe(
        max(0.0, (after.finished_at - after.created_at).total_seconds())
    )
    seen_done = [t.done_after for t in after.tasks if t.done_after is not None]
    if after.submitted_at is not None and seen_done:
        posted = (after.finished_at - after.submitted_at).total_seconds()
        JOB_DELIVERY_LAG.labels(platform).observe(max(0.0, posted - max(seen_done)))


def keevx_result(error: BaseException | None) -> str:
    """The ``result`` label of a Keevx request that ended with ``error`` (``None``: ok)."""
    if error is None:
        return "ok"
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, ApiProtocolError):
        return "bad_answer"
    if isinstance(error, ApiUnavailable):
        return "server_error" if error.status is not None else "network_error"
    if isinstance(error, ApiRejected):
        return "rejected"
    if isinstance(error, ApiTimeout):
        return "no_answer"
    return "error"


@contextmanager
def keevx_request(endpoint: str) -> Iterator[None]:
    """Count the one Keevx request made inside the block by its outcome.

    An error that carries the Keevx error it stands for as ``.error`` (the client's
    internal retry signal) is counted as that error.
    """
    try:
        yield
    except Exception as exc:
        KEEVX_REQUESTS.labels(endpoint, keevx_result(getattr(exc, "error", exc))).inc()
        raise
    KEEVX_REQUESTS.labels(endpoint, "ok").inc()


def platform_send(platform: str, result: str) -> None:
    PLATFORM_SENDS.labels(platform, result).inc()


def flood_wait(platform: str, seconds: float) -> None:
    FLOOD_WAIT.labels(platform).observe(max(0.0, seconds))


def leading(role: str, held: bool) -> None:
    """Say whether this instance holds ``role`` now (e.g. ``telegram_poller``)."""
    LEADER.labels(role).set(1 if held else 0)
