"""Bambora batch CSV: the samples, round trips, and every way a row can be wrong."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle import formats
from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction, kind_of
from passerelle.formats import FormatError, bambora
from passerelle.money import Money

SAMPLES = Path(__file__).parent / "fixtures" / "samples" / "batch" / "bambora"
FIXTURES = Path(__file__).parent / "fixtures" / "batch" / "bambora"
EFT = (SAMPLES / "bambora-eft-example.csv").read_bytes()
ACH = (SAMPLES / "bambora-ach-example.csv").read_bytes()
PROFILE = (SAMPLES / "bambora-eft-payment-profile-example.csv").read_bytes()
ACH_DEBITS = (FIXTURES / "ach-debits-profile-extra-fields.csv").read_bytes()
DAY = dt.date(2025, 1, 6)


def read(data: bytes, filename: str = "payments.csv") -> BatchFile:
    return bambora.read(data, filename=filename, processing_date=DAY, batch_id="B-1")


def error(data: bytes) -> str:
    with pytest.raises(FormatError) as caught:
        read(data)
    return str(caught.value)


def credit(amount: str, currency: str, payee: str | None, **account: str | None) -> BatchEntry:
    return BatchEntry(
        direction=Direction.CREDIT, amount=Money.of(amount, currency), payee=payee, **account
    )


# --- what the files hold ----------------------------------------------------------------------


def test_eft_sample() -> None:
    assert read(EFT) == BatchFile(
        batch_id="B-1",
        originator="bambora",
        kind=BatchKind.CREDIT,
        processing_date=DAY,
        currency="CAD",
        entries=(
            credit("100.00", "CAD", "ACME Corp", institution="001", transit="99001",
                   account="09400313371", reference="1000070001"),
            credit("200.00", "CAD", "John Doe", institution="002", transit="99002",
                   account="09400313372", reference="1000070002"),
            credit("300.00", "CAD", "Jane Doe", institution="003", transit="99003",
                   account="09400313373", reference="1000070003"),
        ),
    )  # fmt: skip


def test_ach_sample() -> None:
    batch = read(ACH)

    assert (batch.currency, batch.kind) == ("USD", BatchKind.CREDIT)
    assert batch.entries == (
        credit("100.00", "USD", "Patrick Star", routing="256072691", account="2025621034",
               transaction_code="PS"),
        credit("200.00", "USD", "Spongebob Squarepants", routing="256072691",
               account="2025463767", transaction_code="PC"),
        credit("300.00", "USD", "Krusty Krab", routing="021200339", account="381036789124",
               transaction_code="PC"),
    )  # fmt: skip


def test_payment_profile_sample() -> None:
    batch = read(PROFILE)

    assert batch.entries == (credit("100.00", "CAD", None, profile="the_profile_id"),)


def test_ach_debits_with_a_profile_row_and_extra_fields() -> None:
    batch = read(ACH_DEBITS)

    def debit(amount: str, **fields: str | None) -> BatchEntry:
        return BatchEntry(direction=Direction.DEBIT, amount=Money.of(amount, "USD"), **fields)

    assert batch.kind == BatchKind.DEBIT
    assert batch.entries == (
        debit("25.99", payee="Hartley Farms", routing="071000013", account="4444000011",
              transaction_code="CC", reference="9001"),
        debit("15.00", profile="cust-42"),
        debit("1250.00", payee="Ortiz Bakery", routing="091000019", account="1234500001",
              transaction_code="PS", reference="9003", profile="cust-77"),
    )  # fmt: skip


def test_lf_line_ends_and_no_final_line_end() -> None:
    assert read(EFT.replace(b"\r\n", b"\n").rstrip(b"\n")) == read(EFT)


@pytest.mark.parametrize("data", [EFT, ACH, PROFILE, ACH_DEBITS])
def test_detect_and_dispatch(data: bytes) -> None:
    assert formats.detect(data) == "bambora"
    assert formats.read(data, processing_date=DAY, batch_id="B-1") == read(data)


def test_dispatch_passes_the_originator() -> None:
    batch = formats.read(EFT, processing_date=DAY, batch_id="B-1", originator="merchant-300200")

    assert batch.originator == "merchant-300200"


@pytest.mark.parametrize(
    ("kwargs", "missing"),
    [
        ({}, "processing_date and batch_id"),
        ({"batch_id": "B-1"}, "processing_date"),
        ({"processing_date": DAY}, "batch_id"),
    ],
)
def test_processing_date_and_batch_id_are_required(kwargs: dict[str, object], missing: str) -> None:
    with pytest.raises(FormatError) as caught:
        formats.read(EFT, filename="payments.csv", **kwargs)  # type: ignore[arg-type]

    assert str(caught.value) == (
        "payments.csv: a Bambora file does not say when to process it or which batch it is: "
        f"pass {missing}"
    )


# --- round trip -------------------------------------------------------------------------------

NAME = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .&'-éô"
numbers = st.text("0123456789", min_size=1, max_size=19).filter(lambda r: r != "0")


def check_digit(first8: str) -> str:
    return str(-sum(int(d) * w for d, w in zip(first8, (3, 7, 1) * 3, strict=False)) % 10)


@st.composite
def bambora_batches(draw: st.DrawFn) -> BatchFile:
    currency = draw(st.sampled_from(["CAD", "USD"]))
    digits = st.text("0123456789", min_size=5, max_size=12 if currency == "CAD" else 15)
    rows = []
    for _ in range(draw(st.integers(1, 10))):
        profile = draw(
            st.none() | st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20)
        )
        fields: dict[str, str | None] = {"profile": profile}
        if profile is None or draw(st.booleans()):
            fields["account"] = draw(digits)
            if currency == "CAD":
                fields["institution"] = draw(st.text("0123456789", min_size=3, max_size=3))
                fields["transit"] = draw(st.text("0123456789", min_size=5, max_size=5))
            else:
                first8 = draw(st.text("0123456789", min_size=8, max_size=8))
                fields["routing"] = first8 + check_digit(first8)
                fields["transaction_code"] = draw(st.sampled_from(["PC", "PS", "CC", "CS"]))
        name = st.text(NAME, min_size=1, max_size=40).filter(str.strip)
        rows.append(
            BatchEntry(
                direction=draw(st.sampled_from(Direction)),
                amount=Money.from_minor(draw(st.integers(1, 9_999_999_999)), currency),
                payee=draw(name if profile is None else st.none() | name),
                reference=draw(st.none() | numbers),
                **fields,
            )
        )
    return BatchFile(
        batch_id="B-1",
        originator="bambora",
        kind=kind_of(rows) or BatchKind.CREDIT,
        processing_date=DAY,
        currency=currency,
        entries=tuple(rows),
    )


@settings(max_examples=60, deadline=None)
@given(batch=bambora_batches())
def test_read_gives_back_what_write_wrote(batch: BatchFile) -> None:
    data = bambora.write(batch)

    assert data.endswith(b"\r\n")
    assert read(data) == batch


# --- bad rows ---------------------------------------------------------------------------------


def test_bad_amount() -> None:
    assert error(b"E,C,001,99001,09400313371,100.00,0,ACME Corp\r\n") == (
        "payments.csv line 1, column 6 (amount): '100.00' is not a number"
    )


def test_zero_amount() -> None:
    assert error(EFT.replace(b",20000,", b",0,")) == (
        "payments.csv line 2, column 6 (amount): '0' must be greater than zero"
    )


def test_unknown_payment_method() -> None:
    assert error(EFT.replace(b"E,C,002", b"X,C,002")) == (
        "payments.csv line 2, column 1 (payment method): 'X' is not E (EFT) or A (ACH)"
    )


def test_mixed_payment_methods() -> None:
    assert error(EFT + ACH) == (
        "payments.csv line 4, column 1 (payment method): an ACH row in a file of EFT rows "
        "(line 1); a file holds one payment method"
    )


def test_unknown_direction() -> None:
    assert error(EFT.replace(b"E,C,003", b"E,R,003")) == (
        "payments.csv line 3, column 2 (transaction type): 'R' is not C (credit) or D (debit)"
    )


def test_too_few_fields() -> None:
    assert error(b"E,C,001,99001,09400313371,10000,0\r\n") == (
        "payments.csv line 1: 7 fields; a row has at least 8 (payment method to recipient name)"
    )


def test_short_transit() -> None:
    assert error(EFT.replace(b"99002", b"9902")) == (
        "payments.csv line 2, column 4 (transit number): '9902' has 4 digits, not 5"
    )


def test_short_eft_account() -> None:
    assert error(b"E,C,001,99001,1234,10000,0,ACME Corp\r\n") == (
        "payments.csv line 1, column 5 (account number): '1234' has 4 digits, not 5 to 12"
    )


def test_routing_check_digit() -> None:
    assert error(ACH.replace(b"021200339", b"021200338")) == (
        "payments.csv line 3, column 3 (routing number): '021200338' fails its check digit "
        "(expected 021200339)"
    )


def test_unknown_ach_account_code() -> None:
    assert error(ACH.replace(b",PS,", b",SV,")) == (
        "payments.csv line 1, column 5 (account code): 'SV' is not one of PC, PS, CC, CS"
    )


def test_reference_must_be_digits() -> None:
    assert error(EFT.replace(b"1000070002", b"INV-2")) == (
        "payments.csv line 2, column 7 (reference number): 'INV-2' is not a number"
    )


def test_row_without_name_or_profile() -> None:
    assert error(EFT.replace(b"John Doe", b"")) == (
        "payments.csv line 2, column 8 (recipient name): "
        "empty: a row without a customer code needs a name"
    )


def test_row_without_account_or_profile() -> None:
    assert error(b"E,C,,,,10000,0,ACME Corp\r\n") == (
        "payments.csv line 1, column 3 (institution number): '' is not a number"
    )


def test_empty_line_between_rows() -> None:
    assert error(EFT.replace(b"\r\nE,C,002", b"\r\n\r\nE,C,002")) == (
        "payments.csv line 2: an empty line"
    )


def test_empty_file() -> None:
    assert error(b"") == "payments.csv: the file is empty"


def test_error_parts_name_the_csv_column() -> None:
    with pytest.raises(FormatError) as caught:
        read(EFT.replace(b",20000,", b",2O000,"))

    err = caught.value
    assert (err.filename, err.line, err.column, err.end_column, err.field) == (
        "payments.csv",
        2,
        6,
        None,
        "amount",
    )


# --- what the format cannot carry -------------------------------------------------------------


def write_error(batch: BatchFile) -> str:
    with pytest.raises(FormatError) as caught:
        bambora.write(batch)
    return str(caught.value)


def with_entry(batch: BatchFile, **changes: object) -> BatchFile:
    entry = BatchEntry.model_validate(batch.entries[0].model_dump() | changes)
    return batch.model_copy(update={"entries": (entry,)})


def test_write_refuses_a_comma_in_a_name() -> None:
    assert write_error(with_entry(read(EFT), payee="Doe, Jane")) == (
        "entries[0].payee: 'Doe, Jane' has a comma or a control character, "
        "which Bambora files cannot carry"
    )


def test_write_refuses_a_reference_of_letters() -> None:
    assert write_error(with_entry(read(EFT), reference="INV-1")) == (
        "entries[0].reference: 'INV-1' is not a reference Bambora keeps (1 to 19 digits, not '0')"
    )


def test_write_refuses_a_transaction_code_on_an_eft_row() -> None:
    assert write_error(with_entry(read(EFT), transaction_code="450")) == (
        "entries[0].transaction_code: '450': EFT rows carry no transaction code"
    )


# --- streaming --------------------------------------------------------------------------------


class CountingStream(io.BytesIO):
    """A file that counts how much of it was read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def big_eft(rows: int) -> bytes:
    return b"".join(
        f"E,C,001,99001,{10_000_000 + i},{100 + i},{i + 1},PAYEE {i}\r\n".encode()
        for i in range(rows)
    )


def test_the_reader_yields_rows_before_it_has_read_the_whole_file() -> None:
    data = big_eft(40_000)
    stream = CountingStream(data)
    reader = bambora.Reader(stream, filename="big.csv")

    first = next(iter(reader))

    assert first == credit(
        "1.00", "CAD", "PAYEE 0", institution="001", transit="99001", account="10000000",
        reference="1",
    )  # fmt: skip
    assert reader.currency == "CAD"
    assert stream.taken < len(data) // 2


def test_a_file_that_fails_on_its_last_row_yields_first_then_read_gives_nothing() -> None:
    data = big_eft(3_000) + b"E,C,001,99001,12345678,0,9,LAST\r\n"
    reader = bambora.Reader(io.BytesIO(data), filename="big.csv")
    seen = []

    with pytest.raises(FormatError, match=r"big.csv line 3001, column 6 \(amount\)"):
        seen.extend(reader)
    assert len(seen) == 3_000
    with pytest.raises(FormatError, match="line 3001"):
        bambora.read(data, filename="big.csv", processing_date=DAY, batch_id="B-1")


def test_the_stream_and_read_give_the_same_entries() -> None:
    assert tuple(bambora.Reader(io.BytesIO(ACH_DEBITS))) == read(ACH_DEBITS).entries


def test_a_reader_reads_once() -> None:
    reader = bambora.Reader(io.BytesIO(EFT))
    list(reader)

    with pytest.raises(RuntimeError, match="once"):
        iter(reader)
