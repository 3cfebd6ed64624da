"""The core both back-end clients share: building each request, reading each answer and deciding
whether to retry happen here, in `Exchange`; a client only sends and sleeps.

It also holds the headers every request carries, the default timeouts, and the checks of a base
URL, token and merchant id that the clients and the connector's configuration both use.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, NoReturn, TypeVar

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
from passerelle.backend.retry import RetryPolicy
from passerelle.clock import Clock
from passerelle.redaction import redact_urls

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "IDEMPOTENCY_HEADER",
    "MERCHANT_HEADER",
    "USER_AGENT",
    "Call",
    "Core",
    "Exchange",
    "Wait",
    "base_url_problem",
    "merchant_problem",
    "printable_ascii",
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
class Call(Generic[M]):
    """One logical API call: what to send and what the answer is."""

    method: str
    path: str
    answer: type[M]
    body: BaseModel | None = None
    params: tuple[tuple[str, str], ...] = ()
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """The exchange's verdict on a failed attempt: retry after this many seconds."""

    seconds: float


def printable_ascii(text: str) -> bool:
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
    if not token or token != token.strip() or not printable_ascii(token):
        return "must be a non-empty printable ASCII string without spaces or line breaks"
    return None


def merchant_problem(merchant_id: str) -> str | None:
    """What makes `merchant_id` unfit for the merchant header (``must ...``), or None."""
    if not merchant_id.strip() or not printable_ascii(merchant_id):
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


class Core:
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

    def exchange(self, call: Call[M]) -> Exchange[M]:
        return Exchange(self, call)

    def request(
        self, call: Call[M], body: bytes | None, key: str | None, time_left: float
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


class Exchange(Generic[M]):
    """One logical call across its attempts: builds each request, judges each outcome.

    The client loop is: `next_request`, send it (for at most `time_left`), hand the answer to
    `answered` (or the transport error to `failed`, or `out_of_time` when the attempt was cut),
    and either return the result, sleep the `Wait` and loop, or let the raised error propagate.
    The total timeout starts when the exchange is made; a `Wait` is always shorter than the
    time left, so the next attempt starts before the deadline.
    """

    def __init__(self, core: Core, call: Call[M]) -> None:
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

    def answered(self, response: httpx.Response) -> M | Wait:
        request_id = response.headers.get(REQUEST_ID_HEADER)
        logger.debug("%s: HTTP %d, request id %s", self._what, response.status_code, request_id)
        if response.is_success:
            return self._parse(response, request_id)
        return self._retry_or_raise(error_for(response, secrets=self._core.secrets), None)

    def failed(self, exc: httpx.TransportError) -> Wait:
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

    def _retry_or_raise(self, error: BackendError, cause: BaseException | None) -> Wait:
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
        return Wait(wait)

    def _give_up(self, why: str, last: BackendError | None) -> NoReturn:
        message = redact(
            f"the payment back end did not answer within the total timeout of "
            f"{self._core.total_timeout:g} s ({self._what}, {_attempts(self.attempt)}); {why}",
            self._core.secrets,
        )
        logger.warning("%s", message)
        # The last error stays reachable as the cause: its Retry-After, its request id.
        raise APITimeoutError(message) from last
