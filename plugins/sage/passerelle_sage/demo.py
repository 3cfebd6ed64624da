"""Sage's `passerelle demo` scenario: what Sage 50 writes into its EFT folder over a pay period.

A payroll file is scheduled; Sage writes a corrected version (one employee removed, the date
moved) and the back end's batch follows; a second payroll file paying an employee again lands in
the action center as an overlap; a vendor payments file is scheduled. Then the merchant moves the
vendor batch a day, deletes the payroll batch before its cutoff, and tries to delete the vendor
batch once the back end's clock is past its cutoff: refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from pydantic import SecretStr

from passerelle.batches import (
    DEFAULT_CUTOFF,
    BatchEntry,
    BatchFile,
    BatchKind,
    Direction,
    next_weekday,
)
from passerelle.formats import cpa005
from passerelle.plugin import BatchAction, FileDemoScenario, FileDrop, Money, Store

__all__ = ["ORIGINATOR", "scenario"]

# Letters too: the back end blanks a run of digits as long as a card number in its answers.
ORIGINATOR: Final = "ACMELUMBR1"
_STORE: Final = Store(
    platform="sage",
    id="acme-payroll",
    # A file store verifies no signature; the configuration asks for a secret all the same.
    secrets=(SecretStr("unused-by-file-stores-0123456789"),),
    options={"originator_id": ORIGINATOR, "currency": "CAD"},
)
_STAFF: Final = {
    # name: (transit, account, amount, employee number)
    "Ada Tremblay": ("10001", "5000001", "1520.35", "EMP0001"),
    "Li Wei": ("10002", "5000002", "1875.00", "EMP0002"),
    "Omar Haddad": ("10003", "5000003", "1640.10", "EMP0003"),
    "Rosa Diaz": ("10004", "5000004", "1710.00", "EMP0004"),
}
_VENDORS: Final = {
    "Papeterie Laval": ("20001", "7000001", "312.40", "INV-4471"),
    "Nordic Courier": ("20002", "7000002", "96.15", "INV-0932"),
}


def _entry(payee: str, details: tuple[str, str, str, str], code: str) -> BatchEntry:
    transit, account, amount, reference = details
    return BatchEntry(
        direction=Direction.CREDIT,
        amount=Money.of(amount, "CAD"),
        payee=payee,
        institution="003",
        transit=transit,
        account=account,
        reference=reference,
        transaction_code=code,
    )


def _file(number: int, day: dt.date, payees: dict[str, tuple[str, str, str, str]]) -> bytes:
    # Transaction codes of the CPA-005 standard: 200 payroll deposit, 450 vendor payment.
    code = "450" if payees is _VENDORS else "200"
    batch = BatchFile(
        batch_id=f"{ORIGINATOR}-{number:04d}",
        originator=ORIGINATOR,
        kind=BatchKind.CREDIT,
        processing_date=day,
        currency="CAD",
        entries=tuple(_entry(name, details, code) for name, details in payees.items()),
    )
    return cpa005.write(batch, short_name="ACME", long_name="ACME LUMBER LTD")


def _business_day(start: dt.date, days: int) -> dt.date:
    return next_weekday(start + dt.timedelta(days=days))


def scenario(today: dt.date | None = None) -> FileDemoScenario:
    """The scenario, its dates counted from `today` (the system's date by default)."""
    today = today or dt.datetime.now(dt.UTC).date()
    payday = _business_day(today, 7)
    moved = _business_day(payday, 1)
    vendors_day = _business_day(today, 2)
    vendors_later = _business_day(vendors_day, 1)
    staff = dict(_STAFF)
    first = {name: staff[name] for name in ("Ada Tremblay", "Li Wei", "Omar Haddad")}
    corrected = {name: staff[name] for name in ("Ada Tremblay", "Omar Haddad")}
    again = {name: staff[name] for name in ("Omar Haddad", "Rosa Diaz")}
    payroll, second, vendors = (f"{ORIGINATOR}-{n:04d}" for n in (1, 2, 3))
    v1, v2 = _file(1, payday, first), _file(1, moved, corrected)
    repeat, bills = _file(2, _business_day(payday, 2), again), _file(3, vendors_day, _VENDORS)
    return FileDemoScenario(
        store=_STORE,
        drops=[
            FileDrop(
                "Sage writes the payroll file and its archive copy: one batch, scheduled",
                [("PRDIRECT.DAT", v1), ("PRDI0001.DAT", v1)],
                payroll,
                processing_date=payday,
                payees=tuple(first),
            ),
            FileDrop(
                "A corrected payroll: Li Wei removed, paid a business day later",
                [("PRDIRECT.DAT", v2), ("PRDI0002.DAT", v2)],
                payroll,
                processing_date=moved,
                payees=tuple(corrected),
            ),
            FileDrop(
                "Another payroll file pays Omar Haddad again: held for a person",
                [("PRDIRECT.DAT", repeat), ("PRDI0003.DAT", repeat)],
                second,
                expect="failed",
                code="batch_overlap",
            ),
            FileDrop(
                "The vendor payments file",
                [("APDIRECT.DAT", bills), ("APDI0001.DAT", bills)],
                vendors,
                processing_date=vendors_day,
                payees=tuple(_VENDORS),
            ),
        ],
        actions=[
            BatchAction(
                "Pay the vendors a business day later",
                "reschedule",
                vendors,
                expect="done",
                status="scheduled",
                to=vendors_later,
            ),
            BatchAction(
                "Delete the payroll batch before its cutoff",
                "delete",
                payroll,
                expect="done",
                status="deleted",
            ),
            BatchAction(
                f"Delete the vendor batch once the back end's clock is past its cutoff "
                f"({vendors_later} 11:00 America/Vancouver)",
                "delete",
                vendors,
                expect="batch_past_cutoff",
                status="processing",
                clock_at=DEFAULT_CUTOFF.cutoff_for(vendors_later) + dt.timedelta(minutes=1),
            ),
        ],
    )
