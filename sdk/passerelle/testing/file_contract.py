"""The file-platform contract suite: what every file platform must do for the core to be safe.

A plugin that reads batch payment files (an accounting package's direct-deposit or
pre-authorized-debit files) proves itself by subclassing `FilePlatformContract` in a class
pytest collects (its name starts with ``Test``). It names the platform, files it really reads,
and, to be thorough, a new version of one of them, files broken the ways its format can be
broken, and the file names it goes by; every test of the suite is inherited::

    # tests/test_acme_contract.py
    from pathlib import Path

    from passerelle.batches import EntriesRemoved, Rescheduled
    from passerelle.testing import FilePlatformContract, FileSample, FileVersion, MalformedFile
    from passerelle_acme import AcmePlatform

    FIXTURES = Path(__file__).parent / "fixtures"


    def sample(name: str) -> FileSample:
        return FileSample(name, (FIXTURES / name).read_bytes(), filename="PAYROLL.DAT")


    class TestAcmeContract(FilePlatformContract):
        platform = AcmePlatform()
        samples = (sample("payroll.dat"), sample("vendors.dat"))
        versions = (
            FileVersion(
                "payroll corrected",
                sample("payroll.dat"),
                sample("payroll-corrected.dat"),
                changes=(Rescheduled(...), EntriesRemoved(...)),
            ),
        )
        malformed = (MalformedFile("bad total", ..., "PAYROLL.DAT", line=4, field="total"),)
        file_names = ("PAYROLL.DAT",)
        other_names = ("notes.txt",)
        bad_options = ({"currency": "EUR"},)

A failure names the rule and the file (``test_a_malformed_file_is_refused_naming_its_line[bad
total]``) and says what the core would do with such a platform.

What it checks:

- ``name`` is accepted by the plugin manager (a valid ``{platform}`` path segment).
- Every sample reads to a `BatchFile` with an identity (``batch_id``, ``originator``), a
  processing date and entries, which survives being stored as JSON and read back (the store
  keeps every version so). `read_for_store` for the contract's store (``store_id``, with
  ``store_options``, none by default) gives the same batch.
- Reading is deterministic: the same bytes read again, or a copy of them, give an equal batch
  and so the same identity; a stored file is read again after a crash or a fix.
- Each `FileVersion`: both files have the same identity, and `passerelle.batches.diff` of
  their batches is exactly the expected changes (a date moved, an entry removed...): the
  change the back end is sent.
- Each `MalformedFile` (a bad check digit, a wrong control total, a line cut short...) raises
  one `FormatError` naming the expected line and field, and nothing else.
- A truncated sample (cut in half, its last record dropped, filler lines of one repeated
  character at its end left out first; for formats whose `FileSample.controls` say they carry
  a trailer or totals) and an empty file are refused with a `FormatError` naming a line: a file
  cut by a crash or a full disk is never read as a smaller batch.
- Byte edits, enumerated deterministically over each sample (every line's first character and
  positions spread over the file, each replaced by a letter, a digit, a space, a byte that is
  not text and a line end), then ``max_examples`` random ones (derandomized), either read to a
  well-formed batch or raise `FormatError` naming a line, never another exception.
- `read` opens no file and no socket: it reads the bytes it is given, nothing else.
- `recognises` is true for each of ``file_names`` and each sample's file name, under a POSIX or
  a Windows folder too, and false for each of ``other_names``.
- `check_store` finds no problem with the contract's store, at least one (under an
  ``options.`` key, with a message) with each of ``bad_options``, and never raises, whatever
  the options hold.

A test that cannot hold for a platform is turned off as any pytest test is, by overriding it in
the subclass with a skip that says why.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passerelle.batches import BatchChange, BatchFile, diff
from passerelle.formats import FormatError
from passerelle.platforms import FilePlatform, Store, StoreProblem
from passerelle.testing.harness import check_registers, fail_unless_configured
from passerelle.testing.isolation import no_sockets

__all__ = ["FilePlatformContract", "FileSample", "FileVersion", "MalformedFile", "byte_edits"]

_EDIT_VALUES: Final = (b"X", b"7", b" ", b"\xff", b"\n")
"""What an enumerated edit puts in place of a byte."""
_SPREAD: Final = 48
"""Positions spread over a sample's bytes, beside each line's first character."""
_FOLDERS: Final = ("/srv/files/", "C:\\Users\\Payroll\\EFT\\")
_AWKWARD_OPTIONS: Final[tuple[Mapping[str, str], ...]] = (
    {"": ""},
    {"no-such-option": "x"},
    {"currency": "\x00"},
    {"originator_id": "\u20ac" * 300},
    {"folder": "\x00/not/a/path"},
    {"format": " "},
)
"""Options `check_store` must survive (returning problems or none), whatever its options are."""


@dataclass(frozen=True)
class FileSample:
    """A file as the platform's software writes it, byte for byte, under its `filename`.

    `controls`: the format carries a trailer or control totals (CPA-005, NACHA), so a truncated
    file must be refused; false for a format that has none (a CSV of payments), where a file
    cut at a line end is a smaller file the reader cannot tell from a whole one.
    """

    name: str
    data: bytes
    filename: str
    controls: bool = True


@dataclass(frozen=True)
class FileVersion:
    """Two versions of one batch, as the software writes a corrected file: `after` must read
    to the same identity as `before`, and its changes from it must be `changes`."""

    name: str
    before: FileSample
    after: FileSample
    changes: tuple[BatchChange, ...]


@dataclass(frozen=True)
class MalformedFile:
    """A file broken in a way its format can be (a bad check digit, a wrong control total, a
    line cut short): reading it must raise `FormatError` naming `line` and, when given, a field
    whose name contains `field` (case-insensitive)."""

    name: str
    data: bytes
    filename: str
    line: int
    field: str | None = None


_Outcome = BatchFile | FormatError


class FilePlatformContract:
    """The contract suite for a `FilePlatform`: subclass it in a ``Test...`` class.

    See the module documentation for what to set and what is checked.
    """

    platform: ClassVar[FilePlatform]
    """The platform under test."""
    samples: ClassVar[Sequence[FileSample]]
    """Files the platform reads; each must read to a batch with entries."""
    versions: ClassVar[Sequence[FileVersion]] = ()
    """New versions of sample batches, with the changes they make."""
    malformed: ClassVar[Sequence[MalformedFile]] = ()
    """Files broken the ways the format can be, each refused at a known line."""
    file_names: ClassVar[Sequence[str]] = ()
    """Names the platform's files go by (beside the samples'): each must be recognised."""
    other_names: ClassVar[Sequence[str]] = ()
    """Names that are not the platform's: none may be recognised."""
    bad_options: ClassVar[Sequence[Mapping[str, str]]] = ()
    """Store options `check_store` must find a problem with, one set per store."""
    store_id: ClassVar[str] = "contract"
    """The id of the store `read_for_store` and `check_store` get."""
    store_options: ClassVar[Mapping[str, str]] = {}
    """Its options: none by default. They must be valid and restrict nothing the samples carry
    (`read_for_store` must give what `read` gives)."""
    max_examples: ClassVar[int] = 30
    """Random byte edits tried per sample, after the enumerated ones."""

    @property
    def store(self) -> Store:
        """The store files come for: `store_id` with `store_options`."""
        return Store(platform=self.platform.name, id=self.store_id, options=self.store_options)

    # Set-up

    @classmethod
    def configuration_problems(cls) -> list[str]:
        """What the subclass is missing or got wrong; every test fails with these."""
        problems = []
        platform = getattr(cls, "platform", None)
        if not isinstance(platform, FilePlatform):
            problems.append(f"platform must be a FilePlatform instance, not {platform!r}")
        samples = getattr(cls, "samples", None)
        if not isinstance(samples, Sequence) or not samples:
            problems.append("samples must be a non-empty sequence of FileSample")
        elif not all(isinstance(sample, FileSample) for sample in samples):
            problems.append("samples must hold only FileSample instances")
        for label, items in (
            ("samples", samples if isinstance(samples, Sequence) else ()),
            ("versions", cls.versions),
            ("malformed", cls.malformed),
        ):
            names = [getattr(item, "name", None) for item in items]
            repeated = sorted({str(n) for n in names if names.count(n) > 1})
            if repeated:
                problems.append(f"{label} names must be distinct; repeated: {', '.join(repeated)}")
        return problems

    @pytest.fixture(autouse=True)
    def _contract_configured(self) -> None:
        fail_unless_configured(self, self.configuration_problems(), "file contract suite")

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run each test taking a `sample`, `version` or `malformed` file once per item, with
        the item's name as its id."""
        for argument, attribute, kind in (
            ("sample", "samples", FileSample),
            ("version", "versions", FileVersion),
            ("malformed", "malformed", MalformedFile),
        ):
            if argument in metafunc.fixturenames:
                items = getattr(self, attribute, ())
                valid = (
                    [item for item in items if isinstance(item, kind)]
                    if isinstance(items, Sequence)
                    else []
                )
                metafunc.parametrize(argument, valid, ids=[item.name for item in valid])

    # The platform

    def test_name_is_a_platform_path_segment(self) -> None:
        check_registers(self.platform)

    def test_file_names_are_recognised(self) -> None:
        claimed = [*self.file_names, *(sample.filename for sample in self.samples)]
        for name in claimed:
            for shown in (name, *(folder + name for folder in _FOLDERS)):
                assert self._recognises(shown) is True, (
                    f"recognises({shown!r}) is not True: the platform's files go by that name, "
                    "wherever the software writes them"
                )
        for name in self.other_names:
            assert self._recognises(name) is False, (
                f"recognises({name!r}) is not False: it is not a name the platform's files go by"
            )

    def test_store_options_are_checked(self) -> None:
        problems = self._check_store(self.store)
        assert not problems, (
            f"check_store finds problems with the options {dict(self.store_options)!r}: "
            f"{problems}; set store_options the platform takes"
        )
        for options in self.bad_options:
            problems = self._check_store(Store(self.platform.name, self.store_id, options=options))
            assert problems, (
                f"check_store finds no problem with the options {dict(options)!r}: "
                "`passerelle config check` would pass a configuration whose files all fail"
            )
            for problem in problems:
                named = problem.key.startswith("options.") and bool(problem.message.strip())
                assert named, (
                    f"check_store reported {problem!r} for the options {dict(options)!r}: name "
                    "the option (options.NAME) and say what is wrong"
                )
        for options in _AWKWARD_OPTIONS:
            self._check_store(Store(self.platform.name, self.store_id, options=options))

    # Reading

    def test_a_sample_reads_to_a_batch(self, sample: FileSample) -> None:
        batch = self._read_sample(sample)
        what = f"the sample {sample.name}"
        identified = bool(batch.batch_id.strip() and batch.originator.strip())
        assert identified, (
            f"{what} reads to a batch without an identity ({batch.batch_id!r} from "
            f"{batch.originator!r}): a new version could not be told from a new batch"
        )
        assert batch.entries, f"{what} reads to a batch without entries"
        stored = BatchFile.model_validate_json(batch.model_dump_json())
        assert stored == batch, (
            f"{what} reads to a batch that is not the same once stored as JSON and read back: "
            "versions are kept so, and diffed against"
        )
        for_store = self._outcome(
            lambda: self.platform.read_for_store(
                sample.data, filename=sample.filename, store=self.store
            ),
            what,
        )
        assert for_store == batch, (
            f"read_for_store of {what}, for the store {self.store_id} (store_options), gives "
            f"{for_store!r}, not the batch read gives"
        )

    def test_the_same_bytes_read_to_the_same_batch(self, sample: FileSample) -> None:
        first = self._read_sample(sample)
        again = self._read_sample(sample)
        copy = self._read_sample(
            FileSample(sample.name, bytes(bytearray(sample.data)), sample.filename)
        )
        for other, how in ((again, "read again"), (copy, "copied then read")):
            assert other == first, (
                f"the sample {sample.name} {how} gives another batch ({other.batch_id} "
                f"vs {first.batch_id}): reading must be deterministic, a stored file is read "
                "again after a crash or a fix"
            )

    def test_a_new_version_diffs_to_its_changes(self, version: FileVersion) -> None:
        before, after = self._read_sample(version.before), self._read_sample(version.after)
        assert (after.batch_id, after.originator) == (before.batch_id, before.originator), (
            f"{version.after.name} reads as batch {after.batch_id!r} from {after.originator!r}, "
            f"not {before.batch_id!r} from {before.originator!r} as {version.before.name}: a "
            "corrected file would be a second batch, paid twice"
        )
        changes = diff(before, after)
        assert changes == version.changes, (
            f"{version.name}: the changes from {version.before.name} to {version.after.name} are "
            f"{list(changes)!r}, not {list(version.changes)!r}"
        )

    def test_a_malformed_file_is_refused_naming_its_line(self, malformed: MalformedFile) -> None:
        what = f"the malformed file {malformed.name}"
        outcome = self._read(malformed.data, malformed.filename, what)
        assert isinstance(outcome, FormatError), (
            f"{what} reads to batch {outcome.batch_id!r} with {len(outcome.entries)} entries: "
            "it must be refused with a FormatError"
        )
        assert outcome.line == malformed.line, (
            f"{what} is refused at line {outcome.line}, not {malformed.line}: {outcome}"
        )
        if malformed.field is not None:
            named = outcome.field is not None and malformed.field.lower() in outcome.field.lower()
            assert named, (
                f"{what} is refused naming the field {outcome.field!r}, not one of "
                f"{malformed.field!r}: {outcome}"
            )
        again = self._read(malformed.data, malformed.filename, what)
        same = isinstance(again, FormatError) and str(again) == str(outcome)
        assert same, f"{what} read again is refused otherwise: {again}"

    def test_a_truncated_file_is_refused(self, sample: FileSample) -> None:
        cuts = [(b"", "an empty file")]
        if sample.controls:
            lines = _without_filler(sample.data.rstrip(b"\r\n\x1a").splitlines(keepends=True))
            content = b"".join(lines)
            cuts += [
                (content[: len(content) // 2], f"{sample.name} cut in half"),
                (b"".join(lines[:-1]), f"{sample.name} without its last record"),
            ]
        for data, what in cuts:
            outcome = self._read(data, sample.filename, what)
            assert isinstance(outcome, FormatError), (
                f"{what} reads to batch {outcome.batch_id!r} with {len(outcome.entries)} entries: "
                "a file cut short (a crash, a full disk) must be refused, never read as a "
                "smaller batch"
            )
            if data:
                assert outcome.line is not None, f"{what} is refused naming no line: {outcome}"

    def test_byte_edits_never_crash_the_reader(self, sample: FileSample) -> None:
        for data, what in byte_edits(sample.data):
            self._read_edited(sample, data, what)
        if not sample.data or self.max_examples <= 0:
            return

        @settings(
            max_examples=self.max_examples,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            position=st.integers(0, len(sample.data) - 1),
            value=st.binary(min_size=0, max_size=3),
        )
        def edited(position: int, value: bytes) -> None:
            data = sample.data[:position] + value + sample.data[position + 1 :]
            self._read_edited(sample, data, f"byte {position} replaced by {value!r}")

        edited()

    # Internals

    def _read_sample(self, sample: FileSample) -> BatchFile:
        outcome = self._read(sample.data, sample.filename, f"the sample {sample.name}")
        assert isinstance(outcome, BatchFile), (
            f"the sample {sample.name} is refused: {outcome}; samples are files the platform "
            "reads (broken files belong in malformed)"
        )
        return outcome

    def _read_edited(self, sample: FileSample, data: bytes, what: str) -> None:
        outcome = self._read(data, sample.filename, f"{sample.name} with {what}")
        if isinstance(outcome, FormatError):
            assert outcome.line is not None, (
                f"{sample.name} with {what} is refused naming no line: {outcome}; say where"
            )

    def _read(self, data: bytes, filename: str, what: str) -> _Outcome:
        return self._outcome(lambda: self.platform.read(data, filename=filename), what)

    def _outcome(self, read: Callable[[], BatchFile], what: str) -> _Outcome:
        opened: list[str] = []
        with no_sockets(opened), _no_files(opened):
            try:
                batch = read()
            except FormatError as exc:
                outcome: _Outcome = exc
            except Exception as exc:
                if opened:
                    outcome = FormatError(str(exc), filename=None)
                else:
                    raise AssertionError(
                        f"reading {what} raised {type(exc).__name__}: {exc}; a file that does not "
                        "follow its format is refused with one FormatError naming line and field"
                    ) from exc
            else:
                assert isinstance(batch, BatchFile), (
                    f"reading {what} returned {type(batch).__name__}, not a BatchFile"
                )
                outcome = batch
        assert not opened, (
            f"reading {what} opened {opened[0]}: a platform reads the bytes it is given, nothing "
            "else (the file was stored byte for byte; what it reads beside may change)"
        )
        if isinstance(outcome, FormatError):
            assert str(outcome).strip(), f"reading {what} raised a FormatError without a message"
        return outcome

    def _recognises(self, name: str) -> bool:
        try:
            found = self.platform.recognises(name)
        except Exception as exc:
            raise AssertionError(
                f"recognises({name!r}) raised {type(exc).__name__}: {exc}"
            ) from exc
        assert isinstance(found, bool), f"recognises({name!r}) returned {found!r}, not a bool"
        return found

    def _check_store(self, store: Store) -> list[StoreProblem]:
        try:
            problems = list(self.platform.check_store(store))
        except Exception as exc:
            raise AssertionError(
                f"check_store raised {type(exc).__name__} for the options "
                f"{dict(store.options)!r}: it reports each problem, `passerelle config check` "
                "would crash"
            ) from exc
        assert all(isinstance(p, StoreProblem) for p in problems), (
            f"check_store returned {problems!r}: StoreProblem items"
        )
        return problems


def _without_filler(lines: list[bytes]) -> list[bytes]:
    """`lines` without the filler lines at their end (one character repeated, as NACHA's
    blocks of 9s): a file cut there is whole."""
    while len(lines) > 1 and len(set(lines[-1].rstrip(b"\r\n"))) == 1:
        lines = lines[:-1]
    return lines


def byte_edits(data: bytes) -> Iterator[tuple[bytes, str]]:
    """`data` with one byte replaced, enumerated deterministically: each line's first byte and
    positions spread evenly over the data, each replaced by each of a letter, a digit, a space,
    a byte that is not text and a line end. Each comes with what was edited."""
    if not data:
        return
    starts = {0} | {i + 1 for i, byte in enumerate(data[:-1]) if byte == 0x0A}
    spread = {len(data) * k // _SPREAD for k in range(_SPREAD)}
    for position in sorted(starts | spread):
        for value in _EDIT_VALUES:
            if data[position : position + 1] != value:
                edited = data[:position] + value + data[position + 1 :]
                yield edited, f"byte {position} replaced by {value!r}"


class _FileOpenedError(PermissionError):
    """A file `read` tried to open while the suite ran it."""


@contextlib.contextmanager
def _no_files(opened: list[str]) -> Iterator[None]:
    """Refuse to open any file while `read` runs, noting each in `opened`."""

    def refuse(target: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(f"the file {target!r}")
        raise _FileOpenedError(f"the file contract suite opens no file: {target!r}")

    saved = (builtins.open, io.open, os.open)
    builtins.open = refuse  # type: ignore[assignment]
    io.open = refuse  # type: ignore[assignment]
    os.open = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        builtins.open, io.open, os.open = saved
