"""Dispatch: how many deliveries per second the dispatcher gets into a slow back end, beside the
ceiling that the back end's latency and the worker count allow.

    python -m bench dispatch [--workers 4 16] [--seconds 2] [--latency-ms 20] [--per-order 4]

For each worker count: a fresh sandbox runs in its own process with `--latency-ms` added to every
call; orders are created there and their deliveries (shipments, one line each, `--per-order` per
order) are appended to a SQLite store before the clock starts, as many as `--seconds` at the
ceiling would take; then the dispatcher's workers run until every delivery is done (a run slower
than a fifth of the ceiling is cut short).

Each worker makes one back-end call at a time and each call takes at least the latency, so the
ceiling is ``workers / (calls per delivery x latency)``. A delivery needs one write, plus one
``GET`` the first time its dispatcher meets the order (to mirror its ledger): ``1 + 1/per-order``
calls. The calls the dispatcher really made are counted and printed beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr, TypeAdapter

from passerelle.backend.client import BackendClient
from passerelle.backend.models import CartLineItem, OrderCreate
from passerelle.backend.retry import RetryPolicy
from passerelle.connector.dispatcher import Dispatcher, DispatchPolicy
from passerelle.connector.store import DeliveryStatus, DeliveryStore, NewDelivery, open_store
from passerelle.events import Event
from passerelle.money import Money
from passerelle.platforms import (
    Store,
    Translation,
    TranslationContext,
    WebhookPlatform,
    WebhookRequest,
)
from passerelle.plugins import Plugins
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN

PLATFORM = "bench"
STORE_ID = "north.example"
HOST = "127.0.0.1"
ADMIN_TOKEN = "bench-sandbox-admin-token"  # noqa: S105 - a throwaway local sandbox's token
CURRENCY = "CAD"
_EVENTS = TypeAdapter[list[Event]](list[Event])


class DispatchPlatform(WebhookPlatform):
    """Deliveries whose JSON body is ``{"order": ..., "events": [...]}`` in the SDK's event
    models; the dispatcher never verifies, so neither does this."""

    name: ClassVar[str] = PLATFORM

    def verify(self, request: WebhookRequest, store: Store) -> None:
        return None

    def delivery_key(self, request: WebhookRequest) -> str:
        key: str = request.headers["x-bench-delivery"]
        return key

    def ordering_key(self, request: WebhookRequest) -> str | None:
        order: str = json.loads(request.body)["order"]
        return order

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        return Translation(
            events=tuple(_EVENTS.validate_python(json.loads(request.body)["events"]))
        )


class _TimedTransport(httpx.HTTPTransport):
    """Counts the back-end calls by method and the time until each answer's headers."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.busy = 0.0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        began = time.perf_counter()
        response = super().handle_request(request)
        took = time.perf_counter() - began
        with self._lock:
            self.calls[request.method] += 1
            self.busy += took
        return response


@dataclass(frozen=True)
class Result:
    workers: int
    deliveries: int
    done: int
    """Deliveries done when the clock stopped: all, unless the run was cut short (its first
    deliveries are each an order's first, which cost a GET more: the rate is then low)."""
    seconds: float
    calls: Counter[str]
    busy: float
    """Seconds spent waiting for the back end, summed over the calls."""
    latency: float
    per_order: int
    dispatcher_cpu: float
    """Share of a core this process used (the dispatcher, and the polling of the store)."""
    sandbox_cpu: float
    """Share of a core the sandbox's process used."""

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    @property
    def calls_per_delivery(self) -> float:
        """The calls a delivery needs at least: one write, and a GET per order first seen."""
        return 1 + 1 / self.per_order

    @property
    def ceiling(self) -> float:
        return self.workers / (self.calls_per_delivery * self.latency)

    @property
    def made_per_delivery(self) -> float:
        return sum(self.calls.values()) / self.done

    @property
    def call_ms(self) -> float:
        """The mean time of a back-end call as the dispatcher saw it."""
        return 1000 * self.busy / sum(self.calls.values())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _sandbox() -> Iterator[tuple[str, int]]:
    """A fresh sandbox in its own process, so its work does not share this process's GIL."""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "passerelle.sandbox.cli",
            "--host",
            HOST,
            "--port",
            str(port),
            "--admin-token",
            ADMIN_TOKEN,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the sandbox exited with status {server.returncode}")
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start within 30 s") from None
                time.sleep(0.05)
        yield url, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _set_latency(url: str, milliseconds: int) -> None:
    response = httpx.post(
        f"{url}/_sandbox/faults",
        json={"latency_ms": milliseconds},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    response.raise_for_status()


def _create_orders(url: str, references: list[str], lines: int) -> None:
    cart = tuple(
        CartLineItem(
            reference=f"SKU-{n}",
            name=f"Item {n}",
            unit_price=Money.of("10.00", CURRENCY),
            quantity=1,
        )
        for n in range(lines)
    )
    with (
        BackendClient(url, DEFAULT_TOKEN, DEFAULT_MERCHANT) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        list(
            pool.map(
                lambda ref: client.create_order(
                    OrderCreate(reference=ref, currency=CURRENCY, lines=cart)
                ),
                references,
            )
        )


def _delivery(order: str, line: int, now: datetime) -> NewDelivery:
    key = f"{order}:{line}"
    event: dict[str, Any] = {
        "kind": "order_shipped",
        "order": order,
        "id": f"F{line}",
        "lines": [{"line": f"SKU-{line}", "quantity": 1}],
    }
    return NewDelivery(
        platform=PLATFORM,
        store=STORE_ID,
        delivery_key=key,
        ordering_key=order,
        headers=(("content-type", "application/json"), ("x-bench-delivery", key)),
        body=json.dumps({"order": order, "events": [event]}).encode(),
        received_at=now,
    )


def _append(store: DeliveryStore, references: list[str], per_order: int) -> None:
    now = datetime.now(UTC)
    # Line by line across the orders: the lanes fill side by side, as live traffic would.
    deliveries = [_delivery(ref, line, now) for line in range(per_order) for ref in references]
    with ThreadPoolExecutor(16) as pool:
        # Concurrent appends share commits (the store's group commit).
        list(pool.map(store.append, deliveries))


def measure(workers: int, seconds: float, latency_ms: int, per_order: int) -> Result:
    latency = latency_ms / 1000
    ceiling = workers / ((1 + 1 / per_order) * latency)
    orders = max(1, math.ceil(ceiling * seconds / per_order))
    total = orders * per_order
    references = [f"bench-{n}" for n in range(orders)]
    transport = _TimedTransport()
    with (
        _sandbox() as (url, sandbox_pid),
        tempfile.TemporaryDirectory(prefix="passerelle-bench-") as folder,
    ):
        _create_orders(url, references, per_order)
        with open_store(f"sqlite:///{Path(folder) / 'inbox.db'}") as store:
            _append(store, references, per_order)
            _set_latency(url, latency_ms)
            http = httpx.Client(transport=transport)
            client = BackendClient(
                url,
                DEFAULT_TOKEN,
                DEFAULT_MERCHANT,
                http_client=http,
                retry=RetryPolicy(max_attempts=1),
            )
            plugins = Plugins()
            dispatcher = Dispatcher(
                store=store,
                platforms={PLATFORM: DispatchPlatform()},
                stores={(PLATFORM, STORE_ID): Store(PLATFORM, STORE_ID, (SecretStr("unused"),))},
                plugins=plugins,
                backend=client,
                policy=DispatchPolicy(workers=workers),
            )
            began = time.perf_counter()
            cpu = (time.process_time(), _cpu_seconds(sandbox_pid))
            dispatcher.start()
            # Far below the ceiling the run is cut short, and says so.
            deadline = began + 5 * seconds
            try:
                while True:
                    counts = store.stats()
                    done = counts[DeliveryStatus.DONE]
                    if done + counts[DeliveryStatus.FAILED] >= total:
                        break
                    if time.perf_counter() >= deadline:
                        break
                    time.sleep(0.01)
                elapsed = time.perf_counter() - began
                used = (time.process_time() - cpu[0], _cpu_seconds(sandbox_pid) - cpu[1])
            finally:
                dispatcher.stop()
                http.close()
            failed = store.stats()[DeliveryStatus.FAILED]
            if failed:
                raise RuntimeError(f"{workers} workers: {failed} deliveries failed")
    return Result(
        workers,
        total,
        done,
        elapsed,
        transport.calls,
        transport.busy,
        latency,
        per_order,
        dispatcher_cpu=used[0] / elapsed,
        sandbox_cpu=used[1] / elapsed,
    )


def report(results: list[Result], latency_ms: int, per_order: int) -> None:
    print(
        f"dispatch: shipments into the sandbox with {latency_ms} ms of latency per call, "
        f"{per_order} deliveries per order, SQLite store; {os.cpu_count()} CPUs"
    )
    first = results[0]
    print(
        f"ceiling = workers / ({first.calls_per_delivery:g} calls per delivery x {latency_ms} ms)"
        f"  (1 write + 1/{per_order} GET to mirror a new order)"
    )
    print()
    print(
        f"{'workers':>7}{'done':>12}{'seconds':>9}{'measured/s':>12}{'ceiling/s':>11}"
        f"{'ratio':>7}{'calls/delivery':>16}{'ms/call':>9}{'CPU disp.':>11}{'CPU sandbox':>13}"
    )
    for row in results:
        print(
            f"{row.workers:>7}{f'{row.done}/{row.deliveries}':>12}{row.seconds:>9.2f}{row.rate:>12.1f}"
            f"{row.ceiling:>11.1f}{row.rate / row.ceiling:>7.2f}{row.made_per_delivery:>16.2f}"
            f"{row.call_ms:>9.1f}{row.dispatcher_cpu:>11.0%}{row.sandbox_cpu:>13.0%}"
        )
    print()
    print(
        "ms/call: the mean time from sending a call to its answer, as the dispatcher saw it "
        "(the latency plus the sandbox's own work and queueing); CPU: share of one core used "
        "by the dispatcher's process and by the sandbox's"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench dispatch", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[4, 16])
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="run length at the ceiling, per worker count"
    )
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--per-order", type=int, default=4, help="deliveries per order")
    options = parser.parse_args(argv)
    results = [
        measure(workers, options.seconds, options.latency_ms, options.per_order)
        for workers in options.workers
    ]
    report(results, options.latency_ms, options.per_order)
    return 0
