"""``POST /files/{platform}/{store}``: a batch file uploaded to the connector.

The call needs a ``full`` admin token (``Authorization: Bearer ...``). The body is the file's raw
bytes, streamed into the inbox and refused past the size limit; ``?name=PRDIRECT.DAT`` names it.
Answers: 202 with ``{"delivery", "duplicate": false, "sha256", "size"}`` once the file is stored
durably, 200 with ``"duplicate": true`` for bytes already received; ``unknown_platform`` or
``unknown_store`` (404), ``file_too_large`` (413), ``store_unavailable`` (503), all RFC 9457
problems. What the file then becomes is the dispatcher's: see the delivery in the action center.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from passerelle.backend.problems import PROBLEM_CONTENT_TYPE
from passerelle.clock import Clock, SystemClock
from passerelle.connector.api import bearer_protected
from passerelle.connector.config import AdminToken
from passerelle.connector.files import MAX_FILE_BYTES, FileTooLargeError, accept_file_async
from passerelle.connector.store import DeliveryStore, StoreError
from passerelle.platforms import FilePlatform, Store

__all__ = ["create_file_upload"]


def _problem(status: int, code: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": code, "status": status, "code": code, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_CONTENT_TYPE)


def create_file_upload(
    inbox: DeliveryStore,
    platforms: Mapping[str, FilePlatform],
    stores: Mapping[tuple[str, str], Store],
    tokens: Iterable[AdminToken],
    *,
    max_bytes: int = MAX_FILE_BYTES,
    clock: Clock | None = None,
    on_append: Callable[[], None] | None = None,
) -> ASGIApp:
    """The upload endpoint over `inbox`, for the file platforms' configured stores."""
    clock = clock or SystemClock()

    async def upload(request: Request) -> Response:
        platform = request.path_params["platform"]
        store = request.path_params["store"]
        if platform not in platforms:
            known = ", ".join(sorted(platforms)) or "none"
            return _problem(
                404, "unknown_platform", f"{platform!r} is not a file platform (known: {known})"
            )
        if (platform, store) not in stores:
            return _problem(404, "unknown_store", f"no store {store!r} of {platform} is configured")
        name = request.query_params.get("name") or "upload"
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            return _problem(
                413, "file_too_large", f"{name}: {declared} bytes, over the limit of {max_bytes}"
            )
        try:
            receipt = await accept_file_async(
                inbox,
                platform,
                store,
                request.stream(),
                filename=name,
                received_at=clock.now(),
                limit=max_bytes,
            )
        except FileTooLargeError as exc:
            return _problem(413, "file_too_large", str(exc))
        except StoreError as exc:
            return _problem(503, "store_unavailable", f"the file was not stored: {exc}")
        if not receipt.duplicate and on_append is not None:
            on_append()
        body = {
            "delivery": receipt.delivery_id,
            "duplicate": receipt.duplicate,
            "sha256": receipt.sha256,
            "size": receipt.size,
        }
        return JSONResponse(body, status_code=200 if receipt.duplicate else 202)

    app = Starlette(routes=[Route("/files/{platform}/{store}", upload, methods=["POST"])])
    return bearer_protected(app, tokens)
