"""Request dependencies: who is calling (token + merchant) and the idempotent write they make."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from passerelle.backend.client import IDEMPOTENCY_HEADER, MERCHANT_HEADER
from passerelle.sandbox.db import Transaction
from passerelle.sandbox.errors import SandboxProblem
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
]

REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to ``true`` on an answer replayed for a repeated idempotency key."""

_bearer = HTTPBearer(
    auto_error=False,
    description="The API token; each token acts for one merchant.",
)


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


SandboxDep = Annotated[Sandbox, Depends(_sandbox)]


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


def _merchant(
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


Admin = Depends(_admin)


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


Reply = tuple[int, BaseModel]


class Write:
    """An authenticated write under its idempotency key."""

    def __init__(self, sandbox: Sandbox, merchant: str, key: str, request_fingerprint: str) -> None:
        self.sandbox = sandbox
        self.merchant = merchant
        self.key = key
        self._fingerprint = request_fingerprint

    def run(self, work: Callable[[Transaction], Reply]) -> Response:
        """Carry out `work` once for this key and answer its reply (or the stored one).

        `work` raises a `SandboxProblem` to refuse; nothing it did is then kept.
        """

        def stored(tx: Transaction) -> StoredResponse:
            status, model = work(tx)
            body = model.model_dump_json(by_alias=True).encode()
            return StoredResponse(status, "application/json", body)

        try:
            answer = self.sandbox.idempotency.run(
                self.merchant, self.key, self._fingerprint, stored
            )
        except IdempotencyConflict as conflict:
            raise SandboxProblem(conflict.code, conflict.detail) from None
        headers = {REPLAYED_HEADER: "true"} if answer.replayed else {}
        return Response(
            answer.body, status_code=answer.status, media_type=answer.content_type, headers=headers
        )


async def _write(
    request: Request,
    merchant: Merchant,
    key: Annotated[
        str,
        Header(
            alias=IDEMPOTENCY_HEADER,
            min_length=1,
            max_length=255,
            description="Names this write: a retry with the same key and body gets the first "
            "answer again, and the write is carried out once.",
        ),
    ],
) -> Write:
    body = await request.body()
    return Write(
        _sandbox(request), merchant, key, fingerprint(request.method, request.url.path, body)
    )


WriteDep = Annotated[Write, Depends(_write)]
