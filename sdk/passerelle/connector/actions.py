"""The action center: every delivery that failed, and what a merchant does about it.

`ActionCenter` holds the operations that `passerelle actions ...`, `passerelle replay` and the
action-center API share: list the failures, show one with its attempts and notes, retry or
dismiss some, export them as CSV, replay finished deliveries. Each write is all or nothing: an
unknown id or a delivery in the wrong status changes nothing (`DeliveryNotFoundError`,
`DeliveryStateError`); bad input raises `ActionInputError` naming the field.

Times are shown in UTC; a date or time given without a zone is read as UTC too.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any, BinaryIO, Final, TextIO

from passerelle.backend.errors import redact
from passerelle.clock import Clock, SystemClock
from passerelle.connector.store import (
    Attempt,
    Delivery,
    DeliveryStatus,
    DeliveryStore,
    Headers,
    Note,
    StoreBacklog,
)

__all__ = [
    "ENTRY_FIELDS",
    "MASK",
    "ActionCenter",
    "ActionEntry",
    "ActionInputError",
    "DeliveryDetail",
    "ExportFormat",
    "WaitingEntry",
    "age",
    "csv_cell",
    "parse_since",
]

ENTRY_FIELDS: Final = (
    "id",
    "platform",
    "store",
    "order",
    "status",
    "error_code",
    "error_message",
    "attempts",
    "first_failed_at",
    "last_failed_at",
    "received_at",
)
"""The fields of an entry, in order: the keys of its JSON and the columns of the CSV export."""

_DURATION = re.compile(r"(?:\d+[smhdw])+")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SENSITIVE_HEADER = re.compile(
    r"authorization|cookie|signature|hmac|token|secret|password|key", re.IGNORECASE
)
MASK: Final = "********"
"""What a masked header value shows instead."""
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


class ActionInputError(ValueError):
    """Bad input to an action-center operation; nothing was changed. `field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_since(text: str, *, now: datetime) -> datetime:
    """The time `text` names: a duration back from `now` (``90s``, ``30m``, ``2h``, ``3d``,
    ``1w``, ``1h30m``), a date (``2026-03-01``, midnight) or a date and time (``2026-03-01T09:30``,
    optionally with an offset). A date or time without an offset is UTC."""
    value = text.strip()
    if _DURATION.fullmatch(value):
        try:
            back = sum(
                (timedelta(**{_UNITS[unit]: int(n)}) for n, unit in _DURATION_PART.findall(value)),
                timedelta(),
            )
            return now - back
        except OverflowError:
            raise ActionInputError("since", f"{text!r} reaches too far back") from None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ActionInputError(
            "since",
            f"{text!r} is neither a duration (30m, 2h, 3d, 1w) nor a date or time"
            " (2026-03-01, 2026-03-01T09:30, 2026-03-01T09:30-05:00)",
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def csv_cell(value: object) -> str:
    """`value` as CSV text a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class ActionEntry:
    """One delivery of the action center, as a merchant sees it in the list."""

    id: int
    platform: str
    store: str
    order: str | None
    """The ordering key: the platform's order the delivery is about, when it has one."""
    status: DeliveryStatus
    error_code: str | None
    """What failed: the stable code of the last error."""
    error_message: str | None
    attempts: int
    first_failed_at: datetime | None
    last_failed_at: datetime | None
    received_at: datetime

    @classmethod
    def of(cls, delivery: Delivery) -> ActionEntry:
        error = delivery.last_error
        return cls(
            id=delivery.id,
            platform=delivery.platform,
            store=delivery.store,
            order=delivery.ordering_key,
            status=delivery.status,
            error_code=error.code if error else None,
            error_message=error.message if error else None,
            attempts=delivery.attempts,
            first_failed_at=delivery.first_failed_at,
            last_failed_at=delivery.last_failed_at,
            received_at=delivery.received_at,
        )

    def as_json(self) -> dict[str, Any]:
        """The entry as JSON values, keyed by `ENTRY_FIELDS`; times are ISO 8601 in UTC."""
        return {
            "id": self.id,
            "platform": self.platform,
            "store": self.store,
            "order": self.order,
            "status": self.status.value,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "attempts": self.attempts,
            "first_failed_at": _iso(self.first_failed_at),
            "last_failed_at": _iso(self.last_failed_at),
            "received_at": _iso(self.received_at),
        }


@dataclass(frozen=True)
class DeliveryDetail:
    """Everything about one delivery: its entry, how it was received, every attempt and note.

    Header values that may carry a secret or a signature are masked. The body may hold
    personal data: it is in the JSON only when asked for, with card-like numbers blanked.
    """

    entry: ActionEntry
    delivery_key: str
    headers: Headers
    body: bytes
    next_attempt_at: datetime
    finished_at: datetime | None
    outcome: str | None
    deferred: bool
    attempts: tuple[Attempt, ...]
    notes: tuple[Note, ...]
    claimed_by: str | None = None

    @property
    def settled(self) -> bool:
        """Whether the delivery was applied or ignored: its earlier errors no longer matter."""
        return self.entry.status in (DeliveryStatus.DONE, DeliveryStatus.IGNORED)

    @property
    def in_words(self) -> str:
        """What became of the delivery, in a sentence; times in UTC."""
        entry = self.entry
        error = f"{entry.error_code}: {entry.error_message}" if entry.error_code else None
        status = entry.status
        if status is DeliveryStatus.DONE:
            return f"applied: {_outcome_text(self.outcome)}"
        if status is DeliveryStatus.IGNORED:
            return f"ignored, nothing to apply: {self.outcome or 'no reason given'}"
        if status is DeliveryStatus.FAILED:
            return f"failed for good ({error}); in the action center, to retry or dismiss"
        if status is DeliveryStatus.DISMISSED:
            return f"dismissed by hand after it failed ({error})"
        if status is DeliveryStatus.PROCESSING:
            return f"being applied now by {self.claimed_by or 'a worker'}"
        when = f"{_clock_text(self.next_attempt_at)} UTC"
        if self.deferred:
            return f"deferred until {when} at the earliest, waiting for what it needs ({error})"
        if error is not None and entry.attempts:
            return f"waiting to be tried again from {when} ({error})"
        return f"waiting for its turn in its lane (due {when})"

    @property
    def shown_headers(self) -> list[tuple[str, str]]:
        """The headers as received, with sensitive values masked."""
        return [
            (name, MASK if _SENSITIVE_HEADER.search(name) else value)
            for name, value in self.headers
        ]

    @property
    def shown_body(self) -> str:
        """The body as text, with anything that looks like a card number blanked."""
        return redact(self.body.decode("utf-8", errors="replace"))

    def as_json(self, *, include_body: bool = False) -> dict[str, Any]:
        data = self.entry.as_json()
        data.update(
            delivery_key=self.delivery_key,
            next_attempt_at=_iso(self.next_attempt_at),
            finished_at=_iso(self.finished_at),
            outcome=self.outcome,
            in_words=self.in_words,
            deferred=self.deferred,
            headers=[[name, value] for name, value in self.shown_headers],
            body_bytes=len(self.body),
            attempt_history=[
                {
                    "number": attempt.number,
                    "worker_id": attempt.worker_id,
                    "started_at": _iso(attempt.started_at),
                    "finished_at": _iso(attempt.finished_at),
                    "result": attempt.result.value if attempt.result else None,
                    "error_code": attempt.error.code if attempt.error else None,
                    "error_message": attempt.error.message if attempt.error else None,
                }
                for attempt in self.attempts
            ],
            notes=[
                {"at": _iso(note.at), "action": note.action.value, "text": note.text}
                for note in self.notes
            ],
        )
        if include_body:
            data["body"] = self.shown_body
        return data


class ActionCenter:
    """The action-center operations over a delivery store."""

    def __init__(self, store: DeliveryStore, *, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()

    def _since(self, since: datetime | str | None) -> datetime | None:
        if isinstance(since, str):
            return parse_since(since, now=self.clock.now())
        if since is not None and since.tzinfo is None:
            raise ActionInputError("since", "must be a time-zone aware datetime")
        return since

    def failures(
        self,
        *,
        platform: str | None = None,
        store: str | None = None,
        code: str | None = None,
        since: datetime | str | None = None,
        include_dismissed: bool = False,
    ) -> list[ActionEntry]:
        """The failed deliveries (and the dismissed ones too if asked), last failed at or
        after `since`, with the error `code` if given, oldest first."""
        deliveries = self.store.list_failures(
            platform=platform,
            store=store,
            since=self._since(since),
            include_dismissed=include_dismissed,
        )
        entries = [ActionEntry.of(delivery) for delivery in deliveries]
        return entries if code is None else [e for e in entries if e.error_code == code]

    def waiting_deliveries(
        self,
        *,
        deferred: bool,
        platform: str | None = None,
        store: str | None = None,
        received_before: datetime | None = None,
    ) -> list[Delivery]:
        """The deliveries not dispatched yet, oldest first: the `deferred` ones (waiting for
        an event they depend on) or the others (waiting for their turn or a retry, or in a
        worker's hands). Each says why (`last_error`) and until when (`next_attempt_at`)."""
        return self.store.list_waiting(
            deferred=deferred, platform=platform, store=store, received_before=received_before
        )

    def waiting(
        self,
        *,
        deferred: bool,
        platform: str | None = None,
        store: str | None = None,
        received_before: datetime | None = None,
    ) -> list[WaitingEntry]:
        """`waiting_deliveries` as the action center lists them."""
        deliveries = self.waiting_deliveries(
            deferred=deferred, platform=platform, store=store, received_before=received_before
        )
        return [WaitingEntry(ActionEntry.of(d), d.next_attempt_at, d.deferred) for d in deliveries]

    def backlog(self) -> list[StoreBacklog]:
        """Per store: how many wait, are deferred and failed, and how many were done today
        (since midnight UTC)."""
        today = datetime.combine(self.clock.now().astimezone(UTC).date(), time(), UTC)
        return self.store.store_backlogs(done_since=today)

    def show(self, delivery_id: int) -> DeliveryDetail:
        """One delivery, whatever its status, with its attempts and notes."""
        delivery = self.store.get(delivery_id)
        return DeliveryDetail(
            entry=ActionEntry.of(delivery),
            delivery_key=delivery.delivery_key,
            headers=delivery.headers,
            body=delivery.body,
            next_attempt_at=delivery.next_attempt_at,
            finished_at=delivery.finished_at,
            outcome=delivery.outcome,
            deferred=delivery.deferred,
            attempts=tuple(self.store.attempts(delivery_id)),
            notes=tuple(self.store.notes(delivery_id)),
            claimed_by=delivery.claimed_by,
        )

    def retry(self, ids: Iterable[int], note: str = "") -> list[int]:
        """Put failed or dismissed deliveries back in their lane; return their ids."""
        wanted = _ids(ids)
        self.store.requeue(wanted, note.strip())
        return wanted

    def dismiss(self, ids: Iterable[int], note: str) -> list[int]:
        """Take failed deliveries out of the action center, saying why; return their ids."""
        wanted = _ids(ids)
        if not note.strip():
            raise ActionInputError("note", "a dismissal needs a note saying why")
        self.store.dismiss(wanted, note.strip())
        return wanted

    def replay(
        self,
        *,
        since: datetime | str | None = None,
        order: str | None = None,
        platform: str | None = None,
        store: str | None = None,
        note: str = "",
    ) -> int:
        """Dispatch finished deliveries received at or after `since` again, in their original
        order; return how many. Safe: the back end ignores what it already applied."""
        return self.store.requeue_for_replay(
            since=self._since(since),
            ordering_key=order,
            platform=platform,
            store=store,
            note=note.strip(),
        )

    def export_csv(
        self,
        out: TextIO,
        *,
        platform: str | None = None,
        store: str | None = None,
        code: str | None = None,
        since: datetime | str | None = None,
        include_dismissed: bool = False,
    ) -> int:
        """Write the entries `failures` lists to `out` as CSV (a header row of `ENTRY_FIELDS`,
        then one row per entry); return how many rows. `out` should be opened with
        ``newline=""``."""
        entries = self.failures(
            platform=platform,
            store=store,
            code=code,
            since=since,
            include_dismissed=include_dismissed,
        )
        _write_csv(out, entries)
        return len(entries)

    def export(
        self,
        out: BinaryIO,
        output_format: ExportFormat,
        *,
        platform: str | None = None,
        store: str | None = None,
        since: datetime | str | None = None,
        include_dismissed: bool = False,
    ) -> int:
        """Write the entries `failures` lists to `out` in `output_format`; return how many.

        Every format has the columns (keys) of `ENTRY_FIELDS`. No cell of the CSV or XLSX file
        is ever a formula; XLSX times are UTC."""
        entries = self.failures(
            platform=platform, store=store, since=since, include_dismissed=include_dismissed
        )
        if output_format is ExportFormat.CSV:
            text = io.StringIO(newline="")
            _write_csv(text, entries)
            out.write(text.getvalue().encode())
        elif output_format is ExportFormat.JSON:
            document = [entry.as_json() for entry in entries]
            out.write((json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode())
        else:
            _write_xlsx(out, entries)
        return len(entries)

    def stats(self) -> dict[str, int]:
        """How many deliveries are in each status."""
        return {status.value: count for status, count in self.store.stats().items()}


def _ids(ids: Iterable[int]) -> list[int]:
    wanted: Sequence[Any] = list(ids)
    if not wanted:
        raise ActionInputError("ids", "give at least one delivery id")
    for value in wanted:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ActionInputError("ids", f"delivery ids are integers, got {value!r}")
    return sorted(set(wanted))


class ExportFormat(StrEnum):
    """The file formats of an export."""

    CSV = "csv"
    JSON = "json"
    XLSX = "xlsx"


@dataclass(frozen=True)
class WaitingEntry:
    """A delivery still to apply and when it is due next."""

    entry: ActionEntry
    next_attempt_at: datetime
    deferred: bool

    def as_json(self) -> dict[str, Any]:
        """The entry's JSON with `next_attempt_at` and `deferred`."""
        return {
            **self.entry.as_json(),
            "next_attempt_at": _iso(self.next_attempt_at),
            "deferred": self.deferred,
        }


def _write_csv(out: TextIO, entries: list[ActionEntry]) -> None:
    writer = csv.writer(out)
    writer.writerow(ENTRY_FIELDS)
    for entry in entries:
        values = entry.as_json()
        writer.writerow([csv_cell(values[name]) for name in ENTRY_FIELDS])


_TIME_FIELDS: Final = frozenset({"first_failed_at", "last_failed_at", "received_at"})


def _write_xlsx(out: BinaryIO, entries: list[ActionEntry]) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Action center")
    sheet.append([f"{name} (UTC)" if name in _TIME_FIELDS else name for name in ENTRY_FIELDS])
    for entry in entries:
        values = entry.as_json()
        row: list[object] = []
        for name in ENTRY_FIELDS:
            value = getattr(entry, name) if name in _TIME_FIELDS else values[name]
            if isinstance(value, datetime):
                # Spreadsheets have no time zones: the header says UTC.
                value = value.astimezone(UTC).replace(tzinfo=None)
            cell = WriteOnlyCell(sheet, value)
            if isinstance(value, str):
                # openpyxl reads a text starting with "=" as a formula; stored text is only text.
                cell.data_type = "s"
            row.append(cell)
        sheet.append(row)
    book.save(out)


def _outcome_text(outcome: str | None) -> str:
    if not outcome:
        return "nothing reported"
    try:
        events = json.loads(outcome)
    except ValueError:
        return outcome
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        return outcome
    count = len(events)
    if not count:
        return "no event to apply"
    return f"{count} event{'s' if count != 1 else ''}: " + "; ".join(events)


def _clock_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def age(elapsed: timedelta) -> str:
    """A duration as a person says it: ``45s``, ``12m``, ``3h 05m``, ``2d 4h``."""
    seconds = max(0, int(elapsed.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"
