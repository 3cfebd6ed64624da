"""Watched folders over real files: a file is taken once it stopped changing, never half-written,
its archive copy is the same file, and a folder that cannot be read is one line."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path

import pytest
from batch_support import PLATFORM, STORE, business_day, new_originator, payroll

from passerelle.clock import FixedClock
from passerelle.connector.folders import FolderWatcher
from passerelle.connector.store import DeliveryStatus, DeliveryStore
from passerelle.formats import cpa005


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "sage-eft"
    made.mkdir()
    return made


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 12, 7, 17, 0, tzinfo=dt.UTC))


def _file(clock: FixedClock, *amounts: str, originator: str | None = None) -> bytes:
    day = business_day(clock.now().date(), 7)
    return cpa005.write(payroll(originator or new_originator(), day, *amounts))


def _watcher(store: DeliveryStore, folder: Path, clock: FixedClock) -> FolderWatcher:
    return FolderWatcher(store, {(PLATFORM, STORE): folder}, settle=2.0, clock=clock)


def _pending(store: DeliveryStore) -> list[bytes]:
    return [d.body for d in store.list_waiting(platform=PLATFORM, store=STORE)]


def test_a_file_is_taken_once_it_stopped_changing_and_never_half_written(
    store: DeliveryStore, folder: Path, clock: FixedClock
) -> None:
    watcher = _watcher(store, folder, clock)
    data = _file(clock, "100.00", "200.00")
    target = folder / "PRDIRECT.DAT"
    with target.open("wb") as handle:
        handle.write(data[:2000])
        handle.flush()
        assert watcher.poll() == []
        clock.advance(dt.timedelta(seconds=5))
        handle.write(data[2000:])
    # It changed since the last look: it has not settled yet, however long ago it was first seen.
    assert watcher.poll() == []
    clock.advance(dt.timedelta(seconds=1))
    assert watcher.poll() == []
    assert _pending(store) == []

    clock.advance(dt.timedelta(seconds=1))
    (receipt,) = watcher.poll()

    assert _pending(store) == [data]
    assert store.get(receipt.delivery_id).headers[-1] == ("X-Passerelle-Filename", "PRDIRECT.DAT")
    clock.advance(dt.timedelta(seconds=10))
    assert watcher.poll() == []  # taken once


def test_an_archive_copy_is_the_same_file_and_a_new_generation_is_a_new_one(
    store: DeliveryStore, folder: Path, clock: FixedClock
) -> None:
    watcher = _watcher(store, folder, clock)
    originator = new_originator()
    first = _file(clock, "100.00", originator=originator)
    (folder / "PRDIRECT.DAT").write_bytes(first)
    (folder / "PRDI0001.DAT").write_bytes(first)
    (folder / ".PRDIRECT.DAT.swp").write_bytes(b"editor state")
    watcher.poll()
    clock.advance(dt.timedelta(seconds=3))
    receipts = watcher.poll()

    assert sorted(r.duplicate for r in receipts) == [False, True]
    assert _pending(store) == [first]

    second = _file(clock, "100.00", "50.00", originator=originator)
    (folder / "PRDIRECT.DAT").write_bytes(second)
    os.utime(folder / "PRDIRECT.DAT", ns=(1, 1))
    watcher.poll()
    clock.advance(dt.timedelta(seconds=3))
    (receipt,) = watcher.poll()

    assert not receipt.duplicate
    assert _pending(store) == [first, second]


def test_a_missing_folder_is_one_line_and_the_others_go_on(
    store: DeliveryStore, tmp_path: Path, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "gone"
    present = tmp_path / "present"
    present.mkdir()
    (present / "APDIRECT.DAT").write_bytes(_file(clock, "7.00"))
    watcher = FolderWatcher(
        store, {(PLATFORM, "other"): missing, (PLATFORM, STORE): present}, settle=1.0, clock=clock
    )
    with caplog.at_level(logging.WARNING, logger="passerelle.folders"):
        for _ in range(3):
            watcher.poll()
            clock.advance(dt.timedelta(seconds=2))

    assert [r.getMessage() for r in caplog.records] == [
        f"cannot read watched folder {missing}: No such file or directory"
    ]
    assert len(_pending(store)) == 1


def test_the_watch_thread_takes_a_file_dropped_into_the_folder(
    store: DeliveryStore, folder: Path
) -> None:
    watcher = FolderWatcher(store, {(PLATFORM, STORE): folder}, settle=0.2)
    data = b"any bytes: the dispatcher reads them, the watch only stores them"
    watcher.start()
    try:
        (folder / "PRDIRECT.DAT").write_bytes(data)
        deadline = time.monotonic() + 10
        while not _pending(store) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.stop()

    assert _pending(store) == [data]
    assert store.stats()[DeliveryStatus.PENDING] == 1


def test_a_file_past_the_limit_is_one_line_stored_never_and_not_read_again(
    store: DeliveryStore, folder: Path, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    (folder / "PRDIRECT.DAT").write_bytes(b"X" * 101)
    (folder / "APDIRECT.DAT").write_bytes(b"Y" * 100)
    watcher = FolderWatcher(store, {(PLATFORM, STORE): folder}, settle=1.0, limit=100, clock=clock)
    with caplog.at_level(logging.WARNING, logger="passerelle.folders"):
        for _ in range(4):
            watcher.poll()
            clock.advance(dt.timedelta(seconds=2))

    assert [r.getMessage() for r in caplog.records] == [
        f"{folder / 'PRDIRECT.DAT'} is not taken: PRDIRECT.DAT: the file is larger than the "
        "limit of 100 bytes"
    ]
    assert _pending(store) == [b"Y" * 100]


def test_a_folder_that_is_a_file_is_one_line_until_it_is_a_folder(
    store: DeliveryStore, tmp_path: Path, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    # The tests may run as root, whom no permission stops: a file where the folder should be
    # cannot be listed by anyone.
    folder = tmp_path / "eft"
    folder.write_bytes(b"not a folder")
    watcher = FolderWatcher(store, {(PLATFORM, STORE): folder}, settle=1.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="passerelle.folders"):
        for _ in range(3):
            watcher.poll()
            clock.advance(dt.timedelta(seconds=2))
        folder.unlink()
        folder.mkdir()
        (folder / "PRDIRECT.DAT").write_bytes(b"payroll")
        for _ in range(2):
            watcher.poll()
            clock.advance(dt.timedelta(seconds=2))

    assert [r.getMessage() for r in caplog.records][:2] == [
        f"cannot read watched folder {folder}: Not a directory",
        f"watched folder {folder} can be read again",
    ]
    assert _pending(store) == [b"payroll"]


def test_a_file_removed_while_read_is_one_line_and_nothing_is_stored(
    store: DeliveryStore,
    folder: Path,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = folder / "PRDIRECT.DAT"
    target.write_bytes(_file(clock, "10.00"))
    watcher = _watcher(store, folder, clock)
    watcher.poll()
    clock.advance(dt.timedelta(seconds=3))
    read = Path.read_bytes

    def removed_first(path: Path) -> bytes:
        # Sage (or a person) deletes the file between the look that saw it settled and the read.
        path.unlink()
        return read(path)

    monkeypatch.setattr(Path, "read_bytes", removed_first)
    with caplog.at_level(logging.WARNING, logger="passerelle.folders"):
        assert watcher.poll() == []
        monkeypatch.undo()
        clock.advance(dt.timedelta(seconds=3))
        assert watcher.poll() == []

    assert [r.getMessage() for r in caplog.records] == [
        f"{target} was removed before it could be read: nothing stored"
    ]
    assert _pending(store) == []
    assert store.stats().get(DeliveryStatus.PENDING, 0) == 0
