"""A payment back end that answers after a fixed latency and does almost nothing else: the
ceiling a dispatcher is measured against, with no back end's own work in the way.

    python -m bench._stub_backend --port 8000 --latency-ms 20 [--lines 4]

A bare ASGI app served by uvicorn. It knows every order reference it is asked about: each has
`--lines` lines (``SKU-0``, ``SKU-1``, ...) of one unit at 10.00 CAD. It answers the contract's
shapes (`passerelle.backend.models`) for the calls the dispatch bench makes: ``GET
/v1/orders/{ref}`` and ``POST /v1/orders/{ref}/shipments`` (each shipment id is applied once,
as the contract asks). Every other path answers 404.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn

from passerelle.backend.models import (
    AppliedEvent,
    OrderLineView,
    OrderStatus,
    OrderView,
    ShipmentCreate,
    ShipmentResult,
)
from passerelle.events import LineType
from passerelle.money import Money

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CURRENCY = "CAD"
PRICE = Money.of("10.00", CURRENCY)
_CREATED = datetime(2026, 1, 1, tzinfo=UTC)
_PREFIX = "/v1/orders/"


@dataclass
class _Order:
    reference: str
    lines: int
    shipped: dict[str, int] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)

    def view(self) -> OrderView:
        shipped = sum(self.shipped.values())
        status = (
            OrderStatus.OPEN
            if shipped == 0
            else OrderStatus.SHIPPED
            if shipped == self.lines
            else OrderStatus.PARTIALLY_SHIPPED
        )
        return OrderView(
            reference=self.reference,
            currency=CURRENCY,
            status=status,
            lines=tuple(
                OrderLineView(
                    reference=f"SKU-{n}",
                    name=f"Item {n}",
                    type=LineType.PRODUCT,
                    unit_price=PRICE,
                    ordered=1,
                    shipped=self.shipped.get(f"SKU-{n}", 0),
                    cancelled=0,
                    returned=0,
                )
                for n in range(self.lines)
            ),
            authorized=PRICE * self.lines,
            captured=PRICE * shipped,
            refunded=Money.zero(CURRENCY),
            voided=Money.zero(CURRENCY),
            created_at=_CREATED,
            applied=tuple(AppliedEvent(kind="order_shipped", id=i) for i in self.applied),
        )

    def ship(self, shipment: ShipmentCreate) -> Money:
        if shipment.event_id in self.applied:
            return Money.zero(CURRENCY)
        self.applied.append(shipment.event_id)
        units = 0
        for item in shipment.lines or ():
            before = self.shipped.get(item.line, 0)
            self.shipped[item.line] = min(1, before + item.quantity)
            units += self.shipped[item.line] - before
        return PRICE * units


class StubBackend:
    """The ASGI app: every answer after `latency` seconds."""

    def __init__(self, latency: float, lines: int) -> None:
        self.latency = latency
        self.lines = lines
        self.orders: dict[str, _Order] = {}
        self._rendered: dict[tuple[object, ...], bytes] = {}

    def _render(self, order: _Order, captured: Money | None) -> bytes:
        """The order (in a shipment's answer when `captured` is given) as JSON, built by the
        contract's models once per state and reference-free, so that answering costs little."""
        state = (tuple(sorted(order.shipped.items())), tuple(order.applied), captured)
        template = self._rendered.get(state)
        if template is None:
            placeholder = _Order("\x00", order.lines, dict(order.shipped), list(order.applied))
            view = placeholder.view()
            model = view if captured is None else ShipmentResult(order=view, captured=captured)
            template = self._rendered[state] = model.model_dump_json(by_alias=True).encode()
        return template.replace(b"\\u0000", order.reference.encode(), 1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await asyncio.sleep(self.latency)
        status, answer = self._answer(scope["method"], scope["path"], body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if not path.startswith(_PREFIX):
            return 404, b'{"code": "not_found"}'
        reference, _, rest = path[len(_PREFIX) :].partition("/")
        order = self.orders.get(reference)
        if order is None:
            order = self.orders[reference] = _Order(reference, self.lines)
        if method == "GET" and not rest:
            return 200, self._render(order, None)
        if method == "POST" and rest == "shipments":
            captured = order.ship(ShipmentCreate.model_validate_json(body))
            return 201, self._render(order, captured)
        return 404, b'{"code": "not_found"}'


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=int, required=True)
    parser.add_argument("--lines", type=int, default=4)
    options = parser.parse_args()
    app = StubBackend(options.latency_ms / 1000, options.lines)
    uvicorn.run(
        app,
        host=options.host,
        port=options.port,
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
