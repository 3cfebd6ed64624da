"""The back-end client's exceptions: a tree that mirrors HTTP, one class per problem code.

::

    BackendError
    ├── APIConnectionError            the back end could not be reached, or dropped the connection
    │   └── APITimeoutError
    ├── APIResponseValidationError    a 2xx answer that does not match the contract
    └── APIStatusError                an error answer (status, code, detail, request_id, problem)
        ├── BadRequestError (400)         └── IdempotencyKeyMissingError
        ├── AuthenticationError (401)     └── UnauthorizedError
        ├── PaymentRequiredError (402)    └── CardDeclinedError
        ├── PermissionDeniedError (403)   └── ForbiddenError
        ├── NotFoundError (404)           └── UnknownOrderError, UnknownBatchError, UnknownPathError
        ├── MethodNotAllowedError (405)
        ├── RequestTimeoutError (408)
        ├── ConflictError (409)           └── OrderExistsError, BatchExistsError, ...
        ├── UnprocessableEntityError (422) └── ValidationFailedError, UnknownLineError, ...
        ├── RateLimitError (429)          └── RateLimitedError
        └── InternalServerError (5xx)     └── InternalError, ServiceUnavailableError

Each problem code of `passerelle.backend.problems.PROBLEMS` has its class in `ERROR_CLASSES`,
named after the code (``refund_exceeds_captured`` is `RefundExceedsCapturedError`), except
``currency_mismatch``: `OrderCurrencyMismatchError`, so as not to shadow
`passerelle.money.CurrencyMismatchError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, ClassVar

import httpx
from pydantic import ValidationError

from passerelle.backend.models import Problem
from passerelle.backend.problems import DECLINES, PROBLEMS, Decline, explain
from passerelle.codes import is_transient_status

__all__ = [
    "ERROR_CLASSES",
    "REQUEST_ID_HEADER",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BackendError",
    "BadRequestError",
    "BatchDeletedError",
    "BatchExistsError",
    "BatchPastCutoffError",
    "CancelExceedsOrderedError",
    "CardDeclinedError",
    "ConflictError",
    "ForbiddenError",
    "IdempotencyKeyInUseError",
    "IdempotencyKeyMissingError",
    "IdempotencyKeyReusedError",
    "InternalError",
    "InternalServerError",
    "InvalidBatchFileError",
    "LineAlreadyShippedError",
    "MethodNotAllowedError",
    "NotAProductLineError",
    "NotFoundError",
    "OrderAlreadyShippedError",
    "OrderCurrencyMismatchError",
    "OrderExistsError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitedError",
    "RefundExceedsCapturedError",
    "RequestTimeoutError",
    "ReturnExceedsShippedError",
    "ServiceUnavailableError",
    "ShipExceedsOrderedError",
    "UnauthorizedError",
    "UnknownBatchError",
    "UnknownLineError",
    "UnknownOrderError",
    "UnknownPathError",
    "UnprocessableEntityError",
    "ValidationFailedError",
    "error_for",
    "is_retryable",
    "redact",
]

REQUEST_ID_HEADER = "Request-Id"
"""Response header carrying the back end's id for the request; quote it to support."""

# A payment card's number starts with 2 to 6 (ISO/IEC 7812's industries for cards) and is 13 to
# 19 digits, written whole or in the groups card schemes print (4-4-4-4[-3], Amex's 4-6-5, Diners'
# 4-6-4). Ids made of other groups (a batch's "0123456789-0003") are not card-like.
_CARD_LIKE = re.compile(
    r"(?<![0-9A-Za-z-])(?:"
    r"[2-6][0-9]{12,18}"
    r"|[2-6][0-9]{3}(?P<sep>[ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{4}(?:(?P=sep)[0-9]{3})?"
    r"|3[0-9]{3}(?P<amex>[ -])[0-9]{6}(?P=amex)[0-9]{4,5}"
    r")(?![0-9A-Za-z]|-[0-9A-Za-z])"
)
_MAX_TEXT = 300


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each secret and anything that looks like a card number blanked out.

    A card number is 13 to 19 digits starting with 2 to 6, whole or in a card scheme's groups,
    passing the Luhn check, so the long order, line and batch ids platforms use mostly stay
    readable while any real card number is caught.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _CARD_LIKE.sub(_blank_if_card, text)


def _blank_if_card(match: re.Match[str]) -> str:
    digits = [int(c) for c in match.group() if c.isdigit()]
    return "[redacted card number]" if _luhn_valid(digits) else match.group()


def _luhn_valid(digits: list[int]) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def is_retryable(status: int, code: str | None) -> bool:
    """Whether an error answer may succeed when the same request is sent again."""
    if status == 409:
        return code == "idempotency_key_in_use"
    return is_transient_status(status)


class BackendError(Exception):
    """Any failure of a call to the payment back end."""

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed."""
        return False


class APIConnectionError(BackendError):
    """No answer: the connection failed, was refused or was dropped mid-request.

    A write may or may not have been carried out; resending it with the same idempotency key is
    safe, and is what the client does.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self._retryable = retryable

    @property
    def retryable(self) -> bool:
        return self._retryable


class APITimeoutError(APIConnectionError):
    """No answer in time (connecting, sending or reading)."""


class APIResponseValidationError(BackendError):
    """A success answer whose body does not match the API contract."""

    def __init__(self, message: str, *, status: int, request_id: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class APIStatusError(BackendError):
    """The back end answered with an error status."""

    problem_code: ClassVar[str | None] = None
    """The problem code a subclass stands for (None for the HTTP status classes)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None,
        detail: str | None,
        request_id: str | None,
        problem: Problem | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.problem = problem
        self.retry_after = retry_after
        """The raw ``Retry-After`` header of the answer, if any."""

    @property
    def retryable(self) -> bool:
        return is_retryable(self.status, self.code)

    @property
    def explanation(self) -> str | None:
        """What the problem code means and what to do (`passerelle explain CODE`)."""
        return explain(self.code) if self.code is not None and self.code in PROBLEMS else None


class BadRequestError(APIStatusError):
    """400: the request is malformed."""


class AuthenticationError(APIStatusError):
    """401: the token is missing or invalid."""


class PaymentRequiredError(APIStatusError):
    """402: a payment was refused."""


class PermissionDeniedError(APIStatusError):
    """403: the token may not do this."""


class NotFoundError(APIStatusError):
    """404: no such resource."""


class MethodNotAllowedError(APIStatusError):
    """405: the path does not take this method (its ``Allow`` header lists those it takes)."""

    problem_code = "method_not_allowed"


class RequestTimeoutError(APIStatusError):
    """408: the back end gave up waiting for the request."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state of the order or batch."""


class UnprocessableEntityError(APIStatusError):
    """422: the request is well-formed but breaks a rule of the contract."""


class RateLimitError(APIStatusError):
    """429: too many requests."""


class InternalServerError(APIStatusError):
    """5xx: the back end failed."""


class IdempotencyKeyMissingError(BadRequestError):
    problem_code = "idempotency_key_missing"


class UnauthorizedError(AuthenticationError):
    problem_code = "unauthorized"


class CardDeclinedError(PaymentRequiredError):
    """The card processor declined; `processor_message_id` says why."""

    problem_code = "card_declined"

    @property
    def processor_message_id(self) -> int | None:
        return self.problem.processor_message_id if self.problem else None

    @property
    def decline_code(self) -> str | None:
        return self.problem.decline_code if self.problem else None

    @property
    def decline(self) -> Decline | None:
        """The known meaning of the processor's message id, if it is a known one."""
        message_id = self.processor_message_id
        return DECLINES.get(message_id) if message_id is not None else None


class ForbiddenError(PermissionDeniedError):
    problem_code = "forbidden"


class UnknownOrderError(NotFoundError):
    problem_code = "unknown_order"


class UnknownBatchError(NotFoundError):
    problem_code = "unknown_batch"


class UnknownPathError(NotFoundError):
    problem_code = "unknown_path"


class OrderExistsError(ConflictError):
    problem_code = "order_exists"


class OrderAlreadyShippedError(ConflictError):
    problem_code = "order_already_shipped"


class ShipExceedsOrderedError(ConflictError):
    problem_code = "ship_exceeds_ordered"


class CancelExceedsOrderedError(ConflictError):
    problem_code = "cancel_exceeds_ordered"


class ReturnExceedsShippedError(ConflictError):
    problem_code = "return_exceeds_shipped"


class RefundExceedsCapturedError(ConflictError):
    problem_code = "refund_exceeds_captured"


class LineAlreadyShippedError(ConflictError):
    problem_code = "line_already_shipped"


class BatchExistsError(ConflictError):
    problem_code = "batch_exists"


class BatchPastCutoffError(ConflictError):
    problem_code = "batch_past_cutoff"


class BatchDeletedError(ConflictError):
    problem_code = "batch_deleted"


class IdempotencyKeyInUseError(ConflictError):
    problem_code = "idempotency_key_in_use"


class ValidationFailedError(UnprocessableEntityError):
    problem_code = "validation_failed"


class UnknownLineError(UnprocessableEntityError):
    problem_code = "unknown_line"


class NotAProductLineError(UnprocessableEntityError):
    problem_code = "not_a_product_line"


class OrderCurrencyMismatchError(UnprocessableEntityError):
    problem_code = "currency_mismatch"


class InvalidBatchFileError(UnprocessableEntityError):
    problem_code = "invalid_batch_file"


class IdempotencyKeyReusedError(UnprocessableEntityError):
    problem_code = "idempotency_key_reused"


class RateLimitedError(RateLimitError):
    problem_code = "rate_limited"


class InternalError(InternalServerError):
    problem_code = "internal_error"


class ServiceUnavailableError(InternalServerError):
    problem_code = "service_unavailable"


def _code_classes() -> dict[str, type[APIStatusError]]:
    found: dict[str, type[APIStatusError]] = {}
    pending: list[type[APIStatusError]] = [APIStatusError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.problem_code is not None and cls.__module__ == __name__:
            found[cls.problem_code] = cls
    return dict(sorted(found.items()))


ERROR_CLASSES: Mapping[str, type[APIStatusError]] = MappingProxyType(_code_classes())
"""The exception class of each problem code."""

_STATUS_CLASSES: Mapping[int, type[APIStatusError]] = MappingProxyType(
    {
        400: BadRequestError,
        401: AuthenticationError,
        402: PaymentRequiredError,
        403: PermissionDeniedError,
        404: NotFoundError,
        405: MethodNotAllowedError,
        408: RequestTimeoutError,
        409: ConflictError,
        422: UnprocessableEntityError,
        429: RateLimitError,
    }
)


def _class_for(status: int, code: str | None) -> type[APIStatusError]:
    by_code = ERROR_CLASSES.get(code) if code is not None else None
    # A code class promises its status too (`except ConflictError` must see only 409s), so a
    # code answered with an unexpected status falls back to the status class.
    if by_code is not None and PROBLEMS[by_code.problem_code or ""].status == status:
        return by_code
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, APIStatusError)


def _body(response: httpx.Response) -> bytes:
    try:
        return response.content
    except httpx.ResponseNotRead:
        return b""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _read(status: int, body: bytes) -> tuple[Problem | None, str | None, str | None]:
    """The problem, the code and the detail an error answer carries, as far as it has them."""
    try:
        return _from_problem(Problem.model_validate_json(body))
    except ValidationError:
        pass
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        code = data.get("code")
        for key in ("detail", "title", "message"):
            if isinstance(data.get(key), str) and data[key]:
                return None, code if isinstance(code, str) else None, _short(data[key])
    text = body.decode("utf-8", "replace").strip()
    try:
        reason: str | None = HTTPStatus(status).phrase
    except ValueError:
        reason = None
    return None, None, _short(text) if text else reason


def _from_problem(problem: Problem) -> tuple[Problem, str, str]:
    return problem, problem.code, problem.detail or problem.title


def _redacted(problem: Problem, secrets: tuple[str, ...]) -> Problem:
    """`problem` with each text a back end may echo from the request redacted, as the detail."""

    def clean(text: str | None) -> str | None:
        return None if text is None else redact(text, secrets)

    errors = problem.errors
    if errors is not None:
        errors = tuple(
            e.model_copy(
                update={"field": redact(e.field, secrets), "message": redact(e.message, secrets)}
            )
            for e in errors
        )
    return problem.model_copy(
        update={
            "title": redact(problem.title, secrets),
            "detail": clean(problem.detail),
            "instance": clean(problem.instance),
            "errors": errors,
        }
    )


def _describe(status: int, code: str | None, detail: str | None, request_id: str | None) -> str:
    """The message of an error answer: code, status, detail and request id."""
    message = f"{code} (HTTP {status})" if code else f"HTTP {status}"
    if detail:
        message += f": {detail}"
    if request_id:
        message += f" [request id {request_id}]"
    return message


def error_for(response: httpx.Response, *, secrets: Iterable[str] = ()) -> APIStatusError:
    """The most specific exception for an error answer.

    A problem with a known code gives that code's class; an unknown code, or a body that is not a
    problem (an HTML page from a proxy), gives the class of the HTTP status, with the body's text
    as the detail. `secrets` (the API token) and card-number-like strings are redacted from the
    detail and the message.
    """
    status = response.status_code
    problem, code, detail = _read(status, _body(response))
    request_id = response.headers.get(REQUEST_ID_HEADER) or (
        problem.request_id if problem else None
    )
    secrets = tuple(secrets)
    if detail is not None:
        detail = redact(detail, secrets)
    if problem is not None:
        problem = _redacted(problem, secrets)
    cls = _class_for(status, code)
    return cls(
        _describe(status, code, detail, request_id),
        status=status,
        code=code,
        detail=detail,
        request_id=request_id,
        problem=problem,
        retry_after=response.headers.get("Retry-After"),
    )
