"""Dispatch deliveries as `passerelle serve` does, onto a ledger that is its own back end: for a
plugin's tests of arrival orders, repeats and staleness through the real dispatcher.

``dispatched(platform, store, order, requests)`` receives `requests` into a fresh SQLite inbox
(with the platform's own keys), drains the real `Dispatcher` (stale check, translation, ledger,
deferral), waiting out deferrals on a clock, until every delivery is settled, and returns the
ledger it ends with and the deliveries as stored.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx

from passerelle.checkout import Order
from passerelle.clock import FixedClock
from passerelle.connector.dispatch_policy import DispatchPolicy
from passerelle.connector.dispatcher import Dispatcher
from passerelle.connector.mirror import OrderMirror
from passerelle.connector.store import Delivery, DeliveryStatus, NewDelivery, open_store
from passerelle.orders import OrderLedger
from passerelle.platforms import Store, WebhookPlatform, WebhookRequest
from passerelle.plugins import Plugins

__all__ = ["Dispatched", "LedgerMirror", "dispatched"]


class AcceptingBackEnd:
    """A back end that accepts every call and says nothing of the order: the ledger the
    dispatcher computed stands (the mirror is the authority)."""

    def _accept(self, *args: object, **kwargs: object) -> SimpleNamespace:
        return SimpleNamespace(order=None)

    ship = cancel = refund = update_cart = _accept


class LedgerMirror(OrderMirror):
    """The mirror as its own back end: the ledger it holds is the authority."""

    def __init__(self, ledger: OrderLedger) -> None:
        super().__init__(client=None)  # type: ignore[arg-type]  # never asked
        self.put(ledger)

    def refresh(self, reference: str) -> OrderLedger:
        return self.get(reference)


@dataclass(frozen=True)
class Dispatched:
    """How a run ended: the order's ledger and every delivery as stored, in arrival order."""

    ledger: OrderLedger
    deliveries: tuple[Delivery, ...]

    @property
    def failed(self) -> tuple[Delivery, ...]:
        """The deliveries waiting for a person."""
        return tuple(d for d in self.deliveries if d.status is DeliveryStatus.FAILED)


def dispatched(
    platform: WebhookPlatform,
    store: Store,
    order: Order,
    requests: Iterable[WebhookRequest],
    *,
    now: datetime = datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
    rounds: int = 100,
) -> Dispatched:
    """Receive and dispatch `requests` (see the module documentation); `AssertionError` when
    they are not all settled after `rounds` waits of an hour."""
    clock = FixedClock(now)
    mirror = LedgerMirror(OrderLedger.open(order))
    with (
        tempfile.TemporaryDirectory() as folder,
        open_store(f"sqlite:///{Path(folder) / 'inbox.db'}", clock=clock) as inbox,
        httpx.Client() as http,
    ):
        dispatcher = Dispatcher(
            store=inbox,
            platforms={platform.name: platform},
            stores={(platform.name, store.id): store},
            plugins=Plugins(),
            backend=AcceptingBackEnd(),  # type: ignore[arg-type]
            mirror=mirror,
            http=http,
            policy=DispatchPolicy(defer_for=timedelta(days=30)),
            clock=clock,
        )
        ids = [
            inbox.append(
                NewDelivery.from_request(
                    request,
                    delivery_key=platform.delivery_key(request),
                    ordering_key=platform.ordering_key(request),
                )
            ).id
            for request in requests
        ]
        try:
            for _ in range(rounds):
                dispatcher.drain()
                stored = tuple(inbox.get(i) for i in ids)
                if all(
                    d.status not in (DeliveryStatus.PENDING, DeliveryStatus.PROCESSING)
                    for d in stored
                ):
                    break
                clock.advance(timedelta(hours=1))  # past any deferral's wait
            else:
                raise AssertionError(
                    "deliveries never settled: "
                    + ", ".join(f"{d.delivery_key} {d.status}: {d.last_error}" for d in stored)
                )
        finally:
            dispatcher.stop()
    return Dispatched(mirror.get(order.reference), stored)
