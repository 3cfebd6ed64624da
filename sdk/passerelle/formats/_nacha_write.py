"""Writing NACHA files that `nacha.read` turns back into the same batch."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Literal

from passerelle.batches import BatchEntry, BatchFile, Direction
from passerelle.formats._nacha_model import (
    _CODES,
    _HASH_MODULUS,
    _SERVICE_CLASSES,
    RECORD_LENGTH,
    SEC_CODES,
)
from passerelle.formats._records import (
    fit,
)
from passerelle.formats.errors import FormatError

_SERVICE_CLASS_OF = {kind: code for code, kind in _SERVICE_CLASSES.items()}


def write(
    batch: BatchFile,
    *,
    immediate_destination: str = "000000000",
    destination_name: str = "",
    origin_name: str = "",
    company_name: str | None = None,
    entry_description: str = "PAYMENT",
    sec_code: str = "PPD",
    odfi: str | None = None,
    creation_time: dt.time = dt.time(0, 0),
    pad_blocks: bool = True,
    line_end: str = "\n",
    addenda: Mapping[int, Sequence[str]] | None = None,
    payment_type: Literal["R", "S"] = "S",
) -> bytes:
    """`batch` as a one-batch NACHA file that `read` turns back into `batch`.

    `batch.batch_id` must be "<immediate origin>-<YYMMDD>-<file ID modifier>"; the originator is
    the company identification. `sec_code` is one of `SEC_CODES`, whose rules the entries must
    follow. `odfi` (8 digits) defaults to the immediate origin's first 8 digits when that is a
    9-digit routing number. Entries without a `transaction_code` get 22 (credit) or 27 (debit).
    `addenda` maps an entry's index to the payment related information of its addenda records
    (up to 80 printable ASCII characters each). WEB and TEL entries carry `payment_type` in
    their payment type code: R (recurring) or S (single entry). Files are ASCII. Raises `FormatError` (naming
    the entry) for what NACHA cannot carry.
    """
    match = re.fullmatch(r"([0-9]{1,10})-([0-9]{6})-([A-Z0-9])", batch.batch_id)
    if match is None:
        raise FormatError(
            f"{batch.batch_id!r} is not '<immediate origin (digits)>-<YYMMDD>-<file ID modifier>' "
            "(e.g. '231380104-190816-A')",
            filename=None,
            field="batch_id",
        )
    origin, created, modifier = match.groups()
    if line_end not in ("\n", "\r\n"):
        raise ValueError(f"line_end must be LF or CRLF, not {line_end!r}")
    if batch.currency != "USD":
        raise FormatError(
            f"{batch.currency!r}: NACHA files are in USD", filename=None, field="currency"
        )
    what = "the NACHA field"
    if sec_code not in SEC_CODES:
        raise ValueError(f"sec_code must be one of {', '.join(SEC_CODES)}, not {sec_code!r}")
    addenda = addenda or {}
    if payment_type not in ("R", "S"):
        raise ValueError(f"payment_type must be R or S, not {payment_type!r}")
    if odfi is None:
        odfi = origin[:8] if re.fullmatch(r"[0-9]{9}", origin) else "0" * 8
    if not re.fullmatch(r"[0-9]{8}", odfi):
        raise ValueError(f"odfi must be 8 digits, not {odfi!r}")
    company = fit(batch.originator, 10, "originator", what=what)
    effective = batch.processing_date
    if not 2000 <= effective.year <= 2099:
        raise FormatError(
            f"{effective} cannot be written as YYMMDD (years 2000-2099)",
            filename=None,
            field="processing_date",
        )
    service_class = _SERVICE_CLASS_OF[batch.kind]
    records = [
        "101"
        + fit(immediate_destination, 10, "immediate_destination", what=what).rjust(10)
        + origin.rjust(10)
        + created
        + creation_time.strftime("%H%M")
        + modifier
        + "094101"
        + fit(destination_name, 23, "destination_name", what=what).ljust(23)
        + fit(origin_name, 23, "origin_name", what=what).ljust(23)
        + " " * 8,
        "5"
        + service_class
        + fit(company_name or company, 16, "company_name", what=what).ljust(16)
        + " " * 20
        + company.ljust(10)
        + fit(sec_code, 3, "sec_code", what=what).ljust(3)
        + fit(entry_description, 10, "entry_description", what=what).ljust(10)
        + " " * 6
        + effective.strftime("%y%m%d")
        + "   1"
        + odfi
        + "0000001",
    ]
    entry_hash = debits = credits = 0
    for i, entry in enumerate(batch.entries):
        notes = addenda.get(i, ())
        records.append(_entry_text(entry, i, odfi, sec_code, len(notes), payment_type))
        for n, note in enumerate(notes, start=1):
            info = fit(note, 80, f"entries[{i}].addenda[{n - 1}]", what=what)
            records.append(f"705{info.ljust(80)}{n:04d}{i + 1:07d}")
        entry_hash += int(entry.routing[:8]) if entry.routing else 0
        if entry.direction is Direction.CREDIT:
            credits += entry.amount.minor
        else:
            debits += entry.amount.minor
    count = len(records) - 2
    entry_hash %= _HASH_MODULUS
    records.append(
        f"8{service_class}{count:06d}{entry_hash:010d}{debits:012d}{credits:012d}"
        f"{company.ljust(10)}{' ' * 25}{odfi}0000001"
    )
    blocks = math.ceil((len(records) + 1) / 10)
    records.append(
        f"9{1:06d}{blocks:06d}{count:08d}{entry_hash:010d}{debits:012d}{credits:012d}".ljust(
            RECORD_LENGTH
        )
    )
    if pad_blocks:
        records.extend(["9" * RECORD_LENGTH] * (blocks * 10 - len(records)))
    assert all(len(r) == RECORD_LENGTH for r in records)
    text = "".join(r + line_end for r in records)
    try:
        return text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise FormatError(
            f"{exc.object[exc.start : exc.end]!r} cannot be written: NACHA files are ASCII",
            filename=None,
            field="entries",
        ) from None


def _entry_text(
    entry: BatchEntry, i: int, odfi: str, sec_code: str, addenda: int, payment_type: str
) -> str:
    where = f"entries[{i}]"
    what = "the NACHA field"
    if entry.routing is None or entry.account is None:
        raise FormatError(
            "NACHA names accounts by routing and account number", filename=None, field=where
        )
    code = entry.transaction_code or ("22" if entry.direction is Direction.CREDIT else "27")
    direction, purpose = _CODES.get(code, (None, None))
    if direction is not entry.direction or purpose != "payment":
        codes = [c for c, (d, p) in _CODES.items() if d is entry.direction and p == "payment"]
        raise FormatError(
            f"{code!r} is not a {entry.direction} transaction code ({', '.join(codes)})",
            filename=None,
            field=f"{where}.transaction_code",
        )
    rule = SEC_CODES[sec_code]
    if not (rule.credits if direction is Direction.CREDIT else rule.debits):
        raise FormatError(
            f"a {direction}: {sec_code} batches carry only "
            f"{'debits' if rule.debits else 'credits'}",
            filename=None,
            field=f"{where}.direction",
        )
    if addenda > rule.addenda:
        raise FormatError(
            f"{addenda} addenda: {sec_code} entries carry at most {rule.addenda}",
            filename=None,
            field=f"{where}.addenda",
        )
    if entry.amount.minor > 9_999_999_999:
        raise FormatError(
            f"{entry.amount} is more than the 10-digit amount field holds",
            filename=None,
            field=f"{where}.amount",
        )
    account = fit(entry.account, 17, f"{where}.account", what=what)
    middle = [" "] * 39  # positions 40-78

    def put(at: tuple[int, int], value: str, field: str) -> None:
        start, end = at
        middle[start - 40 : end - 39] = fit(value, end - start + 1, field, what=what).ljust(
            end - start + 1
        )

    payee = (entry.payee or "").strip()
    if not payee:
        raise FormatError("NACHA needs a name", filename=None, field=f"{where}.payee")
    put(rule.name, payee, f"{where}.payee")
    put(rule.reference, entry.reference or "", f"{where}.reference")
    if sec_code == "CTX":
        put((55, 58), f"{addenda:04d}", f"{where}.addenda")
    if rule.payment_types is not None:
        put((77, 78), payment_type, "payment_type")
    return (
        f"6{code}{entry.routing}{account.ljust(17)}{entry.amount.minor:010d}"
        f"{''.join(middle)}{1 if addenda else 0}{odfi}{i + 1:07d}"
    )
