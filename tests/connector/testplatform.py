"""A small webhook platform for connector tests: JSON bodies signed with HMAC-SHA256.

Deliveries carry `X-Test-Signature` (base64 HMAC-SHA256 of the raw body with one of the store's
secrets) and `X-Test-Delivery` (the de-duplication key). The JSON body's `order` field is the
ordering key; its `events` list holds the events it means, written as the SDK's event models
(`{"kind": "order_shipped", "order": ..., "id": ...}`), `ignore` a reason to ignore it, and
`fetch` a URL of the platform's API to read first (any error status fails the translation),
`unavailable` a ``Retry-After`` value with which the platform's API is unavailable.
`version` (`{"subject": ..., "as_of": an ISO 8601 time}`) is its `Version`; a malformed one
raises, as a faulty plugin would. A form-encoded `webhook_id=...` body without a signature is
a ping, as WooCommerce sends.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from passerelle.events import Event
from passerelle.payloads import field_path
from passerelle.platforms import (
    PlatformUnavailableError,
    Store,
    Translation,
    TranslationContext,
    TranslationError,
    VerificationError,
    Version,
    WebhookPlatform,
    WebhookRequest,
)
from passerelle.signatures import HmacSignature

SIGNATURE_HEADER = "X-Test-Signature"
DELIVERY_HEADER = "X-Test-Delivery"
PLATFORM = "test"

_EVENT = TypeAdapter[Event](Event)


SIGNATURE = HmacSignature(SIGNATURE_HEADER)


def sign(body: bytes, secret: str) -> str:
    """The `X-Test-Signature` value for `body` under `secret`."""
    return SIGNATURE.sign(body, secret)[SIGNATURE_HEADER]


def signed_headers(
    body: bytes, secret: str, *, delivery: str, content_type: str = "application/json"
) -> dict[str, str]:
    """Headers of an authentic delivery of `body`."""
    return {
        "Content-Type": content_type,
        SIGNATURE_HEADER: sign(body, secret),
        DELIVERY_HEADER: delivery,
    }


def body(order: str | None = "1001", **fields: Any) -> bytes:
    """A JSON delivery body for `order` with extra `fields`."""
    content: dict[str, Any] = {} if order is None else {"order": order}
    content.update(fields)
    return json.dumps(content).encode()


class TestPlatform(WebhookPlatform):
    """The platform `test` (see the module documentation)."""

    __test__ = False  # not a pytest test class despite its name
    name = PLATFORM

    def verify(self, request: WebhookRequest, store: Store) -> None:
        SIGNATURE.verify(request, store)

    def sign(self, body: bytes, secret: str) -> Mapping[str, str]:
        return SIGNATURE.sign(body, secret)

    def delivery_key(self, request: WebhookRequest) -> str:
        key: str | None = request.headers.get(DELIVERY_HEADER)
        if not key:
            raise VerificationError(f"missing header {DELIVERY_HEADER}")
        return key

    def ordering_key(self, request: WebhookRequest) -> str | None:
        content = _json(request.body)
        order = content.get("order") if isinstance(content, Mapping) else None
        if isinstance(order, bool) or not isinstance(order, str | int):
            return None
        return str(order) or None

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        try:
            content = json.loads(request.body)
        except ValueError as exc:  # a UnicodeDecodeError too
            raise TranslationError(f"the body is not JSON: {exc}") from None
        if not isinstance(content, Mapping):
            raise TranslationError("the body is not a JSON object")
        if isinstance(content.get("ignore"), str):
            return Translation.ignore(content["ignore"])
        if isinstance(content.get("unavailable"), str):
            raise PlatformUnavailableError(
                "the API is down for maintenance", retry_after=content["unavailable"] or None
            )
        if isinstance(content.get("fetch"), str):
            # Stands for a platform whose deliveries carry deltas only: its API is asked first.
            context.http.get(content["fetch"]).raise_for_status()
        raw_events = content.get("events", [])
        if not isinstance(raw_events, list):
            raise TranslationError("must be a list", field="events")
        events = []
        for index, raw in enumerate(raw_events):
            try:
                events.append(_EVENT.validate_python(raw))
            except ValidationError as exc:
                first = exc.errors()[0]
                # The first part of the location is the event's kind, the union's tag.
                inner = first["loc"][1:]
                where = f"events[{index}]" + (f".{field_path(inner)}" if inner else "")
                raise TranslationError(first["msg"], field=where) from None
        if not events:
            return Translation.ignore("the delivery lists no event")
        return Translation(events=tuple(events))

    def version(self, request: WebhookRequest) -> Version | None:
        content = _json(request.body)
        if not isinstance(content, Mapping) or "version" not in content:
            return None
        given = content["version"]
        return Version(subject=given["subject"], as_of=datetime.fromisoformat(given["as_of"]))

    def is_ping(self, request: WebhookRequest) -> bool:
        return SIGNATURE_HEADER not in request.headers and request.body.startswith(b"webhook_id=")


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None
