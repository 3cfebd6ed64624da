"""Many threads calling the back end through a `ShardedTransport`: each gets its own answers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from passerelle.backend.client import BackendClient
from passerelle.backend.models import CartLineItem, OrderCreate
from passerelle.backend.pools import ShardedTransport
from passerelle.money import Money
from passerelle.sandbox import SandboxServer
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def test_threads_over_several_pools_each_get_their_own_order(sandbox: SandboxServer) -> None:
    transport = ShardedTransport(12, per_pool=4)
    assert transport.pools == 3
    with (
        httpx.Client(transport=transport) as http,
        BackendClient(sandbox.url, DEFAULT_TOKEN, DEFAULT_MERCHANT, http_client=http) as client,
    ):
        references = [f"pooled-{n}" for n in range(24)]
        line = CartLineItem(
            reference="SKU-1", name="Mug", unit_price=Money.of("12.50", "CAD"), quantity=1
        )
        for reference in references:
            client.create_order(OrderCreate(reference=reference, currency="CAD", lines=(line,)))
        with ThreadPoolExecutor(12) as threads:
            views = list(threads.map(client.get_order, references * 3))
    assert [view.reference for view in views] == references * 3


def test_a_pool_is_never_larger_than_the_connections_asked_for() -> None:
    assert ShardedTransport(3, per_pool=8).pools == 1
    assert ShardedTransport(17, per_pool=8).pools == 3


@pytest.mark.parametrize(
    ("connections", "per_pool", "message"),
    [
        (0, 8, "connections must be at least 1, got 0"),
        (4, 0, "per_pool must be at least 1, got 0"),
    ],
)
def test_a_transport_without_connections_is_refused(
    connections: int, per_pool: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ShardedTransport(connections, per_pool=per_pool)
