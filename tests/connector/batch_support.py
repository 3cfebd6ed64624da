"""What the batch file tests share: a CPA-005 file platform and batches no earlier run used."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable
from decimal import Decimal

import httpx

from passerelle.batches import BatchEntry, BatchFile, BatchKind, Direction, next_weekday
from passerelle.events import BatchFileEdited, Envelope
from passerelle.formats import cpa005
from passerelle.hookspecs import hookimpl
from passerelle.money import Money
from passerelle.platforms import FilePlatform, Platform

PLATFORM = "files"
STORE = "payroll-1"
_numbers = itertools.count(1)


class CpaFiles(FilePlatform):
    """A file platform reading CPA-005, as a plugin would."""

    name = PLATFORM

    def read(self, data: bytes, *, filename: str) -> BatchFile:
        return cpa005.read(data, filename=filename)


class Seen:
    """An observer recording the batch edits it sees."""

    def __init__(self) -> None:
        self.events: list[BatchFileEdited] = []

    @hookimpl
    def batch_file_edited(self, envelope: Envelope, event: BatchFileEdited) -> None:
        self.events.append(event)


def business_day(start: dt.date, days: int) -> dt.date:
    return next_weekday(start + dt.timedelta(days=days))


def payroll(originator: str, day: dt.date, *amounts: str) -> BatchFile:
    entries = tuple(
        BatchEntry(
            direction=Direction.CREDIT,
            amount=Money(Decimal(amount), "CAD"),
            payee=f"Employee {n}",
            institution="001",
            transit=f"{10000 + n:05d}",
            account=f"{1234500 + n}",
            reference=f"EMP{n:04d}",
            transaction_code="200",
        )
        for n, amount in enumerate(amounts, start=1)
    )
    return BatchFile(
        batch_id=f"{originator}-0001",
        originator=originator,
        kind=BatchKind.CREDIT,
        processing_date=day,
        currency="CAD",
        entries=entries,
    )


def new_originator() -> str:
    # The sandbox outlives one test: every batch id is new.
    return f"T{random.randrange(10**8):08d}{next(_numbers) % 10}"


class CpaFilesPlugin:
    """A plugin providing `CpaFiles`, as an installed distribution would."""

    @hookimpl
    def register_platforms(self, register: Callable[[Platform], None]) -> None:
        register(CpaFiles())


def upload(base: str, batch: BatchFile, token: str, *, store: str = STORE) -> httpx.Response:
    """`POST /files/{PLATFORM}/{store}` of `batch` as a CPA-005 file, as an uploader does."""
    return httpx.post(
        f"{base}/files/{PLATFORM}/{store}",
        content=cpa005.write(batch),
        headers={"Authorization": f"Bearer {token}"},
        params={"name": "PRDIRECT.DAT"},
    )
