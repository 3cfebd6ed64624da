"""Batch models, diff / apply between versions of a batch, and the cutoff rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from passerelle.batches import (
    DEFAULT_CUTOFF,
    BatchChange,
    BatchChangeError,
    BatchEntry,
    BatchFile,
    BatchKind,
    BatchPastCutoff,
    CutoffPolicy,
    Deleted,
    Direction,
    EntriesAdded,
    EntriesRemoved,
    EntryChanged,
    Rescheduled,
    apply,
    diff,
)
from passerelle.clock import FixedClock
from passerelle.events import BatchFileEdited
from passerelle.formats import cpa005
from passerelle.money import Money

VANCOUVER = ZoneInfo("America/Vancouver")
UTC = dt.UTC
CRONUS = (
    Path(__file__).parent / "fixtures/samples/batch/cpa005/evergrowth-Export_CRONUS_01-works.txt"
)


def entry(
    payee: str,
    amount: str,
    *,
    reference: str | None = None,
    account: str = "1234567",
    direction: Direction = Direction.CREDIT,
) -> BatchEntry:
    return BatchEntry(
        direction=direction,
        amount=Money.of(amount, "CAD"),
        payee=payee,
        account=account,
        institution="003",
        transit="68589",
        reference=reference,
    )


ANN = entry("Ann", "100.00", reference="EMP-1", account="111")
BOB = entry("Bob", "200.00", reference="EMP-2", account="222")
CAT = entry("Cat", "300.00", reference="EMP-3", account="333")


def batch(
    *entries: BatchEntry, date: dt.date = dt.date(2026, 3, 16), kind: BatchKind | None = None
) -> BatchFile:
    directions = {e.direction for e in entries}
    derived = (
        BatchKind.MIXED
        if len(directions) == 2
        else BatchKind(directions.pop().value)
        if directions
        else BatchKind.CREDIT
    )
    return BatchFile(
        batch_id="PAYROLL-0042",
        originator="PAYROLL",
        kind=kind or derived,
        processing_date=date,
        currency="CAD",
        entries=entries,
    )


# --- models -----------------------------------------------------------------------------------


def test_kind_must_follow_the_entries() -> None:
    with pytest.raises(
        ValidationError, match="kind is debit but the entries make the batch credit"
    ):
        batch(ANN, kind=BatchKind.DEBIT)
    with pytest.raises(
        ValidationError, match="kind is mixed but the entries make the batch credit"
    ):
        batch(ANN, BOB, kind=BatchKind.MIXED)


def test_an_empty_batch_may_have_any_kind() -> None:
    assert batch(kind=BatchKind.DEBIT).kind is BatchKind.DEBIT


def test_an_entry_may_name_a_payment_profile_instead_of_an_account() -> None:
    by_profile = BatchEntry(
        direction=Direction.DEBIT, amount=Money.of("15.00", "CAD"), profile="cust-42"
    )

    assert (by_profile.account, by_profile.payee) == (None, None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"account": "123"}, "needs its bank: institution \\+ transit \\(Canada\\) or routing"),
        (
            {"account": "123", "institution": "003", "transit": "12345", "routing": "231380104"},
            "by institution \\+ transit or by routing, not both",
        ),
        ({"institution": "003", "account": "1"}, "needs both institution and transit"),
        ({"routing": "231380104", "payee": "Ann"}, "need an account number"),
        ({"payee": "Ann"}, "name an account \\(account number\\) or a payment profile"),
        ({"account": "1", "routing": "231380104"}, "payee is required unless"),
    ],
)
def test_an_entry_names_an_account_or_a_profile(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BatchEntry(direction=Direction.CREDIT, amount=Money.of("1.00", "CAD"), **fields)


def test_positions_must_match_entries_and_increase() -> None:
    with pytest.raises(ValidationError, match="2 positions for 1 entries"):
        EntriesAdded(entries=(ANN,), positions=(0, 1))
    with pytest.raises(ValidationError, match=r"positions must increase strictly, got \[1, 1\]"):
        EntriesRemoved(entries=(ANN, BOB), positions=(1, 1))


# --- diff -------------------------------------------------------------------------------------


def test_same_batch_has_no_changes() -> None:
    a = batch(ANN, BOB, CAT)

    assert diff(a, a) == ()


def test_reschedule() -> None:
    old = batch(ANN)

    assert diff(old, batch(ANN, date=dt.date(2026, 3, 18))) == (
        Rescheduled(previous=dt.date(2026, 3, 16), processing_date=dt.date(2026, 3, 18)),
    )


def test_entries_matched_by_reference_change_in_place() -> None:
    bob_raised = entry("Bob", "250.00", reference="EMP-2", account="999")

    assert diff(batch(ANN, BOB, CAT), batch(ANN, bob_raised, CAT)) == (
        EntryChanged(before=BOB, after=bob_raised, position=1),
    )


def test_added_and_removed_entries_with_their_positions() -> None:
    dan = entry("Dan", "50.00", reference="EMP-4")

    assert diff(batch(ANN, BOB, CAT), batch(ANN, dan, CAT)) == (
        EntriesRemoved(entries=(BOB,), positions=(1,)),
        EntriesAdded(entries=(dan,), positions=(1,)),
    )


def test_changes_come_in_a_fixed_order() -> None:
    bob_raised = entry("Bob", "250.00", reference="EMP-2", account="222")
    dan = entry("Dan", "50.00", reference="EMP-4")
    old, new = batch(ANN, BOB, CAT), batch(dan, bob_raised, CAT, date=dt.date(2026, 3, 17))

    assert [c.change for c in diff(old, new)] == [
        "rescheduled",
        "entry_changed",
        "entries_removed",
        "entries_added",
    ]


def test_without_unique_references_entries_pair_by_account_and_rank() -> None:
    first = entry("Fabrikam", "10.00", reference="10000")
    second = entry("Fabrikam", "20.00", reference="10000")
    second_edited = entry("Fabrikam", "25.00", reference="10000")

    assert diff(batch(first, second), batch(first, second_edited)) == (
        EntryChanged(before=second, after=second_edited, position=1),
    )


def test_a_moved_entry_is_removed_and_added_again() -> None:
    old, new = batch(ANN, BOB, CAT), batch(CAT, ANN, BOB)

    changes = diff(old, new)

    assert changes == (
        EntriesRemoved(entries=(CAT,), positions=(2,)),
        EntriesAdded(entries=(CAT,), positions=(0,)),
    )
    assert apply(old, changes) == new


def test_a_re_exported_file_diffs_to_what_the_merchant_changed() -> None:
    old = cpa005.read(CRONUS.read_bytes())
    edited = old.entries[1].model_copy(update={"amount": Money.of("3400.00", "CAD")})
    new = old.model_copy(
        update={"processing_date": dt.date(2026, 3, 17), "entries": (old.entries[0], edited)}
    )

    changes = diff(old, cpa005.read(cpa005.write(new)))

    assert changes == (
        Rescheduled(previous=dt.date(2026, 3, 16), processing_date=dt.date(2026, 3, 17)),
        EntryChanged(before=old.entries[1], after=edited, position=1),
    )


def test_diffing_two_different_batches_is_an_error() -> None:
    other = batch(ANN).model_copy(update={"batch_id": "PAYROLL-0043"})

    with pytest.raises(BatchChangeError) as caught:
        diff(batch(ANN), other)

    assert str(caught.value) == (
        "cannot diff batch PAYROLL-0042 against batch PAYROLL-0043: "
        "batch_id 'PAYROLL-0042' differs from 'PAYROLL-0043'"
    )


def test_an_emptied_batch_keeps_its_kind() -> None:
    with pytest.raises(BatchChangeError) as caught:
        diff(batch(ANN), batch(kind=BatchKind.DEBIT))

    assert str(caught.value) == (
        "cannot diff batch PAYROLL-0042: the new version has no entries and kind debit, "
        "but an emptied batch keeps its kind (credit)"
    )
    assert apply(batch(ANN), diff(batch(ANN), batch())) == batch()


# --- apply ------------------------------------------------------------------------------------


def test_apply_replays_a_diff() -> None:
    old = batch(ANN, BOB)
    new = batch(entry("Bob", "1.00", reference="EMP-2", direction=Direction.DEBIT), CAT)

    assert apply(old, diff(old, new)) == new
    assert apply(old, diff(old, new)).kind is BatchKind.MIXED  # type: ignore[union-attr]


def test_changes_survive_the_wire() -> None:
    old, new = batch(ANN, BOB, CAT), batch(CAT, entry("Bob", "9.99", reference="EMP-2"))
    event = BatchFileEdited(batch=old.batch_id, changes=diff(old, new))

    received = BatchFileEdited.model_validate_json(event.model_dump_json())

    assert apply(old, received.changes) == new


def test_deleted_gives_none() -> None:
    assert apply(batch(ANN), [Deleted()]) is None


def test_nothing_after_deleted() -> None:
    with pytest.raises(BatchChangeError) as caught:
        apply(batch(ANN), [Deleted(), EntriesAdded(entries=(BOB,))])

    assert str(caught.value) == (
        "batch PAYROLL-0042: changes[1] (entries_added) comes after the batch was deleted"
    )


def test_removing_an_entry_that_is_not_there() -> None:
    original = batch(ANN, BOB)

    with pytest.raises(BatchChangeError) as caught:
        apply(original, [EntriesRemoved(entries=(CAT,))])

    assert str(caught.value) == (
        "batch PAYROLL-0042: changes[0] (entries_removed) names credit of 300.00 CAD for 'Cat', "
        "which is not in the batch"
    )
    assert original == batch(ANN, BOB)


def test_removing_at_a_position_that_holds_another_entry() -> None:
    with pytest.raises(BatchChangeError) as caught:
        apply(batch(ANN, BOB), [EntriesRemoved(entries=(ANN,), positions=(1,))])

    assert str(caught.value) == (
        "batch PAYROLL-0042: changes[0] (entries_removed) names entries[1] as credit of "
        "100.00 CAD for 'Ann', but it is credit of 200.00 CAD for 'Bob'"
    )


def test_changing_past_the_end() -> None:
    with pytest.raises(BatchChangeError) as caught:
        apply(batch(ANN), [EntryChanged(before=ANN, after=BOB, position=3)])

    assert str(caught.value) == (
        "batch PAYROLL-0042: changes[0] (entry_changed) names entries[3] (credit of 100.00 CAD "
        "for 'Ann'), but the batch has only 1 entries"
    )


def test_adding_past_the_end() -> None:
    with pytest.raises(BatchChangeError) as caught:
        apply(batch(ANN), [EntriesAdded(entries=(BOB,), positions=(2,))])

    assert str(caught.value) == (
        "batch PAYROLL-0042: changes[0] (entries_added) puts credit of 200.00 CAD for 'Bob' at "
        "entries[2], but the batch would have only 1 entries before it"
    )


def test_reschedule_from_another_date() -> None:
    change = Rescheduled(previous=dt.date(2026, 3, 15), processing_date=dt.date(2026, 3, 20))

    with pytest.raises(BatchChangeError) as caught:
        apply(batch(ANN), [change])

    assert str(caught.value) == (
        "batch PAYROLL-0042: changes[0] (rescheduled) moves the batch from 2026-03-15, "
        "but it is on 2026-03-16"
    )


def test_adding_an_entry_in_another_currency() -> None:
    usd = ANN.model_copy(update={"amount": Money.of("1.00", "USD")})

    with pytest.raises(BatchChangeError) as caught:
        apply(batch(ANN), [EntriesAdded(entries=(usd,))])

    assert str(caught.value) == (
        "batch PAYROLL-0042: the changes leave an invalid batch: entries[1] is in USD, the batch in CAD"
    )


def test_changes_without_positions_match_by_equality_and_append() -> None:
    changes: list[BatchChange] = [
        EntryChanged(before=BOB, after=entry("Bob", "1.00", reference="EMP-2")),
        EntriesRemoved(entries=(ANN,)),
        EntriesAdded(entries=(ANN,)),
    ]

    assert apply(batch(ANN, BOB, CAT), changes) == batch(
        entry("Bob", "1.00", reference="EMP-2"), CAT, ANN
    )


def test_change_union_parses_by_discriminator() -> None:
    adapter: TypeAdapter[BatchChange] = TypeAdapter(BatchChange)

    assert adapter.validate_python({"change": "deleted"}) == Deleted()


# --- cutoff -----------------------------------------------------------------------------------


def vancouver(
    year: int, month: int, day: int, hour: int, minute: int, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=VANCOUVER)


def test_default_cutoff_is_eleven_in_vancouver() -> None:
    assert DEFAULT_CUTOFF.cutoff_for(dt.date(2026, 3, 16)) == vancouver(2026, 3, 16, 11, 0)
    assert DEFAULT_CUTOFF.cutoff_for(dt.date(2026, 1, 16)) == dt.datetime(
        2026, 1, 16, 19, tzinfo=UTC
    )
    assert DEFAULT_CUTOFF.cutoff_for(dt.date(2026, 7, 16)) == dt.datetime(
        2026, 7, 16, 18, tzinfo=UTC
    )


def test_one_second_before_the_cutoff_the_batch_may_change() -> None:
    clock = FixedClock(vancouver(2026, 3, 16, 10, 59, 59))

    DEFAULT_CUTOFF.check_changeable(batch(ANN), clock.now())
    DEFAULT_CUTOFF.ensure_before_cutoff(batch(ANN), [EntriesRemoved(entries=(ANN,))], clock.now())


def test_at_the_cutoff_the_batch_is_frozen() -> None:
    clock = FixedClock(vancouver(2026, 3, 16, 11, 0, 0))

    with pytest.raises(BatchPastCutoff) as caught:
        DEFAULT_CUTOFF.check_changeable(batch(ANN), clock.now())

    err = caught.value
    assert str(err) == (
        "batch PAYROLL-0042 for 2026-03-16 is past its cutoff 2026-03-16 11:00 PDT "
        "(America/Vancouver) (now 2026-03-16 11:00:00 PDT): it can no longer be changed"
    )
    assert (err.code, err.batch_id, err.processing_date, err.cutoff, err.now) == (
        "batch_past_cutoff",
        "PAYROLL-0042",
        dt.date(2026, 3, 16),
        vancouver(2026, 3, 16, 11, 0),
        clock.now(),
    )


@pytest.mark.parametrize(
    ("day", "means"),
    [
        (dt.date(2026, 3, 7), dt.date(2026, 3, 9)),  # Saturday: the Monday after
        (dt.date(2026, 3, 8), dt.date(2026, 3, 9)),  # Sunday
        (dt.date(2026, 3, 9), dt.date(2026, 3, 9)),  # Monday itself
        (dt.date(2026, 3, 13), dt.date(2026, 3, 13)),  # Friday itself
    ],
)
def test_a_weekend_processing_date_has_the_next_business_days_cutoff(
    day: dt.date, means: dt.date
) -> None:
    assert DEFAULT_CUTOFF.cutoff_for(day) == DEFAULT_CUTOFF.cutoff_for(means)
    assert DEFAULT_CUTOFF.cutoff_for(day).date() == means


@pytest.mark.parametrize(
    ("day", "last_changeable_utc"),
    [
        # The clocks change on a Sunday: the Friday before and the Monday after.
        (dt.date(2026, 3, 6), dt.datetime(2026, 3, 6, 18, 59, 59, tzinfo=UTC)),  # PST
        (dt.date(2026, 3, 9), dt.datetime(2026, 3, 9, 17, 59, 59, tzinfo=UTC)),  # sprang forward
        (dt.date(2026, 10, 30), dt.datetime(2026, 10, 30, 17, 59, 59, tzinfo=UTC)),  # PDT
        (dt.date(2026, 11, 2), dt.datetime(2026, 11, 2, 18, 59, 59, tzinfo=UTC)),  # fell back
    ],
)
def test_cutoff_across_daylight_saving_changes(
    day: dt.date, last_changeable_utc: dt.datetime
) -> None:
    clock = FixedClock(last_changeable_utc)
    on_day = batch(ANN, date=day)

    DEFAULT_CUTOFF.check_changeable(on_day, clock.now())
    clock.advance(dt.timedelta(seconds=1))
    with pytest.raises(BatchPastCutoff) as caught:
        DEFAULT_CUTOFF.check_changeable(on_day, clock.now())

    assert caught.value.cutoff.astimezone(VANCOUVER).strftime("%H:%M:%S") == "11:00:00"


def test_utc_clock_is_shown_in_the_policy_zone() -> None:
    clock = FixedClock(dt.datetime(2026, 11, 2, 19, 0, 5, tzinfo=UTC))

    with pytest.raises(BatchPastCutoff) as caught:
        DEFAULT_CUTOFF.check_changeable(batch(ANN, date=dt.date(2026, 11, 2)), clock.now())

    assert str(caught.value) == (
        "batch PAYROLL-0042 for 2026-11-02 is past its cutoff 2026-11-02 11:00 PST "
        "(America/Vancouver) (now 2026-11-02 11:00:05 PST): it can no longer be changed"
    )


def test_a_reschedule_is_checked_against_the_old_date() -> None:
    clock = FixedClock(vancouver(2026, 3, 16, 11, 30))
    move = Rescheduled(previous=dt.date(2026, 3, 16), processing_date=dt.date(2026, 3, 20))

    with pytest.raises(BatchPastCutoff) as caught:
        DEFAULT_CUTOFF.ensure_before_cutoff(batch(ANN), [move], clock.now())

    assert caught.value.processing_date == dt.date(2026, 3, 16)
    assert caught.value.rescheduled_to is None


def test_a_reschedule_to_a_date_past_its_cutoff_is_refused() -> None:
    clock = FixedClock(vancouver(2026, 3, 16, 12, 0))
    later = batch(ANN, date=dt.date(2026, 3, 20))
    back_to_today = Rescheduled(previous=dt.date(2026, 3, 20), processing_date=dt.date(2026, 3, 16))

    with pytest.raises(BatchPastCutoff) as caught:
        DEFAULT_CUTOFF.ensure_before_cutoff(later, [back_to_today], clock.now())

    assert str(caught.value) == (
        "batch PAYROLL-0042 for 2026-03-20 cannot be rescheduled to 2026-03-16: that date's "
        "cutoff 2026-03-16 11:00 PDT (America/Vancouver) has passed (now 2026-03-16 12:00:00 PDT)"
    )
    assert caught.value.rescheduled_to == dt.date(2026, 3, 16)


def test_a_reschedule_to_a_later_date_before_the_cutoff_is_fine() -> None:
    clock = FixedClock(vancouver(2026, 3, 16, 10, 59, 59))
    move = Rescheduled(previous=dt.date(2026, 3, 16), processing_date=dt.date(2026, 3, 17))

    DEFAULT_CUTOFF.ensure_before_cutoff(batch(ANN), [move], clock.now())


def test_cutoff_time_and_zone_are_configurable() -> None:
    toronto = CutoffPolicy(time=dt.time(15, 30), zone="America/Toronto")

    assert toronto.cutoff_for(dt.date(2026, 3, 16)) == dt.datetime(2026, 3, 16, 19, 30, tzinfo=UTC)
    toronto.check_changeable(batch(ANN), dt.datetime(2026, 3, 16, 19, 29, 59, tzinfo=UTC))
    with pytest.raises(BatchPastCutoff):
        toronto.check_changeable(batch(ANN), dt.datetime(2026, 3, 16, 19, 30, tzinfo=UTC))


def test_policy_rejects_an_unknown_zone_and_an_aware_time() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'America/Atlantis'"):
        CutoffPolicy(zone="America/Atlantis")
    with pytest.raises(ValidationError, match="give the cutoff time without a time zone"):
        CutoffPolicy(time=dt.time(11, tzinfo=UTC))


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="now 2026-03-16T10:00:00 has no time zone"):
        DEFAULT_CUTOFF.check_changeable(batch(ANN), dt.datetime(2026, 3, 16, 10))


def test_a_batch_in_a_currency_iso_4217_does_not_know_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        BatchFile(
            batch_id="B-1",
            originator="ACME",
            kind=BatchKind.CREDIT,
            processing_date=dt.date(2026, 3, 16),
            currency="XYZ",
            entries=(),
        )

    (error,) = caught.value.errors()
    assert error["loc"] == ("currency",)
    assert "unknown currency 'XYZ': expected an ISO 4217 code such as CAD" in error["msg"]
