"""Demo scenarios: what a platform contributes to `passerelle demo`.

A webhook platform's scenario names a store, the orders a checkout creates at the back end, the
signed deliveries the platform then sends, and what each order's ledger must end with. A file
platform's scenario names a store, the files its accounting package writes into the store's
watched folder one after the other, and the back-office actions then taken through the admin
API, each with what must come of it. `passerelle demo` runs each against the sandbox back end
and a connector on temporary files, and fails when an outcome is not the expected one. A
platform returns its scenarios from `WebhookPlatform.demo_scenarios` or
`FilePlatform.demo_scenarios`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from passerelle.backend.models import OrderCreate
from passerelle.platforms import SignedDelivery, Store

__all__ = [
    "BatchAction",
    "DemoDelivery",
    "DemoScenario",
    "ExpectedLedger",
    "FileDemoScenario",
    "FileDrop",
]


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


@dataclass(frozen=True)
class FileDrop:
    """One generation of a file platform's scenario: `files` (name, bytes) written into the
    watched folder together (a file and its archive copy are one file: the same bytes), what it
    shows (`title`), the `batch` it carries and how it must end.

    `expect` is the delivery's status (``done``, ``ignored`` or ``failed``), `code` the action
    center's code for a failed one (``batch_overlap``). For a file that must reach the back end,
    `processing_date` and `payees` are what the back end's batch must then have; with `payees`
    None the back end must not know the batch."""

    title: str
    files: Sequence[tuple[str, bytes]]
    batch: str
    expect: str = "done"
    code: str | None = None
    processing_date: dt.date | None = None
    payees: Sequence[str] | None = None


@dataclass(frozen=True)
class BatchAction:
    """A back-office action on `batch` through the admin API (``DELETE /api/batches/{id}`` or
    ``POST .../reschedule`` to `to`), taken once the sandbox back end's clock is set to
    `clock_at` (when given); `expect` is ``done`` or the problem code it must be refused with
    (``batch_past_cutoff``), and `status` the back end's status of the batch afterwards."""

    title: str
    action: Literal["delete", "reschedule"]
    batch: str
    expect: str
    status: str
    to: dt.date | None = None
    clock_at: dt.datetime | None = None


@dataclass(frozen=True)
class FileDemoScenario:
    """A file platform's store, its files in writing order, then the back-office actions."""

    store: Store
    drops: Sequence[FileDrop]
    actions: Sequence[BatchAction] = ()
