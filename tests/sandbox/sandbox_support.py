"""What the sandbox tests share: credentials, the start time, requests, and `Api` over both
clients."""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx

from passerelle.backend.client import AsyncBackendClient, BackendClient
from passerelle.backend.errors import ERROR_CLASSES
from passerelle.backend.models import (
    BatchEntriesCreate,
    BatchEntryItem,
    CartLineItem,
    LineQuantityItem,
    OrderCreate,
    Problem,
)
from passerelle.backend.problems import PROBLEM_CONTENT_TYPE, PROBLEMS
from passerelle.backend.retry import RetryPolicy
from passerelle.batches import BatchKind, Direction
from passerelle.events import LineType
from passerelle.money import Money
from passerelle.sandbox import DEFAULT_MERCHANT, DEFAULT_TOKEN, SandboxConfig

VANCOUVER = ZoneInfo("America/Vancouver")
START = dt.datetime(2030, 3, 14, 9, 30, tzinfo=VANCOUVER)
"""The sandbox clock at the start of each test: a Thursday morning before the batch cutoff."""

OTHER_TOKEN = "sk_test_other"
OTHER_MERCHANT = "other-shop"
ADMIN_TOKEN = "sk_test_admin"

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Passerelle-Merchant": DEFAULT_MERCHANT}
"""Headers of the demo merchant, for raw requests."""

FAST_RETRY = RetryPolicy(max_attempts=5, initial_delay=0.01, max_delay=0.05)

Api = Callable[..., Coroutine[Any, Any, Any]]
"""``await api("ship", "A-1", shipment)``: calls a client method, sync or async alike."""


# Requests


def cad(amount: str) -> Money:
    return Money.of(amount, "CAD")


SHIPPING = CartLineItem(
    reference="shipping",
    name="Shipping",
    type=LineType.HANDLING,
    unit_price=cad("7.50"),
    quantity=1,
)
"""7.50 CAD of shipping: something to pay and nothing to ship."""


def cart_lines(*, shirts: int = 2, mugs: int = 1) -> tuple[CartLineItem, ...]:
    """Shirts at 25.00, mugs at 12.50 and `SHIPPING`."""
    return (
        CartLineItem(reference="shirt", name="Shirt", unit_price=cad("25.00"), quantity=shirts),
        CartLineItem(reference="mug", name="Mug", unit_price=cad("12.50"), quantity=mugs),
        SHIPPING,
    )


def new_order(reference: str = "A-100", *, installments: int | None = None) -> OrderCreate:
    """Two shirts at 25.00, a mug at 12.50 and 7.50 of shipping: 70.00 CAD."""
    return OrderCreate(
        reference=reference, currency="CAD", installments=installments, lines=cart_lines()
    )


def units(**quantities: int) -> tuple[LineQuantityItem, ...]:
    return tuple(LineQuantityItem(line=line, quantity=q) for line, q in quantities.items())


def entry(
    amount: str, *, direction: Direction = Direction.CREDIT, payee: str = "Ada"
) -> BatchEntryItem:
    return BatchEntryItem(
        direction=direction,
        amount=cad(amount),
        payee=payee,
        account="1234567",
        institution="001",
        transit="12345",
    )


def entries_batch(
    day: dt.date = dt.date(2030, 3, 15), batch_id: str = "payroll-11"
) -> BatchEntriesCreate:
    return BatchEntriesCreate(
        batch_id=batch_id,
        originator="Acme Payroll",
        kind=BatchKind.CREDIT,
        currency="CAD",
        processing_date=day,
        entries=(entry("1200.00"), entry("950.50", payee="Grace")),
    )


def sandbox_config(db: Path) -> SandboxConfig:
    return SandboxConfig(
        tokens={DEFAULT_TOKEN: DEFAULT_MERCHANT, OTHER_TOKEN: OTHER_MERCHANT},
        db=db,
        admin_token=ADMIN_TOKEN,
    )


def check_registered(response: httpx.Response) -> None:
    """Fail unless a problem answer's code is registered, with its status, type and title, and a
    client class for it (every registered code is explained: see test_problems.py)."""
    if response.headers.get("content-type") != PROBLEM_CONTENT_TYPE:
        return
    response.read()
    check_problem_body(response.content)


def check_problem_body(body: bytes) -> None:
    problem = Problem.model_validate_json(body)
    spec = PROBLEMS.get(problem.code)
    assert spec is not None, f"unregistered problem code {problem.code!r}"
    assert (problem.status, problem.type, problem.title) == (spec.status, spec.type, spec.title)
    assert ERROR_CLASSES[problem.code].problem_code == problem.code


async def acheck_registered(response: httpx.Response) -> None:
    await response.aread()
    check_registered(response)


class Answers(list[httpx.Response]):
    """Every answer a client got, body read: for what the client's results do not show (bytes,
    headers)."""

    def record(self, response: httpx.Response) -> None:
        response.read()
        self.append(response)

    async def arecord(self, response: httpx.Response) -> None:
        await response.aread()
        self.append(response)


class Sleeps(list[float]):
    """The waits a client asked for, recorded instead of slept."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.append(seconds)


class RealSleeps(Sleeps):
    """The waits a client asked for, recorded and slept."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        self.append(seconds)
        await anyio.sleep(seconds)


@asynccontextmanager
async def open_api(
    flavour: str,
    url: str,
    sleeps: Sleeps,
    *,
    token: str = DEFAULT_TOKEN,
    merchant: str = DEFAULT_MERCHANT,
    answers: Answers | None = None,
    **options: Any,
) -> AsyncIterator[Api]:
    """`Api` over a sync or an async client of `url`, retrying fast and recording its waits (and
    every answer, in `answers`)."""
    options.setdefault("retry", FAST_RETRY)
    if flavour == "sync":
        hooks = {"response": [check_registered]}
        if answers is not None:
            hooks["response"].append(answers.record)
        with (
            httpx.Client(event_hooks=hooks) as http,
            BackendClient(
                url, token, merchant, sleep=sleeps, http_client=http, **options
            ) as client,
        ):

            async def call_sync(method: str, *args: Any, **kwargs: Any) -> Any:
                bound = functools.partial(getattr(client, method), *args, **kwargs)
                return await anyio.to_thread.run_sync(bound)

            yield call_sync
    else:
        ahooks = {"response": [acheck_registered]}
        if answers is not None:
            ahooks["response"].append(answers.arecord)
        async with (
            httpx.AsyncClient(event_hooks=ahooks) as ahttp,
            AsyncBackendClient(
                url, token, merchant, sleep=sleeps.asleep, http_client=ahttp, **options
            ) as aclient,
        ):

            async def call_async(method: str, *args: Any, **kwargs: Any) -> Any:
                return await getattr(aclient, method)(*args, **kwargs)

            yield call_async


def order_json(reference: str = "A-100") -> dict[str, Any]:
    return new_order(reference).model_dump(mode="json")


def problem_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body
