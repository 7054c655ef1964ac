"""What operators' tools ask the web server: ``GET /readyz`` and ``GET /metrics``.

``/healthz`` (in :mod:`bot.app.web`) says the process serves; ``/readyz`` says this
instance should get traffic: its store is open, its platforms are started, and it is
not draining. ``/metrics`` is :data:`bot.metrics.REGISTRY` in Prometheus' text
format; the queue gauges are read from the store at each scrape, since only the
store knows the jobs every instance added.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.jobs.ports import JobStore
from bot.model.job import ACTIVE, JobStatus

__all__ = ["MetricsPage", "Readiness"]

log = logging.getLogger(__name__)

_WAITING = frozenset({JobStatus.RECEIVED})


@dataclass(slots=True)
class Readiness:
    """This instance's readiness, set by the composition root as it starts and stops."""

    store_open: bool = False
    platforms_started: bool = False
    draining: bool = False

    @property
    def state(self) -> str:
        """``ready``, or why not: ``starting`` or ``draining``."""
        if self.draining:
            return "draining"
        return "ready" if self.store_open and self.platforms_started else "starting"

    def update(self, **flags: bool) -> None:
        """Change flags (``store_open=True``, ``draining=True``, …) and the ready gauge."""
        for name, value in flags.items():
            setattr(self, name, value)
        metrics.READY.set(1 if self.state == "ready" else 0)

    async def handle(self, request: web.Request) -> web.Response:
        state = self.state
        return web.json_response({"status": state}, status=200 if state == "ready" else 503)


class MetricsPage:
    """``GET /metrics``: every metric of this process, the queue gauges fresh from ``store``."""

    def __init__(self, store: JobStore) -> None:
        self._store = store

    async def handle(self, request: web.Request) -> web.Response:
        try:
            waiting = await self._store.count_active(statuses=_WAITING)
            in_flight = await self._store.count_active(statuses=ACTIVE - _WAITING)
        except Exception as exc:  # the rest of the page still helps: keep the last numbers
            log.warning("metrics: could not count the jobs in the store: %s", exc)
        else:
            metrics.JOBS_WAITING.set(waiting)
            metrics.JOBS_IN_FLIGHT.set(in_flight)
        return web.Response(
            body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
