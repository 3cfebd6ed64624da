"""Request dependencies: who is calling (token + merchant) and the idempotent write they make."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from passerelle.backend.exchange import IDEMPOTENCY_HEADER, MERCHANT_HEADER
from passerelle.backend.models import Problem
from passerelle.backend.problems import PROBLEM_CONTENT_TYPE
from passerelle.sandbox.db import Transaction
from passerelle.sandbox.errors import (
    SandboxProblem,
    problem_bytes,
    problem_response,
    request_id_of,
)
from passerelle.sandbox.idempotency import IdempotencyConflict, StoredResponse, fingerprint
from passerelle.sandbox.state import Sandbox

__all__ = [
    "REPLAYED_HEADER",
    "Admin",
    "Merchant",
    "SandboxDep",
    "Write",
    "WriteDep",
    "authenticate",
    "authenticate_admin",
    "check_before_validation",
    "keep_validation_failure",
]

REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to ``true`` on an answer replayed for a repeated idempotency key."""

_KEY_LENGTH = 255
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_bearer = HTTPBearer(
    auto_error=False,
    description="The API token; each token acts for one merchant.",
)


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


async def _sandbox_dependency(request: Request) -> Sandbox:
    # The dependencies that do no I/O are coroutines: FastAPI runs a plain function on a worker
    # thread, and the hop there and back costs more than the lookup, on every request.
    return _sandbox(request)


SandboxDep = Annotated[Sandbox, Depends(_sandbox_dependency)]


def authenticate(sandbox: Sandbox, authorization: str | None, merchant: str | None) -> str:
    """The merchant a request acts for; raises 401 ``unauthorized`` or 403 ``forbidden``."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SandboxProblem(
            "unauthorized",
            "send the API token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    allowed = sandbox.merchant_for(token.strip())
    if allowed is None:
        raise SandboxProblem(
            "unauthorized", "the API token is not valid", headers={"WWW-Authenticate": "Bearer"}
        )
    if not merchant:
        raise SandboxProblem(
            "forbidden", f"name the merchant the token acts for in the {MERCHANT_HEADER} header"
        )
    if merchant != allowed:
        raise SandboxProblem("forbidden", f"the API token may not act for merchant {merchant!r}")
    return merchant


async def _merchant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    merchant: Annotated[
        str,
        Header(
            alias=MERCHANT_HEADER,
            min_length=1,
            max_length=255,
            description="The merchant the token acts for.",
        ),
    ],
) -> str:
    return authenticate(_sandbox(request), request.headers.get("authorization"), merchant)


Merchant = Annotated[str, Depends(_merchant)]


def authenticate_admin(sandbox: Sandbox, authorization: str | None) -> None:
    """Let only the admin token through; without one configured, the admin API is not there."""
    if sandbox.config.admin_token is None:
        raise HTTPException(404, "the sandbox admin API is off: start it with an admin token")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not sandbox.is_admin(token.strip()):
        raise SandboxProblem(
            "unauthorized",
            "send the sandbox admin token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _admin(request: Request) -> None:
    authenticate_admin(_sandbox(request), request.headers.get("authorization"))


async def _admin_dependency(request: Request) -> None:
    _admin(request)


Admin = Depends(_admin_dependency)


def check_before_validation(request: Request, exc: RequestValidationError) -> None:
    """What outranks a malformed request: authentication, then a missing idempotency key."""
    if request.url.path.startswith("/v1/"):
        authenticate(
            _sandbox(request),
            request.headers.get("authorization"),
            request.headers.get(MERCHANT_HEADER),
        )
    elif request.url.path.startswith("/_sandbox/"):
        _admin(request)
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "missing" and loc == ("header", IDEMPOTENCY_HEADER):
            raise SandboxProblem(
                "idempotency_key_missing",
                f"a {request.method} needs an {IDEMPOTENCY_HEADER} header",
            )


async def keep_validation_failure(request: Request, problem: Problem) -> Response | None:
    """Answer a malformed write once per key, like any other: its 422 is kept under the key.

    None (answer the problem as it is) for what is not a write of the API, and for a write whose
    key header is missing or malformed: there is no key to keep the answer under.
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if (
        request.method not in _WRITE_METHODS
        or not request.url.path.startswith("/v1/")
        or key is None
        or not 0 < len(key) <= _KEY_LENGTH
    ):
        return None
    sandbox = _sandbox(request)
    merchant = authenticate(
        sandbox, request.headers.get("authorization"), request.headers.get(MERCHANT_HEADER)
    )
    write = await _write_of(request, sandbox, merchant, key)
    refused = StoredResponse(problem.status, PROBLEM_CONTENT_TYPE, problem_bytes(problem))
    return await run_in_threadpool(write.answer, lambda tx: refused)


Reply = tuple[int, BaseModel]


class Write:
    """An authenticated write under its idempotency key."""

    def __init__(
        self,
        sandbox: Sandbox,
        merchant: str,
        key: str,
        request_fingerprint: str,
        *,
        request_id: str | None = None,
        instance: str | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.merchant = merchant
        self.key = key
        self._fingerprint = request_fingerprint
        self._request_id = request_id
        self._instance = instance

    def run(self, work: Callable[[Transaction], Reply]) -> Response:
        """Carry out `work` once for this key and answer its reply (or the stored one).

        `work` raises a `SandboxProblem` to refuse; nothing it did is then kept, and the refusal
        is the key's answer.
        """

        def stored(tx: Transaction) -> StoredResponse:
            try:
                status, model = work(tx)
            except SandboxProblem as refusal:
                problem = refusal.problem(self._request_id, self._instance)
                return StoredResponse(
                    problem.status,
                    PROBLEM_CONTENT_TYPE,
                    problem_bytes(problem),
                    headers=tuple(refusal.headers.items()),
                )
            body = model.model_dump_json(by_alias=True).encode()
            return StoredResponse(status, "application/json", body)

        return self.answer(stored)

    def answer(self, work: Callable[[Transaction], StoredResponse]) -> Response:
        """The key's answer: the stored one, a conflict over the key, or `work`'s."""
        try:
            answer = self.sandbox.idempotency.run(self.merchant, self.key, self._fingerprint, work)
        except IdempotencyConflict as conflict:
            problem = SandboxProblem(conflict.code, conflict.detail)
            return problem_response(problem.problem(self._request_id, self._instance))
        headers = dict(answer.headers)
        if answer.replayed:
            headers[REPLAYED_HEADER] = "true"
        return Response(
            answer.body, status_code=answer.status, media_type=answer.content_type, headers=headers
        )


async def _write_of(request: Request, sandbox: Sandbox, merchant: str, key: str) -> Write:
    body = await request.body()
    return Write(
        sandbox,
        merchant,
        key,
        fingerprint(request.method, request.url.path, body),
        request_id=request_id_of(request.scope),
        instance=request.url.path,
    )


async def _write(
    request: Request,
    merchant: Merchant,
    key: Annotated[
        str,
        Header(
            alias=IDEMPOTENCY_HEADER,
            min_length=1,
            max_length=_KEY_LENGTH,
            description="Names this write: a retry with the same key and body gets the first "
            "answer again, and the write is carried out once.",
        ),
    ],
) -> Write:
    return await _write_of(request, _sandbox(request), merchant, key)


WriteDep = Annotated[Write, Depends(_write)]
