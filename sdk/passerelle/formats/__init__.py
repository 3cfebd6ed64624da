"""Batch payment files: CPA-005, NACHA and Bambora CSV.

`read(data, filename=...)` recognises the format and returns the `BatchFile`; each format module
(`cpa005`, `nacha`, `bambora`) also has its own `read` and a `write` that `read` turns back into
the same batch. `read` also takes a CPA-005 file as RBC does: behind its transmission routing
record (``$$AA01CPA1464[PROD[NL$$``), the records whole or cut in 80-character pieces (``[80$$``). Every problem in a file is a `FormatError` naming the file, line, positions and
field; nothing is returned half-read.

Large files are read as streams, in bounded memory: `nacha.Reader(file)` and
`cpa005.Reader(file)` take a binary file object, have the file's header at once and yield its
entries (`nacha.Entry`, `cpa005.Transaction`, each with `batch_entry()`) as they go, and
`bambora.Reader(file)` yields each row's `BatchEntry`; the file's controls are checked at the
end, so a caller that acts on entries holds its changes until the iteration ends normally (it
raises `FormatError` otherwise). `nacha.read_batches` gives one
`BatchFile` per batch of a NACHA file whose batches differ in company or effective date.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from passerelle.batches import BatchFile
from passerelle.formats import _cpa005_rbc, bambora, cpa005, nacha
from passerelle.formats._records import decode
from passerelle.formats.errors import FormatError

__all__ = ["FORMATS", "FormatError", "FormatName", "bambora", "cpa005", "detect", "nacha", "read"]

FormatName = Literal["cpa005", "nacha", "bambora"]
FORMATS: tuple[FormatName, ...] = ("cpa005", "nacha", "bambora")

_SIGNATURES: tuple[tuple[re.Pattern[str], FormatName], ...] = (
    (re.compile(r"A[0-9]{9}|\$\$AA[A-Z0-9]{2}CPA1464"), "cpa005"),
    (re.compile(r"1[0-9 ]{2}"), "nacha"),
    (re.compile(r"[EA],"), "bambora"),
)


def detect(data: bytes, *, filename: str = "<bytes>") -> FormatName:
    """Which format `data` is in, from its first record; `FormatError` if none fits."""
    head = decode(data[:64])
    for pattern, name in _SIGNATURES:
        if pattern.match(head):
            return name
    raise FormatError(
        f"not a CPA-005, NACHA or Bambora batch file: it starts with {head[:16]!r}",
        filename=filename,
        line=1,
    )


def read(
    data: bytes,
    *,
    filename: str = "<bytes>",
    processing_date: dt.date | None = None,
    batch_id: str | None = None,
    originator: str | None = None,
) -> BatchFile:
    """The batch in `data`, whatever its format.

    `processing_date`, `batch_id` and `originator` are for formats that do not carry them
    (Bambora, which needs the first two); files that carry them use their own.
    """
    name = detect(data, filename=filename)
    if name == "cpa005":
        if _cpa005_rbc.is_routed(data):
            return _cpa005_rbc.read(data, filename=filename)
        return cpa005.read(data, filename=filename)
    if name == "nacha":
        return nacha.read(data, filename=filename)
    return bambora.read(
        data,
        filename=filename,
        processing_date=processing_date,
        batch_id=batch_id,
        originator=originator or "bambora",
    )
