"""A local stand-in for WooCommerce's REST API refund endpoint, for tests and ``passerelle demo``:
``GET /wp-json/wc/v3/orders/{id}/refunds/{refund_id}`` as an ASGI app (serve it over a socket with
`passerelle.serving.BackgroundServer`) or a WSGI app (`FakeRestApi.wsgi`, for an in-process
client). It answers as WooCommerce does: PHP's JSON, ``/`` written ``\\/``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qs

__all__ = ["CONSUMER_KEY", "CONSUMER_SECRET", "FakeRestApi", "refund_resource"]

CONSUMER_KEY: Final = "ck_0123456789abcdef"
CONSUMER_SECRET: Final = "cs_fedcba9876543210"  # noqa: S105 - the fake's own test key

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class FakeRestApi:
    """WooCommerce's ``GET /wp-json/wc/v3/orders/{id}/refunds/{refund_id}``, as an ASGI app.

    `refunds` maps (order id, refund id) to the refund resource; `fail_with` makes every answer
    that status (with ``Retry-After: 7``) until cleared; `calls` counts requests answered.
    Accepts the test key by basic auth or in the query string.
    """

    def __init__(self) -> None:
        self.refunds: dict[tuple[int, int], dict[str, Any]] = {}
        self.fail_with: int | None = None
        self.calls = 0
        self.base_url = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        status, body = self.answer(scope["path"], scope["query_string"].decode(), authorization)
        headers = [(k.lower().encode(), v.encode()) for k, v in self.headers(status)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """The same API as a WSGI app, for an in-process client."""
        status, body = self.answer(
            environ["PATH_INFO"],
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_AUTHORIZATION", ""),
        )
        start_response(f"{status} {'OK' if status == 200 else 'Error'}", self.headers(status))
        return [body]

    @staticmethod
    def headers(status: int) -> list[tuple[str, str]]:
        found = [("Content-Type", "application/json")]
        if status == 429 or status >= 500:
            found.append(("Retry-After", "7"))
        return found

    def answer(self, path: str, query: str, authorization: str) -> tuple[int, bytes]:
        self.calls += 1
        if self.fail_with is not None:
            return self.fail_with, b'{"code": "unavailable"}'
        if not _authorized(parse_qs(query), authorization):
            return 401, b'{"code": "woocommerce_rest_cannot_view"}'
        parts = path.strip("/").split("/")
        if len(parts) == 7 and parts[:3] == ["wp-json", "wc", "v3"] and parts[3] == "orders":
            key = (
                (int(parts[4]), int(parts[6]))
                if parts[4].isdigit() and parts[6].isdigit()
                else None
            )
            found = self.refunds.get(key) if key and parts[5] == "refunds" else None
            if found is not None:
                return 200, json.dumps(found).replace("/", "\\/").encode()
        return 404, b'{"code": "woocommerce_rest_invalid_id"}'


def _authorized(query: dict[str, list[str]], authorization: str) -> bool:
    if "consumer_key" in query:
        return query.get("consumer_key") == [CONSUMER_KEY] and query.get("consumer_secret") == [
            CONSUMER_SECRET
        ]
    expected = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
    return authorization == f"Basic {expected}"


def refund_resource(
    refund: int,
    created: str,
    amount: str,
    lines: dict[int, tuple[int, str]] | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """A refund resource as the REST API gives it: `lines` maps an order line id to the
    (quantity, total before tax) refunded, which WooCommerce writes negative."""
    return {
        "id": refund,
        "date_created_gmt": created,
        "amount": amount,
        "reason": reason,
        "refunded_by": 1,
        "refunded_payment": True,
        "meta_data": [],
        "line_items": [
            {
                "id": refund * 10 + n,
                "quantity": -quantity,
                "subtotal": f"-{total}",
                "total": f"-{total}",
                "total_tax": "0.00",
                "price": -float(total),
                "meta_data": [{"id": 1, "key": "_refunded_item_id", "value": str(line)}],
            }
            for n, (line, (quantity, total)) in enumerate((lines or {}).items())
        ],
    }
