"""Sage passes the contract suite every Passerelle file platform must pass."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from passerelle.batches import BatchEntry, Direction, EntriesRemoved, Rescheduled
from passerelle.money import Money
from passerelle.testing import FilePlatformContract, FileSample, FileVersion, MalformedFile
from passerelle_sage import SagePlatform

FIXTURES = Path(__file__).parent / "fixtures"


def sample(fixture: str, filename: str, *, controls: bool = True) -> FileSample:
    return FileSample(fixture, (FIXTURES / fixture).read_bytes(), filename, controls=controls)


def broken(
    name: str, fixture: str, filename: str, line: int, field: str | None, edit: tuple[bytes, bytes]
) -> MalformedFile:
    data = (FIXTURES / fixture).read_bytes()
    assert data.count(edit[0]) == 1, f"{name}: {edit[0]!r} is not once in {fixture}"
    return MalformedFile(name, data.replace(*edit), filename, line=line, field=field)


PAYROLL = sample("passerelle-prdirect-0042.dat", "PRDIRECT.DAT")
PAYROLL_CORRECTED = sample("passerelle-prdirect-0042-corrected.dat", "PRDIRECT.DAT")
US_PAYROLL = sample("passerelle-payroll-us.ach", "PRDIRECT.DAT")
US_PAYROLL_CORRECTED = sample("passerelle-payroll-us-corrected.ach", "PRDIRECT.DAT")
BAMBORA = sample("passerelle-payroll-20261215.csv", "payroll-20261215.csv", controls=False)
BAMBORA_CORRECTED = sample(
    "passerelle-payroll-20261215-corrected.csv", "payroll-20261215.csv", controls=False
)
MOVED = Rescheduled(previous=dt.date(2026, 12, 15), processing_date=dt.date(2026, 12, 16))


def grace_removed(currency: str, **fields: str) -> EntriesRemoved:
    """Grace Roy, second of three employees, taken out of each corrected payroll: her entry as
    the file in `currency` has it (`fields` add to or override what every format shares)."""
    entry = {"account": "744-5678-99", "reference": "EMP0002", **fields}
    grace = BatchEntry(
        direction=Direction.CREDIT,
        amount=Money.of("1899.00", currency),
        payee="Grace Roy",
        **entry,
    )
    return EntriesRemoved(entries=(grace,), positions=(1,))


class TestSageContract(FilePlatformContract):
    platform = SagePlatform()
    samples = (
        PAYROLL,
        PAYROLL_CORRECTED,
        sample("passerelle-prdirect-0042-rbc80.dat", "PRDIRECT.DAT"),
        sample("passerelle-prdirect-0042-rbc80-run-on.dat", "APDIRECT.DAT"),
        sample("evergrowth-Export_CRONUS_01-works.txt", "APDI0039.DAT"),
        US_PAYROLL,
        US_PAYROLL_CORRECTED,
        sample("moov-testdata-ppd-credit.ach", "PRDIRECT.DAT"),
        sample("moov-testdata-ppd-debit.ach", "pad-2019-08.ach"),
        BAMBORA,
        BAMBORA_CORRECTED,
        sample("bambora-eft-example.csv", "bambora-eft-2026-12-15.csv", controls=False),
        sample("bambora-ach-example.csv", "vendors-20261215.csv", controls=False),
        sample("bambora-eft-payment-profile-example.csv", "pad-20261215.csv", controls=False),
    )
    versions = (
        FileVersion(
            "CPA-005 payroll: an employee removed, the date moved",
            PAYROLL,
            PAYROLL_CORRECTED,
            changes=(
                MOVED,
                grace_removed("CAD", institution="815", transit="30112", transaction_code="200"),
            ),
        ),
        FileVersion(
            "NACHA payroll: an employee removed, the date moved",
            US_PAYROLL,
            US_PAYROLL_CORRECTED,
            changes=(MOVED, grace_removed("USD", routing="011000015", transaction_code="22")),
        ),
        FileVersion(
            "Bambora CSV rewritten under its name: an employee removed",
            BAMBORA,
            BAMBORA_CORRECTED,
            changes=(
                grace_removed(
                    "CAD", institution="815", transit="30112", account="74456789", reference="10002"
                ),
            ),
        ),
    )
    malformed = (
        # The C and I total of the trailer, 4629.45 in the file, one cent off.
        broken(
            "CPA-005 wrong control total",
            "passerelle-prdirect-0042.dat",
            "PRDIRECT.DAT",
            3,
            "total value of C and I",
            (b"0000000046294500000003", b"0000000046294600000003"),
        ),
        broken(
            "CPA-005 record cut short",
            "passerelle-prdirect-0042.dat",
            "PRDIRECT.DAT",
            2,
            None,
            (b" \r\nZ", b"\r\nZ"),
        ),
        # Routing 011000015: its check digit 5 made 6.
        broken(
            "NACHA bad check digit",
            "passerelle-payroll-us.ach",
            "PRDIRECT.DAT",
            4,
            "check digit",
            (b"62201100001574", b"62201100001674"),
        ),
        broken(
            "NACHA wrong batch total",
            "passerelle-payroll-us.ach",
            "PRDIRECT.DAT",
            6,
            "total credit",
            (b"0000004629451234567890", b"0000004629461234567890"),
        ),
        broken(
            "Bambora amount not a number",
            "passerelle-payroll-20261215.csv",
            "payroll-20261215.csv",
            2,
            "amount",
            (b",189900,", b",1899.00,"),
        ),
        broken(
            "RBC 80-character piece too long",
            "passerelle-prdirect-0042-rbc80.dat",
            "PRDIRECT.DAT",
            2,
            None,
            (b"$$\r\nA", b"$$\r\nAA"),
        ),
    )
    file_names = (
        "PRDIRECT.DAT",
        "APDIRECT.DAT",
        "PRDI0001.DAT",
        "apdi0042.dat",
        "payroll-20261215.csv",
        "payroll-2026-12-15.csv",
        "payroll.ach",
    )
    other_names = ("payroll.csv", "payroll-20261315.csv", "notes.docx", "PRDIRECT.DAT.tmp")
    bad_options = (
        {"currency": "EUR"},
        {"format": "xml"},
        {"originator_id": "MUCH-TOO-LONG-ID"},
        {"colour": "blue"},
        {"folder": "/no/such/folder/for/sage"},
    )
    max_examples = 20
