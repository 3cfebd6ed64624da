"""NACHA record layouts, SEC code rules and what a reader gives: file and batch headers, entries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

from passerelle.batches import BatchEntry, BatchKind, Direction
from passerelle.money import Money

RECORD_LENGTH = 94
_PADDING = b"9" * RECORD_LENGTH
_HASH_MODULUS = 10**10
_SERVICE_CLASSES = {"200": BatchKind.MIXED, "220": BatchKind.CREDIT, "225": BatchKind.DEBIT}
_NAMES = {
    "1": "file header (1)",
    "5": "batch header (5)",
    "6": "entry detail (6)",
    "7": "addenda (7)",
    "8": "batch control (8)",
    "9": "file control (9)",
}
_LAST_REQUIRED = {
    "1": (40, "format code"),
    "5": (94, "batch number"),
    "6": (94, "trace number"),
    "7": (94, "entry detail sequence number"),
    "8": (94, "batch number"),
    "9": (55, "total credit entry dollar amount in file"),
}
"""How far a right-trimmed record must reach: the end of its last field that may not be blank."""

Purpose = Literal["payment", "prenote", "zero-dollar"]


@dataclass(frozen=True, slots=True)
class SecRule:
    """What a batch of one standard entry class (SEC code) may carry."""

    credits: bool
    debits: bool
    addenda: int
    """The most addenda (7) records an entry may carry (CTX: the count the entry announces)."""
    prenotes: bool
    zero_dollar: bool
    name: tuple[int, int]
    """Positions of the receiver's name in the entry."""
    reference: tuple[int, int]
    """Positions of the identification / check serial number kept as `reference`."""
    payment_types: tuple[str, str] | None = None
    """What position 77 of a debit, then of a credit, may hold when positions 77-78 are the
    payment type code (R recurring, S single entry; position 78 blank); None where they are
    discretionary data."""


_PPD = SecRule(True, True, 1, True, False, (55, 76), (40, 54))
_CHECK = SecRule(False, True, 0, False, False, (55, 76), (40, 54))
SEC_CODES: Mapping[str, SecRule] = {
    "PPD": _PPD,
    "CCD": SecRule(True, True, 1, True, True, (55, 76), (40, 54)),
    "CTX": SecRule(True, True, 9999, True, True, (59, 74), (40, 54)),
    # A WEB debit says whether it is recurring (R) or single (S); a WEB credit (person to
    # person) may leave the code blank.
    "WEB": SecRule(True, True, 1, True, False, (55, 76), (40, 54), ("RS", "RS ")),
    # TEL: debits to a consumer's account on an oral authorization over the telephone, never
    # credits; the payment type code (R or S) is optional.
    "TEL": SecRule(False, True, 0, True, False, (55, 76), (40, 54), ("RS ", "")),
    "CIE": SecRule(True, False, 1, True, False, (40, 54), (55, 76)),
    "ARC": _CHECK,
    "BOC": _CHECK,
    "POP": SecRule(False, True, 0, False, False, (55, 76), (40, 48)),
    "RCK": _CHECK,
}
_OUT_OF_SCOPE = {
    "IAT": "IAT (international) batches are not supported",
    "ADV": "ADV (automated accounting advice) batches are not supported",
    "COR": "COR (notification of change) batches are not supported",
}
_CODES: dict[str, tuple[Direction, Purpose]] = {}
_KINDS: tuple[tuple[str, Direction, Purpose], ...] = (
    ("2", Direction.CREDIT, "payment"),
    ("3", Direction.CREDIT, "prenote"),
    ("4", Direction.CREDIT, "zero-dollar"),
    ("7", Direction.DEBIT, "payment"),
    ("8", Direction.DEBIT, "prenote"),
    ("9", Direction.DEBIT, "zero-dollar"),
)
for _account in "2345":
    for _last, _direction, _purpose in _KINDS:
        _CODES[_account + _last] = (_direction, _purpose)
for _code in ("44", "49", "54", "57", "58", "59"):  # not defined for GL and loan accounts
    del _CODES[_code]
_CODES["55"] = (Direction.DEBIT, "payment")  # loan account debit (reversals only)
_RETURNS = {"21", "26", "31", "36", "41", "46", "51", "56"}


@dataclass(frozen=True, slots=True)
class FileHeader:
    """The file header (1) record."""

    immediate_destination: str
    immediate_origin: str
    creation_date: dt.date
    creation_time: str | None
    file_id_modifier: str
    destination_name: str | None
    origin_name: str | None
    reference_code: str | None

    @property
    def batch_id(self) -> str:
        """'<immediate origin>-<creation date YYMMDD>-<file ID modifier>': what tells one file
        from another of the same sender."""
        return f"{self.immediate_origin}-{self.creation_date:%y%m%d}-{self.file_id_modifier}"


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """A batch header (5) record; `line` is where it is in the file."""

    line: int
    service_class: str
    company_name: str | None
    company_id: str
    sec_code: str
    entry_description: str | None
    effective_date: dt.date
    odfi: str
    number: str

    @property
    def kind(self) -> BatchKind:
        """What the service class allows: credits (220), debits (225) or both (200)."""
        return _SERVICE_CLASSES[self.service_class]


@dataclass(frozen=True, slots=True)
class FileControl:
    """The file control (9) record, once every count and total in it was found right."""

    batch_count: int
    block_count: int
    entry_addenda_count: int
    entry_hash: int
    debits: Money
    credits: Money


class Entry(NamedTuple):
    """An entry detail (6) record with its addenda, read and checked; its fields are decoded
    when asked for. `batch_entry()` makes the `BatchEntry` of a payment. (A named tuple: the
    readers make many of them.)"""

    record: bytes
    line: int
    batch: BatchHeader
    addenda_records: list[bytes] | None = None
    """The addenda (7) records, as read."""

    @property
    def amount_minor(self) -> int:
        """The amount in cents."""
        return int(self.record[29:39])

    def _text(self, start: int, end: int) -> str:
        return self.record[start - 1 : end].decode("ascii")

    def _stripped(self, start: int, end: int) -> str | None:
        return self._text(start, end).strip() or None

    @property
    def transaction_code(self) -> str:
        return self._text(2, 3)

    @property
    def direction(self) -> Direction:
        return _CODES[self.transaction_code][0]

    @property
    def purpose(self) -> Purpose:
        """A payment, a prenote (an account check without money) or a zero-dollar entry that
        carries remittance data."""
        return _CODES[self.transaction_code][1]

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, "USD")

    @property
    def routing(self) -> str:
        """The RDFI routing number with its check digit."""
        return self._text(4, 12)

    @property
    def account(self) -> str:
        return self._text(13, 29).rstrip()

    @property
    def payee(self) -> str:
        start, end = SEC_CODES[self.batch.sec_code].name
        return self._text(start, end).strip()

    @property
    def reference(self) -> str | None:
        start, end = SEC_CODES[self.batch.sec_code].reference
        return self._stripped(start, end)

    @property
    def payment_type(self) -> str | None:
        """WEB and TEL: R (recurring) or S (single entry), None when left blank; None for
        other SEC codes, whose positions 77-78 are discretionary data."""
        if SEC_CODES[self.batch.sec_code].payment_types is None:
            return None
        return self._stripped(77, 78)

    @property
    def trace_number(self) -> str:
        return self._text(80, 94)

    @property
    def addenda(self) -> tuple[str, ...]:
        """The payment related information (positions 4-83) of each addenda record."""
        return tuple(a[3:83].decode("ascii").rstrip() for a in self.addenda_records or ())

    def batch_entry(self) -> BatchEntry:
        """The payment as a `BatchEntry`; `ValueError` for a prenote or zero-dollar entry."""
        text = self.record.decode("ascii")
        code = text[1:3]
        direction, purpose = _CODES[code]
        if purpose != "payment":
            raise ValueError(f"line {self.line}: a {purpose} entry is not a payment")
        rule = SEC_CODES[self.batch.sec_code]
        return BatchEntry(
            direction=direction,
            amount=Money.from_minor(self.amount_minor, "USD"),
            payee=text[rule.name[0] - 1 : rule.name[1]].strip(),
            account=text[12:29].rstrip(),
            routing=text[3:12],
            reference=text[rule.reference[0] - 1 : rule.reference[1]].strip() or None,
            transaction_code=code,
        )
