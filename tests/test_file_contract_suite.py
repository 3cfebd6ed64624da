"""The file-platform contract suite: a tiny file platform passes it, and one broken in each way
the suite guards against fails it, with a message saying which rule."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
import socket
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import ClassVar

import pytest

from passerelle.batches import (
    BatchEntry,
    BatchFile,
    BatchKind,
    Direction,
    EntriesRemoved,
    Rescheduled,
)
from passerelle.formats import FormatError, cpa005
from passerelle.money import Money
from passerelle.platforms import FilePlatform, Store, StoreProblem
from passerelle.testing import (
    FilePlatformContract,
    FileSample,
    FileVersion,
    MalformedFile,
    byte_edits,
)


def _credit(payee: str, amount: str, account: str, reference: str) -> BatchEntry:
    return BatchEntry(
        direction=Direction.CREDIT,
        amount=Money.of(amount, "CAD"),
        payee=payee,
        institution="003",
        transit="00012",
        account=account,
        reference=reference,
        transaction_code="200",
    )


ADA = _credit("Ada Tremblay", "1520.35", "5012345", "EMP0001")
GRACE = _credit("Grace Roy", "1899.00", "744-5678-99", "EMP0002")
ALAN = _credit("Alan Gagnon", "1210.10", "****5678", "EMP0003")
PAYROLL = BatchFile(
    batch_id="0123456789-0042",
    originator="0123456789",
    kind=BatchKind.CREDIT,
    processing_date=dt.date(2026, 12, 15),
    currency="CAD",
    entries=(ADA, GRACE, ALAN),
)
CORRECTED = PAYROLL.model_copy(
    update={"processing_date": dt.date(2026, 12, 16), "entries": (ADA, ALAN)}
)
FIRST = cpa005.write(PAYROLL, creation_date=dt.date(2026, 12, 10))
SECOND = cpa005.write(CORRECTED, creation_date=dt.date(2026, 12, 10))
# A, one C record holding the three transactions, Z: the C and I total is at positions 47-60.
WRONG_TOTAL = FIRST.replace(b"00000000462945", b"00000000462946")
LINE_CUT_SHORT = FIRST.replace(b" \nZ", b"\nZ")

SAMPLE = FileSample("payroll", FIRST, "PAYROLL.DAT")
SAMPLES = (SAMPLE, FileSample("payroll corrected", SECOND, "PAYROLL.DAT"))
VERSION = FileVersion(
    "an employee removed, the date moved",
    SAMPLE,
    SAMPLES[1],
    changes=(
        Rescheduled(previous=dt.date(2026, 12, 15), processing_date=dt.date(2026, 12, 16)),
        EntriesRemoved(entries=(GRACE,), positions=(1,)),
    ),
)
MALFORMED = (
    MalformedFile("wrong total", WRONG_TOTAL, "PAYROLL.DAT", line=3, field="total value of C"),
    MalformedFile("line cut short", LINE_CUT_SHORT, "PAYROLL.DAT", line=2),
)


class TinyPlatform(FilePlatform):
    """A payroll package's CPA-005 files, named PAYROLL.DAT; its stores take no options."""

    name = "tiny"

    def read(self, data: bytes, *, filename: str) -> BatchFile:
        return cpa005.read(data, filename=filename)

    def recognises(self, filename: str) -> bool:
        return PurePath(filename.replace("\\", "/")).name.upper() == "PAYROLL.DAT"

    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        return [
            StoreProblem(f"options.{name}", "tiny stores take no options") for name in store.options
        ]


class TestTinyPlatform(FilePlatformContract):
    """The suite, turned on for the tiny platform in one class, as a plugin author would."""

    platform = TinyPlatform()
    samples = SAMPLES
    versions = (VERSION,)
    malformed = MALFORMED
    file_names = ("payroll.dat",)
    other_names = ("PAYROLL.TXT", "notes.dat")
    bad_options = ({"currency": "CAD"},)
    max_examples = 10


class Contract(FilePlatformContract):
    """Not collected (no ``Test`` prefix): each test below runs one of its tests by hand."""

    platform: ClassVar[FilePlatform] = TinyPlatform()
    samples = SAMPLES
    versions = (VERSION,)
    malformed = MALFORMED
    file_names = ("payroll.dat",)
    other_names = ("notes.dat",)
    bad_options = ({"currency": "CAD"},)
    max_examples = 0


def contract_for(platform: FilePlatform) -> Contract:
    class ForPlatform(Contract):
        pass

    ForPlatform.platform = platform
    return ForPlatform()


# Platforms that break one rule each, and the suite failing them with a message saying which.


class DecodesAsAscii(TinyPlatform):
    def read(self, data: bytes, *, filename: str) -> BatchFile:
        data.decode("ascii")  # before the reader, which names the line of a bad byte
        return super().read(data, filename=filename)


class IdentifiesByReadCount(TinyPlatform):
    def __init__(self) -> None:
        self._reads = itertools.count(1)

    def read(self, data: bytes, *, filename: str) -> BatchFile:
        batch = super().read(data, filename=filename)
        return batch.model_copy(update={"batch_id": f"{batch.batch_id}-{next(self._reads)}"})


class IdentifiesByDate(TinyPlatform):
    def read(self, data: bytes, *, filename: str) -> BatchFile:
        batch = super().read(data, filename=filename)
        return batch.model_copy(update={"batch_id": f"{batch.originator}-{batch.processing_date}"})


class ReadsWhatLiesBeside(TinyPlatform):
    def read(self, data: bytes, *, filename: str) -> BatchFile:
        beside = Path(filename).with_suffix(".CTL")
        if beside.exists():
            beside.read_bytes()
        return super().read(data, filename=filename)


class CallsHome(TinyPlatform):
    def read(self, data: bytes, *, filename: str) -> BatchFile:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", 9), timeout=1).close()
        return super().read(data, filename=filename)


class KeepsWhatItRead(TinyPlatform):
    """Reads the transactions a truncated file holds instead of refusing it."""

    def read(self, data: bytes, *, filename: str) -> BatchFile:
        try:
            return super().read(data, filename=filename)
        except FormatError as exc:
            if "without a Z trailer" not in exc.reason:
                raise
        reader = cpa005.Reader(io.BytesIO(data), filename=filename)
        entries: list[BatchEntry] = []
        first: cpa005.Transaction | None = None
        try:
            for transaction in reader:
                first = first or transaction
                entries.append(transaction.batch_entry())
        except FormatError:
            pass
        header = reader.header
        return BatchFile(
            batch_id=header.batch_id,
            originator=header.originator,
            kind=BatchKind.CREDIT,
            processing_date=first.date if first else header.creation_date,
            currency=header.currency,
            entries=tuple(entries),
        )


class LosesTheLine(TinyPlatform):
    def read(self, data: bytes, *, filename: str) -> BatchFile:
        try:
            return super().read(data, filename=filename)
        except FormatError as exc:
            raise FormatError(exc.reason, filename=filename) from None


class RecognisesOnlyBareNames(TinyPlatform):
    def recognises(self, filename: str) -> bool:
        return filename.upper() == "PAYROLL.DAT"


class ChecksNoOption(TinyPlatform):
    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        return ()


class CrashesOnAnOption(TinyPlatform):
    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        store.options.get("originator_id", "").encode("ascii")
        return super().check_store(store)


class BadlyNamed(TinyPlatform):
    name = "Tiny Files"


class DropsTheEntries(TinyPlatform):
    def read(self, data: bytes, *, filename: str) -> BatchFile:
        return super().read(data, filename=filename).model_copy(update={"entries": ()})


class ReadsForAStoreOtherwise(TinyPlatform):
    def read_for_store(self, data: bytes, *, filename: str, store: Store) -> BatchFile:
        batch = self.read(data, filename=filename)
        return batch.model_copy(update={"batch_id": f"{store.id}-{batch.batch_id}"})


def test_the_byte_edits_are_the_same_in_every_run() -> None:
    edits = list(byte_edits(FIRST))
    assert edits == list(byte_edits(FIRST))
    assert len(edits) > 100
    assert all(len(data) == len(FIRST) or b"\n" in data for data, _ in edits)
    assert ("byte 0 replaced by b'X'") in {what for _, what in edits}


def test_a_reader_crashing_on_an_edited_byte_fails() -> None:
    with pytest.raises(
        AssertionError,
        match=r"^reading payroll with byte 0 replaced by b'\\xff' raised UnicodeDecodeError: "
        r".*one FormatError naming line and field",
    ):
        contract_for(DecodesAsAscii()).test_byte_edits_never_crash_the_reader(SAMPLE)


def test_a_reader_whose_identity_changes_at_each_read_fails() -> None:
    with pytest.raises(
        AssertionError,
        match=r"^the sample payroll read again gives another batch \(0123456789-0042-2 vs "
        r"0123456789-0042-1\): reading must be deterministic",
    ):
        contract_for(IdentifiesByReadCount()).test_the_same_bytes_read_to_the_same_batch(SAMPLE)


def test_a_reader_making_a_corrected_file_another_batch_fails() -> None:
    with pytest.raises(
        AssertionError,
        match=r"^payroll corrected reads as batch '0123456789-2026-12-16' .* a corrected file "
        r"would be a second batch, paid twice",
    ):
        contract_for(IdentifiesByDate()).test_a_new_version_diffs_to_its_changes(VERSION)


def test_a_version_with_other_changes_than_expected_fails() -> None:
    wrong = FileVersion(VERSION.name, VERSION.before, VERSION.after, changes=VERSION.changes[:1])
    with pytest.raises(AssertionError, match=r"^an employee removed, the date moved: the changes"):
        contract_for(TinyPlatform()).test_a_new_version_diffs_to_its_changes(wrong)


def test_a_reader_opening_a_file_beside_fails(tmp_path: Path) -> None:
    (tmp_path / "PAYROLL.CTL").write_bytes(b"control")
    beside = FileSample("payroll", FIRST, str(tmp_path / "PAYROLL.DAT"))
    with pytest.raises(AssertionError, match=r"^reading the sample payroll opened the file .*CTL"):
        contract_for(ReadsWhatLiesBeside()).test_a_sample_reads_to_a_batch(beside)


def test_a_reader_opening_a_socket_fails() -> None:
    with pytest.raises(
        AssertionError, match=r"^reading the sample payroll opened 127\.0\.0\.1: a platform reads"
    ):
        contract_for(CallsHome()).test_a_sample_reads_to_a_batch(SAMPLE)


def test_a_reader_taking_a_truncated_file_as_a_smaller_batch_fails() -> None:
    with pytest.raises(
        AssertionError,
        match=r"^payroll without its last record reads to batch '0123456789-0042' with 3 "
        r"entries: a file cut short .* must be refused",
    ):
        contract_for(KeepsWhatItRead()).test_a_truncated_file_is_refused(SAMPLE)


def test_a_reader_refusing_without_naming_the_line_fails() -> None:
    contract = contract_for(LosesTheLine())
    with pytest.raises(
        AssertionError, match=r"^the malformed file wrong total is refused at line None, not 3"
    ):
        contract.test_a_malformed_file_is_refused_naming_its_line(MALFORMED[0])
    with pytest.raises(
        AssertionError, match=r"^payroll with byte 0 replaced by b'X' is refused naming no line"
    ):
        contract.test_byte_edits_never_crash_the_reader(SAMPLE)


def test_a_malformed_file_refused_at_another_field_fails() -> None:
    elsewhere = MalformedFile("wrong total", WRONG_TOTAL, "PAYROLL.DAT", line=3, field="count")
    with pytest.raises(
        AssertionError, match=r"naming the field 'total value of C and I', not one of 'count'"
    ):
        contract_for(TinyPlatform()).test_a_malformed_file_is_refused_naming_its_line(elsewhere)


def test_a_malformed_file_that_reads_fails() -> None:
    readable = MalformedFile("not broken", FIRST, "PAYROLL.DAT", line=1)
    with pytest.raises(AssertionError, match=r"^the malformed file not broken reads to batch"):
        contract_for(TinyPlatform()).test_a_malformed_file_is_refused_naming_its_line(readable)


def test_a_platform_not_recognising_its_names_in_a_folder_fails() -> None:
    with pytest.raises(
        AssertionError, match=r"^recognises\('/srv/files/payroll.dat'\) is not True"
    ):
        contract_for(RecognisesOnlyBareNames()).test_file_names_are_recognised()


def test_a_platform_accepting_bad_options_fails() -> None:
    with pytest.raises(
        AssertionError,
        match=r"^check_store finds no problem with the options \{'currency': 'CAD'\}",
    ):
        contract_for(ChecksNoOption()).test_store_options_are_checked()


def test_a_platform_crashing_on_odd_options_fails() -> None:
    with pytest.raises(
        AssertionError, match=r"^check_store raised UnicodeEncodeError for the options"
    ):
        contract_for(CrashesOnAnOption()).test_store_options_are_checked()


def test_a_platform_name_that_is_no_path_segment_fails() -> None:
    with pytest.raises(AssertionError, match=r"with name 'Tiny Files': a platform name is lower"):
        contract_for(BadlyNamed()).test_name_is_a_platform_path_segment()


def test_an_incomplete_subclass_is_told_what_is_missing() -> None:
    class Incomplete(FilePlatformContract):
        samples = (SAMPLE, SAMPLE)

    assert Incomplete.configuration_problems() == [
        "platform must be a FilePlatform instance, not None",
        "samples names must be distinct; repeated: payroll",
    ]


def test_a_reader_losing_the_entries_fails() -> None:
    with pytest.raises(
        AssertionError, match=r"^the sample payroll reads to a batch without entries"
    ):
        contract_for(DropsTheEntries()).test_a_sample_reads_to_a_batch(SAMPLE)


def test_a_platform_reading_otherwise_for_a_store_fails() -> None:
    with pytest.raises(
        AssertionError,
        match=r"^read_for_store of the sample payroll, for the store contract \(store_options\), "
        r"gives .*contract-0123456789-0042.*, not the batch read gives",
    ):
        contract_for(ReadsForAStoreOtherwise()).test_a_sample_reads_to_a_batch(SAMPLE)
