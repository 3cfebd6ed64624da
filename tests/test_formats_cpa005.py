"""CPA-005 files: the samples, round trips, and every way a file can be wrong."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle import formats
from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction, kind_of
from passerelle.formats import FormatError, cpa005
from passerelle.money import Money

SAMPLES = Path(__file__).parent / "fixtures" / "samples" / "batch" / "cpa005"
FIXTURES = Path(__file__).parent / "fixtures" / "batch" / "cpa005"
CRONUS = (SAMPLES / "evergrowth-Export_CRONUS_01-works.txt").read_bytes()


def put(data: bytes, line: int, position: int, text: str, *, end: bytes = b"\n") -> bytes:
    """`data` with `text` written over line `line` from 1-based `position`."""
    lines = data.split(end)
    record = lines[line - 1].decode("cp1252")
    record = record[: position - 1] + text + record[position - 1 + len(text) :]
    lines[line - 1] = record.encode("cp1252")
    return end.join(lines)


def error(data: bytes, filename: str = "PRDIRECT.DAT") -> str:
    with pytest.raises(FormatError) as caught:
        cpa005.read(data, filename=filename)
    return str(caught.value)


# --- what the files hold ----------------------------------------------------------------------


def cronus_entry(amount: str) -> BatchEntry:
    return BatchEntry(
        direction=Direction.CREDIT,
        amount=Money.of(amount, "CAD"),
        payee="FABRIKAM, INC.",
        account="668885684",
        institution="003",
        transit="68589",
        reference="10000",
        transaction_code="450",
    )


def test_erp_export_sample_reads_as_two_credits() -> None:
    batch = cpa005.read(CRONUS, filename="Export CRONUS 01.txt")

    assert batch == BatchFile(
        batch_id="XYZAB55255-0039",
        originator="XYZAB55255",
        kind=BatchKind.CREDIT,
        processing_date=dt.date(2026, 3, 16),  # 026075: day 75 of 2026
        currency="CAD",  # the header leaves the currency blank
        entries=(cronus_entry("3567.80"), cronus_entry("3317.00")),
    )


def test_blank_header_currency_takes_the_default_currency() -> None:
    batch = cpa005.read(CRONUS, default_currency="USD")

    assert batch.currency == "USD"
    assert [e.amount for e in batch.entries] == [
        Money.of("3567.80", "USD"),
        Money.of("3317.00", "USD"),
    ]


@pytest.mark.parametrize("end", [b"\r\n", b"\r", b"\n"])
@pytest.mark.parametrize("final", [True, False])
def test_any_line_end_with_or_without_a_final_one(end: bytes, final: bool) -> None:
    data = CRONUS.replace(b"\n", end) + (end if final else b"")

    assert cpa005.read(data) == cpa005.read(CRONUS)


def test_pad_debits_with_several_segments_per_record_and_crlf() -> None:
    data = (FIXTURES / "PAD0007-debits-crlf.txt").read_bytes()

    batch = cpa005.read(data)

    def debit(
        amount: str, payee: str, inst: str, transit: str, account: str, ref: str
    ) -> BatchEntry:
        return BatchEntry(
            direction=Direction.DEBIT,
            amount=Money.of(amount, "CAD"),
            payee=payee,
            institution=inst,
            transit=transit,
            account=account,
            reference=ref,
            transaction_code="700",
        )

    assert batch == BatchFile(
        batch_id="PADCO00001-0007",
        originator="PADCO00001",
        kind=BatchKind.DEBIT,
        processing_date=dt.date(2024, 11, 4),
        currency="CAD",
        entries=(
            debit("45.00", "Émilie Tremblay", "815", "30012", "1234567", "INV-1001"),
            debit("129.99", "Northwind Traders", "001", "00011", "99887766554", "INV-1002"),
            debit("12.50", "Jean-Luc Côté", "006", "12345", "000123", "INV-1003"),
            debit("1000.00", "Contoso Ltd.", "004", "40001", "5555", "INV-1004"),
        ),
    )


def test_mixed_usd_file_with_cr_line_ends() -> None:
    batch = cpa005.read((FIXTURES / "MIX9999-mixed-usd-cr.txt").read_bytes())

    assert (batch.batch_id, batch.kind, batch.currency, batch.processing_date) == (
        "MIXUSD0001-9999",
        BatchKind.MIXED,
        "USD",
        dt.date(2024, 2, 29),
    )
    assert [(e.direction, e.amount, e.payee, e.reference) for e in batch.entries] == [
        (Direction.CREDIT, Money.of("250.00", "USD"), "Alpha Supply", None),
        (Direction.DEBIT, Money.of("75.25", "USD"), "Beta Rentals", None),
        (Direction.CREDIT, Money.of("0.01", "USD"), "Gamma Test", None),
    ]


def test_a_file_without_transactions_is_an_empty_credit_batch_on_its_creation_date() -> None:
    lines = CRONUS.split(b"\n")
    trailer = put(lines[3], 1, 1, "Z000000002").replace(b"000000688480", b"000000000000")
    trailer = put(trailer, 1, 61, "00000000")

    batch = cpa005.read(b"\n".join([lines[0], trailer]))

    assert (batch.entries, batch.kind, batch.processing_date) == (
        (),
        BatchKind.CREDIT,
        dt.date(2026, 3, 16),
    )


def test_detect_and_dispatch() -> None:
    assert formats.detect(CRONUS) == "cpa005"
    assert formats.read(CRONUS, filename="x.txt") == cpa005.read(CRONUS)


# --- round trip -------------------------------------------------------------------------------

NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,&'-éÉèçÇô"
accounts = (
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)
"""Account numbers are alphanumeric: digits, letters, hyphens, masks (744-5678-99, XXXX1234)."""


@st.composite
def cpa_batches(draw: st.DrawFn) -> BatchFile:
    currency = draw(st.sampled_from(["CAD", "USD"]))
    entries = draw(
        st.lists(
            st.builds(
                BatchEntry,
                direction=st.sampled_from(Direction),
                amount=st.integers(1, 9_999_999_999).map(lambda c: Money.from_minor(c, currency)),
                payee=st.text(NAME_CHARS, min_size=1, max_size=30).filter(str.strip),
                account=accounts,
                institution=st.text("0123456789", min_size=3, max_size=3),
                transit=st.text("0123456789", min_size=5, max_size=5),
                reference=st.none() | st.text(NAME_CHARS, max_size=19).filter(str.strip),
                transaction_code=st.sampled_from(["200", "430", "450", "460", "700"]),
            ),
            max_size=14,
        )
    )
    originator = draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=10))
    return BatchFile(
        batch_id=f"{originator}-{draw(st.integers(1, 9999)):04d}",
        originator=originator,
        kind=kind_of(entries) or BatchKind.CREDIT,
        processing_date=draw(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))),
        currency=currency,
        entries=tuple(entries),
    )


@settings(max_examples=60, deadline=None)
@given(
    batch=cpa_batches(),
    segments=st.integers(1, 6),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_read_gives_back_what_write_wrote(batch: BatchFile, segments: int, line_end: str) -> None:
    data = cpa005.write(batch, segments_per_record=segments, line_end=line_end)

    assert cpa005.read(data) == batch
    assert formats.detect(data) == "cpa005"


def test_written_records_are_1464_characters_and_segments_fill_records() -> None:
    batch = cpa005.read((FIXTURES / "PAD0007-debits-crlf.txt").read_bytes())

    lines = cpa005.write(batch, segments_per_record=2).decode("cp1252").splitlines()

    assert [len(line) for line in lines] == [1464] * 4
    assert [line[0] for line in lines] == ["A", "D", "D", "Z"]
    assert [line[1:10] for line in lines] == ["000000001", "000000002", "000000003", "000000004"]


# --- bad files: each names the line, positions and field --------------------------------------


def test_bad_amount() -> None:
    assert error(put(CRONUS, 2, 28, "00000abc12")) == (
        "PRDIRECT.DAT line 2, positions 28-37 (amount): '00000abc12' is not a number"
    )


def test_bad_amount_in_a_later_segment_names_that_segment_positions() -> None:
    data = (FIXTURES / "PAD0007-debits-crlf.txt").read_bytes()

    assert error(put(data, 2, 268, "12345X7890", end=b"\r\n")) == (
        "PRDIRECT.DAT line 2, positions 268-277 (amount): '12345X7890' is not a number"
    )


def test_zero_amount() -> None:
    assert error(put(CRONUS, 3, 28, "0000000000")) == (
        "PRDIRECT.DAT line 3, positions 28-37 (amount): '0000000000' must be greater than zero"
    )


def test_wrong_record_count() -> None:
    assert error(put(CRONUS, 3, 2, "000000005")) == (
        "PRDIRECT.DAT line 3, positions 2-10 (record count): "
        "'000000005' is out of sequence: expected 000000003"
    )


def test_unbalanced_trailer_value() -> None:
    assert error(put(CRONUS, 4, 47, "00000000688481")) == (
        "PRDIRECT.DAT line 4, positions 47-60 (total value of C and I): expected 00000000688480 "
        "(the C and I transactions total 6884.80 CAD), found '00000000688481'"
    )


def test_unbalanced_trailer_count() -> None:
    assert error(put(CRONUS, 4, 61, "00000003")) == (
        "PRDIRECT.DAT line 4, positions 61-68 (number of C and I transactions): expected "
        "00000002 (the file has 2 C and I transactions), found '00000003'"
    )


def test_trailer_that_counts_credits_as_debits() -> None:
    data = put(CRONUS, 4, 25, "00000000688480" + "00000002")

    assert error(data) == (
        "PRDIRECT.DAT line 4, positions 25-38 (total value of D and J): expected 00000000000000 "
        "(the D and J transactions total 0.00 CAD), found '00000000688480'"
    )


def test_truncated_record() -> None:
    lines = CRONUS.split(b"\n")
    lines[2] = lines[2][:1000]

    assert error(b"\n".join(lines)) == (
        "PRDIRECT.DAT line 3, positions 1001-1464: the record ends at position 1000; "
        "CPA-005 records are 1464 characters"
    )


def test_overlong_record() -> None:
    lines = CRONUS.split(b"\n")
    lines[1] += b"  "

    assert error(b"\n".join(lines)) == (
        "PRDIRECT.DAT line 2, positions 1465-1466: the record is 1466 characters long; "
        "CPA-005 records are 1464 characters"
    )


def test_non_blank_field_after_a_blank_segment() -> None:
    assert error(put(CRONUS, 2, 600, "X")) == (
        "PRDIRECT.DAT line 2, positions 505-744 (segment 3): segment 2 is blank, which ends the "
        "record, so this segment must be blank"
    )


def test_blank_first_segment() -> None:
    assert error(put(CRONUS, 2, 25, " " * 240)) == (
        "PRDIRECT.DAT line 2, positions 25-264 (segment 1): "
        "blank: a detail record carries at least one transaction"
    )


def test_unknown_record_type() -> None:
    assert error(put(CRONUS, 3, 1, "X")) == (
        "PRDIRECT.DAT line 3, position 1 (record type): "
        "'X' is not a CPA-005 record type (A, C, D, E, F, I, J, Z)"
    )


@pytest.mark.parametrize(
    ("letter", "what"),
    [
        ("E", "reversals of credits"),
        ("F", "reversals of debits"),
        ("I", "returned credits"),
        ("J", "returned debits"),
    ],
)
def test_records_from_the_bank_are_refused(letter: str, what: str) -> None:
    assert error(put(CRONUS, 2, 1, letter)) == (
        f"PRDIRECT.DAT line 2, position 1 (record type): {letter} records ({what}) come from "
        "the bank; a batch to send carries C and D records"
    )


def test_file_must_start_with_a_header() -> None:
    lines = CRONUS.split(b"\n")

    assert error(b"\n".join(lines[1:])) == (
        "PRDIRECT.DAT line 1, position 1 (record type): "
        "the file must start with an A header record, found 'C'"
    )


def test_file_must_end_with_a_trailer() -> None:
    lines = CRONUS.split(b"\n")

    assert error(b"\n".join(lines[:3])) == (
        "PRDIRECT.DAT line 3: the file ends without a Z trailer record"
    )


def test_nothing_after_the_trailer() -> None:
    lines = CRONUS.split(b"\n")

    assert error(b"\n".join([*lines, lines[1]])) == (
        "PRDIRECT.DAT line 5, position 1 (record type): a record after the Z trailer"
    )


def test_second_header() -> None:
    lines = CRONUS.split(b"\n")

    assert error(b"\n".join([lines[0], put(lines[0], 1, 1, "A000000002"), *lines[1:]])) == (
        "PRDIRECT.DAT line 2, position 1 (record type): a second A header record"
    )


def test_empty_line_inside_the_file() -> None:
    lines = CRONUS.split(b"\n")

    assert error(b"\n".join([lines[0], b"", *lines[1:]])) == "PRDIRECT.DAT line 2: an empty line"


def test_bad_julian_date() -> None:
    assert error(put(CRONUS, 2, 38, "026400")) == (
        "PRDIRECT.DAT line 2, positions 38-43 (date funds available): "
        "'026400' is not a date in the form 0YYDDD"
    )


def test_day_366_only_in_leap_years() -> None:
    assert cpa005.read(
        put(put(CRONUS, 2, 38, "024366"), 3, 38, "024366")
    ).processing_date == dt.date(2024, 12, 31)
    assert error(put(CRONUS, 2, 38, "025366")) == (
        "PRDIRECT.DAT line 2, positions 38-43 (date funds available): "
        "'025366' is not a date in the form 0YYDDD"
    )


def test_transactions_with_another_date() -> None:
    assert error(put(CRONUS, 3, 38, "026076")) == (
        "PRDIRECT.DAT line 3, positions 38-43 (date funds available): 2026-03-17 differs from "
        "2026-03-16, the date of the file's first transaction (line 2); "
        "a batch has one processing date"
    )


def test_bad_creation_date() -> None:
    assert error(put(CRONUS, 1, 25, "02607A")) == (
        "PRDIRECT.DAT line 1, positions 25-30 (creation date): "
        "'02607A' is not a date in the form 0YYDDD"
    )


def test_institution_must_be_0iiittttt() -> None:
    assert error(put(CRONUS, 2, 44, "100368589")) == (
        "PRDIRECT.DAT line 2, positions 44-52 (institution): "
        "'100368589' is not 0IIITTTTT (institution and transit)"
    )


@pytest.mark.parametrize("account", ["6688-85684", "XXXXXX5684", "A-12 34"])
def test_alphanumeric_accounts_are_read(account: str) -> None:
    assert cpa005.read(put(CRONUS, 2, 53, account.ljust(12))).entries[0].account == account


def test_account_must_be_left_justified() -> None:
    assert error(put(CRONUS, 2, 53, " 668885684  ")) == (
        "PRDIRECT.DAT line 2, positions 53-64 (account number): "
        "' 668885684  ' is not an account number (printable characters, left-justified)"
    )


def test_blank_payee() -> None:
    assert error(put(CRONUS, 3, 105, " " * 30)) == (
        "PRDIRECT.DAT line 3, positions 105-134 (payee name): blank: a payee name is required"
    )


def test_detail_for_another_file() -> None:
    assert error(put(CRONUS, 3, 21, "0040")) == (
        "PRDIRECT.DAT line 3, positions 11-24 (originator ID and file creation number): "
        "'XYZAB552550040' differs from the header's 'XYZAB552550039'"
    )


def test_unknown_currency() -> None:
    assert error(put(CRONUS, 1, 56, "EUR")) == (
        "PRDIRECT.DAT line 1, positions 56-58 (currency): 'EUR' is not CAD or USD"
    )


def test_rbc_80_column_transmission_is_refused_by_name() -> None:
    data = b"$$AA01CPA1464[PROD[80$$\n" + CRONUS[:80]

    assert formats.detect(data) == "cpa005"
    assert error(data) == (
        "PRDIRECT.DAT line 1: RBC's 80-column transmission ($$AA01CPA1464 routing line) is not "
        "supported; send the 1464-character records"
    )


def test_empty_file() -> None:
    assert error(b"") == "PRDIRECT.DAT: the file is empty"


def test_error_carries_its_parts() -> None:
    with pytest.raises(FormatError) as caught:
        cpa005.read(put(CRONUS, 2, 28, "00000abc12"), filename="PRDIRECT.DAT")

    err = caught.value
    assert (err.filename, err.line, err.column, err.end_column, err.field) == (
        "PRDIRECT.DAT",
        2,
        28,
        37,
        "amount",
    )
    assert isinstance(err, ValueError)


# --- what CPA-005 cannot carry ----------------------------------------------------------------


def one_entry(**changes: object) -> BatchFile:
    batch = cpa005.read(CRONUS)
    entry = batch.entries[0].model_copy(update=changes)
    return batch.model_copy(update={"entries": (BatchEntry.model_validate(entry.model_dump()),)})


def write_error(batch: BatchFile) -> str:
    with pytest.raises(FormatError) as caught:
        cpa005.write(batch)
    return str(caught.value)


def test_write_needs_originator_and_creation_number_in_the_batch_id() -> None:
    batch = cpa005.read(CRONUS).model_copy(update={"batch_id": "payroll-7"})

    assert write_error(batch) == (
        "batch_id: 'payroll-7' is not '<originator ID>-<file creation number>' "
        "(e.g. 'XYZAB55255-0001')"
    )


def test_write_refuses_a_payee_longer_than_the_field() -> None:
    assert write_error(one_entry(payee="A" * 31)) == (
        f"entries[0].payee: '{'A' * 31}' is 31 characters; the CPA-005 field holds 30"
    )


def test_write_refuses_us_accounts() -> None:
    batch = one_entry(institution=None, transit=None, routing="231380104")

    assert write_error(batch) == (
        "entries[0]: CPA-005 names accounts by institution, transit and account number"
    )


def test_write_refuses_an_amount_over_ten_digits() -> None:
    assert write_error(one_entry(amount=Money.of("100000000.00", "CAD"))) == (
        "entries[0].amount: 100000000.00 CAD is more than the 10-digit amount field holds"
    )
