"""CPA-005 files as RBC takes them: behind a routing record, the records whole or cut in
80-character pieces, each record on its own or running on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from passerelle import formats
from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction
from passerelle.formats import FormatError, _cpa005_rbc, cpa005
from passerelle.money import Money

SAMPLES = Path(__file__).parent / "fixtures" / "samples" / "batch" / "cpa005"
CRONUS = (SAMPLES / "evergrowth-Export_CRONUS_01-works.txt").read_bytes()


def _entry(i: int) -> BatchEntry:
    return BatchEntry(
        direction=Direction.CREDIT,
        amount=Money.from_minor(100_000 + i, "CAD"),
        payee=f"Employee {i}",
        institution="003",
        transit="00012",
        account=("744-5678-99", "****5678", "5012345")[i % 3],
        reference=f"EMP{i:04d}",
        transaction_code="200",
    )


# Eight transactions: two C records (six, then two), with A and Z four records in all.
BATCH = BatchFile(
    batch_id="0123456789-0042",
    originator="0123456789",
    kind=BatchKind.CREDIT,
    processing_date=dt.date(2026, 12, 15),
    currency="CAD",
    entries=tuple(_entry(i) for i in range(8)),
)
LAYOUTS = ("records", "per-record", "run-on")


def refused(data: bytes) -> FormatError:
    with pytest.raises(FormatError) as caught:
        formats.read(data, filename="PRDIRECT.DAT")
    return caught.value


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("line_end", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("trim", [False, True])
def test_each_layout_reads_back_to_its_batch(
    layout: _cpa005_rbc.Layout, line_end: str, trim: bool
) -> None:
    data = _cpa005_rbc.write(BATCH, layout=layout, line_end=line_end, trim=trim)

    assert formats.detect(data) == "cpa005"
    assert formats.read(data, filename="PRDIRECT.DAT") == BATCH


@pytest.mark.parametrize("layout", ["per-record", "run-on"])
def test_pieces_without_line_ends_are_cut_every_80_characters(layout: _cpa005_rbc.Layout) -> None:
    with_ends = _cpa005_rbc.write(BATCH, layout=layout, line_end="\r\n")
    routing, _, pieces = with_ends.partition(b"\r\n")
    data = routing + b"\r\n" + pieces.replace(b"\r\n", b"")

    assert formats.read(data, filename="PRDIRECT.DAT") == BATCH


def test_a_real_file_cut_in_pieces_reads_as_the_file() -> None:
    records = [line.ljust(1464) for line in CRONUS.decode("cp1252").splitlines()]
    pieces = [record[i : i + 80] for record in records for i in range(0, 1464, 80)]
    data = "\r\n".join(["$$AAPDCPA1464[PROD[80$$", *pieces, ""]).encode("cp1252")

    assert formats.read(data, filename="PRDIRECT.DAT") == cpa005.read(CRONUS)


def test_the_service_code_varies_and_the_records_may_follow_whole() -> None:
    data = b"$$AAPACPA1464[PROD[NL$$\n" + cpa005.write(BATCH)

    assert formats.read(data, filename="PRDIRECT.DAT") == BATCH


def test_a_test_transmission_is_refused() -> None:
    data = _cpa005_rbc.write(BATCH).replace(b"[PROD[", b"[TEST[", 1)

    caught = refused(data)
    assert (caught.line, caught.field) == (1, "routing record")
    assert "a TEST transmission: only PROD files are for payments to be made" in str(caught)


def test_a_garbled_routing_record_is_refused() -> None:
    data = _cpa005_rbc.write(BATCH).replace(b"[80$$", b"[81$$", 1)

    caught = refused(data)
    assert (caught.line, caught.column, caught.field) == (1, 1, "routing record")
    assert "is not a routing record ($$AA<service>CPA1464[PROD[NL$$" in str(caught)


def test_an_error_is_placed_on_the_line_of_the_file_it_is_on() -> None:
    # The first amount of the second record (the first C record), positions 28-37.
    placed: tuple[tuple[_cpa005_rbc.Layout, int, int], ...] = (
        ("per-record", 21, 28),
        ("run-on", 20, 52),
    )
    for layout, line, column in placed:
        data = _cpa005_rbc.write(BATCH, layout=layout)
        lines = data.split(b"\r\n")
        lines[line - 1] = lines[line - 1][: column - 1] + b"X" + lines[line - 1][column:]

        caught = refused(b"\r\n".join(lines))
        assert (caught.line, caught.column, caught.end_column) == (line, column, column + 9)
        assert caught.field == "amount"
        assert str(caught).endswith("(record 2, positions 28-37 of its 1464)")


def test_a_field_across_two_lines_is_placed_at_its_start() -> None:
    # Positions 65-86 of the first C record hold the item trace number of its first
    # transaction: lines 22 (65-80) and 23 (81-86) when each record is cut on its own.
    data = _cpa005_rbc.write(BATCH, layout="per-record")
    lines = data.split(b"\r\n")
    lines[21] = lines[21][:52] + b"\t" + lines[21][53:]  # position 53: the account number

    caught = refused(b"\r\n".join(lines))
    assert (caught.line, caught.column) == (22, 53)
    assert "record 2, position" in str(caught)


def test_an_error_behind_a_routing_record_names_the_line_of_the_file() -> None:
    data = b"$$AA01CPA1464[PROD[NL$$\n" + cpa005.write(BATCH).replace(b"\nZ", b"\nY", 1)

    caught = refused(data)
    assert (caught.line, caught.column) == (5, 1)


def test_a_line_longer_than_a_piece_is_refused() -> None:
    data = _cpa005_rbc.write(BATCH).replace(b"\r\n", b"  \r\n", 3)

    caught = refused(data)
    assert (caught.line, caught.column, caught.end_column) == (2, 81, 82)


@pytest.mark.parametrize("layout", ["per-record", "run-on"])
def test_a_file_cut_short_is_refused(layout: _cpa005_rbc.Layout) -> None:
    data = _cpa005_rbc.write(BATCH, layout=layout)
    for cut in (b"\r\n".join(data.split(b"\r\n")[:40]) + b"\r\n", data[: len(data) // 2]):
        caught = refused(cut)
        assert caught.line is not None
        assert caught.line >= 20


def test_a_record_running_past_its_last_piece_is_refused() -> None:
    data = _cpa005_rbc.write(BATCH, layout="per-record")
    lines = data.split(b"\r\n")
    lines[19] = lines[19][:30] + b"X" + lines[19][31:]  # the A record's last piece

    caught = refused(b"\r\n".join(lines))
    assert (caught.line, caught.column, caught.end_column) == (20, 25, 80)
    assert "record 1 ends at position 24 of this line, which must be blank after it" in str(caught)
