"""Demo scenarios: what a platform contributes to `passerelle demo`.

A scenario names a store, the orders a checkout creates at the back end, the signed deliveries
the platform then sends, and what each order's ledger must end with. `passerelle demo` runs it
against the sandbox back end and a connector on temporary files, and fails when an outcome is
not the expected one. A platform returns its scenarios from `WebhookPlatform.demo_scenarios`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from passerelle.backend.models import OrderCreate
from passerelle.platforms import SignedDelivery, Store

__all__ = ["DemoDelivery", "DemoScenario", "ExpectedLedger"]


@dataclass(frozen=True)
class DemoDelivery:
    """One delivery of a scenario: what it shows (`title`), the platform's name for the act
    (`act`, a Shopify topic), the delivery itself, whether it repeats an earlier one (the
    connector must then store it once and dispatch it once), and how it must end."""

    title: str
    act: str
    delivery: SignedDelivery
    duplicate: bool = False
    expect: str = "done"
    """What the delivery must end as: ``done``, or ``ignored`` (a stale or an empty one)."""


@dataclass(frozen=True)
class ExpectedLedger:
    """What the back end must end with for one order: per line reference, the quantities
    (shipped, cancelled, returned); and the amounts captured, refunded, voided and disbursed
    (decimal text in the order's currency)."""

    lines: Mapping[str, tuple[int, int, int]]
    captured: str
    refunded: str
    voided: str
    disbursed: str


@dataclass(frozen=True)
class DemoScenario:
    """A store, its checkout, its deliveries in sending order and the expected ledgers (by
    order reference). `act_column` heads the column of `DemoDelivery.act`."""

    store: Store
    orders: Sequence[OrderCreate]
    deliveries: Sequence[DemoDelivery]
    expected: Mapping[str, ExpectedLedger]
    act_column: str = "act"
