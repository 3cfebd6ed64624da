"""The store under concurrent receivers and workers: threads, tasks and separate processes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from passerelle.clock import FixedClock
from passerelle.connector.store import (
    AppendResult,
    Claim,
    DeliveryStatus,
    DeliveryStore,
    NewDelivery,
    open_store,
)
from passerelle.connector.store.migrations import migrations

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(hours=1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def new(delivery_key: str, ordering_key: str | None = None) -> NewDelivery:
    return NewDelivery(
        platform="shopify",
        store="shop-1",
        delivery_key=delivery_key,
        ordering_key=ordering_key,
        headers=(("Content-Type", "application/json"),),
        body=b"{}",
        received_at=START,
    )


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Start `count` threads on `target(index)` together and re-raise the first failure."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def test_concurrent_appends_get_distinct_ids_and_duplicates_are_stored_once(
    store: DeliveryStore,
) -> None:
    threads, per_thread, shared = 50, 20, 5
    results: dict[int, list[tuple[str, AppendResult]]] = {}

    def append(index: int) -> None:
        mine = [f"thread-{index}-{n}" for n in range(per_thread - shared)]
        everyone = [f"shared-{n}" for n in range(shared)]
        keys = mine + everyone if index % 2 else everyone + mine
        results[index] = [
            (key, store.append(new(key, f"order-{n % 7}"))) for n, key in enumerate(keys)
        ]

    run_threads(threads, append)

    by_key: dict[str, list[AppendResult]] = defaultdict(list)
    for appended in results.values():
        for key, result in appended:
            by_key[key].append(result)
    unique = threads * (per_thread - shared)
    assert len(by_key) == unique + shared
    assert len({found[0].id for found in by_key.values()}) == unique + shared
    for key, results_for_key in by_key.items():
        if key.startswith("shared-"):
            assert len({r.id for r in results_for_key}) == 1
            assert sorted(r.duplicate for r in results_for_key) == [False] + [True] * (threads - 1)
        else:
            assert results_for_key == [AppendResult(results_for_key[0].id, duplicate=False)]
    assert store.stats()[DeliveryStatus.PENDING] == unique + shared
    assert {store.get(found[0].id).delivery_key for found in by_key.values()} == set(by_key)


def test_stores_opened_at_once_on_a_new_database_migrate_it_once(
    store_url: str, schema_versions: Callable[[str], list[int]], clock: FixedClock
) -> None:
    opened: list[DeliveryStore] = []

    run_threads(6, lambda _: opened.append(open_store(store_url, clock=clock)))

    try:
        appended = [store.append(new(f"delivery-{n}")).id for n, store in enumerate(opened)]
        assert len(set(appended)) == 6
    finally:
        for store in opened:
            store.close()
    known = migrations("sqlite" if store_url.startswith("sqlite:") else "postgresql")
    assert schema_versions(store_url) == [migration.version for migration in known]


@pytest.mark.anyio
async def test_concurrent_async_appends_get_distinct_ids_and_duplicates_are_stored_once(
    store: DeliveryStore,
) -> None:
    keys = [f"key-{n}" for n in range(200)] + [f"key-{n}" for n in range(0, 200, 4)]

    results = await asyncio.gather(*(store.append_async(new(key, "order-1")) for key in keys))

    first = results[:200]
    assert len({r.id for r in first}) == 200
    assert not any(r.duplicate for r in first)
    again = results[200:]
    assert again == [AppendResult(first[n].id, duplicate=True) for n in range(0, 200, 4)]
    assert store.stats()[DeliveryStatus.PENDING] == 200


def test_concurrent_workers_never_share_a_delivery_or_a_lane(store: DeliveryStore) -> None:
    lanes = [f"order-{n}" for n in range(12)]
    expected: dict[str | None, list[int]] = defaultdict(list)
    for n in range(240):
        lane = None if n % 6 == 5 else lanes[n % len(lanes)]
        expected[lane].append(store.append(new(f"delivery-{n}", lane)).id)
    total = sum(len(v) for v in expected.values())

    guard = threading.Lock()
    busy: set[str] = set()
    processed: list[tuple[int, str | None]] = []
    violations: list[str] = []

    def work(index: int) -> None:
        deadline = time.monotonic() + 120  # a hang guard, not a measurement
        while time.monotonic() < deadline:
            with guard:
                if len(processed) == total:
                    return
            claims = store.claim(f"worker-{index}", limit=3, lease=LEASE)
            for claim in claims:
                process(claim)
            if not claims:
                time.sleep(0.001)
        violations.append(f"worker-{index} gave up with work left")

    def process(claim: Claim) -> None:
        lane = claim.delivery.ordering_key
        with guard:
            if lane is not None and lane in busy:
                violations.append(f"lane {lane} claimed twice at once (delivery {claim.id})")
            if lane is not None:
                busy.add(lane)
            processed.append((claim.id, lane))
        time.sleep(0.0005)
        if lane is not None:
            with guard:
                busy.remove(lane)
        store.complete(claim, "1 event applied")

    run_threads(8, work)

    assert violations == []
    assert sorted(i for i, _ in processed) == sorted(i for ids in expected.values() for i in ids)
    for lane, ids in expected.items():
        if lane is not None:
            assert [i for i, key in processed if key == lane] == ids
    assert store.stats()[DeliveryStatus.DONE] == total


@pytest.mark.postgres
def test_a_claim_in_progress_keeps_other_postgres_workers_out_of_its_lane(
    postgres_store_url: str, clock: FixedClock
) -> None:
    from passerelle.connector.store import ErrorInfo
    from passerelle.connector.store.postgres import PostgresStore
    from passerelle.connector.store.sql import Tx

    inside, release = threading.Event(), threading.Event()

    class PausingStore(PostgresStore):
        """Stops a claim after it has locked its candidates, before it marks them."""

        def candidates(self, tx: Tx, *, limit: int, now: datetime) -> list[int]:
            found = super().candidates(tx, limit=limit, now=now)
            inside.set()
            release.wait(timeout=60)
            return found

    not_yet = ErrorInfo("not_shipped", "refund before fulfilment")
    with (
        open_store(postgres_store_url, clock=clock) as other,
        PausingStore(postgres_store_url, clock=clock) as paused,
    ):
        a1, a2 = (other.append(new(f"delivery-{n}", "order-1")).id for n in (1, 2))
        (first,) = other.claim("worker-1", limit=1, lease=LEASE)
        other.defer(first, START + timedelta(seconds=20), not_yet)
        (second,) = other.claim("worker-1", limit=1, lease=LEASE)
        other.defer(second, START + timedelta(seconds=10), not_yet)

        # At 15 s only the second is due; at 25 s both are, and the first would go first.
        claimed: list[Claim] = []
        claimer = threading.Thread(
            target=lambda: claimed.extend(
                paused.claim("worker-2", limit=5, lease=LEASE, now=START + timedelta(seconds=15))
            )
        )
        claimer.start()
        assert inside.wait(timeout=60)
        try:
            meanwhile = other.claim(
                "worker-3", limit=5, lease=LEASE, now=START + timedelta(seconds=25)
            )
        finally:
            release.set()
            claimer.join()

        assert meanwhile == []
        assert [c.id for c in claimed] == [a2]
        assert other.get(a1).status is DeliveryStatus.PENDING


# A worker process: once every process is ready, claims until nothing is left, marking each
# lane busy with a file created exclusively (a second holder of the lane would fail to create
# it) and logging each delivery it starts in a file shared by every process, appended to
# atomically.
_WORKER = """
import os, sys, time
from datetime import timedelta
from pathlib import Path
from passerelle.connector.store import DeliveryStatus, open_store

url, shared, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
log = os.open(shared / "log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
deadline = time.monotonic() + 120
with open_store(url) as store:
    (shared / f"ready-{name}").touch()
    while not (shared / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    while time.monotonic() < deadline:
        claims = store.claim(name, limit=2, lease=timedelta(minutes=5))
        for claim in claims:
            lane = claim.delivery.ordering_key
            marker = shared / f"busy-{lane}"
            if lane is not None:
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    sys.exit(f"lane {lane} held twice at once (delivery {claim.id})")
            os.write(log, f"{claim.id} {lane}\\n".encode())
            time.sleep(0.001)
            if lane is not None:
                marker.unlink()
            store.complete(claim, f"processed by {name}")
        if not claims:
            stats = store.stats()
            if stats[DeliveryStatus.PENDING] + stats[DeliveryStatus.PROCESSING] == 0:
                sys.exit(0)
            time.sleep(0.002)
sys.exit(f"{name} gave up with work left")
"""


@pytest.mark.slow
def test_separate_processes_never_share_a_delivery_or_a_lane(
    store_url: str, tmp_path: Path
) -> None:
    expected: dict[str | None, list[int]] = defaultdict(list)
    received = datetime.now(UTC) - timedelta(seconds=1)
    with open_store(store_url) as store:
        for n in range(200):
            lane = None if n % 5 == 4 else f"order-{n % 8}"
            delivery = NewDelivery(
                platform="shopify",
                store="shop-1",
                delivery_key=f"delivery-{n}",
                ordering_key=lane,
                headers=(),
                body=b"{}",
                received_at=received,
            )
            expected[lane].append(store.append(delivery).id)
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    shared = tmp_path / "shared"
    shared.mkdir()

    workers = [
        subprocess.Popen(
            [sys.executable, str(script), store_url, str(shared), f"process-{n}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    deadline = time.monotonic() + 120  # a hang guard, not a measurement
    while len(list(shared.glob("ready-*"))) < len(workers) and time.monotonic() < deadline:
        if any(worker.poll() is not None for worker in workers):
            break
        time.sleep(0.01)
    (shared / "go").touch()
    errors = [worker.communicate(timeout=300)[1] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0, 0], errors
    log = [line.split() for line in (shared / "log").read_text().splitlines()]
    started = [int(delivery_id) for delivery_id, _ in log]
    assert sorted(started) == sorted(i for ids in expected.values() for i in ids)
    for lane, ids in expected.items():
        if lane is not None:
            assert [int(i) for i, key in log if key == lane] == ids
    with open_store(store_url) as store:
        assert store.stats()[DeliveryStatus.DONE] == 200
        outcomes = {store.get(i).outcome for ids in expected.values() for i in ids}
    assert len(outcomes) > 1, "one process did all the work: the test proved nothing"


@pytest.mark.anyio
async def test_appends_committed_together_find_duplicates_among_them_and_before_them(
    store: DeliveryStore,
) -> None:
    earlier = await store.append_async(new("key-earlier", "order-1"))
    keys = [f"key-{n}" for n in range(300)]
    keys[150:150] = ["key-earlier", "key-7", "key-earlier"]

    results = await asyncio.gather(*(store.append_async(new(key, "order-1")) for key in keys))

    by_key = dict(zip(keys, results, strict=True))
    assert by_key["key-earlier"] == AppendResult(earlier.id, duplicate=True)
    assert results[151] == AppendResult(by_key["key-7"].id, duplicate=True)
    firsts = [result.id for result in results if not result.duplicate]
    assert len(set(firsts)) == 300
    assert min(firsts) > earlier.id
    claimed = store.claim("w", limit=1, lease=timedelta(seconds=30))
    assert [c.delivery.id for c in claimed] == [earlier.id]


@pytest.mark.anyio
async def test_when_appending_together_fails_each_append_is_tried_alone(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from passerelle.connector.store import sqlite as sqlite_store

    def refuse(*_: object) -> list[AppendResult]:
        raise sqlite3.IntegrityError("refused as a whole")

    monkeypatch.setattr(sqlite_store, "_append_rows", refuse)
    store = sqlite_store.SQLiteStore(tmp_path / "inbox.db", clock=clock)
    try:
        keys = [f"key-{n}" for n in range(50)] + ["key-3"]
        results = await asyncio.gather(*(store.append_async(new(key)) for key in keys))
        assert len({r.id for r in results[:50]}) == 50
        assert results[50] == AppendResult(results[3].id, duplicate=True)
        assert store.stats()[DeliveryStatus.PENDING] == 50
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_a_delivery_postgres_refuses_fails_alone_in_its_group(
    postgres_store_url: str, clock: FixedClock
) -> None:
    from passerelle.connector.store import StoreError

    with open_store(postgres_store_url, clock=clock) as store:
        keys = [f"key-{n}" for n in range(40)]
        keys[17] = "key-with-a-\x00"  # PostgreSQL text cannot hold NUL
        results = await asyncio.gather(
            *(store.append_async(new(key)) for key in keys), return_exceptions=True
        )

        assert isinstance(results[17], StoreError)
        stored = [r for r in results if isinstance(r, AppendResult)]
        assert len(stored) == 39
        assert len({r.id for r in stored}) == 39
        assert store.stats()[DeliveryStatus.PENDING] == 39


_APPENDER = """
import asyncio, os, sys
from datetime import UTC, datetime
from passerelle.connector.store import NewDelivery, open_store

store = open_store(sys.argv[1])
out = int(sys.argv[2])

async def append(number: int) -> None:
    n = number
    while True:
        delivery = NewDelivery(
            platform="shopify", store="shop-1", delivery_key=f"key-{n}", ordering_key=None,
            headers=(), body=b"x" * 2048, received_at=datetime.now(UTC),
        )
        result = await store.append_async(delivery)
        # Written once the store said it is stored: what a receiver acknowledges.
        os.write(out, f"key-{n} {result.id}\\n".encode())
        n += 50

async def main() -> None:
    await asyncio.gather(*(append(n) for n in range(50)))

asyncio.run(main())
"""


@pytest.mark.slow
def test_every_append_acknowledged_before_a_kill_is_stored(store_url: str, tmp_path: Path) -> None:
    script = tmp_path / "appender.py"
    script.write_text(_APPENDER)
    acknowledged = tmp_path / "acknowledged"
    out = os.open(acknowledged, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        appender = subprocess.Popen(
            [sys.executable, str(script), store_url, str(out)], pass_fds=(out,)
        )
        deadline = time.monotonic() + 120  # a hang guard, not a measurement
        while acknowledged.stat().st_size < 60_000 and time.monotonic() < deadline:
            assert appender.poll() is None, "the appender stopped by itself"
            time.sleep(0.01)
        appender.kill()  # SIGKILL, in the middle of the groups being committed
        appender.wait()
    finally:
        os.close(out)

    lines = acknowledged.read_text().splitlines()
    acked = dict(line.split() for line in lines if line.endswith(tuple("0123456789")))
    assert len(acked) > 1000
    with open_store(store_url) as store:
        for key, delivery_id in acked.items():
            assert store.get(int(delivery_id)).delivery_key == key
