"""Every error the sandbox answers is RFC 9457 problem+json with a registered ``code``."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from passerelle.backend.errors import REQUEST_ID_HEADER
from passerelle.backend.models import FieldError, Problem
from passerelle.backend.problems import PROBLEM_CONTENT_TYPE, PROBLEMS
from passerelle.sandbox.faults import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ClientLeftMiddleware",
    "RequestIdMiddleware",
    "SandboxProblem",
    "field_errors_of",
    "install_problem_handlers",
    "problem_bytes",
    "problem_response",
    "problem_responses",
    "request_id_of",
]

_REQUEST_ID = "request_id"

log = logging.getLogger("passerelle.sandbox")


class SandboxProblem(Exception):  # noqa: N818 - it is the problem the answer carries
    """Raise to answer the problem `code` (a key of `PROBLEMS`) with `detail`."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        if code not in PROBLEMS:
            raise ValueError(f"unregistered problem code {code!r}")
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra

    def problem(self, request_id: str | None = None, instance: str | None = None) -> Problem:
        return Problem.of(
            self.code, self.detail, request_id=request_id, instance=instance, **self.extra
        )


def problem_bytes(problem: Problem) -> bytes:
    return problem.model_dump_json(exclude_none=True).encode()


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        problem_bytes(problem),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )


def request_id_of(scope: Mapping[str, Any]) -> str | None:
    state = scope.get("state")
    return None if state is None else state.get(_REQUEST_ID)


class RequestIdMiddleware:
    """Gives every request an id, answered in the ``Request-Id`` header and in problems."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(12)
        scope.setdefault("state", {})[_REQUEST_ID] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class ClientLeftMiddleware:
    """A client that leaves before its request is read (a connector killed, a network cut) is
    no fault of the sandbox: a debug line, not a traceback. Nothing was changed: a write reads
    its whole body before it acts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            log.debug(
                "%s %s (%s): the client left before its request was read",
                scope.get("method"),
                scope.get("path"),
                request_id_of(scope),
            )


# Validation errors

_NOT_AN_OBJECT = frozenset({"model_attributes_type", "model_type", "dict_type"})


def _message(error: Mapping[str, Any]) -> str:
    if error.get("type") == "value_error":
        cause = error.get("ctx", {}).get("error")
        if cause is not None:
            return str(cause)
    if error.get("type") == "missing":
        return "this field is required"
    return str(error.get("msg", "invalid"))


def field_errors_of(
    errors: Iterable[Mapping[str, Any]],
    *,
    union_tags: frozenset[str] = frozenset(),
    json_body: bool = True,
) -> tuple[FieldError, ...]:
    """`FieldError`s naming each invalid field of a FastAPI validation error.

    Body fields are named by their dotted path without FastAPI's ``body`` prefix
    (``lines.0.unit_price.minor``); query, path and header parameters keep theirs
    (``query.since``). `union_tags` are the tags of a tagged union body, which pydantic puts
    first in the path and which name no field. `json_body` says whether the request declared
    a JSON body (without it, the body is not read as JSON).
    """
    result: list[FieldError] = []
    for error in errors:
        loc: Sequence[Any] = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            cause = error.get("ctx", {}).get("error", "malformed")
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            result.append(FieldError(field="(body)", message=f"invalid JSON: {cause}{where}"))
            continue
        if loc and loc[0] == "body":
            loc = loc[1:]
            if len(loc) > 1 and loc[0] in union_tags:
                loc = loc[1:]
            if not loc and error.get("type") == "missing":
                result.append(FieldError(field="(body)", message="a JSON body is required"))
                continue
            if not loc and error.get("type") in _NOT_AN_OBJECT:
                message = "the body must be a JSON object"
                if not json_body:
                    message += " sent as Content-Type: application/json"
                result.append(FieldError(field="(body)", message=message))
                continue
        field = ".".join(str(part) for part in loc) or "(body)"
        result.append(FieldError(field=field, message=_message(error)))
    return tuple(result)


# Handlers

# The statuses the routing itself answers (an unknown path, an unsupported method); any other
# HTTPException is a bug of the sandbox, answered as one.
_HTTP_CODES = {404: "unknown_path", 405: "method_not_allowed"}


def _unreadable_body(exc: StarletteHTTPException) -> dict[str, Any]:
    cause = exc.__cause__
    reason = "the body is not UTF-8" if isinstance(cause, UnicodeError) else "unreadable body"
    return {"type": "body_unreadable", "loc": ("body",), "msg": f"invalid JSON: {reason}"}


_UNION_TAGS: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/v1/batches"): frozenset({"file", "entries"}),
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on the request's path, as an ``Allow`` value: the router
    names only those of the first route matching the path, while each method of a path is a
    route of its own."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    )


def install_problem_handlers(
    app: FastAPI,
    *,
    before_validation: Callable[[Request, RequestValidationError], None] | None = None,
    after_validation: Callable[[Request, Problem], Awaitable[Response | None]] | None = None,
) -> None:
    """Answer problems, validation errors, unknown routes and crashes as problem+json.

    `before_validation(request)` may raise a `SandboxProblem` that takes precedence over a
    validation error (authentication, a missing idempotency key). `after_validation(request,
    problem)` may answer a validation error's problem in its own way (keep it under the
    request's idempotency key); when it returns None the problem is answered as it is.
    """

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SandboxProblem)
        problem = exc.problem(request_id_of(request.scope), request.url.path)
        return problem_response(problem, exc.headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if before_validation is not None:
            try:
                before_validation(request, exc)
            except SandboxProblem as refusal:
                return await on_problem(request, refusal)
        tags = _UNION_TAGS.get((request.method, request.url.path), frozenset())
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        json_body = content_type == "application/json" or content_type.endswith("+json")
        raw_errors = exc.errors()
        errors = field_errors_of(raw_errors, union_tags=tags, json_body=json_body)
        fields = ", ".join(dict.fromkeys(error.field for error in errors))
        # The contract's models type an amount in another currency as such (see
        # `passerelle.backend.models`): the same code as when the back end's ledger finds one.
        mismatch = all(error.get("type") == "currency_mismatch" for error in raw_errors)
        code = "currency_mismatch" if mismatch and raw_errors else "validation_failed"
        detail = f"invalid request: {fields}"
        if code == "currency_mismatch":
            detail += f": {errors[0].message}"
        problem = Problem.of(
            code,
            detail,
            errors=errors,
            request_id=request_id_of(request.scope),
            instance=request.url.path,
        )
        if after_validation is not None:
            answer = await after_validation(request, problem)
            if answer is not None:
                return answer
        return problem_response(problem)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc.__cause__, ClientDisconnect):
            raise exc.__cause__  # answered by ClientLeftMiddleware
        if exc.status_code == 400:
            # FastAPI's only 400 is a body it could not read (not UTF-8, say): as malformed as
            # invalid JSON, so answered the same way, after the same checks.
            return await on_validation(request, RequestValidationError([_unreadable_body(exc)]))
        code = _HTTP_CODES.get(exc.status_code)
        if code is None:
            return await on_crash(request, exc)
        detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
        headers = dict(exc.headers or {})
        if code == "method_not_allowed":
            allowed = _allowed_methods(request) or headers.get("Allow", "")
            headers["Allow"] = allowed
            if detail is None:
                detail = (
                    f"{request.method} is not allowed on {request.url.path}; it takes {allowed}"
                )
        problem = Problem.of(
            code,
            detail or f"nothing at {request.url.path}",
            request_id=request_id_of(request.scope),
            instance=request.url.path,
        )
        return problem_response(problem, headers)

    async def on_crash(request: Request, exc: Exception) -> Response:
        problem = Problem.of(
            "internal_error",
            "the sandbox failed unexpectedly; nothing was changed",
            request_id=request_id_of(request.scope),
            instance=request.url.path,
        )
        # The server drops the connection after a crash; saying so keeps a client from sending
        # its next request down a connection about to close.
        return problem_response(problem, {"Connection": "close"})

    app.add_exception_handler(SandboxProblem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)


# OpenAPI

_ALWAYS = ("unauthorized", "forbidden", "validation_failed", "rate_limited", "internal_error")
_WRITES = ("idempotency_key_missing", "idempotency_key_in_use", "idempotency_key_reused")


def problem_responses(*codes: str, write: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route answering these problem codes (plus the ones every route or
    every write may answer), one entry per status listing its codes."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, *(_WRITES if write else ()), *_ALWAYS):
        by_status.setdefault(PROBLEMS[code].status, []).append(code)
    return {
        status: {
            "model": Problem,
            "description": "Problem: " + ", ".join(f"`{code}`" for code in dict.fromkeys(found)),
            # Request-Id is on every answer: the app declares it for all of them at once.
            "headers": _RETRY_AFTER if status == 429 else {},
        }
        for status, found in sorted(by_status.items())
    }


_RETRY_AFTER: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}
