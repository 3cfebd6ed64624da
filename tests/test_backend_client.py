"""The synchronous back-end client: requests, retries, idempotency, errors, redaction.

The scenario tables and helpers here are shared with `test_backend_client_async.py`, which runs
the same scenarios against `AsyncBackendClient`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle._version import __version__
from passerelle.backend.client import BackendClient
from passerelle.backend.errors import (
    ERROR_CLASSES,
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    BackendError,
    CardDeclinedError,
    ConflictError,
    IdempotencyKeyInUseError,
    InternalError,
    InternalServerError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    error_for,
)
from passerelle.backend.models import (
    BatchEntriesCreate,
    BatchEntryItem,
    BatchFileUpload,
    CancellationCreate,
    CartLineItem,
    CartUpdate,
    FieldError,
    LineQuantityItem,
    OrderCreate,
    ReturnCreate,
    ShipmentCreate,
)
from passerelle.backend.problems import PROBLEMS
from passerelle.backend.retry import (
    RetryPolicy,
    decorrelated_jitter,
    full_jitter,
    no_jitter,
    parse_retry_after,
)
from passerelle.clock import FixedClock
from passerelle.money import Money

BASE = "https://backend.test"
TOKEN = "sk_live_9d2b7c1e5a"
MERCHANT = "m_4711"
NOW = dt.datetime(2025, 3, 14, 12, 0, tzinfo=dt.UTC)
CARD = "4242 4242 4242 4242"

# With no jitter the waits are the plain capped backoff: 0.5, 1.0, 2.0, ...
POLICY = RetryPolicy(max_attempts=3, initial_delay=0.5, max_delay=8.0, jitter=no_jitter)


def cad(amount: str) -> Money:
    return Money.of(amount, "CAD")


def amount(minor: int) -> dict[str, Any]:
    return {"minor": minor, "currency": "CAD"}


def order_json(reference: str = "ORD-1", captured: int = 0) -> dict[str, Any]:
    return {
        "reference": reference,
        "currency": "CAD",
        "status": "open" if captured == 0 else "shipped",
        "lines": [
            {
                "reference": "L1",
                "name": "Mug",
                "type": "product",
                "unit_price": amount(1250),
                "ordered": 2,
                "shipped": 0 if captured == 0 else 2,
                "cancelled": 0,
                "returned": 0,
            }
        ],
        "authorized": amount(2500),
        "captured": amount(captured),
        "refunded": amount(0),
        "voided": amount(0),
        "payment_plan": None,
        "created_at": "2025-03-14T12:00:00Z",
    }


def plan_json() -> dict[str, Any]:
    return {
        "currency": "CAD",
        "balance": amount(2500),
        "installments": [{"due_date": "2025-04-14", "amount": amount(2500)}],
    }


def entry_json() -> dict[str, Any]:
    return {
        "direction": "credit",
        "amount": amount(150000),
        "payee": "Jo Tremblay",
        "account": "1234567",
        "institution": "001",
        "transit": "12345",
        "routing": None,
        "reference": None,
        "transaction_code": None,
        "profile": None,
    }


def batch_json(status: str = "scheduled") -> dict[str, Any]:
    return {
        "id": "B-7",
        "status": status,
        "processing_date": "2025-03-17",
        "cutoff_at": "2025-03-17T18:00:00Z",
        "originator": "ACME",
        "kind": "credit",
        "currency": "CAD",
        "entries": [entry_json()],
        "totals": {
            "credits": amount(150000),
            "credit_count": 1,
            "debits": amount(0),
            "debit_count": 0,
        },
    }


def problem_json(code: str, detail: str = "it went wrong", **extra: Any) -> dict[str, Any]:
    spec = PROBLEMS[code]
    return {
        "type": spec.type,
        "title": spec.title,
        "status": spec.status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem(
    code: str, detail: str = "it went wrong", *, headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    body = problem_json(code, detail, **extra)
    return httpx.Response(
        body["status"],
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/problem+json", **(headers or {})},
    )


SHIPPED = {"order": order_json(captured=2500), "captured": amount(2500)}


def ok(body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else order_json())


Outcome = Callable[[], httpx.Response]


def raising(exc: Exception) -> Outcome:
    def outcome() -> httpx.Response:
        raise exc

    return outcome


@dataclass(frozen=True)
class Failure:
    """A transient failure: what the back end (or the network) does, and the error it becomes."""

    outcome: Outcome
    error: type[BackendError]


RETRYABLE: dict[str, Failure] = {
    "408": Failure(lambda: httpx.Response(408), RequestTimeoutError),
    "409-in-progress": Failure(lambda: problem("idempotency_key_in_use"), IdempotencyKeyInUseError),
    "429": Failure(lambda: problem("rate_limited"), RateLimitedError),
    "500": Failure(lambda: problem("internal_error"), InternalError),
    "502": Failure(
        lambda: httpx.Response(502, text="<html>Bad Gateway</html>"), InternalServerError
    ),
    "503": Failure(lambda: problem("service_unavailable"), ServiceUnavailableError),
    "504": Failure(lambda: httpx.Response(504), InternalServerError),
    "connect-error": Failure(raising(httpx.ConnectError("connection refused")), APIConnectionError),
    "read-timeout": Failure(raising(httpx.ReadTimeout("timed out")), APITimeoutError),
    "dropped-connection": Failure(
        raising(httpx.RemoteProtocolError("Server disconnected without sending a response.")),
        APIConnectionError,
    ),
}

NOT_RETRYABLE = sorted(code for code, spec in PROBLEMS.items() if not spec.retryable)


def script(router: respx.MockRouter, *outcomes: Outcome | httpx.Response) -> respx.Route:
    """Answer successive requests (any method, any path) with `outcomes`, in order."""
    pending = list(outcomes)

    def answer(request: httpx.Request) -> httpx.Response:
        assert pending, f"unexpected extra request {request.method} {request.url}"
        nxt = pending.pop(0)
        return nxt if isinstance(nxt, httpx.Response) else nxt()

    return router.route().mock(side_effect=answer)


def keys(route: respx.Route) -> list[str | None]:
    return [call.request.headers.get("Idempotency-Key") for call in route.calls]


def shipment() -> ShipmentCreate:
    return ShipmentCreate(event_id="f1", lines=(LineQuantityItem(line="L1", quantity=2),))


def order_create() -> OrderCreate:
    return OrderCreate(
        reference="ORD-1",
        currency="CAD",
        lines=(CartLineItem(reference="L1", name="Mug", unit_price=cad("12.50"), quantity=2),),
    )


@dataclass(frozen=True)
class Endpoint:
    """One client method: how it is called and the HTTP request it must make."""

    method_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    http_method: str
    raw_path: str
    body: Any
    answer: dict[str, Any]
    query: str = ""


ENDPOINTS = [
    Endpoint(
        "create_order",
        (order_create(),),
        {},
        "POST",
        "/v1/orders",
        {
            "reference": "ORD-1",
            "currency": "CAD",
            "lines": [
                {
                    "reference": "L1",
                    "name": "Mug",
                    "type": "product",
                    "unit_price": amount(1250),
                    "quantity": 2,
                }
            ],
            "installments": None,
        },
        order_json(),
    ),
    Endpoint(
        "get_order", ("#1001/B",), {}, "GET", "/v1/orders/%231001%2FB", None, order_json("#1001/B")
    ),
    Endpoint(
        "ship",
        ("ORD-1", shipment()),
        {},
        "POST",
        "/v1/orders/ORD-1/shipments",
        {"event_id": "f1", "lines": [{"line": "L1", "quantity": 2}], "tracking": None},
        {"order": order_json(captured=2500), "captured": amount(2500)},
    ),
    Endpoint(
        "cancel",
        ("ORD-1", CancellationCreate(event_id="c1")),
        {},
        "POST",
        "/v1/orders/ORD-1/cancellations",
        {"event_id": "c1", "lines": None, "reason": "other"},
        {"order": order_json(), "released": amount(2500)},
    ),
    Endpoint(
        "refund",
        ("ORD-1", ReturnCreate(event_id="r1", refund=cad("5.00"), reason="damaged")),
        {},
        "POST",
        "/v1/orders/ORD-1/returns",
        {"event_id": "r1", "lines": [], "refund": amount(500), "reason": "damaged"},
        {"order": order_json(captured=2500), "refunded": amount(500)},
    ),
    Endpoint(
        "update_cart",
        (
            "ORD-1",
            CartUpdate(
                event_id="e1",
                cart=(
                    CartLineItem(reference="L1", name="Mug", unit_price=cad("12.50"), quantity=2),
                ),
            ),
        ),
        {},
        "PUT",
        "/v1/orders/ORD-1/cart",
        {
            "event_id": "e1",
            "cart": [
                {
                    "reference": "L1",
                    "name": "Mug",
                    "type": "product",
                    "unit_price": amount(1250),
                    "quantity": 2,
                }
            ],
        },
        {"order": order_json(), "payment_plan": plan_json()},
    ),
    Endpoint(
        "create_batch",
        (BatchFileUpload(file="A000000001...", format=None),),
        {},
        "POST",
        "/v1/batches",
        {"file": "A000000001...", "encoding": "text", "format": None, "processing_date": None},
        batch_json(),
    ),
    Endpoint(
        "create_batch",
        (
            BatchEntriesCreate.model_validate(
                {
                    "entries": [entry_json()],
                    "processing_date": "2025-03-17",
                    "originator": "ACME",
                    "kind": "credit",
                    "currency": "CAD",
                }
            ),
        ),
        {},
        "POST",
        "/v1/batches",
        {
            "entries": [entry_json()],
            "processing_date": "2025-03-17",
            "originator": "ACME",
            "kind": "credit",
            "currency": "CAD",
            "batch_id": None,
        },
        batch_json(),
    ),
    Endpoint("get_batch", ("B-7",), {}, "GET", "/v1/batches/B-7", None, batch_json()),
    Endpoint(
        "reschedule_batch",
        ("B-7", dt.date(2025, 3, 18)),
        {},
        "PATCH",
        "/v1/batches/B-7",
        {"processing_date": "2025-03-18"},
        batch_json(),
    ),
    Endpoint(
        "replace_batch_entries",
        ("B-7", [BatchEntryItem.model_validate(entry_json())]),
        {},
        "PUT",
        "/v1/batches/B-7/entries",
        {"entries": [entry_json()]},
        batch_json(),
    ),
    Endpoint(
        "delete_batch", ("B-7",), {}, "DELETE", "/v1/batches/B-7", None, batch_json("deleted")
    ),
    Endpoint(
        "list_disbursements",
        (),
        {"since": dt.date(2025, 3, 1), "until": dt.date(2025, 3, 31), "currency": "CAD"},
        "GET",
        "/v1/disbursements",
        None,
        {"disbursements": []},
        query="since=2025-03-01&until=2025-03-31&currency=CAD",
    ),
]


def endpoint_id(endpoint: Endpoint) -> str:
    return f"{endpoint.method_name}-{endpoint.http_method}"


def check_request(request: httpx.Request, endpoint: Endpoint) -> None:
    assert request.method == endpoint.http_method
    assert request.url.raw_path.decode().split("?")[0] == endpoint.raw_path
    assert request.url.query.decode() == endpoint.query
    assert request.url.host == "backend.test"
    if endpoint.body is None:
        assert request.content == b""
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content) == endpoint.body
    writes = endpoint.http_method != "GET"
    assert ("Idempotency-Key" in request.headers) is writes


def check_common_headers(request: httpx.Request) -> None:
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Passerelle-Merchant"] == MERCHANT
    assert request.headers["User-Agent"] == f"passerelle/{__version__}"
    assert request.headers["Accept"] == "application/json, application/problem+json"


# Fixtures


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def client(sleeps: list[float], clock: FixedClock) -> Iterator[BackendClient]:
    with BackendClient(BASE, TOKEN, MERCHANT, retry=POLICY, clock=clock, sleep=sleeps.append) as c:
        yield c


# Requests


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
def test_each_method_sends_its_request_and_parses_the_answer(
    client: BackendClient, router: respx.MockRouter, endpoint: Endpoint
) -> None:
    route = script(router, ok(endpoint.answer))
    result = getattr(client, endpoint.method_name)(*endpoint.args, **endpoint.kwargs)
    assert result.model_dump(mode="json") == type(result).model_validate(
        endpoint.answer
    ).model_dump(mode="json")
    check_request(route.calls.last.request, endpoint)
    check_common_headers(route.calls.last.request)


def test_money_in_answers_is_money(client: BackendClient, router: respx.MockRouter) -> None:
    script(router, ok({"order": order_json(captured=2500), "captured": amount(2500)}))
    result = client.ship("ORD-1", shipment())
    assert result.captured == cad("25.00")
    assert result.order.captured == cad("25.00")


def test_base_url_path_is_kept(router: respx.MockRouter) -> None:
    route = script(router, ok())
    with BackendClient(BASE + "/api/", TOKEN, MERCHANT) as c:
        c.get_order("ORD-1")
    assert route.calls.last.request.url == httpx.URL(BASE + "/api/v1/orders/ORD-1")


BAD_TOKEN = "token must be a non-empty printable ASCII string without spaces or line breaks"
BAD_MERCHANT = "merchant_id must be a non-empty printable ASCII string"
CREDENTIALS_IN_URL = "base_url must not carry a user name or password: the token authenticates"
BAD_CONFIGURATION = [
    ({"token": ""}, BAD_TOKEN),
    ({"token": "abc\n"}, BAD_TOKEN),
    ({"token": "sk_live_é9d2"}, BAD_TOKEN),
    ({"token": "sk_live_\u200b9d2"}, BAD_TOKEN),
    ({"merchant_id": " "}, BAD_MERCHANT),
    ({"merchant_id": "boutique-québec"}, BAD_MERCHANT),
    ({"base_url": "ftp://x"}, "base_url must be an http:// or https:// URL with a host"),
    ({"base_url": "https://user:pw@backend.test"}, CREDENTIALS_IN_URL),
    ({"base_url": "https://user@backend.test/api"}, CREDENTIALS_IN_URL),
]
"""Client arguments that are refused at construction, and the message (which never quotes the
token, to keep it out of logs)."""


def configuration(kwargs: dict[str, str]) -> tuple[str, str, str]:
    args = {"base_url": BASE, "token": TOKEN, "merchant_id": MERCHANT} | kwargs
    return args["base_url"], args["token"], args["merchant_id"]


@pytest.mark.parametrize(("kwargs", "message"), BAD_CONFIGURATION)
def test_bad_configuration_is_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        BackendClient(*configuration(kwargs))


def test_empty_reference_is_refused_before_sending(
    client: BackendClient, router: respx.MockRouter
) -> None:
    route = script(router)
    with pytest.raises(ValueError, match=r"^order reference must not be empty$"):
        client.get_order(" ")
    with pytest.raises(ValueError, match=r"^batch id must not be empty$"):
        client.delete_batch("")
    assert not route.called


def test_repr_shows_no_token() -> None:
    with BackendClient(BASE + "/", TOKEN, MERCHANT) as c:
        assert repr(c) == "BackendClient('https://backend.test', merchant_id='m_4711')"


def test_context_manager_closes_its_own_pool_but_not_a_given_one(router: respx.MockRouter) -> None:
    script(router, ok())
    given_pool = httpx.Client()
    with BackendClient(BASE, TOKEN, MERCHANT, http_client=given_pool) as c:
        c.get_order("ORD-1")
    assert not given_pool.is_closed
    given_pool.close()
    with BackendClient(BASE, TOKEN, MERCHANT) as own:
        pass
    with pytest.raises(RuntimeError, match="client has been closed"):
        own.get_order("ORD-1")


# Retries


@pytest.mark.parametrize("failure", RETRYABLE.values(), ids=RETRYABLE.keys())
def test_transient_failure_is_retried_then_succeeds(
    client: BackendClient, router: respx.MockRouter, sleeps: list[float], failure: Failure
) -> None:
    route = script(router, failure.outcome, ok(SHIPPED))
    assert client.ship("ORD-1", shipment()).captured == cad("25.00")
    assert route.call_count == 2
    assert sleeps == [0.5]


@pytest.mark.parametrize("failure", RETRYABLE.values(), ids=RETRYABLE.keys())
def test_gives_up_after_max_attempts_with_the_last_error(
    client: BackendClient, router: respx.MockRouter, sleeps: list[float], failure: Failure
) -> None:
    route = script(router, *[failure.outcome] * 3)
    with pytest.raises(BackendError) as info:
        client.ship("ORD-1", shipment())
    assert type(info.value) is failure.error
    assert info.value.retryable
    assert route.call_count == 3
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("code", NOT_RETRYABLE)
def test_permanent_problem_is_not_retried(
    client: BackendClient, router: respx.MockRouter, sleeps: list[float], code: str
) -> None:
    route = script(router, problem(code))
    with pytest.raises(ERROR_CLASSES[code]):
        client.ship("ORD-1", shipment())
    assert route.call_count == 1
    assert sleeps == []


def test_conflict_other_than_in_progress_is_not_retried(
    client: BackendClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    route = script(router, httpx.Response(409, json={"detail": "conflict"}))
    with pytest.raises(ConflictError):
        client.ship("ORD-1", shipment())
    assert (route.call_count, sleeps) == (1, [])


UNREADABLE = httpx.Response(200, json={"reference": "ORD-1"}, headers={"Request-Id": "req_9"})
"""A success answer that is not an `OrderView`."""


def test_unreadable_success_is_not_retried(client: BackendClient, router: respx.MockRouter) -> None:
    route = script(router, UNREADABLE)
    with pytest.raises(APIResponseValidationError) as info:
        client.get_order("ORD-1")
    check_unreadable(info, route)


def check_unreadable(
    info: pytest.ExceptionInfo[APIResponseValidationError], route: respx.Route
) -> None:
    assert route.call_count == 1
    assert (info.value.status, info.value.request_id) == (200, "req_9")
    assert str(info.value).startswith(
        "GET /v1/orders/ORD-1: the HTTP 200 answer is not a valid OrderView: "
    )
    assert str(info.value).endswith("[request id req_9]")
    assert not info.value.retryable


def test_one_retry_policy_attempt_means_no_retry(router: respx.MockRouter) -> None:
    route = script(router, problem("service_unavailable"))
    with (
        BackendClient(BASE, TOKEN, MERCHANT, retry=RetryPolicy(max_attempts=1)) as c,
        pytest.raises(ServiceUnavailableError),
    ):
        c.get_order("ORD-1")
    assert route.call_count == 1


# Retry-After


def test_retry_after_seconds_is_honoured(
    client: BackendClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    script(router, problem("rate_limited", headers={"Retry-After": "7"}), ok())
    client.get_order("ORD-1")
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured(
    client: BackendClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    when = format_datetime(NOW + dt.timedelta(seconds=12), usegmt=True)
    script(router, problem("service_unavailable", headers={"Retry-After": when}), ok())
    client.get_order("ORD-1")
    assert sleeps == [12.0]


def test_retry_after_is_capped(router: respx.MockRouter, sleeps: list[float]) -> None:
    script(router, problem("rate_limited", headers={"Retry-After": "3600"}), ok())
    policy = RetryPolicy(max_retry_after=30.0, jitter=no_jitter)
    with BackendClient(
        BASE, TOKEN, MERCHANT, retry=policy, sleep=sleeps.append, total_timeout=60.0
    ) as c:
        c.get_order("ORD-1")
    assert sleeps == [30.0]


def test_retry_after_in_the_past_retries_at_once(
    client: BackendClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    when = format_datetime(NOW - dt.timedelta(minutes=5), usegmt=True)
    script(router, problem("rate_limited", headers={"Retry-After": when}), ok())
    client.get_order("ORD-1")
    assert sleeps == [0.0]


def test_unreadable_retry_after_falls_back_to_backoff(
    client: BackendClient, router: respx.MockRouter, sleeps: list[float]
) -> None:
    script(router, problem("rate_limited", headers={"Retry-After": "soon"}), ok())
    client.get_order("ORD-1")
    assert sleeps == [0.5]


# Total timeout


class FakeTime:
    """A monotonic timer that moves only when the client sleeps or a fake back end works."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def slow_backend(
    time: FakeTime, takes: float, read_timeouts: list[float]
) -> Callable[[httpx.Request], httpx.Response]:
    """A back end that answers after `takes` seconds, behind a transport that honours the read
    timeout of each request (as httpx's does) by giving up when it passes first."""

    def outcome(request: httpx.Request) -> httpx.Response:
        limits = request.extensions["timeout"]
        read_timeouts.append(limits["read"])
        if limits["read"] < takes:
            time.now += limits["read"]
            raise httpx.ReadTimeout("timed out")
        time.now += takes
        return ok()

    return outcome


LONG_POLICY = RetryPolicy(max_attempts=10, initial_delay=0.5, max_delay=8.0, jitter=no_jitter)
BAD_SECONDS = [0, -1.0, float("nan"), float("inf")]
TIMEOUT_ARGUMENTS = ["timeout", "connect_timeout", "total_timeout"]


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def timed_options(
    fake_time: FakeTime, total: float, sleep: Callable[[float], Any], **options: Any
) -> dict[str, Any]:
    """Client options: a `total` timeout measured, and waits slept, on `fake_time`."""
    return {
        "retry": LONG_POLICY,
        "clock": FixedClock(NOW),
        **options,
        "total_timeout": total,
        "sleep": sleep,
        "timer": fake_time,
    }


def timed_client(fake_time: FakeTime, total: float, **options: Any) -> BackendClient:
    return BackendClient(
        BASE, TOKEN, MERCHANT, **timed_options(fake_time, total, fake_time.sleep, **options)
    )


def check_stopped_before_the_attempts_ran_out(
    info: pytest.ExceptionInfo[APITimeoutError], route: respx.Route, time: FakeTime
) -> None:
    """With a 2 s total timeout, waits of 0.5 and 1.0 fit; the next, 2.0, would end past it."""
    assert route.call_count == 3
    assert time.sleeps == [0.5, 1.0]
    assert str(info.value) == (
        "the payment back end did not answer within the total timeout of 2 s "
        "(POST /v1/orders/ORD-1/shipments, 3 attempts); waiting 2.00 s to retry would pass it "
        "(0.50 s left) after: POST /v1/orders/ORD-1/shipments: service_unavailable (HTTP 503): "
        "it went wrong"
    )
    assert isinstance(info.value.__cause__, ServiceUnavailableError)
    assert info.value.retryable


def check_gave_up_without_waiting(
    info: pytest.ExceptionInfo[APITimeoutError], route: respx.Route, time: FakeTime
) -> None:
    """A Retry-After of 30 s with 10 s left: no wait, and the 429 kept as the cause."""
    assert (route.call_count, time.sleeps, time.now) == (1, [], 100.0)
    assert "waiting 30.00 s to retry would pass it (10.00 s left)" in str(info.value)
    cause = info.value.__cause__
    assert isinstance(cause, RateLimitedError)
    assert cause.retry_after == "30"


def check_cut_at_the_deadline(
    info: pytest.ExceptionInfo[APITimeoutError],
    route: respx.Route,
    time: FakeTime,
    reads: list[float],
) -> None:
    """A 20 s answer, a 10 s read timeout, a 12 s total timeout: the first attempt times out
    on its own read timeout and is retried after 0.5 s; the second has only the 1.5 s left, and
    is cut at the deadline."""
    assert reads == [10.0, 1.5]
    assert time.sleeps == [0.5]
    assert time.now == 112.0
    assert all(limit <= 1.5 for limit in route.calls.last.request.extensions["timeout"].values())
    assert str(info.value) == (
        "the payment back end did not answer within the total timeout of 12 s "
        "(GET /v1/orders/ORD-1, 2 attempts); the last attempt ended in: the payment back end did "
        "not answer in time (GET /v1/orders/ORD-1): ReadTimeout: timed out"
    )


CONFIGURED_TIMEOUTS = {"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}
"""What each attempt of a client made with ``timeout=7.0, connect_timeout=2.0`` may wait."""
DEFAULT_TIMEOUTS = {"connect": 5.0, "read": 10.0, "write": 10.0, "pool": 10.0}


def timeout_message(argument: str, seconds: float) -> str:
    return f"^{argument} must be a positive, finite number of seconds, got {seconds!r}$"


def test_the_total_timeout_stops_retries_before_the_attempts_run_out(
    router: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = script(router, *[RETRYABLE["503"].outcome] * 3)
    with timed_client(fake_time, 2.0) as c, pytest.raises(APITimeoutError) as info:
        c.ship("ORD-1", shipment())
    check_stopped_before_the_attempts_ran_out(info, route, fake_time)


def test_a_retry_after_past_the_deadline_gives_up_without_waiting(
    router: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = script(router, problem("rate_limited", headers={"Retry-After": "30"}), ok())
    with timed_client(fake_time, 10.0) as c, pytest.raises(APITimeoutError) as info:
        c.get_order("ORD-1")
    check_gave_up_without_waiting(info, route, fake_time)


def test_a_retry_after_within_the_deadline_is_waited_for(
    router: respx.MockRouter, fake_time: FakeTime
) -> None:
    script(router, problem("rate_limited", headers={"Retry-After": "9"}), ok())
    with timed_client(fake_time, 10.0) as c:
        c.get_order("ORD-1")
    assert fake_time.sleeps == [9.0]


def test_a_slow_attempt_is_cut_at_the_deadline(
    router: respx.MockRouter, fake_time: FakeTime
) -> None:
    reads: list[float] = []
    route = router.route().mock(side_effect=slow_backend(fake_time, 20.0, reads))
    with timed_client(fake_time, 12.0, timeout=10.0) as c, pytest.raises(APITimeoutError) as info:
        c.get_order("ORD-1")
    check_cut_at_the_deadline(info, route, fake_time, reads)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """The URL of a server that accepts connections and reads requests but never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
        for connection in held:
            connection.close()


def test_an_attempt_still_running_at_the_deadline_is_cut(silent_server: str) -> None:
    started = time.monotonic()
    with (
        BackendClient(silent_server, TOKEN, MERCHANT, total_timeout=0.3) as c,
        pytest.raises(APITimeoutError) as info,
    ):
        c.get_order("ORD-1")
    # Its read is bounded by the time left, not by the 10 s read timeout.
    assert time.monotonic() - started < 2.0
    assert str(info.value) == (
        "the payment back end did not answer within the total timeout of 0.3 s "
        "(GET /v1/orders/ORD-1, 1 attempt); the last attempt ended in: the payment back end did "
        "not answer in time (GET /v1/orders/ORD-1): ReadTimeout: timed out"
    )


def test_an_attempt_that_fits_the_deadline_gets_the_configured_timeouts(
    router: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = script(router, ok())
    with timed_client(fake_time, 30.0, timeout=7.0, connect_timeout=2.0) as c:
        c.get_order("ORD-1")
    assert route.calls.last.request.extensions["timeout"] == CONFIGURED_TIMEOUTS


def test_the_default_timeouts(router: respx.MockRouter, fake_time: FakeTime) -> None:
    route = script(router, ok(), problem("rate_limited", headers={"Retry-After": "30"}))
    with BackendClient(BASE, TOKEN, MERCHANT, sleep=fake_time.sleep, timer=fake_time) as c:
        c.get_order("ORD-1")
        with pytest.raises(APITimeoutError, match=r"within the total timeout of 30 s "):
            c.get_order("ORD-1")
    assert route.calls[0].request.extensions["timeout"] == DEFAULT_TIMEOUTS


@pytest.mark.parametrize("argument", TIMEOUT_ARGUMENTS)
@pytest.mark.parametrize("seconds", BAD_SECONDS)
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_refused(
    argument: str, seconds: float
) -> None:
    with pytest.raises(ValueError, match=timeout_message(argument, seconds)):
        BackendClient(BASE, TOKEN, MERCHANT, **{argument: seconds})


def throttled_scenarios(test: Callable[[float, list[int], float], None]) -> Callable[..., None]:
    """Draws for `Throttle`: a total timeout, each answer's Retry-After, each answer's cost."""
    drawn = given(
        total=st.floats(min_value=0.5, max_value=30.0),
        asked=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=8),
        cost=st.floats(min_value=0.0, max_value=3.0),
    )(test)
    return settings(max_examples=50, deadline=None)(drawn)


@throttled_scenarios
def test_no_wait_ever_outlasts_the_time_left(total: float, asked: list[int], cost: float) -> None:
    throttle = Throttle(total, asked, cost)
    with (
        respx.mock() as mock,
        BackendClient(BASE, TOKEN, MERCHANT, **throttle.options(throttle.sleep)) as c,
    ):
        mock.route().mock(side_effect=throttle.answer)
        with pytest.raises((APITimeoutError, RateLimitedError)):
            c.get_order("ORD-1")
    throttle.check()


class Throttle:
    """A back end answering 429 with each of `asked` as Retry-After, each answer costing `cost`
    seconds, for a client with a `total` timeout: no wait may outlast the time left."""

    def __init__(self, total: float, asked: list[int], cost: float) -> None:
        self.time = FakeTime()
        self.start = self.time.now
        self.total = total
        self.asked = list(asked)
        self.cost = cost
        self.waited: list[tuple[float, float]] = []
        self.policy = RetryPolicy(max_attempts=len(asked), jitter=no_jitter)

    def options(self, sleep: Callable[[float], Any]) -> dict[str, Any]:
        return {
            "retry": self.policy,
            "total_timeout": self.total,
            "sleep": sleep,
            "timer": self.time,
        }

    def sleep(self, seconds: float) -> None:
        self.waited.append((seconds, self.start + self.total - self.time.now))
        self.time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.time.now += self.cost
        return problem("rate_limited", headers={"Retry-After": str(self.asked.pop(0))})

    def check(self) -> None:
        assert all(seconds < left for seconds, left in self.waited)
        # Only the attempt in flight at the deadline may end past it (by its own cost here).
        assert self.time.now - self.start <= self.total + self.cost


# Idempotency keys


def test_one_idempotency_key_across_all_retries(
    client: BackendClient, router: respx.MockRouter
) -> None:
    route = script(
        router,
        RETRYABLE["connect-error"].outcome,
        RETRYABLE["503"].outcome,
        ok({"order": order_json(captured=2500), "captured": amount(2500)}),
    )
    client.ship("ORD-1", shipment())
    sent = keys(route)
    assert len(sent) == 3
    assert sent[0]
    assert len(set(sent)) == 1
    assert len({call.request.content for call in route.calls}) == 1


def test_each_logical_call_gets_its_own_key(
    client: BackendClient, router: respx.MockRouter
) -> None:
    answer = {"order": order_json(captured=2500), "captured": amount(2500)}
    route = script(router, ok(answer), ok(answer))
    client.ship("ORD-1", shipment())
    client.ship("ORD-1", shipment())
    first, second = keys(route)
    assert first
    assert second
    assert first != second


def test_caller_key_is_used_on_every_attempt(
    client: BackendClient, router: respx.MockRouter
) -> None:
    route = script(router, RETRYABLE["read-timeout"].outcome, RETRYABLE["429"].outcome, ok())
    client.create_order(order_create(), idempotency_key="pse1_abc123")
    assert keys(route) == ["pse1_abc123"] * 3


def test_reads_carry_no_key(client: BackendClient, router: respx.MockRouter) -> None:
    route = script(router, RETRYABLE["500"].outcome, ok())
    client.get_order("ORD-1")
    assert keys(route) == [None, None]


@pytest.mark.parametrize("key", ["", "clé", "a\nb", "x" * 256])
def test_bad_caller_key_is_refused(client: BackendClient, key: str) -> None:
    with pytest.raises(
        ValueError, match=r"^idempotency_key must be 1 to 255 printable ASCII characters$"
    ):
        client.create_order(order_create(), idempotency_key=key)


# Errors


@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_every_problem_code_maps_to_its_class(code: str) -> None:
    error = error_for(problem(code, headers={"Request-Id": "req_1"}))
    cls = ERROR_CLASSES[code]
    assert type(error) is cls
    assert cls.problem_code == code
    assert (error.status, error.code, error.detail, error.request_id) == (
        PROBLEMS[code].status,
        code,
        "it went wrong",
        "req_1",
    )
    assert error.retryable is PROBLEMS[code].retryable
    assert error.problem is not None
    assert error.problem.code == code
    assert error.explanation is not None
    assert error.explanation.startswith(f"{code}: ")


def test_error_classes_cover_the_registry_and_subclass_their_status() -> None:
    assert set(ERROR_CLASSES) == set(PROBLEMS)
    status_class = {
        400: "BadRequestError",
        401: "AuthenticationError",
        402: "PaymentRequiredError",
        403: "PermissionDeniedError",
        404: "NotFoundError",
        405: "APIStatusError",
        409: "ConflictError",
        422: "UnprocessableEntityError",
        429: "RateLimitError",
        500: "InternalServerError",
        503: "InternalServerError",
    }
    for code, cls in ERROR_CLASSES.items():
        assert cls.__mro__[1].__name__ == status_class[PROBLEMS[code].status], code


def test_card_declined_carries_the_processor_message_id() -> None:
    error = error_for(
        problem("card_declined", "DECLINE", processor_message_id=7, decline_code="declined")
    )
    assert isinstance(error, CardDeclinedError)
    assert (error.processor_message_id, error.decline_code) == (7, "declined")
    assert error.decline is not None
    assert error.decline.message_id == 7
    assert str(error) == "card_declined (HTTP 402): DECLINE"


def test_error_message_names_code_detail_and_request_id() -> None:
    error = error_for(
        problem(
            "refund_exceeds_captured",
            "refund of 50.00 CAD exceeds the 40.00 CAD captured and not refunded",
            headers={"Request-Id": "req_42"},
        )
    )
    assert str(error) == (
        "refund_exceeds_captured (HTTP 409): refund of 50.00 CAD exceeds the 40.00 CAD captured "
        "and not refunded [request id req_42]"
    )


def test_request_id_from_the_problem_body_when_no_header() -> None:
    error = error_for(problem("unknown_order", "no order ORD-9", request_id="req_body"))
    assert error.request_id == "req_body"
    assert str(error).endswith("[request id req_body]")


def test_unknown_code_falls_back_to_the_status_class() -> None:
    body = problem_json("order_exists") | {"code": "order_locked", "title": "Locked"}
    error = error_for(httpx.Response(409, json=body))
    assert type(error) is ConflictError
    assert error.code == "order_locked"
    assert error.explanation is None


def test_known_code_with_another_status_falls_back_to_the_status_class() -> None:
    body = problem_json("refund_exceeds_captured") | {"status": 422}
    error = error_for(httpx.Response(422, json=body))
    assert type(error) is UnprocessableEntityError
    assert error.code == "refund_exceeds_captured"


def test_non_json_error_body_gives_a_status_error_with_the_text() -> None:
    error = error_for(
        httpx.Response(
            502,
            text="<html>\n  <body>Bad Gateway</body>\n</html>",
            headers={"Content-Type": "text/html", "Request-Id": "req_gw"},
        )
    )
    assert type(error) is InternalServerError
    assert (error.code, error.problem) == (None, None)
    assert error.detail == "<html> <body>Bad Gateway</body> </html>"
    assert str(error) == "HTTP 502: <html> <body>Bad Gateway</body> </html> [request id req_gw]"


def test_json_error_that_is_not_a_problem_keeps_its_detail() -> None:
    error = error_for(httpx.Response(404, json={"detail": "Not Found"}))
    assert type(error) is NotFoundError
    assert str(error) == "HTTP 404: Not Found"


def test_empty_error_body_uses_the_reason_phrase() -> None:
    error = error_for(httpx.Response(418))
    assert type(error) is APIStatusError
    assert str(error) == "HTTP 418: I'm a Teapot"


def test_long_error_body_is_shortened() -> None:
    error = error_for(httpx.Response(500, text="x" * 1000))
    assert error.detail is not None
    assert len(error.detail) == 300
    assert error.detail.endswith("…")


def test_connection_error_message_names_the_call(
    client: BackendClient, router: respx.MockRouter
) -> None:
    script(router, *[RETRYABLE["dropped-connection"].outcome] * 3)
    with pytest.raises(APIConnectionError) as info:
        client.ship("ORD-1", shipment())
    assert str(info.value) == (
        "no answer from the payment back end (POST /v1/orders/ORD-1/shipments): "
        "RemoteProtocolError: Server disconnected without sending a response."
    )
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


def test_protocol_misconfiguration_is_not_retried(
    client: BackendClient, router: respx.MockRouter
) -> None:
    route = script(
        router, raising(httpx.UnsupportedProtocol("Request URL has an unsupported protocol"))
    )
    with pytest.raises(APIConnectionError) as info:
        client.get_order("ORD-1")
    assert not info.value.retryable
    assert route.call_count == 1


# Secrets and card numbers


def test_token_and_card_numbers_never_reach_logs_or_errors(
    client: BackendClient, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    script_echoes_of_secrets(router)
    with pytest.raises(UnprocessableEntityError) as info:
        client.ship("ORD-1", shipment())
    check_redacted(info, caplog)


def script_echoes_of_secrets(router: respx.MockRouter) -> None:
    """A back end echoing the token and a card number: in a 503, a connection error, a 422."""
    echo = f"token {TOKEN} and card {CARD} are not welcome"
    script(
        router,
        problem("service_unavailable", echo),
        raising(httpx.ConnectError(f"refused for {TOKEN}")),
        problem("validation_failed", echo, headers={"Request-Id": "req_7"}),
    )


def check_redacted(
    info: pytest.ExceptionInfo[UnprocessableEntityError], caplog: pytest.LogCaptureFixture
) -> None:
    assert str(info.value) == (
        "validation_failed (HTTP 422): token [redacted] and card [redacted card number] are not "
        "welcome [request id req_7]"
    )
    assert info.value.problem is not None
    assert TOKEN not in str(info.value.problem)
    assert caplog.records, "the client logs its attempts"
    assert TOKEN not in caplog.text
    assert CARD not in caplog.text
    assert CARD.replace(" ", "") not in caplog.text
    assert (
        "POST /v1/orders/ORD-1/shipments: service_unavailable (HTTP 503): token [redacted] and "
        "card [redacted card number] are not welcome; retrying in 0.50 s (attempt 2 of 3)"
    ) in caplog.messages
    assert (
        "no answer from the payment back end (POST /v1/orders/ORD-1/shipments): ConnectError: "
        "refused for [redacted]; retrying in 1.00 s (attempt 3 of 3)"
    ) in caplog.messages


def test_card_numbers_and_the_token_are_redacted_from_every_text_of_a_problem() -> None:
    echo = f"{CARD} / {TOKEN}"
    body = problem_json(
        "validation_failed",
        f"bad card {CARD}",
        title=f"Refused {CARD}",
        instance=f"/v1/orders/{CARD.replace(' ', '')}/returns",
        errors=[{"field": f"lines.{CARD}", "message": f"echoed {echo}"}],
    )
    error = error_for(httpx.Response(422, json=body), secrets=[TOKEN])

    assert error.problem is not None
    text = error.problem.model_dump_json()
    assert CARD not in text
    assert CARD.replace(" ", "") not in text
    assert TOKEN not in text
    assert error.problem.title == "Refused [redacted card number]"
    assert error.problem.instance == "/v1/orders/[redacted card number]/returns"
    assert error.problem.errors == (
        FieldError(
            field="lines.[redacted card number]",
            message="echoed [redacted card number] / [redacted]",
        ),
    )


def test_card_number_in_a_reference_is_not_logged(
    client: BackendClient, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="passerelle.backend")
    script(router, RETRYABLE["500"].outcome, ok(order_json("4242424242424242")))
    client.get_order("4242424242424242")
    assert "4242424242424242" not in caplog.text
    assert "GET /v1/orders/[redacted card number]: attempt 2 of 3" in caplog.text


# Retry policy


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=4.0, jitter=no_jitter)
    assert [policy.backoff(n, 0.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def retried_sleeps(router: respx.MockRouter, policy: RetryPolicy, failures: int) -> list[float]:
    """The waits of a client with `policy` through `failures` 503s and then a success."""
    sleeps: list[float] = []
    script(router, *[problem("service_unavailable")] * failures, ok())
    with BackendClient(BASE, TOKEN, MERCHANT, retry=policy, sleep=sleeps.append) as c:
        c.get_order("ORD-1")
    return sleeps


def test_backoff_stays_at_the_cap_however_many_retries() -> None:
    # A dispatcher may allow thousands of attempts: the exponent outgrows a float long before.
    policy = RetryPolicy(max_attempts=10_000, initial_delay=0.5, max_delay=60.0, jitter=no_jitter)
    assert [policy.backoff(n, 1.0) for n in (1, 1_100, 9_999)] == [0.5, 60.0, 60.0]


def test_the_client_sleeps_what_the_jitter_draws(router: respx.MockRouter) -> None:
    drawn: list[dict[str, float]] = []

    def pinned(*, base: float, ceiling: float, previous: float) -> float:
        drawn.append({"base": base, "ceiling": ceiling, "previous": previous})
        return 0.123 * len(drawn)

    policy = RetryPolicy(max_attempts=3, initial_delay=0.5, max_delay=8.0, jitter=pinned)

    assert retried_sleeps(router, policy, 2) == [0.123, 0.246]
    assert drawn == [
        {"base": 0.5, "ceiling": 0.5, "previous": 0.5},
        {"base": 0.5, "ceiling": 1.0, "previous": 0.123},
    ]


def test_the_client_never_sleeps_past_max_delay(router: respx.MockRouter) -> None:
    doubling = RetryPolicy(max_attempts=6, initial_delay=0.5, max_delay=1.5, jitter=no_jitter)
    too_long = RetryPolicy(
        max_attempts=3, initial_delay=0.5, max_delay=2.0, jitter=lambda **_: 60.0
    )

    assert retried_sleeps(router, doubling, 5) == [0.5, 1.0, 1.5, 1.5, 1.5]
    assert retried_sleeps(router, too_long, 2) == [2.0, 2.0]


@settings(max_examples=50)
@given(retry=st.integers(min_value=1, max_value=30))
def test_full_jitter_stays_under_the_ceiling(retry: int) -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0, jitter=full_jitter)
    ceiling = min(8.0, 0.5 * 2 ** (retry - 1))
    assert 0.0 <= policy.backoff(retry, 0.0) <= ceiling


@settings(max_examples=50)
@given(previous=st.floats(min_value=0.5, max_value=100.0))
def test_decorrelated_jitter_grows_from_the_previous_wait(previous: float) -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0, jitter=decorrelated_jitter)
    assert 0.5 <= policy.backoff(3, previous) <= min(8.0, previous * 3)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        ("Fri, 14 Mar 2025 12:01:00 GMT", 60.0),
        ("Fri, 14 Mar 2025 11:00:00 GMT", 0.0),
        ("tomorrow", None),
        ("-3", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be at least 1, got 0"),
        ({"initial_delay": -1.0}, "initial_delay must not be negative, got -1.0"),
        ({"multiplier": 0.5}, "multiplier must be at least 1, got 0.5"),
    ],
)
def test_retry_policy_refuses_nonsense(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        RetryPolicy(**kwargs)
