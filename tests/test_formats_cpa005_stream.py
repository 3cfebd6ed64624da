"""CPA-005 read as a stream: transactions as they come, the trailer at the end; alphanumeric
accounts, several dates, and characters a field may not hold."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction
from passerelle.formats import FormatError, cpa005
from passerelle.money import Money

FIXTURES = Path(__file__).parent / "fixtures" / "batch" / "cpa005"
AP = (FIXTURES / "APDIRECT-alnum-accounts-two-dates.txt").read_bytes()
"""Vendor payments (transaction type 460), two transactions a record, CRLF: accounts
744-5678-99, XXXXXX4321 (masked) and A1B2C3; the third transaction is dated a day later."""


def put(data: bytes, line: int, position: int, text: str) -> bytes:
    lines = data.split(b"\r\n")
    record = lines[line - 1].decode("latin-1")
    record = record[: position - 1] + text + record[position - 1 + len(text) :]
    lines[line - 1] = record.encode("latin-1")
    return b"\r\n".join(lines)


def error(data: bytes) -> str:
    with pytest.raises(FormatError) as caught:
        list(cpa005.Reader(io.BytesIO(data), filename="APDIRECT.DAT"))
    return str(caught.value)


def test_transactions_stream_with_their_header_and_the_trailer_at_the_end() -> None:
    reader = cpa005.Reader(io.BytesIO(AP), filename="APDIRECT.DAT")
    assert reader.header.batch_id == "SAGEAP0001-0102"
    assert reader.header.creation_date == dt.date(2026, 12, 4)
    assert reader.trailer is None

    seen = [
        (t.line, t.segment, t.date, t.direction, t.amount, t.institution, t.transit, t.account)
        for t in reader
    ]

    cad = Money.of
    assert seen == [
        (2, 1, dt.date(2026, 12, 8), Direction.CREDIT, cad("1520.00", "CAD"), "003", "00012",
         "744-5678-99"),
        (2, 2, dt.date(2026, 12, 8), Direction.CREDIT, cad("89.95", "CAD"), "815", "20301",
         "XXXXXX4321"),
        (3, 1, dt.date(2026, 12, 9), Direction.CREDIT, cad("3000.00", "CAD"), "006", "00011",
         "A1B2C3"),
    ]  # fmt: skip
    assert reader.trailer == cpa005.Trailer(
        debit_total=Money.of("0", "CAD"),
        debit_count=0,
        credit_total=Money.of("4609.95", "CAD"),
        credit_count=3,
    )


def test_read_wants_one_date_where_the_reader_takes_several() -> None:
    with pytest.raises(FormatError) as caught:
        cpa005.read(AP, filename="APDIRECT.DAT")

    assert str(caught.value) == (
        "APDIRECT.DAT line 3, positions 38-43 (date funds available): 2026-12-09 differs from "
        "2026-12-08, the date of the file's first transaction (line 2); a batch has one "
        "processing date"
    )


def test_a_trailer_that_does_not_balance_fails_after_the_transactions() -> None:
    reader = cpa005.Reader(io.BytesIO(put(AP, 4, 47, "00000000460996")))
    seen = []

    with pytest.raises(FormatError, match="line 4, positions 47-60"):
        seen.extend(reader)
    assert len(seen) == 3
    assert reader.trailer is None


@pytest.mark.parametrize(
    ("char", "position", "field"),
    [
        ("\x00", 110, "payee name, segment 1"),
        ("\t", 60, "account number, segment 1"),
        ("\x1a", 265 + 100, "payee name, segment 2"),
        ("\x81", 180, "originator cross reference number, segment 1"),
    ],
)
def test_control_characters_in_fields(char: str, position: int, field: str) -> None:
    assert error(put(AP, 2, position, char)) == (
        f"APDIRECT.DAT line 2, position {position} ({field}): {char!r} is not a printable character"
    )


def test_control_characters_in_the_header() -> None:
    assert error(put(AP, 1, 40, "\t")) == (
        "APDIRECT.DAT line 1, position 40: '\\t' is not a printable character"
    )


def test_write_refuses_what_read_refuses() -> None:
    batch = cpa005.read(put(AP, 3, 38, "026342"))
    entry = batch.entries[0].model_copy(update={"payee": "NORTHWIND\tTRADERS"})

    with pytest.raises(FormatError, match=r"entries\[0\].payee: .* has control characters"):
        cpa005.write(batch.model_copy(update={"entries": (entry,)}))


def test_a_reader_reads_once() -> None:
    reader = cpa005.Reader(io.BytesIO(AP))
    assert len(list(reader)) == 3

    with pytest.raises(RuntimeError, match="reads its stream once"):
        iter(reader)


# --- records checked in runs agree with records checked one by one ----------------------------


def long_file() -> bytes:
    """Eight C records and four D records of six transactions: long runs for the reader."""
    entries = tuple(
        BatchEntry(
            direction=Direction.DEBIT if i >= 48 else Direction.CREDIT,
            amount=Money.from_minor(5000 + i, "CAD"),
            payee=f"PAYEE {i}",
            account=f"{i:04d}-{i * 7:05d}",
            institution="003",
            transit=f"{i:05d}",
            reference=f"REF-{i}",
            transaction_code="200",
        )
        for i in range(72)
    )
    batch = BatchFile(
        batch_id="SAGEPR0001-0007",
        originator="SAGEPR0001",
        kind=BatchKind.MIXED,
        processing_date=dt.date(2026, 12, 8),
        currency="CAD",
        entries=entries,
    )
    return cpa005.write(batch, line_end="\r\n")


LONG = long_file()


def outcome(data: bytes) -> object:
    reader = cpa005.Reader(io.BytesIO(data), filename="PRDIRECT.DAT")
    try:
        found = [(t.line, t.offset, t.amount_minor, t.date, t.direction) for t in reader]
    except FormatError as exc:
        return str(exc)
    return found, reader.trailer


def one_by_one(data: bytes) -> object:
    with patch.object(cpa005, "_RUN", re.compile(rb"(?!)")):
        return outcome(data)


def test_long_runs_are_read_at_once_and_give_what_one_by_one_gives() -> None:
    with patch.object(cpa005, "_full_records", wraps=cpa005._full_records) as runs:
        found = outcome(LONG)

    assert runs.call_count == 2  # the C run and the D run
    assert found == one_by_one(LONG)
    assert isinstance(found, tuple)
    assert len(found[0]) == 72
    assert found[1] == cpa005.Trailer(
        debit_total=Money.from_minor(sum(5000 + i for i in range(48, 72)), "CAD"),
        debit_count=24,
        credit_total=Money.from_minor(sum(5000 + i for i in range(48)), "CAD"),
        credit_count=48,
    )


@settings(max_examples=150, deadline=None)
@given(
    line=st.integers(2, 14),
    position=st.integers(1, 1464),
    char=st.sampled_from(list("0159 CDZAX-\x00\t\x81")),
)
def test_a_changed_character_gives_the_same_result_in_runs_and_one_by_one(
    line: int, position: int, char: str
) -> None:
    data = put(LONG, line, position, char)

    assert outcome(data) == one_by_one(data)


@settings(max_examples=40, deadline=None)
@given(shorter=st.integers(2, 13), longer=st.integers(2, 13), at=st.integers(1, 1464))
def test_records_of_other_lengths_give_the_same_result_in_runs_and_one_by_one(
    shorter: int, longer: int, at: int
) -> None:
    lines = LONG.split(b"\r\n")
    lines[shorter - 1] = lines[shorter - 1][: at - 1] + lines[shorter - 1][at:]
    lines[longer - 1] = lines[longer - 1][: at - 1] + b"0" + lines[longer - 1][at - 1 :]
    data = b"\r\n".join(lines)

    assert outcome(data) == one_by_one(data)
