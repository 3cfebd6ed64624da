"""The connector's Prometheus metrics, answered at ``GET /metrics`` (an admin token needed).

=================================================  ==============================================
``passerelle_deliveries_received_total``           webhook deliveries answered, by ``platform``
                                                   and ``answer`` (the HTTP status)
``passerelle_deliveries_stored_total``             new deliveries stored, by ``platform``
``passerelle_deliveries_duplicate_total``          deliveries already stored, by ``platform``
``passerelle_dispatch_outcomes_total``             settled attempts, by ``kind`` (done, ignored,
                                                   retry, deferred, failed) and error ``code``
``passerelle_backend_request_duration_seconds``    histogram of back-end HTTP requests, by
                                                   ``method`` and ``status`` (``none``: no answer)
``passerelle_backend_errors_total``                back-end errors the dispatcher met, by ``code``
``passerelle_backlog_deliveries``                  deliveries waiting, by ``state`` (pending,
                                                   deferred, processing)
``passerelle_backlog_oldest_age_seconds``          how long the oldest waiting delivery has waited
``passerelle_action_center_deliveries``            failed deliveries in the action center
=================================================  ==============================================

The counters and the histogram count what this process did. When several processes of one host
serve (a receiver and a dispatcher, or more), point ``PROMETHEUS_MULTIPROC_DIR`` of every one at
the same empty directory before they start: each then answers the sum over them all. The backlog
and action-center gauges are read from the store when scraped, so every process tells the same.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from typing import Final

import httpx
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from passerelle.clock import Clock, SystemClock
from passerelle.connector.config_sources import Problem
from passerelle.connector.store import DeliveryStatus, DeliveryStore

__all__ = [
    "CONTENT_TYPE",
    "MeteredTransport",
    "StoreCollector",
    "environment_problems",
    "exposition",
    "metrics_app",
    "record_backend_error",
    "record_dispatch",
    "record_received",
]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
MULTIPROCESS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

_REGISTRY = CollectorRegistry(auto_describe=True)

_RECEIVED = Counter(
    "passerelle_deliveries_received",
    "Webhook deliveries answered, by platform and the HTTP status of the answer.",
    ["platform", "answer"],
    registry=_REGISTRY,
)
_STORED = Counter(
    "passerelle_deliveries_stored",
    "New webhook deliveries stored in the inbox, by platform.",
    ["platform"],
    registry=_REGISTRY,
)
_DUPLICATES = Counter(
    "passerelle_deliveries_duplicate",
    "Webhook deliveries acknowledged that were stored before, by platform.",
    ["platform"],
    registry=_REGISTRY,
)
_DISPATCHED = Counter(
    "passerelle_dispatch_outcomes",
    "Dispatch attempts settled, by outcome and error code (empty when none).",
    ["kind", "code"],
    registry=_REGISTRY,
)
_BACKEND_LATENCY = Histogram(
    "passerelle_backend_request_duration_seconds",
    "Time from sending a request to the payment back end to its answer's headers.",
    ["method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=_REGISTRY,
)
_BACKEND_ERRORS = Counter(
    "passerelle_backend_errors",
    "Errors from the payment back end (after the client's own retries), by problem code.",
    ["code"],
    registry=_REGISTRY,
)

# The store's settling methods, by the outcome they record.
_UNKNOWN_PLATFORM: Final = "unknown"


def count_across_processes(folder: str) -> None:
    """Count from now on in `folder` (an empty one), as ``PROMETHEUS_MULTIPROC_DIR`` does, and
    set that variable for the processes started after, so that every one answers the sum over
    them all. Call it before anything is counted.

    prometheus_client reads the variable when it is imported; every metric here has labels,
    and a labelled metric makes its values when first counted, so they are made in `folder`."""
    from prometheus_client import values

    os.environ[MULTIPROCESS_ENV] = folder
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def environment_problems() -> list[Problem]:
    """What is wrong with the metrics' environment: a ``PROMETHEUS_MULTIPROC_DIR`` that names
    no folder would fail the first delivery counted."""
    folder = os.environ.get(MULTIPROCESS_ENV)
    if folder and not os.path.isdir(folder):
        return [Problem(MULTIPROCESS_ENV, f"{folder!r} is not a folder: create it, empty")]
    return []


def record_received(platform: str, known: bool, status: int, kind: str | None = None) -> None:
    """Count a webhook delivery answered with `status`; `kind` is ``stored`` or ``duplicate``
    once it is in the inbox. A platform that is not installed is counted as ``unknown``, so
    that a caller cannot make up label values."""
    label = platform if known else _UNKNOWN_PLATFORM
    _RECEIVED.labels(label, str(status)).inc()
    if kind == "stored":
        _STORED.labels(label).inc()
    elif kind == "duplicate":
        _DUPLICATES.labels(label).inc()


def record_dispatch(outcome: str, code: str | None) -> None:
    """Count a settled attempt: done, ignored, retry, deferred or failed, with its error code."""
    _DISPATCHED.labels(outcome, code or "").inc()


def record_backend_error(code: str) -> None:
    """Count an error of the payment back end that reached the dispatcher."""
    _BACKEND_ERRORS.labels(code).inc()


class MeteredTransport(httpx.BaseTransport):
    """An httpx transport that times every request to the payment back end."""

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        status = "none"
        try:
            response = self._transport.handle_request(request)
            status = str(response.status_code)
            return response
        finally:
            _BACKEND_LATENCY.labels(request.method, status).observe(time.perf_counter() - started)

    def close(self) -> None:
        self._transport.close()


class StoreCollector(Collector):
    """The gauges read from the store at each scrape: the backlog and the action center."""

    def __init__(self, store: DeliveryStore, clock: Clock | None = None) -> None:
        self._store = store
        self._clock = clock or SystemClock()

    def describe(self) -> Iterable[Metric]:
        return ()  # the store is read at scrape time only, not when registering

    def collect(self) -> Iterable[Metric]:
        backlog = self._store.backlog()
        failed = self._store.stats()[DeliveryStatus.FAILED]
        waiting = GaugeMetricFamily(
            "passerelle_backlog_deliveries",
            "Deliveries not dispatched yet, by state.",
            labels=["state"],
        )
        waiting.add_metric(["pending"], backlog.pending)
        waiting.add_metric(["deferred"], backlog.deferred)
        waiting.add_metric(["processing"], backlog.processing)
        yield waiting
        age = 0.0
        if backlog.oldest_received_at is not None:
            age = max(0.0, (self._clock.now() - backlog.oldest_received_at).total_seconds())
        yield GaugeMetricFamily(
            "passerelle_backlog_oldest_age_seconds",
            "Seconds since the oldest delivery not dispatched yet was received (0: none waits).",
            value=age,
        )
        yield GaugeMetricFamily(
            "passerelle_action_center_deliveries",
            "Failed deliveries in the action center, waiting for a retry or a dismissal.",
            value=failed,
        )


def exposition(store: StoreCollector) -> bytes:
    """The metrics in Prometheus' text format: this process's (or, with
    ``PROMETHEUS_MULTIPROC_DIR``, every process's) counters, then the store's gauges."""
    if os.environ.get(MULTIPROCESS_ENV):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = _REGISTRY
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(store)
    return generate_latest(counted) + generate_latest(gauges)


def metrics_app(collector: StoreCollector) -> ASGIApp:
    """An ASGI app answering ``GET`` (whatever the path) with `exposition`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if scope["method"] not in ("GET", "HEAD"):
            response = PlainTextResponse(
                f"method {scope['method']} not allowed: use GET\n",
                status_code=405,
                headers={"Allow": "GET, HEAD"},
            )
        else:
            body = await asyncio.to_thread(exposition, collector)
            response = Response(
                body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"}
            )
        await response(scope, receive, send)

    return app
