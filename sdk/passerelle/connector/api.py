"""The action-center API: JSON over HTTP, mounted under ``/api/`` by ``passerelle serve``.

Every call needs ``Authorization: Bearer <token>`` with a token of ``[[admin.tokens]]``: without
one, or with an unknown one, the answer is 401. A ``read`` token may list, show, export and read
the statistics; retry, dismiss, replay and a delivery's body need a ``full`` token (403
otherwise). Errors are RFC 9457 ``application/problem+json`` with a stable ``code``.

=======================  ==================================================================
``GET /actions``         the action center; query ``platform``, ``store``, ``code`` (the error
                         code), ``since`` (``2h``, ``3d``, ``2026-03-01``...), ``all=true`` to
                         include dismissed ones
``GET /actions/{id}``    one delivery with its attempts and notes; ``body=true`` adds the body
``GET /actions/export.csv``  the same entries as ``GET /actions``, as CSV
``POST /actions/retry``  ``{"ids": [...], "note": "..."}``: back in their lane
``POST /actions/dismiss``  ``{"ids": [...], "note": "..."}``, note required
``POST /replay``         ``{"since", "order", "platform", "store", "note"}``, all optional:
                         dispatch finished deliveries again; answers how many
``GET /stats``           how many deliveries are in each status
``GET /batches``         every batch the stored files scheduled, newest version of each, with
                         its cutoff and the back end's view; query ``store``
``GET /batches/{id}``    one batch: the same, every version and what it changed, its entries
``POST /batches/{id}/reschedule``  ``{"date": "2026-12-18"}``: move it, before its cutoff
``DELETE /batches/{id}``  withdraw it before its cutoff
=======================  ==================================================================

The batch calls are those of `passerelle batch` (one implementation, `BatchOffice`); a change
answers the back end's batch after it. Their refusals: ``batch_not_found`` and
``unknown_batch`` (404), ``batch_past_cutoff`` and ``batch_deleted`` (409),
``backend_unavailable`` (502); nothing changed.

Problem codes: ``unauthorized`` (401), ``forbidden`` (403), ``not_found`` (404, no such route),
``delivery_not_found`` (404), ``method_not_allowed`` (405), ``delivery_status_conflict`` (409),
``validation_failed`` (422, with ``errors`` naming each field), ``store_unavailable`` (503),
``internal_error`` (500).
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import io
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from passerelle.backend.models import FieldError, Problem, field_errors
from passerelle.backend.problems import PROBLEM_CONTENT_TYPE
from passerelle.clock import Clock
from passerelle.connector.actions import ActionCenter, ActionInputError
from passerelle.connector.batch_office import BatchActionError, BatchOffice, back_end_json
from passerelle.connector.config import AdminSettings, AdminToken
from passerelle.connector.store import (
    DeliveryNotFoundError,
    DeliveryStateError,
    DeliveryStore,
    StoreError,
)

__all__ = [
    "DismissRequest",
    "ReplayRequest",
    "RescheduleRequest",
    "RetryRequest",
    "bearer_protected",
    "create_api",
    "match_token",
]

log = logging.getLogger("passerelle.actions")

_READ_METHODS: Final = frozenset({"GET", "HEAD"})
_FULL_ACCESS = "full"
_LIST_PARAMETERS: Final = frozenset({"platform", "store", "code", "since", "all"})
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})

Note = Annotated[str, Field(max_length=2000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_B = TypeVar("_B", bound=_Body)
_T = TypeVar("_T")


class RetryRequest(_Body):
    """Deliveries to put back in their lane, and why (optional)."""

    ids: list[StrictInt] = Field(min_length=1, max_length=1000)
    note: Note = ""


class DismissRequest(_Body):
    """Deliveries to take out of the action center, and why (required)."""

    ids: list[StrictInt] = Field(min_length=1, max_length=1000)
    note: Note


class ReplayRequest(_Body):
    """Which finished deliveries to dispatch again; no field means every one."""

    since: str | None = None
    order: str | None = None
    platform: str | None = None
    store: str | None = None
    note: Note = ""


class RescheduleRequest(_Body):
    """The processing date to move a batch to."""

    date: dt.date


class _Refusal(Exception):  # noqa: N818 - it is the answer, not a failure of the code
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: tuple[FieldError, ...] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem = Problem(
            title=HTTPStatus(status).phrase,
            status=status,
            detail=detail,
            code=code,
            errors=errors,
        )
        self.headers = dict(headers or {})


def _problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        problem.model_dump_json(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )


def _invalid(field: str, message: str) -> _Refusal:
    return _Refusal(
        422,
        "validation_failed",
        f"invalid request: {field}",
        errors=(FieldError(field=field, message=message),),
    )


def _parse_body(model: type[_B], raw: bytes) -> _B:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = field_errors(exc)
        fields = ", ".join(dict.fromkeys(error.field for error in errors))
        raise _Refusal(
            422, "validation_failed", f"invalid request: {fields}", errors=errors
        ) from None


def _flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name)
    if raw is None:
        return False
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _invalid(name, f"must be true or false, got {raw!r}")


def _filters(request: Request) -> dict[str, Any]:
    query = request.query_params
    unknown = sorted(set(query) - _LIST_PARAMETERS)
    if unknown:
        raise _invalid(
            unknown[0], f"unknown parameter; expected {', '.join(sorted(_LIST_PARAMETERS))}"
        )
    return {
        "platform": query.get("platform") or None,
        "store": query.get("store") or None,
        "code": query.get("code") or None,
        "since": query.get("since") or None,
        "include_dismissed": _flag(query, "all"),
    }


def create_api(
    store: DeliveryStore,
    admin_tokens: AdminSettings | Iterable[AdminToken],
    *,
    clock: Clock | None = None,
    batches: BatchOffice | None = None,
) -> ASGIApp:
    """The action-center API over `store`, for the given admin tokens (none: every call is
    refused), with the batch calls when `batches` is given. Mount it under a prefix by setting
    the scope's ``root_path``."""
    tokens = tuple(admin_tokens.tokens if isinstance(admin_tokens, AdminSettings) else admin_tokens)
    center = ActionCenter(store, clock=clock)

    async def run(work: Callable[[], _T]) -> _T:
        # Store calls block on disk or on the database: keep them off the event loop.
        return await run_in_threadpool(work)

    async def list_actions(request: Request) -> Response:
        filters = _filters(request)
        entries = await run(lambda: center.failures(**filters))
        return JSONResponse({"actions": [entry.as_json() for entry in entries]})

    async def export_csv(request: Request) -> Response:
        filters = _filters(request)
        out = io.StringIO(newline="")
        await run(lambda: center.export_csv(out, **filters))
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="passerelle-actions.csv"'},
        )

    async def show(request: Request) -> Response:
        delivery_id: int = request.path_params["id"]
        include_body = _flag(request.query_params, "body")
        if include_body and _caller(request).access != _FULL_ACCESS:
            raise _Refusal(
                403,
                "forbidden",
                "a delivery's body may hold personal data: it needs a token with full access",
            )
        detail = await run(lambda: center.show(delivery_id))
        return JSONResponse(detail.as_json(include_body=include_body))

    async def retry(request: Request) -> Response:
        body = _parse_body(RetryRequest, await request.body())
        ids = await run(lambda: center.retry(body.ids, body.note))
        log.info("deliveries %s requeued with token %s", ids, _caller(request).name)
        return JSONResponse({"retried": ids})

    async def dismiss(request: Request) -> Response:
        body = _parse_body(DismissRequest, await request.body())
        ids = await run(lambda: center.dismiss(body.ids, body.note))
        log.info("deliveries %s dismissed with token %s", ids, _caller(request).name)
        return JSONResponse({"dismissed": ids})

    async def replay(request: Request) -> Response:
        body = _parse_body(ReplayRequest, await request.body())
        count = await run(
            lambda: center.replay(
                since=body.since or None,
                order=body.order or None,
                platform=body.platform or None,
                store=body.store or None,
                note=body.note,
            )
        )
        log.info("%d deliveries replayed with token %s", count, _caller(request).name)
        return JSONResponse({"replayed": count})

    async def stats(request: Request) -> Response:
        return JSONResponse(await run(center.stats))

    def office() -> BatchOffice:
        if batches is None:
            raise _Refusal(404, "batch_not_found", "this connector has no file platform's store")
        return batches

    async def list_batches(request: Request) -> Response:
        unknown = sorted(set(request.query_params) - {"store"})
        if unknown:
            raise _invalid(unknown[0], "unknown parameter; expected store")
        store_id = request.query_params.get("store") or None
        rows = await run(lambda: office().batches(store_id))
        return JSONResponse({"batches": [row.as_json() for row in rows]})

    async def show_batch(request: Request) -> Response:
        batch_id: str = request.path_params["batch"]
        detail = await run(lambda: office().show(batch_id))
        return JSONResponse(detail.as_json())

    async def reschedule_batch(request: Request) -> Response:
        batch_id: str = request.path_params["batch"]
        body = _parse_body(RescheduleRequest, await request.body())
        view = await run(lambda: office().reschedule(batch_id, body.date))
        log.info(
            "batch %s rescheduled to %s with token %s", batch_id, body.date, _caller(request).name
        )
        return JSONResponse({"batch": batch_id, "back_end": back_end_json(view)})

    async def delete_batch(request: Request) -> Response:
        batch_id: str = request.path_params["batch"]
        view = await run(lambda: office().delete(batch_id))
        log.info("batch %s deleted with token %s", batch_id, _caller(request).name)
        return JSONResponse({"batch": batch_id, "back_end": back_end_json(view)})

    routes = [
        ("/actions", list_actions, "GET"),
        ("/actions/export.csv", export_csv, "GET"),
        ("/actions/retry", retry, "POST"),
        ("/actions/dismiss", dismiss, "POST"),
        ("/actions/{id:int}", show, "GET"),
        ("/replay", replay, "POST"),
        ("/stats", stats, "GET"),
        ("/batches", list_batches, "GET"),
        ("/batches/{batch}", show_batch, "GET"),
        ("/batches/{batch}", delete_batch, "DELETE"),
        ("/batches/{batch}/reschedule", reschedule_batch, "POST"),
    ]
    app = Starlette(
        routes=[
            Route(path, _answering_problems(endpoint), methods=[method])
            for path, endpoint, method in routes
        ],
        exception_handlers={HTTPException: _on_routing_error},
    )
    return _Authenticated(app, tokens)


_CALLER: Final = "passerelle.admin_token"
_BATCH_STATUS: Final = {"batch_not_found": 404, "unknown_batch": 404, "backend_unavailable": 502}


def match_token(tokens: Iterable[AdminToken], presented: str) -> AdminToken | None:
    """The admin token whose secret is `presented`, or None; compared in constant time."""
    matched = None
    for token in tokens:
        # Compare with every token so the time taken does not tell which one matched.
        if hmac.compare_digest(token.token.get_secret_value().encode(), presented.encode()):
            matched = token
    return matched


def bearer_protected(app: ASGIApp, tokens: Iterable[AdminToken]) -> ASGIApp:
    """`app` behind the same bearer-token check as the API (any admin token may read)."""
    return _Authenticated(app, tuple(tokens))


def _caller(request: Request) -> AdminToken:
    token: AdminToken = request.scope[_CALLER]
    return token


class _Authenticated:
    """Checks the bearer token before anything else, so an unauthenticated caller learns
    nothing, not even which paths exist."""

    def __init__(self, app: ASGIApp, tokens: tuple[AdminToken, ...]) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            token = self._check(scope)
        except _Refusal as refusal:
            await _problem_response(refusal.problem, refusal.headers)(scope, receive, send)
            return
        await self.app({**scope, _CALLER: token}, receive, send)

    def _check(self, scope: Scope) -> AdminToken:
        authorization = next(
            (
                value.decode("latin-1")
                for key, value in scope.get("headers", ())
                if key.lower() == b"authorization"
            ),
            "",
        )
        scheme, _, presented = authorization.strip().partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise _Refusal(
                401,
                "unauthorized",
                "an admin token is required: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": 'Bearer realm="passerelle"'},
            )
        token = match_token(self.tokens, presented)
        if token is None:
            raise _Refusal(
                401,
                "unauthorized",
                "the admin token is not valid",
                headers={"WWW-Authenticate": 'Bearer realm="passerelle", error="invalid_token"'},
            )
        if scope["method"] not in _READ_METHODS and token.access != _FULL_ACCESS:
            raise _Refusal(
                403,
                "forbidden",
                "this token may only read; retry, dismiss, replay and changing a batch need a "
                "token with full access",
            )
        return token


Endpoint = Callable[[Request], Awaitable[Response]]


def _answering_problems(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:  # every failure becomes a problem answer
            refusal = _refusal_for(exc)
            return _problem_response(refusal.problem, refusal.headers)

    return answer


def _refusal_for(exc: Exception) -> _Refusal:
    if isinstance(exc, _Refusal):
        return exc
    if isinstance(exc, ActionInputError):
        return _invalid(exc.field, exc.message)
    if isinstance(exc, BatchActionError):
        return _Refusal(_BATCH_STATUS.get(exc.code, 409), exc.code, str(exc))
    if isinstance(exc, DeliveryNotFoundError):
        return _Refusal(404, "delivery_not_found", str(exc))
    if isinstance(exc, DeliveryStateError):
        return _Refusal(409, "delivery_status_conflict", str(exc))
    if isinstance(exc, StoreError):
        log.error("the action-center API could not use the store: %s", exc)
        return _Refusal(
            503, "store_unavailable", "the delivery store is unavailable; nothing was changed"
        )
    log.error("the action-center API failed", exc_info=exc)
    return _Refusal(500, "internal_error", "the action center failed; nothing was changed")


async def _on_routing_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        refusal = _Refusal(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}",
            headers=exc.headers,
        )
    else:
        refusal = _Refusal(404, "not_found", f"nothing at {request.url.path}")
    return _problem_response(refusal.problem, refusal.headers)
