"""The dispatcher's back-end step: the call each event kind makes, written once.

Every call carries the envelope's idempotency key, so a delivery dispatched again (a retry, a
crash, a replay) reaches the back end once. The dispatcher makes this call itself, before any
observer hook runs: observers see an event only once the back end accepted it, whatever hooks
other plugins implement or the order they register in.
"""

from __future__ import annotations

from typing import assert_never

from passerelle.backend.batch_models import (
    BatchEntriesCreate,
    BatchEntryItem,
    BatchStatus,
    BatchView,
)
from passerelle.backend.client import BackendClient
from passerelle.backend.errors import UnknownBatchError
from passerelle.backend.models import (
    CancellationCreate,
    CartUpdate,
    OrderView,
    ReturnCreate,
    ShipmentCreate,
)
from passerelle.batches import BatchFile, Deleted, apply
from passerelle.events import (
    BatchFileEdited,
    Envelope,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
)

__all__ = ["call_backend", "call_batch_backend"]


def call_backend(client: BackendClient, envelope: Envelope) -> OrderView | None:
    """Tell the back end about the envelope's event; the order as it answers, or None for an
    event that is not an order's."""
    event = envelope.event
    key = envelope.idempotency_key
    match event:
        case OrderShipped():
            return client.ship(
                event.order, ShipmentCreate.from_event(event), idempotency_key=key
            ).order
        case OrderCancelled():
            cancellation = CancellationCreate.from_event(event)
            return client.cancel(event.order, cancellation, idempotency_key=key).order
        case OrderReturned():
            return client.refund(
                event.order, ReturnCreate.from_event(event), idempotency_key=key
            ).order
        case OrderEdited():
            return client.update_cart(
                event.order, CartUpdate.from_event(event), idempotency_key=key
            ).order
        case BatchFileEdited():
            call_batch_backend(client, event, key)
            return None
    assert_never(event)


def call_batch_backend(client: BackendClient, event: BatchFileEdited, key: str) -> BatchView | None:
    """Bring the back end's batch to what `event` asks; the batch as it answers last (None when
    nothing was there to change).

    The batch is read first and only the calls still needed are made: create it (a first
    version), delete it, move its date (`PATCH`), replace its entries (`PUT`). Each call has its
    own idempotency key derived from `key`, so a retry after some of them reached the back end
    makes only the rest, and one whose answer was lost is answered again, not repeated. The
    target is `event.after` when the event carries it, else the changes applied to the batch as
    the back end has it.
    """
    deleting = any(isinstance(change, Deleted) for change in event.changes)
    target = event.after
    try:
        current: BatchView | None = client.get_batch(event.batch)
    except UnknownBatchError:
        if target is None and not deleting:
            raise  # nothing to apply the changes to
        current = None
    if deleting:
        if current is None or current.status is BatchStatus.DELETED:
            return current
        return client.delete_batch(event.batch, idempotency_key=f"{key}.delete")
    if current is None:
        assert target is not None
        if not target.entries:
            return None
        return client.create_batch(_creation(target), idempotency_key=f"{key}.create")
    if target is None:
        target = apply(_as_file(current), event.changes)
        if target is None:
            return current
    if not target.entries:
        if current.status is BatchStatus.DELETED:
            return current
        return client.delete_batch(event.batch, idempotency_key=f"{key}.delete")
    view = current
    if view.processing_date != target.processing_date:
        view = client.reschedule_batch(
            event.batch, target.processing_date, idempotency_key=f"{key}.date"
        )
    entries = tuple(BatchEntryItem.from_entry(entry) for entry in target.entries)
    # A deleted batch cannot take a new version: the back end's answer to it says so.
    if view.entries != entries or view.status is BatchStatus.DELETED:
        view = client.replace_batch_entries(event.batch, entries, idempotency_key=f"{key}.entries")
    return view


def _creation(batch: BatchFile) -> BatchEntriesCreate:
    return BatchEntriesCreate(
        batch_id=batch.batch_id,
        entries=tuple(BatchEntryItem.from_entry(entry) for entry in batch.entries),
        processing_date=batch.processing_date,
        originator=batch.originator,
        kind=batch.kind,
        currency=batch.currency,
    )


def _as_file(view: BatchView) -> BatchFile:
    return BatchFile(
        batch_id=view.id,
        originator=view.originator,
        kind=view.kind,
        processing_date=view.processing_date,
        currency=view.currency,
        entries=tuple(item.to_entry() for item in view.entries),
    )
