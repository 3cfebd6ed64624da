"""The connector's mirror of order ledgers, kept in step with the back end (the authority)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from passerelle.backend.client import BackendClient
from passerelle.backend.models import OrderView
from passerelle.orders import OrderLedger

__all__ = ["OrderMirror"]


class OrderMirror:
    """Ledgers by order reference: fetched from ``GET /v1/orders/{ref}`` on first use, replaced
    by every answer of the back end, refreshed whenever the mirror and an event disagree.

    Bounded (least recently used orders are forgotten) and safe to share between workers; each
    order is only ever touched by one worker at a time because its deliveries form one lane.
    """

    def __init__(self, client: BackendClient, *, capacity: int = 10_000) -> None:
        self._client = client
        self._capacity = capacity
        self._ledgers: OrderedDict[str, OrderLedger] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, reference: str) -> OrderLedger:
        """The mirrored ledger, fetched from the back end if not mirrored yet."""
        with self._lock:
            ledger = self._ledgers.get(reference)
            if ledger is not None:
                self._ledgers.move_to_end(reference)
                return ledger
        return self.refresh(reference)

    def refresh(self, reference: str) -> OrderLedger:
        """Fetch the order from the back end and mirror it."""
        return self.put_view(self._client.get_order(reference))

    def put_view(self, view: OrderView) -> OrderLedger:
        """Mirror the order as the back end answered it."""
        ledger = view.to_ledger()
        self.put(ledger)
        return ledger

    def put(self, ledger: OrderLedger) -> None:
        with self._lock:
            self._ledgers[ledger.reference] = ledger
            self._ledgers.move_to_end(ledger.reference)
            while len(self._ledgers) > self._capacity:
                self._ledgers.popitem(last=False)

    def put_if_unchanged(self, before: OrderLedger, after: OrderLedger) -> None:
        """Mirror `after` unless the back end's answer already replaced `before`."""
        with self._lock:
            if self._ledgers.get(before.reference) is before:
                self._ledgers[after.reference] = after

    def forget(self, reference: str) -> None:
        with self._lock:
            self._ledgers.pop(reference, None)
