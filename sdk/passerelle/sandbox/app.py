"""The sandbox's ASGI app: a reference payment back end implementing the API contract of
`passerelle.backend.models` for real, with state, rules, idempotency and optional faults."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Path
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse

import passerelle.sandbox.admin as admin
import passerelle.sandbox.batches as batches
import passerelle.sandbox.disbursements as disbursements
import passerelle.sandbox.orders as orders
from passerelle.backend.errors import REQUEST_ID_HEADER
from passerelle.backend.exchange import IDEMPOTENCY_HEADER
from passerelle.backend.models import Problem
from passerelle.backend.problems import PROBLEM_CONTENT_TYPE, PROBLEMS, explain
from passerelle.sandbox.deps import (
    REPLAYED_HEADER,
    check_before_validation,
    keep_validation_failure,
)
from passerelle.sandbox.errors import (
    ClientLeftMiddleware,
    RequestIdMiddleware,
    SandboxProblem,
    install_problem_handlers,
    problem_bytes,
    request_id_of,
)
from passerelle.sandbox.faults import FaultMiddleware, FaultMode, Faults, Scope
from passerelle.sandbox.paths import SegmentMiddleware
from passerelle.sandbox.state import Sandbox, SandboxConfig

__all__ = ["API_VERSION", "create_app", "sandbox_of"]

API_VERSION = "1.0.0"
"""The version of the back-end API contract the sandbox implements."""

_DESCRIPTION = """\
The payment back end Passerelle delivers order lifecycle events and batch payment files to.

Every request carries `Authorization: Bearer <token>` and `Passerelle-Merchant: <merchant id>`.
Every write (POST, PUT, PATCH, DELETE) carries an `Idempotency-Key`: the same key with the same
request answers the first answer again, byte for byte (with `Idempotent-Replayed: true`), and does
the work once; the same key with another request is refused (`idempotency_key_reused`); a key whose
first request is still running answers 409 `idempotency_key_in_use`. A refusal (4xx) is the key's
answer too, kept even if the state changes later: a request meant to be judged anew takes a new
key. A 5xx and the key's own conflicts are not kept: retry those with the same key. Money is an integer count of minor units
with its ISO 4217 currency. Every error is an RFC 9457 problem (`application/problem+json`) with a
stable `code`; `GET /problems/{code}` explains one.
"""

_problems = APIRouter(tags=["problems"])


@_problems.get(
    "/problems/{code}",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        404: {"model": Problem, "description": "Problem: `unknown_path` (not a problem code)"},
        422: {"model": Problem, "description": "Problem: `validation_failed`"},
    },
    summary="Explain a problem code",
)
def explain_problem(code: str = Path(max_length=64)) -> PlainTextResponse:
    """What a problem code means and what to do about it."""
    if code not in PROBLEMS:
        raise HTTPException(404, f"there is no problem code {code!r}")
    return PlainTextResponse(explain(code))


def _fault_answer(
    mode: FaultMode, faults: Faults, scope: Scope
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = [(b"content-type", PROBLEM_CONTENT_TYPE.encode())]
    if mode is FaultMode.THROTTLE:
        problem = SandboxProblem("rate_limited", "too many requests (sandbox fault injection)")
        headers.append((b"retry-after", str(faults.retry_after).encode()))
    else:
        problem = SandboxProblem(
            "internal_error", "the back end failed (sandbox fault injection); nothing was changed"
        )
    answer = problem.problem(request_id_of(scope), str(scope.get("path", "")))
    body = problem_bytes(answer)
    headers.append((b"content-length", str(len(body)).encode()))
    return answer.status, headers, body


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """A new sandbox app with its own state (see `SandboxConfig`); `sandbox_of(app)` reaches it."""
    sandbox = Sandbox(config or SandboxConfig())
    app = FastAPI(
        title="Passerelle payment back end",
        version=API_VERSION,
        description=_DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.sandbox = sandbox
    for router in (orders.router, batches.router, disbursements.router, _problems, admin.router):
        app.include_router(router)
    install_problem_handlers(
        app, before_validation=check_before_validation, after_validation=keep_validation_failure
    )
    app.add_middleware(SegmentMiddleware)
    app.add_middleware(FaultMiddleware, injector=sandbox.faults, respond=_fault_answer)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ClientLeftMiddleware)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = _links(_answer_headers(_problem_media_types(schema)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Error answers are ``application/problem+json``, which FastAPI cannot declare itself."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if int(status) >= 400 and content:
                    response["content"] = {PROBLEM_CONTENT_TYPE: next(iter(content.values()))}
    return schema


_REQUEST_ID: dict[str, Any] = {
    "description": "This request's id, which a problem gives as `request_id` too: quote it"
    " when asking about the request.",
    "required": True,
    "schema": {"type": "string"},
}
_REPLAYED: dict[str, Any] = {
    "description": "`true` when this is the first answer under the request's idempotency key,"
    " replayed.",
    "schema": {"type": "string", "enum": ["true"]},
}


_NEVER_KEPT = frozenset({401, 403, 429})
"""Answers no key keeps, besides a 5xx: who is calling is checked before the key is looked up,
and only injected faults answer 429."""


def _answer_headers(schema: dict[str, Any]) -> dict[str, Any]:
    """Every answer carries ``Request-Id``, and an answer to a write may be a replay: FastAPI
    declares headers only where a route lists them, which the problems alone do."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            write = any(
                parameter.get("in") == "header" and parameter.get("name") == IDEMPOTENCY_HEADER
                for parameter in operation.get("parameters", ())
            )
            for status, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers.setdefault(REQUEST_ID_HEADER, _REQUEST_ID)
                if write and int(status) < 500 and int(status) not in _NEVER_KEPT:
                    headers.setdefault(REPLAYED_HEADER, _REPLAYED)
    return schema


_ORDER = "/v1/orders/{ref}"
_BATCH = "/v1/batches/{batch_id}"
_ORDER_OPERATIONS = {
    "GetOrder": (_ORDER, "get"),
    "Ship": (_ORDER + "/shipments", "post"),
    "Cancel": (_ORDER + "/cancellations", "post"),
    "Return": (_ORDER + "/returns", "post"),
    "UpdateCart": (_ORDER + "/cart", "put"),
}
_BATCH_OPERATIONS = {
    "GetBatch": (_BATCH, "get"),
    "RescheduleBatch": (_BATCH, "patch"),
    "DeleteBatch": (_BATCH, "delete"),
    "ReplaceBatchEntries": (_BATCH + "/entries", "put"),
}
# Each answer naming an order or a batch, and where in its body the name is.
_PRODUCERS: tuple[tuple[str, str, str, str], ...] = (
    ("/v1/orders", "post", "201", "$response.body#/reference"),
    (_ORDER, "get", "200", "$response.body#/reference"),
    *(
        (path, method, status, "$response.body#/order/reference")
        for path, method in list(_ORDER_OPERATIONS.values())[1:]
        for status in ("200", "201")
    ),
    ("/v1/batches", "post", "201", "$response.body#/id"),
    *((path, method, "200", "$response.body#/id") for path, method in _BATCH_OPERATIONS.values()),
)


def _links(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI links: from each answer naming an order (or a batch) to what can be done with it,
    for readers of the document and for stateful testing."""
    paths = schema["paths"]
    for path, method, status, where in _PRODUCERS:
        response = paths[path][method]["responses"].get(status)
        if response is None:
            continue
        order = where.endswith("reference")
        targets, parameter = (
            (_ORDER_OPERATIONS, "ref") if order else (_BATCH_OPERATIONS, "batch_id")
        )
        response["links"] = {
            name: {
                "operationId": paths[target][target_method]["operationId"],
                "parameters": {parameter: where},
            }
            for name, (target, target_method) in targets.items()
        }
    return schema


def sandbox_of(app: FastAPI) -> Sandbox:
    """The state behind a sandbox app made by `create_app`."""
    sandbox = app.state.sandbox
    if not isinstance(sandbox, Sandbox):
        raise TypeError("this app was not made by passerelle.sandbox.create_app")
    return sandbox
