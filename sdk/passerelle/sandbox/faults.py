"""Fault injection: what a real payment back end does on a bad day, on demand and repeatable.

Off by default. Each request under ``/v1/`` draws at most one fault from a random generator seeded
with `Faults.seed`, so the same seed and the same sequence of requests give the same faults:

- ``server_error``: 500 ``internal_error``, before anything changes;
- ``throttle``: 429 ``rate_limited`` with ``Retry-After``, before anything changes;
- ``drop``: the connection is closed without a response, before anything changes;
- ``lost_response``: the request is carried out (state changed, idempotent response stored),
  then the connection is closed without a response: the case idempotency keys exist for.

`Faults.latency_ms` delays every request: reads before they run, writes while they run (after
their idempotency key is claimed, so a concurrent retry with the same key meets
``idempotency_key_in_use``). `Faults.limit` caps how many faults are injected in all, which makes
"the first two attempts fail" a one-line setup.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DROP_CONNECTION",
    "ConnectionDropped",
    "FaultInjector",
    "FaultMiddleware",
    "FaultMode",
    "Faults",
]

DROP_CONNECTION = "passerelle.sandbox.drop_connection"
"""Key of the scope ``state`` entry, set by the sandbox's server, that closes the connection."""

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FaultMode(StrEnum):
    SERVER_ERROR = "server_error"
    THROTTLE = "throttle"
    DROP = "drop"
    LOST_RESPONSE = "lost_response"


class Faults(BaseModel):
    """How often each fault happens (rates are probabilities per request; they sum to at most 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: int = Field(default=0, ge=0, le=60_000)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    throttle_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    retry_after: int = Field(default=1, ge=0, le=3600, description="Retry-After of a 429, seconds")
    drop_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    lost_response_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    seed: int | None = Field(default=None, description="seed of the draws; none: unpredictable")
    limit: int | None = Field(default=None, ge=0, description="inject at most this many faults")

    @model_validator(mode="after")
    def _rates_fit(self) -> Self:
        total = self.error_rate + self.throttle_rate + self.drop_rate + self.lost_response_rate
        if total > 1.0:
            raise ValueError(f"the fault rates add up to {total:g}, more than 1")
        return self

    @property
    def enabled(self) -> bool:
        rates = (self.error_rate, self.throttle_rate, self.drop_rate, self.lost_response_rate)
        return self.latency_ms > 0 or any(rate > 0 for rate in rates)


class FaultInjector:
    """Draws the fault of each request from the current `Faults`; thread-safe."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()
        self._random = random.Random()  # noqa: S311 - simulated faults, not security
        self._injected = 0
        self.configure(faults or Faults())

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    @property
    def injected(self) -> int:
        """How many faults were injected since the last `configure`."""
        with self._lock:
            return self._injected

    def configure(self, faults: Faults) -> None:
        """Use `faults` from now on; the draws start again from its seed."""
        with self._lock:
            self._faults = faults
            self._random = random.Random(faults.seed)  # noqa: S311
            self._injected = 0

    def draw(self) -> FaultMode | None:
        """The fault for the next request, or None."""
        with self._lock:
            f = self._faults
            if f.limit is not None and self._injected >= f.limit:
                return None
            thresholds = (
                (f.error_rate, FaultMode.SERVER_ERROR),
                (f.throttle_rate, FaultMode.THROTTLE),
                (f.drop_rate, FaultMode.DROP),
                (f.lost_response_rate, FaultMode.LOST_RESPONSE),
            )
            if all(rate == 0 for rate, _ in thresholds):
                return None
            point = self._random.random()
            for rate, mode in thresholds:
                if point < rate:
                    self._injected += 1
                    return mode
                point -= rate
            return None


class ConnectionDropped(Exception):  # noqa: N818 - it names the event, like ConnectionReset
    """Raised to drop a connection when the server offers no way to close it quietly."""


ResponseFactory = Callable[[FaultMode, Faults, Scope], tuple[int, list[tuple[bytes, bytes]], bytes]]


class FaultMiddleware:
    """ASGI middleware injecting the faults an `FaultInjector` draws into ``/v1/`` requests.

    `respond(mode, faults, scope)` builds the status, headers and body of a ``server_error`` or
    ``throttle`` answer. Dropping a connection needs the sandbox's server (see `DROP_CONNECTION`);
    elsewhere it raises `ConnectionDropped`, which most servers turn into a 500.
    """

    def __init__(self, app: ASGIApp, injector: FaultInjector, respond: ResponseFactory) -> None:
        self.app = app
        self.injector = injector
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        faults = self.injector.faults
        if faults.latency_ms and scope["method"] not in _WRITE_METHODS:
            await asyncio.sleep(faults.latency_ms / 1000)
        mode = self.injector.draw()
        if mode is None:
            await self.app(scope, receive, send)
        elif mode in (FaultMode.SERVER_ERROR, FaultMode.THROTTLE):
            await _drain(receive)
            status, headers, body = self.respond(mode, faults, scope)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
        elif mode is FaultMode.DROP:
            await _drain(receive)
            await _drop(scope, receive)
        else:
            await self.app(scope, receive, _swallow)
            await _drop(scope, receive)


async def _drain(receive: Receive) -> None:
    """Read the request body to its end, so closing the socket is a clean close."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _swallow(message: Message) -> None:
    return None


async def _drop(scope: Scope, receive: Receive) -> None:
    close = scope.get("state", {}).get(DROP_CONNECTION)
    if close is None:
        raise ConnectionDropped("connection dropped by fault injection")
    close()
    # The server notices the closed socket on its next turn and reports the disconnect; returning
    # before that would make it answer "ASGI callable returned without starting response" (500).
    while (await receive())["type"] != "http.disconnect":
        pass
