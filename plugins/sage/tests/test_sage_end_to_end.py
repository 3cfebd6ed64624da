"""Sage's folder end to end: files Sage writes into a watched folder, stored in SQLite, dispatched
to the sandbox back end over a real socket; a corrected version moves the back end's batch."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from passerelle.backend.client import BackendClient
from passerelle.backend.retry import RetryPolicy
from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction, next_weekday
from passerelle.clock import FixedClock
from passerelle.connector.dispatcher import Dispatcher
from passerelle.connector.files import accept_file
from passerelle.connector.folders import FolderWatcher
from passerelle.connector.store import DeliveryStatus, DeliveryStore, open_store
from passerelle.formats import _cpa005_rbc, bambora, cpa005
from passerelle.money import Money
from passerelle.platforms import Store
from passerelle.plugins import Plugins
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN
from passerelle_sage import SagePlatform

STORE = "payroll"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BackendClient]:
    retry = RetryPolicy(max_attempts=1)
    with BackendClient(sandbox.url, DEFAULT_TOKEN, DEFAULT_MERCHANT, retry=retry) as backend:
        yield backend


@pytest.fixture
def inbox(tmp_path: Path, clock: FixedClock) -> Iterator[DeliveryStore]:
    with open_store(f"sqlite:///{tmp_path / 'inbox.db'}", clock=clock) as opened:
        yield opened


def _payroll(originator: str, day: dt.date, *employees: tuple[str, str]) -> bytes:
    entries = tuple(
        BatchEntry(
            direction=Direction.CREDIT,
            amount=Money.of(amount, "CAD"),
            payee=name,
            institution="003",
            transit=f"{n:05d}",
            account=f"50{n:05d}",
            reference=f"EMP{n:04d}",
            transaction_code="200",
        )
        for n, (name, amount) in enumerate(employees, start=1)
    )
    batch = BatchFile(
        batch_id=f"{originator}-0001",
        originator=originator,
        kind=BatchKind.CREDIT,
        processing_date=day,
        currency="CAD",
        entries=entries,
    )
    return cpa005.write(batch)


def _dispatcher(
    inbox: DeliveryStore, store: Store, client: BackendClient, clock: FixedClock
) -> Dispatcher:
    return Dispatcher(
        store=inbox,
        platforms={"sage": SagePlatform()},
        stores={("sage", STORE): store},
        plugins=Plugins(),
        backend=client,
        http=httpx.Client(),
        clock=clock,
    )


def _weekday(start: dt.date, days: int) -> dt.date:
    return next_weekday(start + dt.timedelta(days=days))


def test_a_payroll_file_then_its_correction_reach_the_back_end(
    tmp_path: Path, inbox: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    folder = tmp_path / "eft"
    folder.mkdir()
    originator = f"S{random.randrange(10**9):09d}"
    store = Store("sage", STORE, options={"originator_id": originator, "folder": str(folder)})
    watcher = FolderWatcher(inbox, {("sage", STORE): folder}, settle=1.0, clock=clock)
    dispatcher = _dispatcher(inbox, store, client, clock)
    day = _weekday(clock.now().date(), 7)
    staff = (("Ada Tremblay", "1520.35"), ("Li Wei", "1875.00"), ("Omar Haddad", "1640.10"))

    def generation(content: bytes, archive: str) -> None:
        (folder / "PRDIRECT.DAT").write_bytes(content)
        (folder / archive).write_bytes(content)
        watcher.poll()
        clock.advance(dt.timedelta(seconds=2))
        watcher.poll()
        dispatcher.drain()

    generation(_payroll(originator, day, *staff), "PRDI0001.DAT")
    batch = client.get_batch(f"{originator}-0001")
    assert batch.processing_date == day
    assert [e.payee for e in batch.entries] == ["Ada Tremblay", "Li Wei", "Omar Haddad"]

    # Sage writes a correction: Li Wei removed, the date moved one business day.
    moved = _weekday(day, 1)
    generation(_payroll(originator, moved, staff[0], staff[2]), "PRDI0002.DAT")
    batch = client.get_batch(f"{originator}-0001")
    assert batch.processing_date == moved
    assert [e.payee for e in batch.entries] == ["Ada Tremblay", "Omar Haddad"]

    settled = inbox.list_failures() + inbox.list_waiting()
    assert settled == []
    assert inbox.stats()[DeliveryStatus.DONE] == 2


def test_a_file_from_another_company_is_filed_and_nothing_is_sent(
    tmp_path: Path, inbox: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    originator = f"S{random.randrange(10**9):09d}"
    store = Store("sage", STORE, options={"originator_id": "0123456789"})
    dispatcher = _dispatcher(inbox, store, client, clock)
    data = _payroll(originator, _weekday(clock.now().date(), 7), ("Ada Tremblay", "10.00"))
    receipt = accept_file(
        inbox, "sage", STORE, [data], filename="PRDIRECT.DAT", received_at=clock.now()
    )
    dispatcher.drain()

    (failed,) = inbox.list_failures()
    assert failed.id == receipt.delivery_id
    assert failed.last_error is not None
    assert failed.last_error.code == "unreadable_file"
    assert f"from originator {originator!r}, but store payroll is '0123456789'" in (
        failed.last_error.message
    )
    with pytest.raises(Exception, match="unknown_batch"):
        client.get_batch(f"{originator}-0001")


def test_rbc_pieces_with_masked_accounts_and_a_bambora_csv_reach_the_back_end(
    inbox: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    originator = f"S{random.randrange(10**9):09d}"
    store = Store("sage", STORE, options={"originator_id": originator})
    dispatcher = _dispatcher(inbox, store, client, clock)
    day = _weekday(clock.now().date(), 7)
    accounts = ("744-5678-99", "****5678")
    batch = BatchFile(
        batch_id=f"{originator}-0002",
        originator=originator,
        kind=BatchKind.CREDIT,
        processing_date=day,
        currency="CAD",
        entries=tuple(
            BatchEntry(
                direction=Direction.CREDIT,
                amount=Money.of("1000.00", "CAD"),
                payee=f"Employee {n}",
                institution="003",
                transit="00012",
                account=account,
                reference=f"EMP{n:04d}",
            )
            for n, account in enumerate(accounts, start=1)
        ),
    )
    rbc = _cpa005_rbc.write(batch, layout="per-record")
    csv = bambora.write(batch.model_copy(update={"entries": (_bambora_entry(),)}))
    for data, name in ((rbc, "PRDIRECT.DAT"), (csv, f"payroll-{day:%Y%m%d}.csv")):
        accept_file(inbox, "sage", STORE, [data], filename=name, received_at=clock.now())
    dispatcher.drain()

    assert inbox.list_failures() == []
    at_the_back_end = client.get_batch(f"{originator}-0002")
    assert [e.account for e in at_the_back_end.entries] == list(accounts)
    from_csv = client.get_batch(f"PAYROLL-{day:%Y%m%d}")
    assert (from_csv.originator, from_csv.processing_date) == (originator, day)
    assert [e.payee for e in from_csv.entries] == ["Grace Roy"]


def _bambora_entry() -> BatchEntry:
    return BatchEntry(
        direction=Direction.CREDIT,
        amount=Money.of("1899.00", "CAD"),
        payee="Grace Roy",
        institution="815",
        transit="30112",
        account="74456789",
        reference="10002",
    )
