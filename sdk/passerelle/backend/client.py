"""Clients of the payment back end: `BackendClient` (sync) and `AsyncBackendClient` (async).

Both are thin shells around one core (`passerelle.backend.exchange`): building each request,
reading each answer and deciding whether to retry happen there; a client only sends and sleeps.

Every request carries ``Authorization: Bearer <token>``, ``Passerelle-Merchant: <merchant id>``
(the merchant the token acts for) and ``User-Agent: passerelle/<version>``. Every write also
carries an ``Idempotency-Key``: the caller's, or one generated once per call and kept on every
retry, so that a retried write is carried out once.

Each call has a total timeout: its attempts and the waits between them all end by then. A retry
never starts, and a wait never runs, past it; an attempt in flight is cut at it (every connect,
read, write and pool wait is bounded by the time left, and the async client cancels the attempt
outright). A call that runs out of time raises `APITimeoutError`.

Logs go to the ``passerelle.backend`` logger: one debug line per attempt and answer, a warning per
retry. The token is never logged; nor is anything that looks like a card number.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self

import anyio
import httpx

from passerelle.backend.batch_models import (
    BatchEntriesCreate,
    BatchEntryItem,
    BatchFileUpload,
    BatchView,
    DisbursementList,
)
from passerelle.backend.endpoints import (
    create_batch_call,
    create_order_call,
    delete_batch_call,
    get_batch_call,
    get_order_call,
    list_disbursements_call,
    order_write_call,
    replace_entries_call,
    reschedule_batch_call,
)
from passerelle.backend.exchange import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    DEFAULT_TOTAL_TIMEOUT,
    IDEMPOTENCY_HEADER,
    MERCHANT_HEADER,
    USER_AGENT,
    Call,
    Core,
    M,
    Wait,
    base_url_problem,
    merchant_problem,
    token_problem,
)
from passerelle.backend.models import (
    CancellationCreate,
    CancellationResult,
    CartUpdate,
    CartUpdateResult,
    OrderCreate,
    OrderView,
    ReturnCreate,
    ReturnResult,
    ShipmentCreate,
    ShipmentResult,
)
from passerelle.backend.retry import RetryPolicy
from passerelle.clock import Clock, SystemClock

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "IDEMPOTENCY_HEADER",
    "MERCHANT_HEADER",
    "USER_AGENT",
    "AsyncBackendClient",
    "BackendClient",
    "base_url_problem",
    "merchant_problem",
    "token_problem",
]


class BackendClient:
    """Synchronous client of the payment back end.

    ``BackendClient(base_url, token, merchant_id)``; use it as a context manager, or call
    `close`. Timeouts are in seconds, positive and finite:

    - `timeout` bounds each read, write and wait for a pooled connection (10 by default);
    - `connect_timeout` each connection attempt (5);
    - `total_timeout` a whole call: all its attempts and the waits between them (30). No retry
      starts, and no wait ends, past it; an attempt in flight is cut at it. A sync attempt is cut
      by bounding each connect, read, write and pool wait by the time left, so a server that
      keeps trickling bytes can hold it somewhat longer; the async client cancels it outright.

    Pass `http_client` to reuse an ``httpx.Client`` (the caller then closes it). `clock` and
    `sleep` are where the retry loop reads the time (for an HTTP-date ``Retry-After``) and waits;
    `timer` the monotonic seconds the total timeout is measured in (``time.monotonic``).

    Every method raises a `passerelle.backend.errors.BackendError` subclass once retries are
    exhausted or on the first non-retryable error; `APITimeoutError` when the total timeout
    passes first, with the last attempt's error as its ``__cause__``.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        merchant_id: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        http_client: httpx.Client | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = Core(
            base_url,
            token,
            merchant_id,
            timeout=timeout,
            connect_timeout=connect_timeout,
            total_timeout=total_timeout,
            retry=retry,
            clock=clock or SystemClock(),
            timer=timer,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"BackendClient({self._core.base_url!r}, merchant_id={self._core.merchant_id!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool, unless it was passed in."""
        if self._owns_http:
            self._http.close()

    def _send(self, call: Call[M]) -> M:
        exchange = self._core.exchange(call)
        while True:
            request = exchange.next_request()
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                outcome: M | Wait = exchange.failed(exc)
            else:
                outcome = exchange.answered(response)
            if not isinstance(outcome, Wait):
                return outcome
            self._sleep(outcome.seconds)

    def create_order(self, order: OrderCreate, *, idempotency_key: str | None = None) -> OrderView:
        """Create an order (checkout) and authorize its total."""
        return self._send(create_order_call(order, idempotency_key))

    def get_order(self, reference: str) -> OrderView:
        """The order with this store reference, with its ledger and payment plan."""
        return self._send(get_order_call(reference))

    def ship(
        self, reference: str, shipment: ShipmentCreate, *, idempotency_key: str | None = None
    ) -> ShipmentResult:
        """Record a shipment and capture its value."""
        return self._send(
            order_write_call(
                reference, "shipments", "POST", shipment, ShipmentResult, idempotency_key
            )
        )

    def cancel(
        self,
        reference: str,
        cancellation: CancellationCreate,
        *,
        idempotency_key: str | None = None,
    ) -> CancellationResult:
        """Cancel unshipped lines (all of them when none are named) and release their value."""
        return self._send(
            order_write_call(
                reference,
                "cancellations",
                "POST",
                cancellation,
                CancellationResult,
                idempotency_key,
            )
        )

    def refund(
        self, reference: str, return_: ReturnCreate, *, idempotency_key: str | None = None
    ) -> ReturnResult:
        """Record returned goods (if any) and refund the amount given."""
        return self._send(
            order_write_call(reference, "returns", "POST", return_, ReturnResult, idempotency_key)
        )

    def update_cart(
        self, reference: str, update: CartUpdate, *, idempotency_key: str | None = None
    ) -> CartUpdateResult:
        """Replace the unshipped part of the order; answers with the new payment plan."""
        return self._send(
            order_write_call(reference, "cart", "PUT", update, CartUpdateResult, idempotency_key)
        )

    def create_batch(
        self,
        batch: BatchFileUpload | BatchEntriesCreate,
        *,
        idempotency_key: str | None = None,
    ) -> BatchView:
        """Schedule a batch of payments, from a file or from entries."""
        return self._send(create_batch_call(batch, idempotency_key))

    def get_batch(self, batch_id: str) -> BatchView:
        """The batch with this id."""
        return self._send(get_batch_call(batch_id))

    def reschedule_batch(
        self, batch_id: str, processing_date: dt.date, *, idempotency_key: str | None = None
    ) -> BatchView:
        """Move a batch to another processing date, before its cutoff."""
        return self._send(reschedule_batch_call(batch_id, processing_date, idempotency_key))

    def replace_batch_entries(
        self,
        batch_id: str,
        entries: Sequence[BatchEntryItem],
        *,
        idempotency_key: str | None = None,
    ) -> BatchView:
        """Replace all entries of a batch, before its cutoff."""
        return self._send(replace_entries_call(batch_id, entries, idempotency_key))

    def delete_batch(self, batch_id: str, *, idempotency_key: str | None = None) -> BatchView:
        """Delete a batch before its cutoff; answers with the deleted batch."""
        return self._send(delete_batch_call(batch_id, idempotency_key))

    def list_disbursements(
        self,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        currency: str | None = None,
    ) -> DisbursementList:
        """What was paid out per day, between `since` and `until` inclusive."""
        return self._send(list_disbursements_call(since, until, currency))


class AsyncBackendClient:
    """Asynchronous client of the payment back end: the same methods as `BackendClient`.

    Use it as an async context manager, or call `aclose`. `http_client` is an
    ``httpx.AsyncClient``; `sleep` an async function (``anyio.sleep`` by default). An attempt
    still running at the total timeout is cancelled there.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        merchant_id: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = Core(
            base_url,
            token,
            merchant_id,
            timeout=timeout,
            connect_timeout=connect_timeout,
            total_timeout=total_timeout,
            retry=retry,
            clock=clock or SystemClock(),
            timer=timer,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self._sleep = sleep

    def __repr__(self) -> str:
        return (
            f"AsyncBackendClient({self._core.base_url!r}, merchant_id={self._core.merchant_id!r})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool, unless it was passed in."""
        if self._owns_http:
            await self._http.aclose()

    async def _send(self, call: Call[M]) -> M:
        exchange = self._core.exchange(call)
        while True:
            request = exchange.next_request()
            outcome: M | Wait | None = None
            with anyio.move_on_after(exchange.time_left()):
                try:
                    response = await self._http.send(request)
                except httpx.TransportError as exc:
                    outcome = exchange.failed(exc)
                else:
                    outcome = exchange.answered(response)
            if outcome is None:
                exchange.out_of_time()
            if not isinstance(outcome, Wait):
                return outcome
            await self._sleep(outcome.seconds)

    async def create_order(
        self, order: OrderCreate, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Create an order (checkout) and authorize its total."""
        return await self._send(create_order_call(order, idempotency_key))

    async def get_order(self, reference: str) -> OrderView:
        """The order with this store reference, with its ledger and payment plan."""
        return await self._send(get_order_call(reference))

    async def ship(
        self, reference: str, shipment: ShipmentCreate, *, idempotency_key: str | None = None
    ) -> ShipmentResult:
        """Record a shipment and capture its value."""
        return await self._send(
            order_write_call(
                reference, "shipments", "POST", shipment, ShipmentResult, idempotency_key
            )
        )

    async def cancel(
        self,
        reference: str,
        cancellation: CancellationCreate,
        *,
        idempotency_key: str | None = None,
    ) -> CancellationResult:
        """Cancel unshipped lines (all of them when none are named) and release their value."""
        return await self._send(
            order_write_call(
                reference,
                "cancellations",
                "POST",
                cancellation,
                CancellationResult,
                idempotency_key,
            )
        )

    async def refund(
        self, reference: str, return_: ReturnCreate, *, idempotency_key: str | None = None
    ) -> ReturnResult:
        """Record returned goods (if any) and refund the amount given."""
        return await self._send(
            order_write_call(reference, "returns", "POST", return_, ReturnResult, idempotency_key)
        )

    async def update_cart(
        self, reference: str, update: CartUpdate, *, idempotency_key: str | None = None
    ) -> CartUpdateResult:
        """Replace the unshipped part of the order; answers with the new payment plan."""
        return await self._send(
            order_write_call(reference, "cart", "PUT", update, CartUpdateResult, idempotency_key)
        )

    async def create_batch(
        self,
        batch: BatchFileUpload | BatchEntriesCreate,
        *,
        idempotency_key: str | None = None,
    ) -> BatchView:
        """Schedule a batch of payments, from a file or from entries."""
        return await self._send(create_batch_call(batch, idempotency_key))

    async def get_batch(self, batch_id: str) -> BatchView:
        """The batch with this id."""
        return await self._send(get_batch_call(batch_id))

    async def reschedule_batch(
        self, batch_id: str, processing_date: dt.date, *, idempotency_key: str | None = None
    ) -> BatchView:
        """Move a batch to another processing date, before its cutoff."""
        return await self._send(reschedule_batch_call(batch_id, processing_date, idempotency_key))

    async def replace_batch_entries(
        self,
        batch_id: str,
        entries: Sequence[BatchEntryItem],
        *,
        idempotency_key: str | None = None,
    ) -> BatchView:
        """Replace all entries of a batch, before its cutoff."""
        return await self._send(replace_entries_call(batch_id, entries, idempotency_key))

    async def delete_batch(self, batch_id: str, *, idempotency_key: str | None = None) -> BatchView:
        """Delete a batch before its cutoff; answers with the deleted batch."""
        return await self._send(delete_batch_call(batch_id, idempotency_key))

    async def list_disbursements(
        self,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        currency: str | None = None,
    ) -> DisbursementList:
        """What was paid out per day, between `since` and `until` inclusive."""
        return await self._send(list_disbursements_call(since, until, currency))
