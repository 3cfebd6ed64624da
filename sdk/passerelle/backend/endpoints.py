"""The API's endpoints, shared by both clients: the `Call` each client method makes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from urllib.parse import quote

from pydantic import BaseModel

from passerelle.backend.batch_models import (
    BatchEntriesCreate,
    BatchEntriesReplace,
    BatchEntryItem,
    BatchFileUpload,
    BatchReschedule,
    BatchView,
    DisbursementList,
    DisbursementQuery,
)
from passerelle.backend.exchange import Call, M, printable_ascii
from passerelle.backend.models import (
    OrderCreate,
    OrderView,
)

__all__ = [
    "create_batch_call",
    "create_order_call",
    "delete_batch_call",
    "get_batch_call",
    "get_order_call",
    "list_disbursements_call",
    "order_write_call",
    "replace_entries_call",
    "reschedule_batch_call",
]


def _segment(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    return quote(value, safe="")


def _check_key(key: str | None) -> str | None:
    if key is not None and not (0 < len(key) <= 255 and printable_ascii(key)):
        raise ValueError("idempotency_key must be 1 to 255 printable ASCII characters")
    return key


def create_order_call(order: OrderCreate, key: str | None) -> Call[OrderView]:
    return Call("POST", "/v1/orders", OrderView, order, idempotency_key=_check_key(key))


def get_order_call(reference: str) -> Call[OrderView]:
    return Call("GET", f"/v1/orders/{_segment(reference, 'order reference')}", OrderView)


def order_write_call(
    reference: str, what: str, method: str, body: BaseModel, answer: type[M], key: str | None
) -> Call[M]:
    path = f"/v1/orders/{_segment(reference, 'order reference')}/{what}"
    return Call(method, path, answer, body, idempotency_key=_check_key(key))


def _batch_path(batch_id: str, tail: str = "") -> str:
    return f"/v1/batches/{_segment(batch_id, 'batch id')}{tail}"


def create_batch_call(
    batch: BatchFileUpload | BatchEntriesCreate, key: str | None
) -> Call[BatchView]:
    return Call("POST", "/v1/batches", BatchView, batch, idempotency_key=_check_key(key))


def reschedule_batch_call(batch_id: str, day: dt.date, key: str | None) -> Call[BatchView]:
    body = BatchReschedule(processing_date=day)
    return Call("PATCH", _batch_path(batch_id), BatchView, body, idempotency_key=_check_key(key))


def replace_entries_call(
    batch_id: str, entries: Sequence[BatchEntryItem], key: str | None
) -> Call[BatchView]:
    body = BatchEntriesReplace(entries=tuple(entries))
    path = _batch_path(batch_id, "/entries")
    return Call("PUT", path, BatchView, body, idempotency_key=_check_key(key))


def delete_batch_call(batch_id: str, key: str | None) -> Call[BatchView]:
    return Call("DELETE", _batch_path(batch_id), BatchView, idempotency_key=_check_key(key))


def list_disbursements_call(
    since: dt.date | None, until: dt.date | None, currency: str | None
) -> Call[DisbursementList]:
    query = DisbursementQuery(since=since, until=until, currency=currency)
    params = tuple((k, str(v)) for k, v in query.model_dump(mode="json", exclude_none=True).items())
    return Call("GET", "/v1/disbursements", DisbursementList, params=params)


def get_batch_call(batch_id: str) -> Call[BatchView]:
    return Call("GET", _batch_path(batch_id), BatchView)
