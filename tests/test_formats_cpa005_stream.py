"""CPA-005 read as a stream: transactions as they come, the trailer at the end; alphanumeric
accounts, several dates, and characters a field may not hold."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from passerelle.batches import Direction
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
