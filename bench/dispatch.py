"""Dispatch: how many deliveries per second the dispatcher gets into a slow back end, beside the
ceiling that the back end's latency and the deliveries in flight allow.

    python -m bench dispatch [--backends stub sandbox] [--latency-ms 20 200]
        [--concurrency 16 64 256] [--workers 4] [--seconds 2] [--per-order 4]

For each back end, latency and concurrency: a fresh back end runs in its own process with
`--latency-ms` added to every call, either the stub (`bench._stub_backend`: a bare ASGI app on
uvicorn that answers the contract's shapes and does nothing else) or the sandbox (the reference
back end, with its rules, idempotency and SQLite). Orders exist there, and their deliveries
(shipments, one line each, `--per-order` per order) are appended to a SQLite store before the
clock starts, as many as `--seconds` at the ceiling would take (at most `--most`); then the
dispatcher runs until every delivery is done (a run longer than five times `--seconds` is cut
short, and says so).

Each delivery in flight makes one back-end call at a time and each call takes at least the
latency, so the ceiling is ``concurrency / (calls per delivery x latency)``. A delivery needs one
write, plus one ``GET`` the first time the dispatcher meets the order (to mirror its ledger):
``1 + 1/per-order`` calls. The calls the dispatcher really made are counted and printed beside it.
CPU per delivery is this process's CPU time over the run (`time.process_time`: the dispatcher,
the store's writer, and the bench's polling of the store every 10 ms) divided by the deliveries
settled. ms/call is the mean time from sending a call to its answer as the dispatcher saw it:
beside the latency, and beside the stub's at the same latency and concurrency, it shows what the
sandbox's own work adds.
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
from passerelle.backend.pools import ShardedTransport
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


class _TimedTransport(httpx.BaseTransport):
    """Counts the back-end calls by method and the time until each answer's headers, over
    the connections `passerelle serve` would give the dispatcher."""

    def __init__(self, connections: int) -> None:
        self._transport = ShardedTransport(connections)
        self.calls: Counter[str] = Counter()
        self.busy = 0.0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        began = time.perf_counter()
        response = self._transport.handle_request(request)
        took = time.perf_counter() - began
        with self._lock:
            self.calls[request.method] += 1
            self.busy += took
        return response

    def close(self) -> None:
        self._transport.close()


@dataclass(frozen=True)
class Result:
    what: str
    """``dispatcher``, or ``client only``: calls alone, the floor of this process's work."""
    backend: str
    concurrency: int
    deliveries: int
    done: int
    """Deliveries done when the clock stopped: all, unless the run was cut short."""
    seconds: float
    calls: Counter[str]
    busy: float
    """Seconds spent waiting for the back end, summed over the calls."""
    latency: float
    per_order: int
    cpu: float
    """CPU seconds this process used over the run (the dispatcher, the store's writer and the
    polling of the store)."""
    backend_cpu: float
    """Share of a core the back end's process used."""

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    @property
    def calls_per_delivery(self) -> float:
        """The calls a delivery needs at least: one write, and a GET per order first seen."""
        return 1 + 1 / self.per_order

    @property
    def ceiling(self) -> float:
        return self.concurrency / (self.calls_per_delivery * self.latency)

    @property
    def made_per_delivery(self) -> float:
        return sum(self.calls.values()) / self.done

    @property
    def call_ms(self) -> float:
        """The mean time of a back-end call as the dispatcher saw it."""
        return 1000 * self.busy / sum(self.calls.values())

    @property
    def cpu_per_delivery_us(self) -> float:
        return 1e6 * self.cpu / self.done


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _backend(kind: str, latency_ms: int, per_order: int) -> Iterator[tuple[str, int]]:
    """A fresh back end in its own process, so its work does not share this process's GIL."""
    port = _free_port()
    if kind == "sandbox":
        command = ["passerelle.sandbox.cli", "--admin-token", ADMIN_TOKEN]
    else:
        command = ["bench._stub_backend", "--latency-ms", str(latency_ms)]
        command += ["--lines", str(per_order)]
    server = subprocess.Popen(
        [sys.executable, "-m", *command, "--host", HOST, "--port", str(port)],
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


def _client(url: str, transport: _TimedTransport) -> tuple[httpx.Client, BackendClient]:
    """The back-end client over `transport`, one attempt per call: a failure is the bench's."""
    http = httpx.Client(transport=transport)
    client = BackendClient(
        url, DEFAULT_TOKEN, DEFAULT_MERCHANT, http_client=http, retry=RetryPolicy(max_attempts=1)
    )
    return http, client


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


def measure(backend: str, concurrency: int, options: argparse.Namespace, latency_ms: int) -> Result:
    per_order = options.per_order
    latency = latency_ms / 1000
    ceiling = concurrency / ((1 + 1 / per_order) * latency)
    orders = max(1, math.ceil(min(ceiling * options.seconds, options.most) / per_order))
    total = orders * per_order
    references = [f"bench-{n}" for n in range(orders)]
    policy = DispatchPolicy(workers=min(options.workers, concurrency), concurrency=concurrency)
    transport = _TimedTransport(policy.in_hand)
    with (
        _backend(backend, latency_ms, per_order) as (url, backend_pid),
        tempfile.TemporaryDirectory(prefix="passerelle-bench-") as folder,
    ):
        if backend == "sandbox":
            _create_orders(url, references, per_order)
        with open_store(f"sqlite:///{Path(folder) / 'inbox.db'}") as store:
            _append(store, references, per_order)
            if backend == "sandbox":
                _set_latency(url, latency_ms)
            http, client = _client(url, transport)
            dispatcher = Dispatcher(
                store=store,
                platforms={PLATFORM: DispatchPlatform()},
                stores={(PLATFORM, STORE_ID): Store(PLATFORM, STORE_ID, (SecretStr("unused"),))},
                plugins=Plugins(),
                backend=client,
                policy=policy,
            )
            began = time.perf_counter()
            cpu = (time.process_time(), _cpu_seconds(backend_pid))
            dispatcher.start()
            # Far below the ceiling the run is cut short, and says so.
            deadline = began + 5 * options.seconds
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
                used = (time.process_time() - cpu[0], _cpu_seconds(backend_pid) - cpu[1])
            finally:
                dispatcher.stop()
                http.close()
            failed = store.stats()[DeliveryStatus.FAILED]
            if failed:
                raise RuntimeError(f"{backend}, {concurrency} in flight: {failed} failed")
    return Result(
        "dispatcher",
        backend,
        concurrency,
        total,
        done,
        elapsed,
        transport.calls,
        transport.busy,
        latency,
        per_order,
        cpu=used[0],
        backend_cpu=used[1] / elapsed,
    )


def measure_client(
    backend: str, concurrency: int, options: argparse.Namespace, latency_ms: int
) -> Result:
    """`concurrency` threads calling ``GET /v1/orders/{ref}`` through the same client for
    `--seconds`, and nothing else: what this process can get from the back end at all. Counted
    in deliveries' worth of calls (``1 + 1/per-order`` each) beside the dispatcher's rows."""
    per_order = options.per_order
    transport = _TimedTransport(concurrency)
    with _backend(backend, latency_ms, per_order) as (url, backend_pid):
        reference = "bench-client"
        if backend == "sandbox":
            _create_orders(url, [reference], per_order)
            _set_latency(url, latency_ms)
        http, client = _client(url, transport)
        stop = threading.Event()

        def call() -> None:
            while not stop.is_set():
                client.get_order(reference)

        threads = [threading.Thread(target=call) for _ in range(concurrency)]
        began = time.perf_counter()
        cpu = (time.process_time(), _cpu_seconds(backend_pid))
        for thread in threads:
            thread.start()
        stop.wait(options.seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        used = (time.process_time() - cpu[0], _cpu_seconds(backend_pid) - cpu[1])
        http.close()
    worth = int(sum(transport.calls.values()) / (1 + 1 / per_order))
    return Result(
        "client only",
        backend,
        concurrency,
        worth,
        worth,
        elapsed,
        transport.calls,
        transport.busy,
        latency_ms / 1000,
        per_order,
        cpu=used[0],
        backend_cpu=used[1] / elapsed,
    )


def report(results: list[Result], per_order: int, workers: int) -> None:
    print(
        f"dispatch: shipments, {per_order} deliveries per order, SQLite store, {workers} workers;"
        f" {os.cpu_count()} CPUs"
    )
    first = results[0]
    print(
        f"ceiling = in flight / ({first.calls_per_delivery:g} calls per delivery x latency)"
        f"  (1 write + 1/{per_order} GET to mirror a new order)"
    )
    print()
    print(
        f"{'measured':<12}{'back end':>8}{'latency':>8}{'in flight':>10}{'done':>12}{'seconds':>8}"
        f"{'measured/s':>11}{'ceiling/s':>10}{'ratio':>6}{'calls/deliv.':>13}"
        f"{'ms/call':>8}{'x latency':>10}{'CPU us/deliv.':>14}{'CPU back end':>13}"
    )
    for row in results:
        latency_ms = 1000 * row.latency
        print(
            f"{row.what:<12}{row.backend:>8}{f'{latency_ms:g} ms':>8}{row.concurrency:>10}"
            f"{f'{row.done}/{row.deliveries}':>12}{row.seconds:>8.2f}{row.rate:>11.1f}"
            f"{row.ceiling:>10.1f}{row.rate / row.ceiling:>6.2f}{row.made_per_delivery:>13.2f}"
            f"{row.call_ms:>8.1f}{row.call_ms / latency_ms:>10.2f}"
            f"{row.cpu_per_delivery_us:>14.0f}{row.backend_cpu:>13.0%}"
        )
    print()
    print(
        "ms/call: the mean time from sending a call to its answer, as the dispatcher saw it; x"
        " latency: that over the latency (the stub's row at the same latency and in-flight"
        " count is what the dispatcher's own process adds). CPU us/deliv.: this process's CPU"
        " time over the run per delivery settled; CPU back end: share of one core used by the"
        " back end's process. The run is cut short (done < all) past 5 x --seconds. client"
        " only: threads making GET calls through the same client for --seconds and nothing"
        " else, counted in deliveries' worth of calls: what this process gets from the back"
        " end at all, the dispatcher's real ceiling on this machine."
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench dispatch", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--backends", nargs="+", choices=["stub", "sandbox"], default=["stub", "sandbox"]
    )
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--workers", type=int, default=4, help="claiming threads")
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="run length at the ceiling, per row"
    )
    parser.add_argument(
        "--most", type=int, default=6000, help="deliveries per row at most (at high ceilings)"
    )
    parser.add_argument("--per-order", type=int, default=4, help="deliveries per order")
    options = parser.parse_args(argv)
    results = [
        row
        for backend in options.backends
        for latency_ms in options.latency_ms
        for concurrency in options.concurrency
        for row in (
            measure_client(backend, concurrency, options, latency_ms),
            measure(backend, concurrency, options, latency_ms),
        )
    ]
    report(results, options.per_order, options.workers)
    return 0
