"""What the sandbox tests share: credentials, the start time, and `Api` over both clients."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx

from passerelle.backend.client import AsyncBackendClient, BackendClient
from passerelle.backend.retry import RetryPolicy
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


def sandbox_config(db: Path) -> SandboxConfig:
    return SandboxConfig(
        tokens={DEFAULT_TOKEN: DEFAULT_MERCHANT, OTHER_TOKEN: OTHER_MERCHANT},
        db=db,
        admin_token=ADMIN_TOKEN,
    )


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
        hooks = {"response": [answers.record]} if answers is not None else {}
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
        ahooks = {"response": [answers.arecord]} if answers is not None else {}
        async with (
            httpx.AsyncClient(event_hooks=ahooks) as ahttp,
            AsyncBackendClient(
                url, token, merchant, sleep=sleeps.asleep, http_client=ahttp, **options
            ) as aclient,
        ):

            async def call_async(method: str, *args: Any, **kwargs: Any) -> Any:
                return await getattr(aclient, method)(*args, **kwargs)

            yield call_async
