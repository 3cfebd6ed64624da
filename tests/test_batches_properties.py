"""Rules that hold for every batch: diff / apply between versions, and the cutoff."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from passerelle.batches import (
    DEFAULT_CUTOFF,
    BatchChange,
    BatchEntry,
    BatchFile,
    BatchKind,
    BatchPastCutoff,
    Direction,
    EntriesAdded,
    EntriesRemoved,
    EntryChanged,
    Rescheduled,
    apply,
    diff,
    kind_of,
)
from passerelle.money import Money

CHANGES: TypeAdapter[tuple[BatchChange, ...]] = TypeAdapter(tuple[BatchChange, ...])

# Small pools, so that references repeat, accounts collide and versions share entries.
accounts = st.sampled_from(
    [("003", "68589", "1001"), ("003", "68589", "1002"), ("815", "30012", "1001")]
)
references = st.sampled_from([None, None, "INV-1", "INV-2", "INV-3", ""])


@st.composite
def entries(draw: st.DrawFn) -> BatchEntry:
    institution, transit, account = draw(accounts)
    return BatchEntry(
        direction=draw(st.sampled_from(Direction)),
        amount=Money.from_minor(draw(st.sampled_from([100, 250, 99999])), "CAD"),
        payee=draw(st.sampled_from(["Ann", "Bob"])),
        account=account,
        institution=institution,
        transit=transit,
        reference=draw(references),
    )


def make(items: list[BatchEntry], date: dt.date, empty_kind: BatchKind) -> BatchFile:
    return BatchFile(
        batch_id="PAYROLL-0042",
        originator="PAYROLL",
        kind=kind_of(items) or empty_kind,
        processing_date=date,
        currency="CAD",
        entries=tuple(items),
    )


dates = st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
kinds = st.sampled_from(BatchKind)


@st.composite
def batches(draw: st.DrawFn) -> BatchFile:
    return make(draw(st.lists(entries(), max_size=8)), draw(dates), draw(kinds))


@st.composite
def versions(draw: st.DrawFn) -> tuple[BatchFile, BatchFile]:
    """Two versions of one batch: an edit of the first (kept, dropped, edited, added, moved
    entries), or an unrelated list of entries."""
    old = draw(batches())
    if draw(st.booleans()):
        items: list[BatchEntry] = []
        for e in old.entries:
            action = draw(st.sampled_from(["keep", "keep", "drop", "edit"]))
            if action == "keep":
                items.append(e)
            elif action == "edit":
                items.append(
                    e.model_copy(
                        update={"amount": Money.from_minor(draw(st.integers(1, 500)), "CAD")}
                    )
                )
        for new in draw(st.lists(entries(), max_size=3)):
            items.insert(draw(st.integers(0, len(items))), new)
        if draw(st.booleans()):
            items = draw(st.permutations(items))
    else:
        items = draw(st.lists(entries(), max_size=8))
    date = draw(st.just(old.processing_date) | dates)
    return old, make(items, date, old.kind)


@settings(max_examples=200, deadline=None)
@given(batch=batches())
def test_a_batch_has_no_changes_from_itself(batch: BatchFile) -> None:
    assert diff(batch, batch) == ()


@settings(max_examples=300, deadline=None)
@given(pair=versions())
def test_applying_the_diff_gives_the_new_version(pair: tuple[BatchFile, BatchFile]) -> None:
    old, new = pair

    changes = diff(old, new)

    assert apply(old, changes) == new
    assert (changes == ()) == (old == new)


@settings(max_examples=150, deadline=None)
@given(pair=versions())
def test_the_diff_survives_json_and_keeps_its_order(pair: tuple[BatchFile, BatchFile]) -> None:
    old, new = pair
    changes = diff(old, new)

    received = CHANGES.validate_json(CHANGES.dump_json(changes))

    assert received == changes == diff(old, new)
    assert apply(old, received) == new
    rank = {Rescheduled: 0, EntryChanged: 1, EntriesRemoved: 2, EntriesAdded: 3}
    assert [rank[type(c)] for c in changes] == sorted(rank[type(c)] for c in changes)
    positions = [c.position for c in changes if isinstance(c, EntryChanged)]
    assert None not in positions
    assert positions == sorted(p for p in positions if p is not None)


@settings(max_examples=150, deadline=None)
@given(batch=batches(), data=st.data())
def test_editing_amounts_in_place_gives_only_entry_changes(
    batch: BatchFile, data: st.DataObject
) -> None:
    edited = tuple(
        e.model_copy(update={"amount": e.amount + Money.of("1.00", "CAD")})
        if data.draw(st.booleans())
        else e
        for e in batch.entries
    )
    new = batch.model_copy(update={"entries": edited})

    changes = diff(batch, new)

    assert all(isinstance(c, EntryChanged) for c in changes)
    assert len(changes) == sum(a != b for a, b in zip(batch.entries, edited, strict=True))


VANCOUVER = ZoneInfo("America/Vancouver")


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)),
    offset=st.integers(-36 * 3600, 36 * 3600),
)
def test_changeable_exactly_until_eleven_vancouver_time(day: dt.date, offset: int) -> None:
    cutoff = DEFAULT_CUTOFF.cutoff_for(day)
    now = (cutoff + dt.timedelta(seconds=offset)).astimezone(dt.UTC)
    batch = make([], day, BatchKind.CREDIT)

    local = cutoff.astimezone(VANCOUVER)
    # A weekend date is processed, and closes, on the Monday after.
    business_day = day + dt.timedelta(days=(7 - day.weekday()) % 7 if day.weekday() >= 5 else 0)
    assert (local.date(), local.hour, local.minute, local.second) == (business_day, 11, 0, 0)
    assert local.weekday() < 5
    try:
        DEFAULT_CUTOFF.check_changeable(batch, now)
    except BatchPastCutoff:
        assert offset >= 0
    else:
        assert offset < 0
