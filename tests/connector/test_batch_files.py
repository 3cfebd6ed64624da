"""Batch files end to end: stored byte for byte, versioned per batch, diffed, and brought to the
sandbox back end over a real socket by the dispatcher, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import AsyncIterator

import pytest
from batch_support import PLATFORM, STORE, CpaFiles, Seen, business_day, new_originator, payroll
from dispatch_support import make_dispatcher

from passerelle.backend.calls import call_batch_backend
from passerelle.backend.client import BackendClient
from passerelle.backend.errors import UnknownBatchError
from passerelle.backend.models import BatchStatus
from passerelle.batches import (
    BatchFile,
    CutoffPolicy,
    EntriesAdded,
    EntriesRemoved,
    Rescheduled,
)
from passerelle.clock import FixedClock
from passerelle.connector.dispatcher import Dispatcher
from passerelle.connector.files import (
    FileReceipt,
    FileTooLargeError,
    accept_file,
    accept_file_async,
    translate_file,
)
from passerelle.connector.store import DeliveryStatus, DeliveryStore
from passerelle.events import BatchFileEdited, Envelope
from passerelle.formats import FormatError, cpa005
from passerelle.hookspecs import hookimpl
from passerelle.platforms import Store
from passerelle.sandbox.server import SandboxServer


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


def _dispatcher(
    store: DeliveryStore, client: BackendClient, clock: FixedClock, *observers: object
) -> Dispatcher:
    return make_dispatcher(store, client, clock, *observers, platform=CpaFiles(), store_id=STORE)


def _submit(
    store: DeliveryStore, clock: FixedClock, data: bytes, name: str = "PRDIRECT.DAT"
) -> FileReceipt:
    return accept_file(store, PLATFORM, STORE, [data], filename=name, received_at=clock.now())


def test_a_file_is_kept_byte_for_byte_and_the_same_bytes_twice_are_one_file(
    store: DeliveryStore, clock: FixedClock
) -> None:
    data = cpa005.write(payroll(new_originator(), business_day(clock.now().date(), 7), "100.00"))
    data = data.replace(b"\n", b"\r\n")  # line ends as a bank wants them, kept as they are
    first = accept_file(
        store,
        PLATFORM,
        STORE,
        [data[:1000], data[1000:]],
        filename="PRDIRECT.DAT",
        received_at=clock.now(),
    )
    archive = _submit(store, clock, data, "PRDI0001.DAT")

    assert not first.duplicate
    assert archive.duplicate
    assert archive.delivery_id == first.delivery_id
    stored = store.get(first.delivery_id)
    assert stored.body == data
    assert dict(stored.headers)["X-Passerelle-Filename"] == "PRDIRECT.DAT"
    assert first.size == len(data)
    assert stored.delivery_key == f"sha256:{first.sha256}"


def test_a_file_past_the_limit_is_refused_and_nothing_is_stored(
    store: DeliveryStore, clock: FixedClock
) -> None:
    with pytest.raises(FileTooLargeError, match=r"^big\.DAT: .* limit of 10 bytes$"):
        accept_file(
            store,
            PLATFORM,
            STORE,
            [b"A" * 6, b"B" * 6],
            filename="big.DAT",
            received_at=clock.now(),
            limit=10,
        )
    assert store.stats().get(DeliveryStatus.PENDING, 0) == 0


@pytest.mark.anyio
async def test_an_upload_streams_into_the_inbox(store: DeliveryStore, clock: FixedClock) -> None:
    data = cpa005.write(payroll(new_originator(), business_day(clock.now().date(), 7), "5.00"))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 500):
            yield data[start : start + 500]

    receipt = await accept_file_async(
        store, PLATFORM, STORE, chunks(), filename="APDIRECT.DAT", received_at=clock.now()
    )
    assert store.get(receipt.delivery_id).body == data


def test_versions_are_numbered_per_batch_and_a_retry_finds_the_same_version(
    store: DeliveryStore, clock: FixedClock
) -> None:
    originator, day = new_originator(), business_day(clock.now().date(), 7)
    v1 = payroll(originator, day, "100.00", "200.00")
    v2 = payroll(originator, business_day(day, 1), "100.00")
    one = _submit(store, clock, cpa005.write(v1)).delivery_id
    two = _submit(store, clock, cpa005.write(v2)).delivery_id
    platform = CpaFiles()

    first = translate_file(platform, Store(PLATFORM, STORE), store.get(one), store)
    second = translate_file(platform, Store(PLATFORM, STORE), store.get(two), store)
    again = translate_file(platform, Store(PLATFORM, STORE), store.get(two), store)

    (created,) = first.events
    assert isinstance(created, BatchFileEdited)
    assert created.changes == (EntriesAdded(entries=v1.entries),)
    assert created.after == v1
    assert second == again
    (edited,) = second.events
    assert isinstance(edited, BatchFileEdited)
    assert edited.processing_date == day
    assert edited.changes == (
        Rescheduled(previous=day, processing_date=v2.processing_date),
        EntriesRemoved(entries=(v1.entries[1],), positions=(1,)),
    )
    versions = store.batch_versions(PLATFORM, STORE, v1.batch_id)
    assert [(v.number, v.delivery_id) for v in versions] == [(1, one), (2, two)]
    assert BatchFile.model_validate_json(versions[1].batch) == v2
    assert store.batch_versions(PLATFORM, "another-store", v1.batch_id) == []
    assert store.latest_batch_versions(PLATFORM, STORE) == [versions[1]]


def test_a_new_batch_then_a_corrected_version_reach_the_back_end(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    seen = Seen()
    dispatcher = _dispatcher(store, client, clock, seen)
    originator, day = new_originator(), business_day(clock.now().date(), 7)
    v1 = payroll(originator, day, "1500.00", "2100.00", "1800.00")
    v2 = payroll(originator, business_day(day, 2), "1500.00", "1800.00")
    v2 = v2.model_copy(update={"entries": (v1.entries[0], v1.entries[2])})

    first = _submit(store, clock, cpa005.write(v1)).delivery_id
    assert dispatcher.drain() == 1
    view = client.get_batch(v1.batch_id)
    assert view.status is BatchStatus.SCHEDULED
    assert view.processing_date == day
    assert [item.to_entry() for item in view.entries] == list(v1.entries)

    second = _submit(store, clock, cpa005.write(v2)).delivery_id
    same = _submit(store, clock, cpa005.write(v2), "PRDI0002.DAT")
    assert same.duplicate
    assert dispatcher.drain() == 1

    view = client.get_batch(v1.batch_id)
    assert view.processing_date == v2.processing_date
    assert [item.to_entry() for item in view.entries] == list(v2.entries)
    assert store.get(first).status is DeliveryStatus.DONE
    assert json.loads(store.get(first).outcome or "") == [
        f"new batch {v1.batch_id}: 3 entries, 5400.00 CAD for {day}"
    ]
    assert json.loads(store.get(second).outcome or "") == [
        f"batch {v1.batch_id}: rescheduled {day} -> {v2.processing_date}; 1 entry removed"
    ]
    assert [[c.change for c in e.changes] for e in seen.events] == [
        ["entries_added"],
        ["rescheduled", "entries_removed"],
    ]


def test_the_same_batch_again_under_other_bytes_changes_nothing(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    dispatcher = _dispatcher(store, client, clock)
    batch = payroll(new_originator(), business_day(clock.now().date(), 7), "10.00")
    _submit(store, clock, cpa005.write(batch))
    again = _submit(store, clock, cpa005.write(batch, line_end="\r\n")).delivery_id
    dispatcher.drain()

    stored = store.get(again)
    assert stored.status is DeliveryStatus.IGNORED
    assert stored.outcome == (f"version 2 of batch {batch.batch_id} is the same batch as version 1")


def test_a_malformed_file_is_filed_with_its_position_and_nothing_is_sent(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    batch = payroll(new_originator(), business_day(clock.now().date(), 7), "10.00")
    data = bytearray(cpa005.write(batch))
    data[24 + 1464 + 1 + 3] = ord("X")  # in the amount of the first credit
    delivery = _submit(store, clock, bytes(data)).delivery_id
    with pytest.raises(FormatError) as expected:
        cpa005.read(bytes(data), filename="PRDIRECT.DAT")

    _dispatcher(store, client, clock).drain()

    failed = store.get(delivery)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.code == "unreadable_file"
    assert failed.last_error.message == str(expected.value)
    assert store.batch_versions(PLATFORM, STORE, batch.batch_id) == []


def test_an_edit_past_the_cutoff_is_filed_and_the_back_end_keeps_its_batch(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    dispatcher = _dispatcher(store, client, clock)
    originator, day = new_originator(), business_day(clock.now().date(), 7)
    v1 = payroll(originator, day, "10.00", "20.00")
    _submit(store, clock, cpa005.write(v1))
    dispatcher.drain()

    clock.set(CutoffPolicy().cutoff_for(day) + dt.timedelta(minutes=1))
    late = _submit(store, clock, cpa005.write(payroll(originator, day, "10.00"))).delivery_id
    dispatcher.drain()

    failed = store.get(late)
    assert failed.last_error is not None
    assert failed.last_error.code == "batch_past_cutoff"
    assert len(client.get_batch(v1.batch_id).entries) == 2


def test_the_back_end_step_finishes_an_edit_that_half_reached_it(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    dispatcher = _dispatcher(store, client, clock)
    originator, day = new_originator(), business_day(clock.now().date(), 7)
    v1 = payroll(originator, day, "10.00", "20.00", "30.00")
    v2 = payroll(originator, business_day(day, 1), "10.00", "30.00")
    _submit(store, clock, cpa005.write(v1))
    dispatcher.drain()
    event = BatchFileEdited(
        batch=v1.batch_id,
        changes=(Rescheduled(previous=day, processing_date=v2.processing_date),),
        processing_date=day,
        after=v2,
    )
    key = f"pse1_{random.randrange(16**40):040x}"
    # An earlier attempt moved the date, then lost the back end before replacing the entries.
    client.reschedule_batch(v1.batch_id, v2.processing_date, idempotency_key=f"{key}.date")

    done = call_batch_backend(client, event, key)
    again = call_batch_backend(client, event, key)

    assert done is not None
    assert done.processing_date == v2.processing_date
    assert [item.to_entry() for item in done.entries] == list(v2.entries)
    assert again == done


def test_a_new_batch_repeating_a_pending_batchs_payments_waits_for_a_person(
    store: DeliveryStore, client: BackendClient, clock: FixedClock
) -> None:
    dispatcher = _dispatcher(store, client, clock)
    day = business_day(clock.now().date(), 7)
    paid = payroll(new_originator(), day, "1500.00", "2100.00")
    extra = payroll(new_originator(), business_day(day, 1), "1.00", "1.00", "99.00")
    again = extra.model_copy(
        update={"entries": (paid.entries[1], paid.entries[0], extra.entries[2])}
    )
    _submit(store, clock, cpa005.write(paid))
    dispatcher.drain()
    second = _submit(store, clock, cpa005.write(again)).delivery_id
    dispatcher.drain()

    failed = store.get(second)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.code == "batch_overlap"
    assert failed.last_error.message == (
        f"batch {again.batch_id} repeats 2 entries of batch {paid.batch_id}, still pending for "
        f"{day}: Employee 1 1500.00 CAD to 001-10001 ...4501, reference EMP0001; Employee 2 "
        "2100.00 CAD to 001-10002 ...4502, reference EMP0002. Nothing is sent; retry it by hand "
        "to send it anyway, or dismiss it"
    )
    with pytest.raises(UnknownBatchError):
        client.get_batch(again.batch_id)

    store.requeue([second], note="two pay runs this month: send it")
    dispatcher.drain()

    assert store.get(second).status is DeliveryStatus.DONE
    assert len(client.get_batch(again.batch_id).entries) == 3


def test_payments_of_a_batch_past_its_cutoff_or_of_other_amounts_are_no_overlap(
    store: DeliveryStore, clock: FixedClock
) -> None:
    day = business_day(clock.now().date(), 1)
    originator = new_originator()
    platform = CpaFiles()
    there = Store(PLATFORM, STORE)
    first = _submit(store, clock, cpa005.write(payroll(originator, day, "10.00"))).delivery_id
    translate_file(platform, there, store.get(first), store)
    other_amount = payroll(new_originator(), business_day(day, 7), "10.01")
    second = _submit(store, clock, cpa005.write(other_amount)).delivery_id
    assert translate_file(
        platform, there, store.get(second), store, cutoff=CutoffPolicy(), now=clock.now()
    ).events

    clock.set(CutoffPolicy().cutoff_for(day))
    same = payroll(new_originator(), business_day(day, 7), "10.00")
    third = _submit(store, clock, cpa005.write(same)).delivery_id
    assert translate_file(
        platform, there, store.get(third), store, cutoff=CutoffPolicy(), now=clock.now()
    ).events


class BackEndWitness:
    """An observer noting, as each batch edit reaches it, the back end's batch at that moment."""

    def __init__(self, client: BackendClient) -> None:
        self.client = client
        self.seen: list[tuple[str, dt.date, int]] = []

    @hookimpl
    def batch_file_edited(self, envelope: Envelope, event: BatchFileEdited) -> None:
        view = self.client.get_batch(event.batch)
        self.seen.append((event.batch, view.processing_date, len(view.entries)))


def test_observers_see_a_batch_edit_only_once_the_back_end_accepted_it(
    store: DeliveryStore, client: BackendClient, clock: FixedClock, sandbox: SandboxServer
) -> None:
    witness = BackEndWitness(client)
    dispatcher = _dispatcher(store, client, clock, witness)
    originator, day = new_originator(), business_day(clock.now().date(), 7)
    v1 = payroll(originator, day, "10.00", "20.00", "30.00")
    v2 = payroll(originator, business_day(day, 1), "10.00", "30.00")
    _submit(store, clock, cpa005.write(v1))
    _submit(store, clock, cpa005.write(v2))
    dispatcher.drain()
    # Each call came after the back end had the version: its date and entries, not the old ones.
    assert witness.seen == [(v1.batch_id, day, 3), (v1.batch_id, v2.processing_date, 2)]

    # Refused by the back end's own clock: past the cutoff there, not yet here.
    v3 = payroll(originator, business_day(day, 1), "10.00")
    sandbox.state.set_clock(CutoffPolicy().cutoff_for(v2.processing_date))
    try:
        refused = _submit(store, clock, cpa005.write(v3)).delivery_id
        dispatcher.drain()
    finally:
        sandbox.state.release_clock()
    # Refused here, past the connector's cutoff: nothing is sent.
    clock.set(CutoffPolicy().cutoff_for(v2.processing_date))
    late = _submit(store, clock, cpa005.write(v3), "PRDI0003.DAT").delivery_id
    dispatcher.drain()
    # A new batch repeating the first one's payments waits for a person.
    overlap = payroll(new_originator(), business_day(day, 9), "10.00")
    overlap = overlap.model_copy(update={"entries": v2.entries})
    clock.set(dt.datetime.now(dt.UTC).replace(microsecond=0))
    held = _submit(store, clock, cpa005.write(overlap)).delivery_id
    dispatcher.drain()

    codes = [store.get(i).last_error for i in (refused, late, held)]
    assert [error.code if error else None for error in codes] == [
        "batch_past_cutoff",
        "batch_past_cutoff",
        "batch_overlap",
    ]
    assert witness.seen == [(v1.batch_id, day, 3), (v1.batch_id, v2.processing_date, 2)]
    assert len(client.get_batch(v1.batch_id).entries) == 2
