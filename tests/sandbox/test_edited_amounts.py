"""After a cart edit, partial shipments capture the same amounts whatever order they arrive in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from passerelle.backend.client import BackendClient
from passerelle.backend.models import CartLineItem, CartUpdate, OrderCreate, ShipmentCreate
from passerelle.events import LineType
from passerelle.money import Money
from passerelle.sandbox.server import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BackendClient]:
    with BackendClient(sandbox.url, DEFAULT_TOKEN, DEFAULT_MERCHANT) as backend:
        yield backend


def item(ref: str, price: str, kind: LineType = LineType.PRODUCT) -> CartLineItem:
    return CartLineItem(
        reference=ref, name=ref, type=kind, unit_price=Money.of(price, "USD"), quantity=1
    )


def edited_order(client: BackendClient, reference: str) -> None:
    products = (item("A", "0.01"), item("B", "0.02"), item("C", "0.01"))
    client.create_order(
        OrderCreate(
            reference=reference,
            currency="USD",
            lines=(*products, item("SHIP", "12.00", LineType.HANDLING)),
        )
    )
    client.update_cart(
        reference,
        CartUpdate(event_id="edit-1", cart=(*products, item("SHIP", "9.99", LineType.HANDLING))),
    )


def ship(client: BackendClient, reference: str, line: str) -> Money:
    shipment = ShipmentCreate.model_validate(
        {"event_id": f"F-{line}", "lines": [{"line": line, "quantity": 1}]}
    )
    return client.ship(reference, shipment).captured


def test_the_order_of_partial_shipments_after_an_edit_does_not_change_the_amounts(
    client: BackendClient,
) -> None:
    edited_order(client, "first")
    edited_order(client, "second")
    one = [ship(client, "first", "A"), ship(client, "first", "B")]
    two = [ship(client, "second", "B"), ship(client, "second", "A")]

    assert sum(one, Money.zero("USD")) == sum(two, Money.zero("USD"))
    first, second = client.get_order("first"), client.get_order("second")
    assert (first.captured, first.authorized) == (second.captured, second.authorized)
    assert first.cart_start is not None
    assert first.cart_start.total == Money.of("10.03", "USD")
    # The connector's mirror, rebuilt from the view, computes the next act as the back end does.
    mirror = first.to_ledger()
    assert mirror.cart_start == first.cart_start.to_cart_start()
