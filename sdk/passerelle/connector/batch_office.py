"""The merchant's back office for batches: list, show, reschedule, delete.

`passerelle batch list|show|reschedule|delete` and the admin API's ``/api/batches`` calls both
go through `BatchOffice`, so that they read and refuse alike. A batch is found by its id among
the versions the store keeps for the file platforms' stores; where it stands is asked of the back
end. A change is checked against the batch's cutoff (``[batches]``) before anything is sent, and
the back end's own refusal (its clock, a batch already deleted) is passed on: either way it is a
`BatchActionError` with a stable `code`, and nothing changed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from passerelle.backend.batch_models import (
    BatchView,
)
from passerelle.backend.client import BackendClient
from passerelle.backend.errors import BackendError, UnknownBatchError
from passerelle.batches import BatchFile, BatchPastCutoff, Deleted, Rescheduled, StoreCutoffs
from passerelle.clock import Clock, SystemClock
from passerelle.connector.files import (
    BatchStanding,
    BatchVersionChange,
    batch_history,
    batch_standing,
    masked_account,
)
from passerelle.connector.store import BatchVersion, DeliveryStore
from passerelle.money import Money

__all__ = [
    "BackEndState",
    "BatchActionError",
    "BatchDetail",
    "BatchOffice",
    "BatchSummary",
    "back_end_json",
    "describe_back_end",
]

BackEndState = BatchView | str
"""The batch as the back end answers it, or why it could not say (``not known to the back
end``, ``unreachable (...)``)."""


class BatchActionError(Exception):
    """A back-office action refused; nothing changed. `code` is stable: ``batch_not_found`` (no
    stored file carried the batch), ``batch_past_cutoff``, ``batch_deleted``, ``unknown_batch``
    (the back end does not know it), ``backend_unavailable``, or another back-end refusal's
    code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BatchSummary:
    """A batch as its newest version has it (`standing`), and where the back end has it."""

    standing: BatchStanding
    back_end: BackEndState

    def as_json(self) -> dict[str, Any]:
        """What the admin API answers for it: ids, date, cutoff, total, the back end's view."""
        standing, version = self.standing, self.standing.version
        return {
            "batch": standing.batch.batch_id,
            "platform": version.platform,
            "store": version.store,
            "version": version.number,
            "processing_date": standing.batch.processing_date.isoformat(),
            "cutoff": standing.cutoff.isoformat(),
            "entries": len(standing.batch.entries),
            "total": _money(standing.total),
            "back_end": back_end_json(self.back_end),
        }


@dataclass(frozen=True)
class BatchDetail:
    """A batch: its newest version, every version with what it changed, the back end's view."""

    standing: BatchStanding
    history: list[BatchVersionChange]
    back_end: BackEndState

    def as_json(self) -> dict[str, Any]:
        """The summary's fields, each version with what it changed, and the entries (accounts
        masked to their last four digits)."""
        return {
            **BatchSummary(self.standing, self.back_end).as_json(),
            "versions": [
                {
                    "version": change.version.number,
                    "recorded_at": change.version.recorded_at.isoformat(),
                    "delivery": change.version.delivery_id,
                    "changes": [c.change for c in change.changes],
                    "summary": change.summary,
                }
                for change in self.history
            ],
            "payments": [
                {
                    "direction": str(entry.direction),
                    "amount": _money(entry.amount),
                    "payee": entry.payee,
                    "account": masked_account(entry),
                    "reference": entry.reference,
                }
                for entry in self.standing.batch.entries
            ],
        }


def back_end_json(state: BackEndState) -> dict[str, Any]:
    """The back end's view as the admin API answers it: status, date, entries; or ``error``."""
    if isinstance(state, str):
        return {"error": state}
    return {
        "status": str(state.status),
        "processing_date": state.processing_date.isoformat(),
        "cutoff": state.cutoff_at.isoformat(),
        "entries": len(state.entries),
    }


def _money(amount: Money) -> dict[str, str]:
    return {"amount": str(amount.amount), "currency": amount.currency}


def describe_back_end(state: BackEndState) -> str:
    """``scheduled for 2026-12-15, 3 entries``, or why the back end could not say."""
    if isinstance(state, str):
        return state
    return f"{state.status} for {state.processing_date}, {len(state.entries)} entries"


@dataclass(frozen=True)
class BatchOffice:
    """The back-office actions over `inbox` for the file platforms' `stores` ((platform, id)
    pairs), asking `backend`, with each store's cutoff in `cutoffs` read on `clock`."""

    inbox: DeliveryStore
    stores: Sequence[tuple[str, str]]
    backend: BackendClient
    cutoffs: StoreCutoffs
    clock: Clock = field(default_factory=SystemClock)

    def batches(self, store: str | None = None) -> list[BatchSummary]:
        """Every batch of the stores (of store id `store` only, when given), newest version."""
        return [
            BatchSummary(standing, self._at_back_end(standing.batch.batch_id))
            for platform, store_id in self.stores
            if store in (None, store_id)
            for version in self.inbox.latest_batch_versions(platform, store_id)
            for standing in (batch_standing(version, self.cutoffs),)
        ]

    def show(self, batch_id: str) -> BatchDetail:
        """The batch `batch_id`; `BatchActionError` ``batch_not_found`` when no file carried it."""
        versions = self._versions(batch_id)
        return BatchDetail(
            batch_standing(versions[-1], self.cutoffs),
            batch_history(versions),
            self._at_back_end(batch_id),
        )

    def reschedule(
        self, batch_id: str, day: dt.date, *, idempotency_key: str | None = None
    ) -> BatchView:
        """Move the batch to `day`, before both dates' cutoffs; the back end's batch after."""
        latest = self._versions(batch_id)[-1]
        current = BatchFile.model_validate_json(latest.batch)
        change = Rescheduled(previous=current.processing_date, processing_date=day)
        return self._change(latest, change, idempotency_key)

    def delete(self, batch_id: str, *, idempotency_key: str | None = None) -> BatchView:
        """Delete the batch before its cutoff: none of its payments are made."""
        return self._change(self._versions(batch_id)[-1], Deleted(), idempotency_key)

    def _versions(self, batch_id: str) -> list[BatchVersion]:
        for platform, store in self.stores:
            versions = self.inbox.batch_versions(platform, store, batch_id)
            if versions:
                return versions
        raise BatchActionError(
            "batch_not_found", f"no batch {batch_id!r}: no file of a configured store carried it"
        )

    def _at_back_end(self, batch_id: str) -> BackEndState:
        try:
            return self.backend.get_batch(batch_id)
        except UnknownBatchError:
            return "not known to the back end"
        except BackendError as exc:
            return f"unreachable ({exc})"

    def _change(
        self, latest: BatchVersion, change: Rescheduled | Deleted, idempotency_key: str | None
    ) -> BatchView:
        batch_id = latest.batch_id
        view = self._at_back_end(batch_id)
        if isinstance(view, str):
            code = "unknown_batch" if view.startswith("not known") else "backend_unavailable"
            raise BatchActionError(code, f"batch {batch_id}: {view}")
        try:
            self.cutoffs.of(latest.platform, latest.store).ensure_changeable(
                batch_id, view.processing_date, (change,), self.clock.now()
            )
        except BatchPastCutoff as exc:
            raise BatchActionError(exc.code, str(exc)) from None
        key = idempotency_key or f"office-{uuid.uuid4().hex}"
        try:
            if isinstance(change, Rescheduled):
                return self.backend.reschedule_batch(
                    batch_id, change.processing_date, idempotency_key=key
                )
            return self.backend.delete_batch(batch_id, idempotency_key=key)
        except BackendError as exc:
            code = getattr(exc, "code", None) or "backend_unavailable"
            if exc.retryable:
                code = "backend_unavailable"
            raise BatchActionError(code, f"the back end answered: {exc}") from None
