"""NACHA files: the samples, round trips, and every way a file can be wrong."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle import formats
from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction
from passerelle.formats import FormatError, nacha
from passerelle.money import Money

SAMPLES = Path(__file__).parent / "fixtures" / "samples" / "batch" / "nacha"
FIXTURES = Path(__file__).parent / "fixtures" / "batch" / "nacha"
CREDIT = (SAMPLES / "moov-testdata-ppd-credit.ach").read_bytes()
DEBIT = (SAMPLES / "moov-testdata-ppd-debit.ach").read_bytes()
TRIMMED = (SAMPLES / "comanage_nacha-simple.ach").read_bytes()
TWO_BATCHES = (FIXTURES / "two-batches-prenote-addenda.ach").read_bytes()


def put(data: bytes, line: int, position: int, text: str) -> bytes:
    """`data` with `text` written over line `line` (padded to 94) from 1-based `position`."""
    lines = data.decode().splitlines()
    record = lines[line - 1].ljust(94)
    lines[line - 1] = record[: position - 1] + text + record[position - 1 + len(text) :]
    return "\n".join(lines).encode()


def error(data: bytes, filename: str = "PAYROLL.ACH") -> str:
    with pytest.raises(FormatError) as caught:
        nacha.read(data, filename=filename)
    return str(caught.value)


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


# --- what the files hold ----------------------------------------------------------------------


def test_ppd_credit_sample() -> None:
    assert nacha.read(CREDIT) == BatchFile(
        batch_id="0231380104-190816-A",
        originator="231380104",
        kind=BatchKind.CREDIT,
        processing_date=dt.date(2019, 8, 16),
        currency="USD",
        entries=(
            BatchEntry(
                direction=Direction.CREDIT,
                amount=usd("1000000.00"),
                payee="Credit Account 1",
                account="987654321",
                routing="231380104",
                transaction_code="22",
            ),
        ),
    )


def test_ppd_debit_sample_padded_without_final_line_end() -> None:
    assert not DEBIT.endswith(b"\n")

    assert nacha.read(DEBIT) == BatchFile(
        batch_id="0121042882-190624-A",
        originator="121042882",
        kind=BatchKind.DEBIT,
        processing_date=dt.date(2019, 6, 25),
        currency="USD",
        entries=(
            BatchEntry(
                direction=Direction.DEBIT,
                amount=usd("1000000.00"),
                payee="Receiver Account Name",
                account="12345678",
                routing="231380104",
                transaction_code="27",
            ),
        ),
    )


def test_ccd_debit_sample_with_right_trimmed_lines() -> None:
    assert sorted({len(line) for line in TRIMMED.splitlines()}) == [55, 74, 94]

    assert nacha.read(TRIMMED) == BatchFile(
        batch_id="1273720697-150616-A",
        originator="1234567890",
        kind=BatchKind.DEBIT,
        processing_date=dt.date(2015, 6, 16),
        currency="USD",
        entries=(
            BatchEntry(
                direction=Direction.DEBIT,
                amount=usd("821.00"),
                payee="JENNIFER DEMPSEY LLC D",
                account="5005486880",
                routing="122105278",
                transaction_code="27",
            ),
        ),
    )


def test_two_batches_with_addenda_and_a_prenote(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="passerelle.formats.nacha"):
        batch = nacha.read(TWO_BATCHES, filename="two.ach")

    def entry(
        direction: Direction,
        amount: str,
        name: str,
        account: str,
        routing: str,
        ref: str,
        code: str,
    ) -> BatchEntry:
        return BatchEntry(
            direction=direction,
            amount=usd(amount),
            payee=name,
            account=account,
            routing=routing,
            reference=ref,
            transaction_code=code,
        )

    assert batch == BatchFile(
        batch_id="123456789-241115-B",
        originator="1234567890",
        kind=BatchKind.MIXED,
        processing_date=dt.date(2024, 11, 15),
        currency="USD",
        entries=(
            entry(
                Direction.CREDIT,
                "2500.75",
                "ALICE MARTIN",
                "1234500001",
                "091000019",
                "EMP-0001",
                "22",
            ),
            entry(
                Direction.CREDIT,
                "1000.00",
                "BOB OKAFOR",
                "987654321",
                "021000021",
                "EMP-0002",
                "32",
            ),
            entry(Direction.DEBIT, "15.50", "ALICE MARTIN", "4444", "071000013", "EMP-0001", "27"),
        ),
    )
    assert caplog.messages == ["two.ach line 8: prenote (transaction code 28) skipped"]


def test_a_file_without_line_ends() -> None:
    one_line = b"".join(line.ljust(94) for line in CREDIT.splitlines())

    assert nacha.read(one_line) == nacha.read(CREDIT)


def test_crlf_and_no_padding() -> None:
    lines = [line for line in CREDIT.splitlines() if line != b"9" * 94]

    assert nacha.read(b"\r\n".join(lines) + b"\r\n") == nacha.read(CREDIT)


@pytest.mark.parametrize("data", [CREDIT, DEBIT, TRIMMED, TWO_BATCHES])
def test_detect_and_dispatch(data: bytes) -> None:
    assert formats.detect(data) == "nacha"
    assert formats.read(data) == nacha.read(data)


# --- round trip -------------------------------------------------------------------------------

PRINTABLE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,&'/-#"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def check_digit(first8: str) -> str:
    return str(-sum(int(d) * w for d, w in zip(first8, (3, 7, 1) * 3, strict=False)) % 10)


routings = st.text("0123456789", min_size=8, max_size=8).map(lambda r: r + check_digit(r))


@st.composite
def entries(draw: st.DrawFn) -> BatchEntry:
    direction = draw(st.sampled_from(Direction))
    return BatchEntry(
        direction=direction,
        amount=Money.from_minor(draw(st.integers(1, 9_999_999_999)), "USD"),
        payee=draw(st.text(PRINTABLE, min_size=1, max_size=22).filter(str.strip)),
        account=draw(st.text("0123456789", min_size=1, max_size=17)),
        routing=draw(routings),
        reference=draw(st.none() | st.text(PRINTABLE, max_size=15).filter(str.strip)),
        transaction_code=draw(
            st.sampled_from(["22", "32"] if direction is Direction.CREDIT else ["27", "37"])
        ),
    )


@st.composite
def nacha_batches(draw: st.DrawFn) -> BatchFile:
    items = draw(st.lists(entries(), max_size=14))
    directions = {e.direction for e in items}
    kind = (
        draw(st.sampled_from(BatchKind))
        if not directions
        else BatchKind.MIXED
        if len(directions) == 2
        else BatchKind(directions.pop().value)
    )
    created = draw(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)))
    origin = draw(st.text("0123456789", min_size=1, max_size=10))
    return BatchFile(
        batch_id=f"{origin}-{created:%y%m%d}-{draw(st.sampled_from(ALNUM))}",
        originator=draw(st.text(ALNUM, min_size=1, max_size=10)),
        kind=kind,
        processing_date=draw(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))),
        currency="USD",
        entries=tuple(items),
    )


@settings(max_examples=60, deadline=None)
@given(batch=nacha_batches(), pad=st.booleans(), line_end=st.sampled_from(["\n", "\r\n"]))
def test_read_gives_back_what_write_wrote(batch: BatchFile, pad: bool, line_end: str) -> None:
    data = nacha.write(batch, pad_blocks=pad, line_end=line_end)

    assert nacha.read(data) == batch
    assert formats.detect(data) == "nacha"


@settings(max_examples=30, deadline=None)
@given(batch=nacha_batches())
def test_right_trimmed_lines_read_the_same(batch: BatchFile) -> None:
    data = nacha.write(batch)
    trimmed = b"\n".join(line.rstrip(b" ") for line in data.splitlines())

    assert nacha.read(trimmed) == batch


def test_written_file_is_blocked_in_tens() -> None:
    lines = nacha.write(nacha.read(TWO_BATCHES)).decode().splitlines()

    assert len(lines) == 10
    assert {len(line) for line in lines} == {94}
    assert [line[0] for line in lines[:7]] == ["1", "5", "6", "6", "6", "8", "9"]
    assert lines[1][1:4] == "200"  # mixed credits and debits


# --- bad files --------------------------------------------------------------------------------


def test_bad_amount() -> None:
    assert error(put(CREDIT, 3, 30, "01000O0000")) == (
        "PAYROLL.ACH line 3, positions 30-39 (amount): '01000O0000' is not a number"
    )


def test_zero_amount_outside_a_prenote() -> None:
    assert error(put(CREDIT, 3, 30, "0000000000")) == (
        "PAYROLL.ACH line 3, positions 30-39 (amount): '0000000000' must be greater than zero"
    )


def test_prenote_with_an_amount() -> None:
    assert error(put(TWO_BATCHES, 8, 30, "0000000001")) == (
        "PAYROLL.ACH line 8, positions 30-39 (amount): '0000000001': a prenote (28) carries no amount"
    )


def test_unbalanced_batch_control_total() -> None:
    assert error(put(CREDIT, 4, 33, "000100000001")) == (
        "PAYROLL.ACH line 4, positions 33-44 (total credit entry dollar amount): expected "
        "000100000000 (the batch's credits total 1000000.00 USD), found '000100000001'"
    )


def test_wrong_entry_count() -> None:
    assert error(put(TWO_BATCHES, 6, 5, "000002")) == (
        "PAYROLL.ACH line 6, positions 5-10 (entry/addenda count): expected 000003 "
        "(the batch has 3 entry and addenda records), found '000002'"
    )


def test_wrong_entry_hash() -> None:
    assert error(put(TRIMMED, 4, 11, "0012210528")) == (
        "PAYROLL.ACH line 4, positions 11-20 (entry hash): expected 0012210527 "
        "(the sum of the batch's RDFI routing numbers), found '0012210528'"
    )


def test_unbalanced_file_control() -> None:
    assert error(put(TWO_BATCHES, 11, 32, "000000001551")) == (
        "PAYROLL.ACH line 11, positions 32-43 (total debit entry dollar amount in file): expected "
        "000000001550 (the file's debits total 15.50 USD), found '000000001551'"
    )


def test_wrong_batch_count() -> None:
    assert error(put(TWO_BATCHES, 11, 2, "000001")) == (
        "PAYROLL.ACH line 11, positions 2-7 (batch count): expected 000002 "
        "(the file has 2 batches), found '000001'"
    )


def test_bad_check_digit() -> None:
    assert error(put(CREDIT, 3, 12, "5")) == (
        "PAYROLL.ACH line 3, position 12 (check digit): "
        "'5' is not the check digit of 23138010 (expected 4)"
    )


def test_overlong_record() -> None:
    lines = CREDIT.split(b"\n")
    lines[2] += b"X"

    assert error(b"\n".join(lines)) == (
        "PAYROLL.ACH line 3, position 95: the record is 95 characters long; NACHA records are 94"
    )


def test_truncated_entry_is_refused_not_padded() -> None:
    lines = CREDIT.split(b"\n")
    lines[2] = lines[2][:35]

    assert error(b"\n".join(lines)) == (
        "PAYROLL.ACH line 3, positions 36-94: the record ends at position 35: a right-trimmed "
        "entry detail (6) record must reach position 94, the end of its trace number"
    )


def test_entry_one_character_short_is_refused() -> None:
    lines = DEBIT.split(b"\n")
    lines[2] = lines[2][:54] + lines[2][55:]  # one character lost inside: fields shift left
    assert len(lines[2]) == 93

    assert error(b"\n".join(lines)) == (
        "PAYROLL.ACH line 3, position 94: the record ends at position 93: a right-trimmed "
        "entry detail (6) record must reach position 94, the end of its trace number"
    )


def test_trailing_spaces_past_94_are_accepted() -> None:
    lines = CREDIT.split(b"\n")

    assert nacha.read(b"\n".join(line + b"   " for line in lines)) == nacha.read(CREDIT)


def test_unknown_record_type() -> None:
    assert error(put(CREDIT, 3, 1, "4")) == (
        "PAYROLL.ACH line 3, position 1 (record type): "
        "'4' is not a NACHA record type (1, 5, 6, 7, 8, 9)"
    )


def test_unknown_transaction_code() -> None:
    assert error(put(CREDIT, 3, 2, "25")) == (
        "PAYROLL.ACH line 3, positions 2-3 (transaction code): '25' is not a NACHA transaction code"
    )


def test_return_transaction_codes_are_refused_as_out_of_scope() -> None:
    assert error(put(CREDIT, 3, 2, "21")) == (
        "PAYROLL.ACH line 3, positions 2-3 (transaction code): '21' is a return or "
        "notification of change code; those are not supported"
    )


def test_debit_in_a_credits_only_batch() -> None:
    assert error(put(CREDIT, 3, 2, "27")) == (
        "PAYROLL.ACH line 3, positions 2-3 (transaction code): '27' is a debit in a batch of "
        "credits only (service class 220, line 2)"
    )


def test_addenda_without_an_announcing_entry() -> None:
    assert error(put(TWO_BATCHES, 3, 79, "0")) == (
        "PAYROLL.ACH line 4, position 1 (record type): "
        "an addenda record must follow an entry whose addenda indicator is 1"
    )


def test_entry_outside_a_batch() -> None:
    lines = CREDIT.split(b"\n")

    assert error(b"\n".join([lines[0], *lines[2:]])) == (
        "PAYROLL.ACH line 2, position 1 (record type): "
        "entry detail (6) record outside a batch (no batch header (5) before it)"
    )


def test_batch_never_closed() -> None:
    lines = CREDIT.split(b"\n")

    assert error(b"\n".join([*lines[:3], *lines[4:]])) == (
        "PAYROLL.ACH line 4, position 1 (record type): "
        "file control (9) before the batch control (8) of the batch opened on line 2"
    )


def test_file_without_file_control() -> None:
    lines = CREDIT.split(b"\n")

    assert error(b"\n".join(lines[:4])) == (
        "PAYROLL.ACH line 4: the file ends without a file control (9) record"
    )


def test_only_nines_after_the_file_control() -> None:
    lines = CREDIT.split(b"\n")
    lines[6] = b"9" * 93 + b"8"

    assert error(b"\n".join(lines)) == (
        "PAYROLL.ACH line 7, positions 1-94: after the file control (9) only lines of 94 '9's "
        "may follow"
    )


def test_read_wants_one_effective_date_and_points_to_read_batches() -> None:
    assert error(put(TWO_BATCHES, 7, 70, "241118")) == (
        "PAYROLL.ACH line 7, positions 70-75 (effective entry date): 2024-11-18 differs from "
        "2024-11-15 in the batch on line 2: one BatchFile has one originator and one "
        "processing date (read the file with read_batches or Reader)"
    )


def test_read_wants_one_company() -> None:
    assert error(put(TWO_BATCHES, 7, 41, "9999999999")) == (
        "PAYROLL.ACH line 7, positions 41-50 (company identification): 9999999999 differs "
        "from 1234567890 in the batch on line 2: one BatchFile has one originator and one "
        "processing date (read the file with read_batches or Reader)"
    )


def test_bad_effective_date() -> None:
    assert error(put(CREDIT, 2, 70, "190230")) == (
        "PAYROLL.ACH line 2, positions 70-75 (effective entry date): "
        "'190230' is not a date in the form YYMMDD"
    )


def test_wrong_record_size() -> None:
    assert error(put(CREDIT, 1, 35, "095")) == (
        "PAYROLL.ACH line 1, positions 35-37 (record size): '095' must be 094"
    )


@pytest.mark.parametrize("account", ["9876-4321", "XXXXX54321", "A1B2 C3"])
def test_alphanumeric_accounts_are_read(account: str) -> None:
    assert nacha.read(put(CREDIT, 3, 13, account.ljust(17))).entries[0].account == account


def test_account_not_left_justified() -> None:
    assert error(put(CREDIT, 3, 13, " 987654321")) == (
        "PAYROLL.ACH line 3, positions 13-29 (DFI account number): "
        "' 987654321       ': not left-justified"
    )


def test_iat_batches_are_refused() -> None:
    assert error(put(CREDIT, 2, 51, "IAT")) == (
        "PAYROLL.ACH line 2, positions 51-53 (standard entry class): "
        "IAT (international) batches are not supported"
    )


def test_file_without_batches() -> None:
    lines = CREDIT.split(b"\n")

    assert error(
        b"\n".join([lines[0], b"9000000000001000000000000000000000000000000000000000000"])
    ) == ("PAYROLL.ACH line 1: the file has no batch")


# --- what NACHA cannot carry ------------------------------------------------------------------


def write_error(batch: BatchFile) -> str:
    with pytest.raises(FormatError) as caught:
        nacha.write(batch)
    return str(caught.value)


def test_write_refuses_canadian_accounts() -> None:
    batch = nacha.read(CREDIT)
    entry = batch.entries[0].model_dump() | {
        "routing": None,
        "institution": "003",
        "transit": "68589",
    }

    assert write_error(
        batch.model_copy(update={"entries": (BatchEntry.model_validate(entry),)})
    ) == ("entries[0]: NACHA names accounts by routing and account number")


def test_write_refuses_a_transaction_code_of_the_other_direction() -> None:
    batch = nacha.read(CREDIT)
    entry = batch.entries[0].model_copy(update={"transaction_code": "27"})

    assert write_error(batch.model_copy(update={"entries": (entry,)})) == (
        "entries[0].transaction_code: '27' is not a credit transaction code (22, 32, 42, 52)"
    )


def test_write_refuses_other_currencies() -> None:
    batch = formats.cpa005.read(
        (SAMPLES.parent / "cpa005" / "evergrowth-Export_CRONUS_01-works.txt").read_bytes()
    )

    assert write_error(batch.model_copy(update={"batch_id": "1-240101-A"})) == (
        "currency: 'CAD': NACHA files are in USD"
    )
