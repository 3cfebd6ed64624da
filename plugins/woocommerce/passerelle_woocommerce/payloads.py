"""The parts of WooCommerce's order and refund resources Passerelle reads, as pydantic models,
read with `passerelle.plugin.parse_model`. Unknown fields are ignored.

Money is read from the string fields only: ``line_items[].price`` is a JSON number (a float in
PHP) and is never read. Times are the ``*_gmt`` fields, which WooCommerce writes without an
offset: they are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator

from passerelle.plugin import LONGEST_ID, Amount, Body, Count, Id, Items

__all__ = [
    "Charge",
    "LineItem",
    "MetaData",
    "OrderSnapshot",
    "RefundEntry",
    "RefundLine",
    "RestRefund",
]


def _gmt(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Gmt = Annotated[datetime, AfterValidator(_gmt)]
"""A ``*_gmt`` time: UTC when it names no offset."""


class MetaData(Body):
    key: str | None = None
    value: Any = None


class LineItem(Body):
    id: Id
    quantity: Count
    name: str | None = None
    subtotal: Amount = Decimal(0)
    subtotal_tax: Amount = Decimal(0)


class Charge(Body):
    """A shipping or fee line: its amount before and its tax."""

    id: Id
    method_title: str | None = None
    name: str | None = None
    total: Amount = Decimal(0)
    total_tax: Amount = Decimal(0)


class RefundEntry(Body):
    """An entry of the order's ``refunds``: only the id and the (negative) total."""

    id: Id
    reason: str | None = None
    total: Amount


class OrderSnapshot(Body):
    """The order resource, as an ``order.*`` delivery carries it."""

    id: Id
    status: str
    currency: str
    total: Amount
    date_modified_gmt: Gmt | None = None
    date_completed_gmt: Gmt | None = None
    discount_total: Amount = Decimal(0)
    discount_tax: Amount = Decimal(0)
    line_items: Items[LineItem] = ()
    shipping_lines: Items[Charge] = ()
    fee_lines: Items[Charge] = ()
    refunds: Items[RefundEntry] = ()
    meta_data: Items[MetaData] = ()


class RefundLine(Body):
    """A line of a refund: negative quantity and amounts, the order line in its meta data."""

    id: Id
    quantity: int = 0
    total: Amount = Decimal(0)
    total_tax: Amount = Decimal(0)
    meta_data: Items[MetaData] = ()

    @property
    def refunded_item(self) -> str | None:
        """The id of the order line this line refunds (``_refunded_item_id``)."""
        for meta in self.meta_data:
            value = str(meta.value).strip()
            # An id longer than any line's names no line (and int() refuses 4,300 digits).
            if meta.key == "_refunded_item_id" and value.isdigit() and len(value) <= LONGEST_ID:
                return str(int(value))
        return None


class RestRefund(Body):
    """The refund resource, ``GET /wp-json/wc/v3/orders/{id}/refunds/{refund_id}``."""

    id: Id
    date_created_gmt: Gmt
    amount: Amount
    reason: str | None = None
    line_items: Items[RefundLine] = ()
