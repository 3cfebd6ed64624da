"""Lifecycle events: what a platform says happened to an order or a batch file.

Platform plugins translate deliveries into these frozen models; the core checks them against the
order ledger and hands them to the lifecycle hooks inside an `Envelope`, which says where the event
came from and carries its idempotency key.
"""

from __future__ import annotations

import hashlib
import typing
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from passerelle.batches import BatchChange, BatchFile
from passerelle.money import Money

__all__ = [
    "EVENT_TYPES",
    "AnyEvent",
    "AnyOrderEvent",
    "BatchFileEdited",
    "CancelReason",
    "CartLine",
    "Envelope",
    "Event",
    "LineQuantity",
    "LineType",
    "OrderCancelled",
    "OrderEdited",
    "OrderEvent",
    "OrderReturned",
    "OrderShipped",
    "Tracking",
]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineType(StrEnum):
    """What a line of an order stands for."""

    PRODUCT = "product"
    HANDLING = "handling"
    DISCOUNT = "discount"
    FEE = "fee"


class CancelReason(StrEnum):
    """Why an order, or some of its lines, was cancelled."""

    CUSTOMER = "customer"
    DECLINED = "declined"
    FRAUD = "fraud"
    INVENTORY = "inventory"
    STAFF = "staff"
    OTHER = "other"


class LineQuantity(_Frozen):
    """A quantity of one order line, named by the line's reference."""

    line: Text
    quantity: int = Field(gt=0)


class Tracking(_Frozen):
    carrier: Text | None = None
    number: Text | None = None
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None


class CartLine(_Frozen):
    """One line of a cart as it should be: what `OrderEdited` carries for each unshipped line.

    A discount line has a negative `unit_price`.
    """

    reference: Text
    name: Text
    type: LineType = LineType.PRODUCT
    unit_price: Money
    quantity: int = Field(gt=0)

    @property
    def total(self) -> Money:
        return self.unit_price * self.quantity


class _OrderEventBase(_Frozen):
    order: Text
    """The store's order reference, the key under which the back end knows the order."""
    id: Text
    """The platform's id for this act (a fulfillment, a refund, an edit): the ledger applies each
    id once per kind, so a repeated or overlapping delivery changes nothing."""


class OrderShipped(_OrderEventBase):
    """Goods left the warehouse: capture their value. `lines=None` ships everything left."""

    kind: Literal["order_shipped"] = "order_shipped"
    lines: tuple[LineQuantity, ...] | None = None
    tracking: Tracking | None = None


class OrderCancelled(_OrderEventBase):
    """Unshipped goods will not ship. `lines=None` cancels everything unshipped (a void)."""

    kind: Literal["order_cancelled"] = "order_cancelled"
    lines: tuple[LineQuantity, ...] | None = None
    reason: CancelReason = CancelReason.OTHER


class OrderReturned(_OrderEventBase):
    """Shipped goods came back, or money was given back: refund `refund`.

    `lines` may be empty for a refund that returns no goods (shipping, a goodwill credit).
    """

    kind: Literal["order_returned"] = "order_returned"
    lines: tuple[LineQuantity, ...] = ()
    refund: Money
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class OrderEdited(_OrderEventBase):
    """The cart was edited: `cart` is the whole new unshipped part of the order."""

    kind: Literal["order_edited"] = "order_edited"
    cart: tuple[CartLine, ...]


class BatchFileEdited(_Frozen):
    """A batch payment file changed before its cutoff."""

    kind: Literal["batch_file_edited"] = "batch_file_edited"
    batch: Text
    """The batch id, stable across versions of the same file."""
    changes: tuple[BatchChange, ...] = Field(min_length=1)
    processing_date: date | None = None
    """The date the batch was to be processed on before these changes (the previous version's).
    With it, or with a `Rescheduled` change (its `previous`), the dispatcher checks the
    configured cutoff before any hook runs; without either, only the back end checks it."""
    after: BatchFile | None = None
    """The whole batch as the new version has it, when the edit comes from a file. With it the
    back-end step brings the back end's batch to it (creating it for a first version, whose
    changes add every entry), whatever part of the edit already reached the back end."""


AnyOrderEvent = OrderShipped | OrderCancelled | OrderReturned | OrderEdited
"""Every event of an order's lifecycle."""
AnyEvent = AnyOrderEvent | BatchFileEdited
"""Every event kind, declared here once: whatever lists kinds derives from this union (the
ledger's rules, the back-end calls, the observer hooks are checked against it)."""
OrderEvent = Annotated[AnyOrderEvent, Field(discriminator="kind")]
Event = Annotated[AnyEvent, Field(discriminator="kind")]
"""An event read from JSON by its ``kind``."""
EVENT_TYPES: tuple[type[AnyEvent], ...] = typing.get_args(AnyEvent)
"""Each event class, in the order of `AnyEvent`."""


class Envelope(_Frozen):
    """An event and where it came from.

    `idempotency_key` is stable for the same event of the same delivery, however often the
    platform sends that delivery or the dispatcher retries it: it is ``"pse1_"`` followed by the
    first 40 hex digits of SHA-256 over ``platform``, ``store``, ``delivery`` and ``position``
    (and ``redispatch`` when above 0), each UTF-8 encoded and separated by a NUL byte. The
    occurrence time is left out on purpose: a platform may stamp a redelivery of the same act with
    a new time.
    """

    platform: Text
    store: Text
    delivery: Text
    """The delivery's de-duplication key (for Shopify, the event id)."""
    position: int = Field(ge=0)
    """The event's index among the events its delivery translated into."""
    occurred_at: AwareDatetime
    event: Event
    redispatch: int = Field(default=0, ge=0)
    """How many times a person sent the delivery again (a retry from the action center, a
    replay). Each time brings a new idempotency key, so the back end judges anew what it refused
    before instead of answering with its stored refusal; what it already applied is not doubled,
    since each (event kind, event id) applies once."""

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(
            self.platform, self.store, self.delivery, self.position, self.redispatch
        )


def idempotency_key(
    platform: str, store: str, delivery: str, position: int, redispatch: int = 0
) -> str:
    """The documented idempotency key of `Envelope` (see there)."""
    parts = [platform, store, delivery, str(position)]
    if redispatch:
        parts.append(str(redispatch))
    material = "\0".join(parts).encode()
    return "pse1_" + hashlib.sha256(material).hexdigest()[:40]
