"""Watched folders: each file a store's accounting package writes into its folder is stored.

A file is read only once it has stopped changing (same size and modification time) for `settle`
seconds, and stored only if it is still the same after it was read: a file being written is
never taken half-written, it is looked at again once it settles. The bytes decide what a file is:
an archive copy (Sage's ``PRDI0001.DAT`` beside ``PRDIRECT.DAT``) is the same file and stored
once; a file overwritten with new content is a new file. Hidden files and editors' temporary
files (``.name``, ``name~``, ``*.tmp``) are left alone.

A folder that is missing or cannot be read, or a file removed while read, is one warning line;
the other folders and files go on. Files present when watching starts are taken too (the
inbox's de-duplication keeps those already stored from counting twice).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import watchfiles

from passerelle.clock import Clock, SystemClock
from passerelle.connector.files import MAX_FILE_BYTES, FileReceipt, FileTooLargeError, accept_file
from passerelle.connector.store import DeliveryStore, StoreError

__all__ = ["FolderWatcher", "is_candidate"]

log = logging.getLogger("passerelle.folders")

StoreKey = tuple[str, str]
_Signature = tuple[int, int]


def is_candidate(name: str) -> bool:
    """Whether a file of this name is one to take (not hidden, not a temporary file)."""
    return not (name.startswith(".") or name.endswith("~") or name.lower().endswith(".tmp"))


@dataclass
class _Seen:
    signature: _Signature
    since: datetime


class FolderWatcher:
    """Watches `folders` (a folder per (platform, store)) and stores the files that settle.

    `poll` looks once (tests and `start` use it); `start` runs a thread that polls whenever
    something changes in a folder, and every `settle` seconds while a file is settling.
    """

    def __init__(
        self,
        inbox: DeliveryStore,
        folders: Mapping[StoreKey, Path],
        *,
        settle: float = 2.0,
        limit: int = MAX_FILE_BYTES,
        clock: Clock | None = None,
        on_append: Callable[[], None] | None = None,
    ) -> None:
        self._inbox = inbox
        self._folders = dict(folders)
        self._settle = settle
        self._limit = limit
        self._clock = clock or SystemClock()
        self._on_append = on_append
        self._seen: dict[Path, _Seen] = {}
        self._taken: dict[Path, _Signature] = {}
        self._complained: set[Path] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> list[FileReceipt]:
        """Store every file that has settled since the last look; what was stored."""
        stored: list[FileReceipt] = []
        for (platform, store), folder in self._folders.items():
            for path in self._files(folder):
                receipt = self._look_at(platform, store, path)
                if receipt is not None:
                    stored.append(receipt)
        if self._on_append is not None and any(not r.duplicate for r in stored):
            self._on_append()
        return stored

    def _files(self, folder: Path) -> list[Path]:
        try:
            with os.scandir(folder) as entries:
                found = [
                    Path(entry.path)
                    for entry in entries
                    if is_candidate(entry.name) and entry.is_file(follow_symlinks=False)
                ]
        except OSError as exc:
            if folder not in self._complained:
                self._complained.add(folder)
                log.warning("cannot read watched folder %s: %s", folder, exc.strerror or exc)
            return []
        if folder in self._complained:
            self._complained.discard(folder)
            log.info("watched folder %s can be read again", folder)
        return sorted(found)

    def _look_at(self, platform: str, store: str, path: Path) -> FileReceipt | None:
        now = self._clock.now()
        signature = _signature(path)
        if signature is None or self._taken.get(path) == signature:
            return None
        seen = self._seen.get(path)
        if seen is None or seen.signature != signature:
            self._seen[path] = _Seen(signature, now)
            return None
        if (now - seen.since).total_seconds() < self._settle:
            return None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            log.warning("%s was removed before it could be read: nothing stored", path)
            self._seen.pop(path, None)
            return None
        except OSError as exc:
            log.warning("%s could not be read (%s): it is looked at again", path, exc.strerror)
            self._seen.pop(path, None)
            return None
        if _signature(path) != signature or len(data) != signature[0]:
            self._seen.pop(path, None)  # it changed while read: wait for it to settle again
            return None
        try:
            receipt = accept_file(
                self._inbox,
                platform,
                store,
                [data],
                filename=path.name,
                received_at=now,
                limit=self._limit,
            )
        except FileTooLargeError as exc:
            log.warning("%s is not taken: %s", path, exc)
        except StoreError as exc:
            log.warning("%s is not stored yet (%s): it is tried again", path, exc)
            return None
        else:
            kind = "already stored" if receipt.duplicate else f"delivery {receipt.delivery_id}"
            log.info("%s for %s/%s: %s", path, platform, store, kind)
            self._taken[path] = signature
            self._seen.pop(path, None)
            return receipt
        self._taken[path] = signature
        return None

    # Running ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Watch in a thread until `stop`."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="passerelle-folders", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        existing = [folder for folder in self._folders.values() if folder.is_dir()]
        self._poll_logged()
        if not existing:
            # Nothing to watch for events yet: look again every so often for the folders.
            while not self._stopping.wait(self._settle):
                self._poll_logged()
            return
        for _ in watchfiles.watch(
            *existing,
            stop_event=self._stopping,
            rust_timeout=max(int(self._settle * 500), 50),
            yield_on_timeout=True,
            debounce=max(int(self._settle * 250), 50),
            recursive=False,
            ignore_permission_denied=True,
        ):
            self._poll_logged()

    def _poll_logged(self) -> None:
        try:
            self.poll()
        except Exception:
            log.exception("watching folders failed; looking again")


def _signature(path: Path) -> _Signature | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns
