"""NACHA files as real originators write them: several batches, SEC codes and their rules,
addenda, alphanumeric accounts; and every rule that refuses a file."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from pathlib import Path
from typing import Literal
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction, kind_of
from passerelle.formats import FormatError, nacha
from passerelle.money import Money

FIXTURES = Path(__file__).parent / "fixtures" / "batch" / "nacha"
VARIANTS = (FIXTURES / "real-variants.ach").read_bytes()
"""Four batches of two companies on two effective dates: CCD credits with a zero-dollar
remittance entry, WEB debits, TEL debits with a prenote, a CTX credit with three addenda;
alphanumeric and masked accounts; CRLF line ends; padded to three blocks."""
SAMPLES = Path(__file__).parent / "fixtures" / "samples" / "batch" / "nacha"
CREDIT = (SAMPLES / "moov-testdata-ppd-credit.ach").read_bytes()


def put(data: bytes, line: int, position: int, text: str) -> bytes:
    """`data` with `text` written over line `line` from 1-based `position`."""
    lines = data.decode("latin-1").splitlines()
    record = lines[line - 1].ljust(94)
    lines[line - 1] = record[: position - 1] + text + record[position - 1 + len(text) :]
    return "\r\n".join(lines).encode("latin-1")


def error(data: bytes) -> str:
    with pytest.raises(FormatError) as caught:
        list(nacha.Reader(io.BytesIO(data), filename="RV.ACH"))
    return str(caught.value)


def test_every_entry_is_streamed_with_its_batch_and_addenda() -> None:
    reader = nacha.Reader(io.BytesIO(VARIANTS), filename="RV.ACH")
    assert reader.header.batch_id == "091000019-261204-A"

    seen = [
        (
            e.line,
            e.batch.sec_code,
            e.batch.company_id,
            e.batch.effective_date,
            e.transaction_code,
            e.purpose,
            e.direction,
            e.amount,
            e.account,
            e.payee,
            e.reference,
            e.addenda,
        )
        for e in reader
    ]

    usd = Money.of
    day7, day8 = dt.date(2026, 12, 7), dt.date(2026, 12, 8)
    credit, debit = Direction.CREDIT, Direction.DEBIT
    assert seen == [
        (3, "CCD", "1234567890", day7, "22", "payment", credit, usd("12500.00", "USD"),
         "744-5678-99", "NORTHWIND TRADERS", "INV-2026-114", ("INV 2026-114 NET 30",)),
        (5, "CCD", "1234567890", day7, "32", "payment", credit, usd("45.50", "USD"),
         "XXXXXX4321", "CONTOSO SUPPLY", "INV-2026-115", ()),
        (6, "CCD", "1234567890", day7, "24", "zero-dollar", credit, usd("0", "USD"),
         "744-5678-99", "NORTHWIND TRADERS", "INV-2026-114",
         ("CREDIT MEMO CM-7 APPLIED TO INV 2026-114",)),
        (10, "WEB", "9876543210", day8, "27", "payment", debit, usd("19.99", "USD"),
         "0012345678", "DANA LEE", "ORDER-1001", ()),
        (11, "WEB", "9876543210", day8, "37", "payment", debit, usd("89.00", "USD"),
         "A1B2C3D4E5", "SAM ROY", "ORDER-1002", ("RECURRING PLAN GOLD",)),
        (15, "TEL", "1234567890", day7, "27", "payment", debit, usd("120.00", "USD"),
         "55501234", "PAT KIM", "CALL-77", ()),
        (16, "TEL", "1234567890", day7, "28", "prenote", debit, usd("0", "USD"),
         "55509999", "LOU FAY", "CALL-78", ()),
        (19, "CTX", "1234567890", day7, "22", "payment", credit, usd("3000.00", "USD"),
         "9988776655", "FABRIKAM INC", "PO-55012",
         ("ISA*00*          *00*          *ZZ*SAGE50", "RMR*IV*INV-88*PO*1500.00",
          "RMR*IV*INV-89*PO*1500.00")),
    ]  # fmt: skip
    assert reader.control == nacha.FileControl(
        batch_count=4,
        block_count=3,
        entry_addenda_count=14,
        entry_hash=39800015,
        debits=Money.of("228.99", "USD"),
        credits=Money.of("15545.50", "USD"),
    )


def test_read_batches_gives_each_batch_its_company_and_date(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="passerelle.formats.nacha"):
        batches = nacha.read_batches(VARIANTS, filename="RV.ACH")

    assert [
        (b.batch_id, b.originator, b.processing_date, b.kind, len(b.entries)) for b in batches
    ] == [
        ("091000019-261204-A-0000001", "1234567890", dt.date(2026, 12, 7), BatchKind.CREDIT, 2),
        ("091000019-261204-A-0000002", "9876543210", dt.date(2026, 12, 8), BatchKind.DEBIT, 2),
        ("091000019-261204-A-0000003", "1234567890", dt.date(2026, 12, 7), BatchKind.DEBIT, 1),
        ("091000019-261204-A-0000004", "1234567890", dt.date(2026, 12, 7), BatchKind.CREDIT, 1),
    ]
    assert batches[0].entries[0].account == "744-5678-99"
    assert caplog.messages == [
        "RV.ACH line 6: zero-dollar (transaction code 24) skipped",
        "RV.ACH line 16: prenote (transaction code 28) skipped",
    ]


def test_a_file_that_fails_its_controls_at_the_end_still_yields_first_then_fails() -> None:
    reader = nacha.Reader(io.BytesIO(put(VARIANTS, 24, 44, "000001554551")), filename="RV.ACH")
    seen = []
    with pytest.raises(FormatError, match="line 24, positions 44-55"):
        seen.extend(reader)

    assert len(seen) == 8
    assert reader.control is None


# --- SEC code rules ---------------------------------------------------------------------------


def test_tel_batches_carry_only_debits() -> None:
    data = put(put(VARIANTS, 14, 2, "200"), 15, 2, "22")

    assert error(data) == (
        "RV.ACH line 15, positions 2-3 (transaction code): "
        "'22' is a credit, and TEL batches carry only debits"
    )


@pytest.mark.parametrize("code", ["R ", "S ", "  "])
def test_tel_payment_type_code_is_r_s_or_blank(code: str) -> None:
    entries = list(nacha.Reader(io.BytesIO(put(VARIANTS, 15, 77, code))))

    assert entries[5].batch.sec_code == "TEL"
    assert entries[5].payment_type == (code.strip() or None)


@pytest.mark.parametrize(
    ("line", "code", "reason"),
    [
        (10, "  ", "'  ': the payment type code of a WEB debit is 'R ' (recurring) or "
         "'S ' (single entry)"),
        (11, "X ", "'X ': the payment type code of a WEB debit is 'R ' (recurring) or "
         "'S ' (single entry)"),
        (10, "SS", "'SS': the payment type code of a WEB debit is 'R ' (recurring) or "
         "'S ' (single entry)"),
        (15, "X ", "'X ': the payment type code of a TEL debit is 'R ' (recurring) or "
         "'S ' (single entry), or blanks"),
    ],
)  # fmt: skip
def test_web_and_tel_payment_type_code(line: int, code: str, reason: str) -> None:
    assert error(put(VARIANTS, line, 77, code)) == (
        f"RV.ACH line {line}, positions 77-78 (payment type code): {reason}"
    )


def test_web_credits_may_leave_the_payment_type_code_blank() -> None:
    batch = nacha.read(CREDIT)
    data = put(nacha.write(batch, sec_code="WEB", payment_type="R"), 3, 77, "  ")

    assert nacha.read(data) == batch
    assert [e.payment_type for e in nacha.Reader(io.BytesIO(data))] == [None]


def test_the_payment_type_code_is_discretionary_data_elsewhere() -> None:
    data = put(VARIANTS, 3, 77, "X9")

    first = next(iter(nacha.Reader(io.BytesIO(data))))

    assert (first.batch.sec_code, first.payment_type) == ("CCD", None)


def test_cie_batches_carry_only_credits() -> None:
    data = put(put(VARIANTS, 9, 51, "CIE"), 10, 55, "NAME")

    assert error(data) == (
        "RV.ACH line 10, positions 2-3 (transaction code): "
        "'27' is a debit, and CIE batches carry only credits"
    )


def test_service_class_220_carries_only_credits() -> None:
    assert error(put(VARIANTS, 3, 2, "27")) == (
        "RV.ACH line 3, positions 2-3 (transaction code): '27' is a debit in a batch of "
        "credits only (service class 220, line 2)"
    )


def test_zero_dollar_entries_only_in_ccd_and_ctx() -> None:
    data = put(put(VARIANTS, 9, 51, "PPD"), 10, 2, "29")

    assert error(data) == (
        "RV.ACH line 10, positions 2-3 (transaction code): "
        "'29' is a zero-dollar entry, which only CCD and CTX batches carry"
    )


def test_zero_dollar_entry_needs_its_remittance_addenda() -> None:
    lines = VARIANTS.split(b"\r\n")
    del lines[6]  # the zero-dollar entry's addenda
    data = put(b"\r\n".join(lines), 6, 79, "0")

    assert error(data) == (
        "RV.ACH line 6, position 79 (addenda record indicator): "
        "'0', but a zero-dollar entry carries its remittance data in an addenda"
    )


def test_zero_dollar_entry_carries_no_amount() -> None:
    assert error(put(VARIANTS, 6, 30, "0000000001")) == (
        "RV.ACH line 6, positions 30-39 (amount): "
        "'0000000001': a zero-dollar (24) carries no amount"
    )


def test_check_conversions_carry_no_prenotes() -> None:
    assert error(put(VARIANTS, 14, 51, "BOC")) == (
        "RV.ACH line 16, positions 2-3 (transaction code): "
        "'28' is a prenote, and BOC batches carry none"
    )


def test_tel_entries_carry_no_addenda() -> None:
    assert error(put(VARIANTS, 15, 79, "1")) == (
        "RV.ACH line 15, position 79 (addenda record indicator): "
        "'1', but TEL entries carry no addenda"
    )


def test_ccd_entries_carry_one_addenda() -> None:
    assert error(put(VARIANTS, 18, 51, "CCD")) == (
        "RV.ACH line 21, position 1 (record type): CCD entries carry at most 1 addenda "
        "(entry on line 19)"
    )


def test_ctx_addenda_count_must_match_the_entry() -> None:
    assert error(put(VARIANTS, 19, 55, "0002")) == (
        "RV.ACH line 19, positions 55-58 (number of addenda records): "
        "'0002', but 3 addenda records follow the entry"
    )


def test_addenda_indicator_without_addenda() -> None:
    assert error(put(VARIANTS, 5, 79, "1")) == (
        "RV.ACH line 5, position 79 (addenda record indicator): "
        "'1', but no addenda record follows the entry"
    )


@pytest.mark.parametrize(("code", "what"), [("98", "notifications of change"), ("99", "returns")])
def test_return_and_noc_addenda_are_out_of_scope(code: str, what: str) -> None:
    assert error(put(VARIANTS, 4, 2, code)) == (
        f"RV.ACH line 4, positions 2-3 (addenda type code): "
        f"'{code}': addenda of {what} are not supported"
    )


def test_other_addenda_types() -> None:
    assert error(put(VARIANTS, 4, 2, "02")) == (
        "RV.ACH line 4, positions 2-3 (addenda type code): "
        "'02' is not 05, the addenda type of CCD entries"
    )


def test_addenda_sequence_numbers() -> None:
    assert error(put(VARIANTS, 21, 84, "0003")) == (
        "RV.ACH line 21, positions 84-87 (addenda sequence number): '0003' must be 0002"
    )
    assert error(put(VARIANTS, 4, 88, "0010002")) == (
        "RV.ACH line 4, positions 88-94 (entry detail sequence number): '0010002' must be 0010001"
    )


@pytest.mark.parametrize(
    ("sec", "message"),
    [
        ("IAT", "IAT (international) batches are not supported"),
        ("ADV", "ADV (automated accounting advice) batches are not supported"),
        ("COR", "COR (notification of change) batches are not supported"),
        ("XYZ", "'XYZ' is not a supported SEC code (PPD, CCD, CTX, WEB, TEL, CIE, ARC, BOC, "
         "POP, RCK)"),
    ],
)  # fmt: skip
def test_unsupported_sec_codes_are_named(sec: str, message: str) -> None:
    assert error(put(VARIANTS, 9, 51, sec)) == (
        f"RV.ACH line 9, positions 51-53 (standard entry class): {message}"
    )


# --- fields and structure ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "position", "field"),
    [
        ("\x00", 60, "name"),
        ("\t", 45, "identification number"),
        ("\x1a", 20, "DFI account number"),
        ("\x81", 77, "discretionary data"),
        ("\xe9", 56, "name"),
    ],
)
def test_control_and_non_ascii_characters_in_fields(char: str, position: int, field: str) -> None:
    assert error(put(VARIANTS, 5, position, char)) == (
        f"RV.ACH line 5, position {position} ({field}): {char.encode('latin-1')!r} is not a "
        "printable ASCII character (NACHA records hold letters, digits, spaces and punctuation)"
    )


def test_immediate_origin_must_be_a_number() -> None:
    assert error(put(CREDIT, 1, 14, " 000TESTER")) == (
        "RV.ACH line 1, positions 14-23 (immediate origin): "
        "' 000TESTER' is neither a routing number nor a 10-digit identification"
    )


def test_trace_number_must_begin_with_the_odfi() -> None:
    assert error(put(VARIANTS, 5, 80, "09100002")) == (
        "RV.ACH line 5, positions 80-94 (trace number): '091000020010002' does not begin "
        "with the batch's ODFI 09100001 (line 2)"
    )


def test_trace_numbers_ascend_within_a_batch() -> None:
    assert error(put(VARIANTS, 11, 80, "091000010020001")) == (
        "RV.ACH line 11, positions 80-94 (trace number): '091000010020001' does not follow the "
        "trace number before it in the batch, '091000010020001': trace numbers ascend within "
        "a batch"
    )
    assert error(put(VARIANTS, 5, 80, "091000010009999")) == (
        "RV.ACH line 5, positions 80-94 (trace number): '091000010009999' does not follow the "
        "trace number before it in the batch, '091000010010001': trace numbers ascend within "
        "a batch"
    )


def test_trace_numbers_need_not_be_consecutive_and_start_again_in_each_batch() -> None:
    data = put(put(VARIANTS, 15, 80, "091000010000001"), 16, 80, "091000010000009")

    assert [e.trace_number for e in nacha.Reader(io.BytesIO(data))][5:7] == [
        "091000010000001",
        "091000010000009",
    ]


def test_batch_numbers_ascend_within_a_file() -> None:
    data = put(put(VARIANTS, 9, 88, "0000001"), 13, 88, "0000001")

    assert error(data) == (
        "RV.ACH line 9, positions 88-94 (batch number): '0000001' does not follow batch "
        "0000001 (line 2): batch numbers ascend within a file"
    )


def test_batch_numbers_need_not_be_consecutive() -> None:
    data = put(put(VARIANTS, 14, 88, "0000007"), 17, 88, "0000007")
    data = put(put(data, 18, 88, "0000042"), 23, 88, "0000042")

    assert [b.batch_id[-7:] for b in nacha.read_batches(data)] == [
        "0000001",
        "0000002",
        "0000007",
        "0000042",
    ]


def test_trace_number_must_be_digits() -> None:
    assert error(put(VARIANTS, 5, 90, "X")) == (
        "RV.ACH line 5, positions 80-94 (trace number): '0910000100X0002' is not a number"
    )


def test_block_count_must_match_the_records() -> None:
    assert error(put(VARIANTS, 24, 8, "000002")) == (
        "RV.ACH line 24, positions 8-13 (block count): expected 000003 (the file control is "
        "record 24, in block 3 of 10 records), found '000002'"
    )


def test_block_count_holds_without_padding_too() -> None:
    unpadded = b"\r\n".join(VARIANTS.split(b"\r\n")[:24])

    assert len(list(nacha.Reader(io.BytesIO(unpadded)))) == 8


def test_padding_stops_at_the_last_block() -> None:
    assert error(VARIANTS + b"9" * 94 + b"\r\n") == (
        "RV.ACH line 31, positions 1-94: padding beyond the 3 blocks of 10 records the file "
        "control counts (line 24)"
    )


def test_empty_file() -> None:
    with pytest.raises(FormatError, match="the file is empty"):
        nacha.Reader(io.BytesIO(b""))


def test_a_reader_reads_once() -> None:
    reader = nacha.Reader(io.BytesIO(VARIANTS))
    list(reader)

    with pytest.raises(RuntimeError, match="reads its stream once"):
        iter(reader)


# --- round trip -------------------------------------------------------------------------------

ASCII = st.characters(min_codepoint=32, max_codepoint=126)
routings = st.text("0123456789", min_size=8, max_size=8).map(
    lambda r: r + str(-sum(int(d) * w for d, w in zip(r, (3, 7, 1) * 3, strict=False)) % 10)
)
CODES = {Direction.CREDIT: ["22", "32", "42", "52"], Direction.DEBIT: ["27", "37", "47", "55"]}


def width(at: tuple[int, int]) -> int:
    return at[1] - at[0] + 1


@st.composite
def sec_files(
    draw: st.DrawFn, entries_from: int = 0, entries_to: int = 8
) -> tuple[BatchFile, str, dict[int, list[str]]]:
    sec = draw(st.sampled_from(list(nacha.SEC_CODES)))
    rule = nacha.SEC_CODES[sec]
    directions = [
        d for d, ok in ((Direction.CREDIT, rule.credits), (Direction.DEBIT, rule.debits)) if ok
    ]
    entries = []
    addenda: dict[int, list[str]] = {}
    for i in range(draw(st.integers(entries_from, entries_to))):
        direction = draw(st.sampled_from(directions))
        entries.append(
            BatchEntry(
                direction=direction,
                amount=Money.from_minor(draw(st.integers(1, 9_999_999_999)), "USD"),
                payee=draw(st.text(ASCII, min_size=1, max_size=width(rule.name)).filter(str.strip)),
                account=draw(st.text(ASCII, min_size=1, max_size=17).map(str.strip).filter(bool)),
                routing=draw(routings),
                reference=draw(
                    st.none() | st.text(ASCII, max_size=width(rule.reference)).filter(str.strip)
                ),
                transaction_code=draw(st.sampled_from(CODES[direction])),
            )
        )
        notes = draw(
            st.lists(st.text(ASCII, max_size=80).map(str.rstrip), max_size=min(rule.addenda, 3))
        )
        if notes:
            addenda[i] = notes
    kind = kind_of(entries) or (BatchKind.CREDIT if rule.credits else BatchKind.DEBIT)
    batch = BatchFile(
        batch_id=f"{draw(st.text('0123456789', min_size=1, max_size=10))}-261207-A",
        originator=draw(st.text("ABCDEFGHIJ0123456789", min_size=1, max_size=10)),
        kind=kind,
        processing_date=draw(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))),
        currency="USD",
        entries=tuple(entries),
    )
    return batch, sec, addenda


@settings(max_examples=80, deadline=None)
@given(case=sec_files(), payment_type=st.sampled_from(["R", "S"]))
def test_write_then_read_gives_back_the_batch_sec_code_and_addenda(
    case: tuple[BatchFile, str, dict[int, list[str]]], payment_type: Literal["R", "S"]
) -> None:
    batch, sec, addenda = case
    data = nacha.write(batch, sec_code=sec, addenda=addenda, payment_type=payment_type)

    assert nacha.read(data) == batch
    streamed = list(nacha.Reader(io.BytesIO(data)))
    assert [e.batch.sec_code for e in streamed] == [sec] * len(batch.entries)
    assert [list(e.addenda) for e in streamed] == [
        addenda.get(i, []) for i in range(len(batch.entries))
    ]
    carried = payment_type if sec in ("WEB", "TEL") else None
    assert [e.payment_type for e in streamed] == [carried] * len(batch.entries)


@settings(max_examples=15, deadline=None)
@given(case=sec_files(entries_from=16, entries_to=40), payment_type=st.sampled_from(["R", "S"]))
def test_long_batches_of_every_sec_code_read_in_runs_give_back_what_was_written(
    case: tuple[BatchFile, str, dict[int, list[str]]], payment_type: Literal["R", "S"]
) -> None:
    batch, sec, addenda = case
    data = nacha.write(batch, sec_code=sec, addenda=addenda, payment_type=payment_type)

    assert nacha.read(data) == batch
    assert outcome(data) == one_by_one(data)


def test_write_refuses_what_the_sec_code_forbids() -> None:
    batch = nacha.read(CREDIT)

    with pytest.raises(
        FormatError, match=r"entries\[0\].direction: a credit: TEL batches carry only debits"
    ):
        nacha.write(batch, sec_code="TEL")
    with pytest.raises(
        FormatError, match=r"entries\[0\].addenda: 2 addenda: PPD entries carry at most 1"
    ):
        nacha.write(batch, addenda={0: ["A", "B"]})
    with pytest.raises(FormatError, match=r"entries\[0\].addenda\[0\]: .* has control characters"):
        nacha.write(batch, addenda={0: ["TAB\there"]})


# --- entries checked in runs agree with entries checked one by one ----------------------------


def long_file(sec_code: str = "PPD") -> bytes:
    """One mixed batch of 40 entries: long enough for the reader's run-at-once path."""
    routing = "091000019"
    entries = tuple(
        BatchEntry(
            direction=Direction.CREDIT if i % 3 else Direction.DEBIT,
            amount=Money.from_minor(1000 + i, "USD"),
            payee=f"PAYEE {i}",
            account=f"ACCT-{i}",
            routing=routing if i % 2 else "021000021",
            reference=f"REF{i}",
            transaction_code=("22" if i % 3 else "27") if i % 4 else ("32" if i % 3 else "37"),
        )
        for i in range(40)
    )
    batch = BatchFile(
        batch_id="091000019-261207-A",
        originator="1234567890",
        kind=BatchKind.MIXED,
        processing_date=dt.date(2026, 12, 7),
        currency="USD",
        entries=entries,
    )
    return nacha.write(batch, sec_code=sec_code)


LONG = long_file()
LONG_WEB = long_file("WEB")


def outcome(data: bytes) -> object:
    reader = nacha.Reader(io.BytesIO(data), filename="LONG.ACH")
    try:
        entries = [(e.line, e.record, e.amount_minor, e.batch) for e in reader]
    except FormatError as exc:
        return str(exc)
    return entries, reader.control


def one_by_one(data: bytes) -> object:
    with patch.object(nacha, "_RUN", re.compile(rb"(?!)")):
        return outcome(data)


@pytest.mark.parametrize("data", [LONG, LONG_WEB], ids=["PPD", "WEB"])
def test_a_long_batch_is_read_in_runs_and_gives_what_one_by_one_gives(data: bytes) -> None:
    with patch.object(nacha, "_plain_entries", wraps=nacha._plain_entries) as runs:
        found = outcome(data)

    assert [call for call in runs.call_args_list if call.args[0]]  # the run path was taken
    assert found == one_by_one(data)
    assert isinstance(found, tuple)
    assert len(found[0]) == 40


@settings(max_examples=150, deadline=None)
@given(
    line=st.integers(3, 42),
    position=st.integers(1, 94),
    char=st.sampled_from(list("0159 AZ-RSX\x00\t\x81")),
    file=st.sampled_from([LONG, LONG_WEB]),
)
def test_a_changed_character_gives_the_same_result_in_runs_and_one_by_one(
    line: int, position: int, char: str, file: bytes
) -> None:
    data = put(file, line, position, char)

    assert outcome(data) == one_by_one(data)


def test_an_empty_line_inside_the_file() -> None:
    lines = VARIANTS.split(b"\r\n")
    lines.insert(4, b"")

    assert error(b"\r\n".join(lines)) == (
        "RV.ACH line 5, position 1 (record type): an empty line, not a NACHA record type "
        "(1, 5, 6, 7, 8, 9)"
    )


@settings(max_examples=60, deadline=None)
@given(
    shorter=st.integers(3, 42),
    longer=st.integers(3, 42),
    cut=st.integers(1, 94),
    extra=st.integers(1, 94),
    char=st.sampled_from(list("07 X")),
)
def test_records_of_other_lengths_give_the_same_result_in_runs_and_one_by_one(
    shorter: int, longer: int, cut: int, extra: int, char: str
) -> None:
    lines = LONG.split(b"\n")
    lines[shorter - 1] = lines[shorter - 1][: cut - 1] + lines[shorter - 1][cut:]
    lines[longer - 1] = (
        lines[longer - 1][: extra - 1] + char.encode() + lines[longer - 1][extra - 1 :]
    )
    data = b"\n".join(lines)

    assert outcome(data) == one_by_one(data)


def test_a_trace_number_out_of_order_in_a_run_is_named_as_one_by_one_names_it() -> None:
    data = put(LONG, 20, 88, "0000017")

    assert (
        outcome(data)
        == one_by_one(data)
        == (
            "LONG.ACH line 20, positions 80-94 (trace number): '091000010000017' does not follow "
            "the trace number before it in the batch, '091000010000017': trace numbers ascend "
            "within a batch"
        )
    )
