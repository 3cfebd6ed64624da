"""A receiver and two dispatchers ride through their PostgreSQL going away: the postmaster is
killed under load for 5 s, then for 40 s, and started again. While it is down the receiver and
`/readyz` answer 503 within a second; within two seconds of its return deliveries are stored
again; no worker stops, nothing needs a restart, and every acknowledged delivery is settled and
applied once. Each process logs each outage in two lines."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from passerelle.connector.store import AttemptResult, open_store
from passerelle.sandbox.server import SandboxServer
from postgres_support import postgres_missing

from .private_postgres import PrivateCluster, server_binaries
from .support import (
    ConnectorConfig,
    ConnectorProcess,
    Delivery,
    applications,
    backend,
    create_order,
    free_port,
    read_journal,
    refund,
    ship,
    subprocess_env,
    wait_settled,
    webhook_url,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ORDERS = 24
OUTAGES = (5.0, 40.0)


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    binaries = server_binaries()
    if binaries is None:
        postgres_missing(
            "no PostgreSQL server binaries (initdb, pg_ctl) are installed",
            "install the PostgreSQL server to run this test",
        )
    with PrivateCluster(binaries) as started:
        yield started


@dataclass
class Answer:
    key: str
    sent: float
    took: float
    status: int | None  # None: no answer at all (a timeout or a refused connection)
    id: int | None = None


class Platform(threading.Thread):
    """Sends every delivery in turn, each until acknowledged, as a platform retries."""

    def __init__(self, base: str, deliveries: list[Delivery], pace: float) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.deliveries = deliveries
        self.pace = pace
        self.answers: list[Answer] = []

    def run(self) -> None:
        with httpx.Client(timeout=5.0) as http:  # Shopify's own timeout
            for delivery in self.deliveries:
                while True:
                    sent = time.monotonic()
                    try:
                        response = http.post(
                            webhook_url(self.base),
                            content=delivery.body(),
                            headers=delivery.headers(),
                        )
                    except httpx.TransportError:
                        self.answers.append(
                            Answer(delivery.key, sent, time.monotonic() - sent, None)
                        )
                        time.sleep(0.1)
                        continue
                    answer = Answer(
                        delivery.key, sent, time.monotonic() - sent, response.status_code
                    )
                    self.answers.append(answer)
                    if response.is_success:
                        answer.id = response.json()["id"]
                        break
                    time.sleep(0.1)
                time.sleep(self.pace)


class Prober(threading.Thread):
    """Asks `/readyz` four times a second, noting how long each answer took."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.stop = threading.Event()
        self.answers: list[tuple[float, float, int | None]] = []

    def run(self) -> None:
        with httpx.Client(timeout=5.0) as http:
            while not self.stop.wait(0.25):
                sent = time.monotonic()
                try:
                    status: int | None = http.get(f"{self.base}/readyz").status_code
                except httpx.TransportError:
                    status = None
                self.answers.append((sent, time.monotonic() - sent, status))


def test_a_receiver_and_two_dispatchers_ride_through_postgresql_going_away(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer, cluster: PrivateCluster
) -> None:
    with backend(sandbox.url) as client:
        orders = [
            create_order(client, f"outage-{n}", [("SKU-1", "10.00", 3)]) for n in range(ORDERS)
        ]
    deliveries = [
        Delivery(f"{order}:{n}", order, (event,))
        for order in orders
        for n, event in enumerate(
            (ship(order, "F1"), ship(order, "F2"), refund(order, "R1", "10.00")), start=1
        )
    ]
    journal = tmp_path / "journal.jsonl"
    env = subprocess_env(plugin_site, journal)
    # A lease longer than the longest outage: the worker holding a delivery settles it itself.
    config = ConnectorConfig(sandbox.url, cluster.url, workers=2, lease=60.0)
    path = config.write(tmp_path / "passerelle.toml")
    with ExitStack() as stack:
        receiver = stack.enter_context(
            ConnectorProcess(
                path, env, tmp_path / "receiver.log", role="receiver", port=config.port
            )
        )
        dispatchers = [
            stack.enter_context(
                ConnectorProcess(
                    path, env, tmp_path / f"dispatcher-{n}.log", role="dispatcher", port=free_port()
                )
            )
            for n in range(2)
        ]
        for process in [receiver, *dispatchers]:
            process.start()
        for process in [receiver, *dispatchers]:
            process.wait_ready()

        platform = Platform(receiver.url, deliveries, pace=0.4)
        prober = Prober(receiver.url)
        platform.start()
        prober.start()
        # When it went down, when it was being started again, when it was back (and in UTC).
        outages: list[tuple[float, float, float, datetime]] = []
        for length in OUTAGES:
            time.sleep(3)
            cluster.kill()
            down = time.monotonic()
            time.sleep(length)
            starting = time.monotonic()
            cluster.start()
            outages.append((down, starting, time.monotonic(), datetime.now(UTC)))
        platform.join(timeout=120)
        assert not platform.is_alive(), "the platform could not deliver everything"
        prober.stop.set()
        prober.join()

        counts = wait_settled(receiver.url, timeout=60)
        assert counts["done"] == len(deliveries)
        assert counts["failed"] == 0
        # No worker stopped and no process needed a restart.
        for process in [receiver, *dispatchers]:
            assert process.running
            assert httpx.get(f"{process.url}/readyz").text == "ready\n"
        logs = [process.output() for process in [receiver, *dispatchers]]

    acknowledged = [a for a in platform.answers if a.status is not None and 200 <= a.status < 300]
    assert len(acknowledged) == len(deliveries)
    for down, starting, back, _ in outages:
        while_down = [
            a for a in platform.answers if down + 0.2 < a.sent and a.sent + a.took < starting
        ]
        assert while_down, "no delivery was tried while the database was down"
        # Answered, and fast: the platform sees a 503 to retry, not its own timeout.
        assert {a.status for a in while_down} == {503}
        assert max(a.took for a in while_down) < 1.0
        probes = [
            (took, status)
            for sent, took, status in prober.answers
            if down + 0.2 < sent and sent + took < starting
        ]
        assert probes
        assert {status for _, status in probes} == {503}
        assert max(took for took, _ in probes) < 1.0
        # Stored again within two seconds of the database's return.
        first = min(a.sent + a.took for a in acknowledged if a.sent + a.took > back)
        assert first - back < 2.0 + 0.4 + 0.1  # the platform's pace and its retry wait

    # Nothing acknowledged that was not stored; everything stored settled once.
    with open_store(cluster.url) as store:
        for answer in acknowledged:
            assert answer.id is not None
            assert store.get(answer.id).delivery_key == answer.key
            assert [a.result for a in store.attempts(answer.id)] == [AttemptResult.DONE]
        finished = sorted(
            d.finished_at for d in (store.get(a.id) for a in acknowledged if a.id) if d.finished_at
        )
    for _, _, _, back_utc in outages:
        settled_after = [at for at in finished if at > back_utc]
        print(
            "first delivery settled",
            f"{(settled_after[0] - back_utc).total_seconds():.2f} s after PostgreSQL's return",
        )
    seen = applications(read_journal(journal))
    assert seen == {(order, event): 1 for order in orders for event in ("F1", "F2", "R1")}

    for log in logs:
        assert "Traceback" not in log
        assert log.count(" is unavailable: ") == len(OUTAGES), log
        assert log.count(" is available again after ") == len(OUTAGES), log
