"""Writing CPA-005 files that `cpa005.read` turns back into the same batch."""

from __future__ import annotations

import datetime as dt
import re

from passerelle.batches import BatchEntry, BatchFile, Direction
from passerelle.formats._cpa005_layout import (
    _CURRENCIES,
    _SEGMENT,
    _SEGMENTS,
    RECORD_LENGTH,
    _to_julian,
)
from passerelle.formats._records import fit, is_number
from passerelle.formats.errors import FormatError


def write(
    batch: BatchFile,
    *,
    creation_date: dt.date | None = None,
    data_centre: str = "00000",
    transaction_type: str = "450",
    short_name: str | None = None,
    long_name: str | None = None,
    returns_account: tuple[str, str, str] | None = None,
    segments_per_record: int = _SEGMENTS,
    line_end: str = "\n",
    encoding: str = "cp1252",
) -> bytes:
    """`batch` as a CPA-005 file that `read` turns back into `batch`.

    `batch.batch_id` must be "<originator>-<file creation number>". `creation_date` defaults to the
    processing date; `transaction_type` is used for entries without a `transaction_code`;
    `short_name` / `long_name` (originator names, default the originator ID) and
    `returns_account` (institution, transit, account) fill the fields a bank wants but `read` does
    not keep. Consecutive entries of one direction share records of `segments_per_record`
    transactions. Raises `FormatError` (naming the entry) for what CPA-005 cannot carry.
    """
    match = re.fullmatch(re.escape(batch.originator) + r"-([0-9]{4})", batch.batch_id)
    if match is None:
        raise FormatError(
            f"{batch.batch_id!r} is not '<originator ID>-<file creation number>' "
            f"(e.g. '{batch.originator}-0001')",
            filename=None,
            field="batch_id",
        )
    if not 1 <= segments_per_record <= _SEGMENTS:
        raise ValueError(f"segments_per_record must be 1 to {_SEGMENTS}, not {segments_per_record}")
    if line_end not in ("\n", "\r\n", "\r"):
        raise ValueError(f"line_end must be LF, CRLF or CR, not {line_end!r}")
    if batch.currency not in _CURRENCIES:
        raise FormatError(f"{batch.currency!r} is not CAD or USD", filename=None, field="currency")
    what = "the CPA-005 field"
    originator = fit(batch.originator, 10, "originator", what=what)
    control = originator.ljust(10) + match.group(1)
    date = _to_julian(batch.processing_date, "processing_date")
    created = _to_julian(creation_date or batch.processing_date, "creation_date")
    if not (len(data_centre) == 5 and is_number(data_centre)):
        raise ValueError(f"data_centre must be 5 digits, not {data_centre!r}")
    short = fit(short_name or originator, 15, "short_name", what=what).ljust(15)
    long = fit(long_name or originator, 30, "long_name", what=what).ljust(30)
    returns = "0" * 9 + " " * 12
    if returns_account is not None:
        institution, transit, account = returns_account
        if not re.fullmatch(r"[0-9]{3}", institution) or not re.fullmatch(r"[0-9]{5}", transit):
            raise ValueError("returns_account needs a 3-digit institution and a 5-digit transit")
        returns = f"0{institution}{transit}" + fit(account, 12, "returns_account", what=what).ljust(
            12
        )

    records = ["A000000001" + control + created + data_centre + " " * 20 + batch.currency]
    records[0] = records[0].ljust(RECORD_LENGTH)
    group: list[str] = []
    group_kind = ""
    totals = {"C": [0, 0], "D": [0, 0]}

    def flush() -> None:
        if group:
            body = "".join(group).ljust(_SEGMENT * _SEGMENTS)
            records.append(f"{group_kind}{len(records) + 1:09d}{control}{body}")
            group.clear()

    for i, entry in enumerate(batch.entries):
        kind = "C" if entry.direction is Direction.CREDIT else "D"
        if kind != group_kind or len(group) == segments_per_record:
            flush()
            group_kind = kind
        group.append(
            _segment_text(entry, i, date, transaction_type, short, long, originator, returns)
        )
        totals[kind][0] += entry.amount.minor
        totals[kind][1] += 1
    flush()
    (d_value, d_count), (c_value, c_count) = totals["D"], totals["C"]
    trailer = (
        f"Z{len(records) + 1:09d}{control}{d_value:014d}{d_count:08d}{c_value:014d}{c_count:08d}"
        + "0" * 44
    )
    records.append(trailer.ljust(RECORD_LENGTH))
    text = "".join(record + line_end for record in records)
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise FormatError(
            f"{exc.object[exc.start : exc.end]!r} cannot be written in {encoding}",
            filename=None,
            field="entries",
        ) from None


def _segment_text(
    entry: BatchEntry,
    i: int,
    date: str,
    transaction_type: str,
    short: str,
    long: str,
    originator: str,
    returns: str,
) -> str:
    where = f"entries[{i}]"
    what = "the CPA-005 field"
    if entry.institution is None or entry.transit is None or entry.account is None:
        raise FormatError(
            "CPA-005 names accounts by institution, transit and account number",
            filename=None,
            field=where,
        )
    code = entry.transaction_code or transaction_type
    if not re.fullmatch(r"[0-9]{3}", code):
        raise FormatError(
            f"{code!r} is not a 3-digit transaction type",
            filename=None,
            field=f"{where}.transaction_code",
        )
    if entry.amount.minor > 9_999_999_999:
        raise FormatError(
            f"{entry.amount} is more than the 10-digit amount field holds",
            filename=None,
            field=f"{where}.amount",
        )
    payee = fit(entry.payee or "", 30, f"{where}.payee", what=what)
    if not payee:
        raise FormatError("CPA-005 needs a payee name", filename=None, field=f"{where}.payee")
    account = fit(entry.account, 12, f"{where}.account", what=what)
    reference = fit(entry.reference or "", 19, f"{where}.reference", what=what)
    segment = (
        f"{code}{entry.amount.minor:010d}{date}0{entry.institution}{entry.transit}"
        f"{account.ljust(12)}{'0' * 22}000{short}{payee.ljust(30)}{long}"
        f"{originator.ljust(10)}{reference.ljust(19)}{returns}{' ' * 15}{' ' * 22}  {'0' * 11}"
    )
    assert len(segment) == _SEGMENT
    return segment
