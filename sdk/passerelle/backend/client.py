"""Clients of the payment back end: `BackendClient` (sync) and `AsyncBackendClient` (async).

Both are thin shells around one core: building each request, reading each answer and deciding
whether to retry happen in `_Exchange`, shared by both; a client only sends and sleeps.

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
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, NoReturn, Self, TypeVar
from urllib.parse import quote

import anyio
import httpx
from pydantic import BaseModel, ValidationError

from passerelle._version import __version__
from passerelle.backend.errors import (
    REQUEST_ID_HEADER,
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    BackendError,
    error_for,
    redact,
)
from passerelle.backend.models import (
    BatchEntriesCreate,
    BatchEntriesReplace,
    BatchEntryItem,
    BatchFileUpload,
    BatchReschedule,
    BatchView,
    CancellationCreate,
    CancellationResult,
    CartUpdate,
    CartUpdateResult,
    DisbursementList,
    DisbursementQuery,
    OrderCreate,
    OrderView,
    ReturnCreate,
    ReturnResult,
    ShipmentCreate,
    ShipmentResult,
)
from passerelle.backend.retry import RetryPolicy
from passerelle.clock import Clock, SystemClock
from passerelle.redaction import redact_urls

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

MERCHANT_HEADER = "Passerelle-Merchant"
"""Request header naming the merchant the token acts for."""
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = f"passerelle/{__version__}"
DEFAULT_RETRY = RetryPolicy()
DEFAULT_TIMEOUT = 10.0
"""Seconds each read, write and wait for a pooled connection may take."""
DEFAULT_CONNECT_TIMEOUT = 5.0
"""Seconds each connection attempt may take."""
DEFAULT_TOTAL_TIMEOUT = 30.0
"""Seconds a whole call may take: every attempt and every wait between them."""

logger = logging.getLogger("passerelle.backend")

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class _Call(Generic[M]):
    """One logical API call: what to send and what the answer is."""

    method: str
    path: str
    answer: type[M]
    body: BaseModel | None = None
    params: tuple[tuple[str, str], ...] = ()
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class _Wait:
    """The exchange's verdict on a failed attempt: retry after this many seconds."""

    seconds: float


def _segment(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    return quote(value, safe="")


def _check_key(key: str | None) -> str | None:
    if key is not None and not (0 < len(key) <= 255 and _printable_ascii(key)):
        raise ValueError("idempotency_key must be 1 to 255 printable ASCII characters")
    return key


def _printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


# Letters, digits, dots, hyphens and underscores (names, IPv4), or an IPv6 address: httpx gives
# it without its brackets.
_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+(%[A-Za-z0-9._-]+)?")


def base_url_problem(url: str) -> str | None:
    """What makes `url` unfit for a client's base URL (``must ...``), or None. The client and
    the connector's configuration check with this one function."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"must be a URL ({redact_urls(str(exc))})"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return "must be an http:// or https:// URL with a host"
    if parsed.userinfo:
        # httpx would send them as Basic auth in place of the bearer token.
        return "must not carry a user name or password: the token authenticates"
    # httpx keeps what no connection could use: check what it lets through.
    if not _HOST.fullmatch(parsed.host):
        return f"must name a host or an IP address, not {parsed.host!r}"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"must have a port between 1 and 65535, not {parsed.port}"
    return None


def token_problem(token: str) -> str | None:
    """What makes `token` unfit for the API token (``must ...``), or None; never the token."""
    # It travels in a header, which is ASCII.
    if not token or token != token.strip() or not _printable_ascii(token):
        return "must be a non-empty printable ASCII string without spaces or line breaks"
    return None


def merchant_problem(merchant_id: str) -> str | None:
    """What makes `merchant_id` unfit for the merchant header (``must ...``), or None."""
    if not merchant_id.strip() or not _printable_ascii(merchant_id):
        return "must be a non-empty printable ASCII string"
    return None


def _seconds(value: float, name: str) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _connection_error(exc: httpx.TransportError, what: str, secrets: Sequence[str]) -> BackendError:
    reason = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, secrets)
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"the payment back end did not answer in time ({what}): {reason}")
    # A proxy or protocol misconfiguration fails the same way every time.
    retryable = isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError)
    return APIConnectionError(
        f"no answer from the payment back end ({what}): {reason}", retryable=retryable
    )


class _Core:
    """Everything about a call that does not depend on sync or async I/O."""

    def __init__(
        self,
        base_url: str,
        token: str,
        merchant_id: str,
        *,
        timeout: float,
        connect_timeout: float,
        total_timeout: float,
        retry: RetryPolicy,
        clock: Clock,
        timer: Callable[[], float],
    ) -> None:
        for name, problem in (
            ("base_url", base_url_problem(base_url)),
            ("token", token_problem(token)),
            ("merchant_id", merchant_problem(merchant_id)),
        ):
            if problem is not None:
                raise ValueError(f"{name} {problem}")
        self.base_url = str(httpx.URL(base_url)).rstrip("/")
        self.merchant_id = merchant_id
        self.secrets = (token,)
        self.retry = retry
        self.clock = clock
        self.timer = timer
        self.total_timeout = _seconds(total_timeout, "total_timeout")
        self._timeout = httpx.Timeout(
            _seconds(timeout, "timeout"), connect=_seconds(connect_timeout, "connect_timeout")
        ).as_dict()
        self._headers = {
            "Authorization": f"Bearer {token}",
            MERCHANT_HEADER: merchant_id,
            "User-Agent": USER_AGENT,
            "Accept": "application/json, application/problem+json",
        }

    def exchange(self, call: _Call[M]) -> _Exchange[M]:
        return _Exchange(self, call)

    def request(
        self, call: _Call[M], body: bytes | None, key: str | None, time_left: float
    ) -> httpx.Request:
        """The request of one attempt; no phase of it may wait longer than `time_left`."""
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        return httpx.Request(
            call.method,
            self.base_url + call.path,
            params=call.params or None,
            headers=headers,
            content=body,
            extensions={
                "timeout": {
                    phase: None if limit is None else min(limit, time_left)
                    for phase, limit in self._timeout.items()
                }
            },
        )


class _Exchange(Generic[M]):
    """One logical call across its attempts: builds each request, judges each outcome.

    The client loop is: `next_request`, send it (for at most `time_left`), hand the answer to
    `answered` (or the transport error to `failed`, or `out_of_time` when the attempt was cut),
    and either return the result, sleep the `_Wait` and loop, or let the raised error propagate.
    The total timeout starts when the exchange is made; a `_Wait` is always shorter than the
    time left, so the next attempt starts before the deadline.
    """

    def __init__(self, core: _Core, call: _Call[M]) -> None:
        self._core = core
        self._call = call
        writes = call.method != "GET"
        self.key = call.idempotency_key or (str(uuid.uuid4()) if writes else None)
        # Serialised once: every retry sends exactly the bytes the key was first used with.
        self._body = call.body.model_dump_json().encode() if call.body is not None else None
        self.attempt = 0
        self._previous = core.retry.initial_delay
        self._what = redact(f"{call.method} {call.path}")
        self._deadline = core.timer() + core.total_timeout

    def time_left(self) -> float:
        """Seconds until the call's total timeout; zero or less once it has passed."""
        return self._deadline - self._core.timer()

    def next_request(self) -> httpx.Request:
        self.attempt += 1
        logger.debug(
            "%s: attempt %d of %d%s",
            self._what,
            self.attempt,
            self._core.retry.max_attempts,
            f", idempotency key {self.key}" if self.key else "",
        )
        return self._core.request(self._call, self._body, self.key, max(0.0, self.time_left()))

    def answered(self, response: httpx.Response) -> M | _Wait:
        request_id = response.headers.get(REQUEST_ID_HEADER)
        logger.debug("%s: HTTP %d, request id %s", self._what, response.status_code, request_id)
        if response.is_success:
            return self._parse(response, request_id)
        return self._retry_or_raise(error_for(response, secrets=self._core.secrets), None)

    def failed(self, exc: httpx.TransportError) -> _Wait:
        return self._retry_or_raise(_connection_error(exc, self._what, self._core.secrets), exc)

    def out_of_time(self) -> NoReturn:
        """The attempt in flight was cut at the deadline."""
        self._give_up("the last attempt was cut at the deadline", None)

    def _parse(self, response: httpx.Response, request_id: str | None) -> M:
        try:
            return self._call.answer.model_validate_json(response.content)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in exc.errors()[:3]
            )
            rid = f" [request id {request_id}]" if request_id else ""
            raise APIResponseValidationError(
                redact(
                    f"{self._what}: the HTTP {response.status_code} answer is not a valid "
                    f"{self._call.answer.__name__}: {problems}{rid}",
                    self._core.secrets,
                ),
                status=response.status_code,
                request_id=request_id,
            ) from exc

    def _retry_or_raise(self, error: BackendError, cause: BaseException | None) -> _Wait:
        policy = self._core.retry
        # Connection errors name the call already; answers from the back end do not.
        about = str(error) if self._what in str(error) else f"{self._what}: {error}"
        if error.retryable and self.time_left() <= 0:
            self._give_up(f"the last attempt ended in: {about}", error)
        if not policy.should_retry(error, self.attempt):
            if error.retryable:
                logger.warning("giving up after %d attempts: %s", self.attempt, about)
            raise error from cause
        wait = policy.delay(error, self.attempt, self._previous, self._core.clock.now())
        left = self.time_left()
        if wait >= left:
            # Sleeping would end at or past the deadline, leaving no time for the retry: better
            # to say so now than after the wait.
            self._give_up(
                f"waiting {wait:.2f} s to retry would pass it ({max(0.0, left):.2f} s left) "
                f"after: {about}",
                error,
            )
        self._previous = wait
        logger.warning(
            "%s; retrying in %.2f s (attempt %d of %d)",
            about,
            wait,
            self.attempt + 1,
            policy.max_attempts,
        )
        return _Wait(wait)

    def _give_up(self, why: str, last: BackendError | None) -> NoReturn:
        message = redact(
            f"the payment back end did not answer within the total timeout of "
            f"{self._core.total_timeout:g} s ({self._what}, {_attempts(self.attempt)}); {why}",
            self._core.secrets,
        )
        logger.warning("%s", message)
        # The last error stays reachable as the cause: its Retry-After, its request id.
        raise APITimeoutError(message) from last


# The API's endpoints, shared by both clients.


def _create_order(order: OrderCreate, key: str | None) -> _Call[OrderView]:
    return _Call("POST", "/v1/orders", OrderView, order, idempotency_key=_check_key(key))


def _get_order(reference: str) -> _Call[OrderView]:
    return _Call("GET", f"/v1/orders/{_segment(reference, 'order reference')}", OrderView)


def _order_write(
    reference: str, what: str, method: str, body: BaseModel, answer: type[M], key: str | None
) -> _Call[M]:
    path = f"/v1/orders/{_segment(reference, 'order reference')}/{what}"
    return _Call(method, path, answer, body, idempotency_key=_check_key(key))


def _batch_path(batch_id: str, tail: str = "") -> str:
    return f"/v1/batches/{_segment(batch_id, 'batch id')}{tail}"


def _create_batch(batch: BatchFileUpload | BatchEntriesCreate, key: str | None) -> _Call[BatchView]:
    return _Call("POST", "/v1/batches", BatchView, batch, idempotency_key=_check_key(key))


def _reschedule_batch(batch_id: str, day: dt.date, key: str | None) -> _Call[BatchView]:
    body = BatchReschedule(processing_date=day)
    return _Call("PATCH", _batch_path(batch_id), BatchView, body, idempotency_key=_check_key(key))


def _replace_entries(
    batch_id: str, entries: Sequence[BatchEntryItem], key: str | None
) -> _Call[BatchView]:
    body = BatchEntriesReplace(entries=tuple(entries))
    path = _batch_path(batch_id, "/entries")
    return _Call("PUT", path, BatchView, body, idempotency_key=_check_key(key))


def _delete_batch(batch_id: str, key: str | None) -> _Call[BatchView]:
    return _Call("DELETE", _batch_path(batch_id), BatchView, idempotency_key=_check_key(key))


def _list_disbursements(
    since: dt.date | None, until: dt.date | None, currency: str | None
) -> _Call[DisbursementList]:
    query = DisbursementQuery(since=since, until=until, currency=currency)
    params = tuple((k, str(v)) for k, v in query.model_dump(mode="json", exclude_none=True).items())
    return _Call("GET", "/v1/disbursements", DisbursementList, params=params)


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
        self._core = _Core(
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

    def _send(self, call: _Call[M]) -> M:
        exchange = self._core.exchange(call)
        while True:
            request = exchange.next_request()
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                outcome: M | _Wait = exchange.failed(exc)
            else:
                outcome = exchange.answered(response)
            if not isinstance(outcome, _Wait):
                return outcome
            self._sleep(outcome.seconds)

    def create_order(self, order: OrderCreate, *, idempotency_key: str | None = None) -> OrderView:
        """Create an order (checkout) and authorize its total."""
        return self._send(_create_order(order, idempotency_key))

    def get_order(self, reference: str) -> OrderView:
        """The order with this store reference, with its ledger and payment plan."""
        return self._send(_get_order(reference))

    def ship(
        self, reference: str, shipment: ShipmentCreate, *, idempotency_key: str | None = None
    ) -> ShipmentResult:
        """Record a shipment and capture its value."""
        return self._send(
            _order_write(reference, "shipments", "POST", shipment, ShipmentResult, idempotency_key)
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
            _order_write(
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
            _order_write(reference, "returns", "POST", return_, ReturnResult, idempotency_key)
        )

    def update_cart(
        self, reference: str, update: CartUpdate, *, idempotency_key: str | None = None
    ) -> CartUpdateResult:
        """Replace the unshipped part of the order; answers with the new payment plan."""
        return self._send(
            _order_write(reference, "cart", "PUT", update, CartUpdateResult, idempotency_key)
        )

    def create_batch(
        self,
        batch: BatchFileUpload | BatchEntriesCreate,
        *,
        idempotency_key: str | None = None,
    ) -> BatchView:
        """Schedule a batch of payments, from a file or from entries."""
        return self._send(_create_batch(batch, idempotency_key))

    def get_batch(self, batch_id: str) -> BatchView:
        """The batch with this id."""
        return self._send(_Call("GET", _batch_path(batch_id), BatchView))

    def reschedule_batch(
        self, batch_id: str, processing_date: dt.date, *, idempotency_key: str | None = None
    ) -> BatchView:
        """Move a batch to another processing date, before its cutoff."""
        return self._send(_reschedule_batch(batch_id, processing_date, idempotency_key))

    def replace_batch_entries(
        self,
        batch_id: str,
        entries: Sequence[BatchEntryItem],
        *,
        idempotency_key: str | None = None,
    ) -> BatchView:
        """Replace all entries of a batch, before its cutoff."""
        return self._send(_replace_entries(batch_id, entries, idempotency_key))

    def delete_batch(self, batch_id: str, *, idempotency_key: str | None = None) -> BatchView:
        """Delete a batch before its cutoff; answers with the deleted batch."""
        return self._send(_delete_batch(batch_id, idempotency_key))

    def list_disbursements(
        self,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        currency: str | None = None,
    ) -> DisbursementList:
        """What was paid out per day, between `since` and `until` inclusive."""
        return self._send(_list_disbursements(since, until, currency))


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
        self._core = _Core(
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

    async def _send(self, call: _Call[M]) -> M:
        exchange = self._core.exchange(call)
        while True:
            request = exchange.next_request()
            outcome: M | _Wait | None = None
            with anyio.move_on_after(exchange.time_left()):
                try:
                    response = await self._http.send(request)
                except httpx.TransportError as exc:
                    outcome = exchange.failed(exc)
                else:
                    outcome = exchange.answered(response)
            if outcome is None:
                exchange.out_of_time()
            if not isinstance(outcome, _Wait):
                return outcome
            await self._sleep(outcome.seconds)

    async def create_order(
        self, order: OrderCreate, *, idempotency_key: str | None = None
    ) -> OrderView:
        """Create an order (checkout) and authorize its total."""
        return await self._send(_create_order(order, idempotency_key))

    async def get_order(self, reference: str) -> OrderView:
        """The order with this store reference, with its ledger and payment plan."""
        return await self._send(_get_order(reference))

    async def ship(
        self, reference: str, shipment: ShipmentCreate, *, idempotency_key: str | None = None
    ) -> ShipmentResult:
        """Record a shipment and capture its value."""
        return await self._send(
            _order_write(reference, "shipments", "POST", shipment, ShipmentResult, idempotency_key)
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
            _order_write(
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
            _order_write(reference, "returns", "POST", return_, ReturnResult, idempotency_key)
        )

    async def update_cart(
        self, reference: str, update: CartUpdate, *, idempotency_key: str | None = None
    ) -> CartUpdateResult:
        """Replace the unshipped part of the order; answers with the new payment plan."""
        return await self._send(
            _order_write(reference, "cart", "PUT", update, CartUpdateResult, idempotency_key)
        )

    async def create_batch(
        self,
        batch: BatchFileUpload | BatchEntriesCreate,
        *,
        idempotency_key: str | None = None,
    ) -> BatchView:
        """Schedule a batch of payments, from a file or from entries."""
        return await self._send(_create_batch(batch, idempotency_key))

    async def get_batch(self, batch_id: str) -> BatchView:
        """The batch with this id."""
        return await self._send(_Call("GET", _batch_path(batch_id), BatchView))

    async def reschedule_batch(
        self, batch_id: str, processing_date: dt.date, *, idempotency_key: str | None = None
    ) -> BatchView:
        """Move a batch to another processing date, before its cutoff."""
        return await self._send(_reschedule_batch(batch_id, processing_date, idempotency_key))

    async def replace_batch_entries(
        self,
        batch_id: str,
        entries: Sequence[BatchEntryItem],
        *,
        idempotency_key: str | None = None,
    ) -> BatchView:
        """Replace all entries of a batch, before its cutoff."""
        return await self._send(_replace_entries(batch_id, entries, idempotency_key))

    async def delete_batch(self, batch_id: str, *, idempotency_key: str | None = None) -> BatchView:
        """Delete a batch before its cutoff; answers with the deleted batch."""
        return await self._send(_delete_batch(batch_id, idempotency_key))

    async def list_disbursements(
        self,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        currency: str | None = None,
    ) -> DisbursementList:
        """What was paid out per day, between `since` and `until` inclusive."""
        return await self._send(_list_disbursements(since, until, currency))
