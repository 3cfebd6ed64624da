"""What happened to an order, inferred from a snapshot of it: shipments, cancellations, returns.

WooCommerce sends the whole order as it stands, never the act. Every act is therefore derived
from the state alone, under an id that state determines, so that any snapshot reporting it gives
the same event and the ledger applies it once: a repeated or merged snapshot changes nothing and
a later one adds only what is new.

Shipping
    Moving to ``completed`` is the shipment: the order has shipped once it has a
    ``date_completed_gmt`` (kept when it later moves on, so a ``processing`` snapshot after
    ``completed`` un-ships nothing). Everything ordered ships, less the units refunded before
    completion. Id: ``shipped:<order>:<line>x<quantity>,...`` (hashed when long), so a completion
    shipping other quantities than one already applied is refused by the ledger, never dropped.
    Tracking comes from the Shipment Tracking extension (``_wc_shipment_tracking_items``) as the
    first snapshot reporting the completion has it: tracking added later is not sent again.
Refunds (id ``refund:<refund id>``)
    Read from the REST API (`passerelle_woocommerce.rest_api`) and placed in time by their
    ``date_created_gmt``. One made before completion refunds unshipped units: they are cancelled
    (``OrderCancelled``); what it refunds beyond their value (shipping, fees, tax) was captured
    with the shipment, so it rides on an ``OrderReturned`` with no lines once the order has
    shipped, and is dropped while nothing is captured. One made after completion is a return of
    its units with all its money (``OrderReturned``), shipping, fees and tax included.
``cancelled`` and ``refunded`` (id ``closed:<order>``)
    Before shipment, whatever is unshipped is cancelled (a void). After it, the shipped units no
    refund returned come back with no money of their own: WooCommerce lists the money it gave
    back in ``refunds`` (a ``refunded`` order's refunds add up to its total), each applied above.
    One id for both statuses, so ``cancelled`` then ``refunded`` closes the order once.
Money
    A cancelled unit releases its pro-rata share of shipping, fees and tax, which can be more than
    WooCommerce refunded for it; so each return's refund is capped at what the order's ledger
    holds refundable then (`passerelle.plugin.cap_refunds`), replayed on the cart of
    `passerelle_woocommerce.checkout`, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from passerelle.plugin import (
    EXACT,
    CancelReason,
    Currency,
    LineQuantity,
    Money,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
    Tracking,
    TranslationError,
    amount_in,
    amount_of,
    bounded_key,
    cap_refunds,
    known_currency,
)
from passerelle_woocommerce.checkout import checkout_lines
from passerelle_woocommerce.payloads import MetaData, OrderSnapshot, RestRefund

__all__ = ["CLOSING_STATUSES", "TRACKING_META", "closed_id", "refund_id", "snapshot_events"]

Act = OrderShipped | OrderCancelled | OrderReturned

CLOSING_STATUSES: Final = frozenset({"cancelled", "refunded"})
TRACKING_META: Final = "_wc_shipment_tracking_items"
_TEXT_MAX: Final = 255


def refund_id(refund: int) -> str:
    return f"refund:{refund}"


def closed_id(order: int) -> str:
    return f"closed:{order}"


def snapshot_events(order: OrderSnapshot, refunds: Mapping[int, RestRefund]) -> tuple[Act, ...]:
    """The acts `order` reports, in the order they happened; `refunds` holds each refund the
    snapshot lists, as the REST API gives it."""
    reference = str(order.id)
    currency = known_currency(order.currency, "currency")
    status = order.status.strip().lower()
    shipped_at = order.date_completed_gmt
    if status == "completed" and shipped_at is None:
        raise TranslationError(
            f"order {order.id} is completed without a completion time", field="date_completed_gmt"
        )
    ordered: dict[str, int] = {}
    for item in order.line_items:
        if item.quantity:
            ordered[str(item.id)] = ordered.get(str(item.id), 0) + item.quantity

    before: list[Act] = []
    after_shipping: list[Act] = []
    unshipped_refunded: dict[str, int] = {}
    returned: dict[str, int] = {}
    for index, entry in enumerate(order.refunds):
        if entry.id not in refunds:
            raise TranslationError(f"refund {entry.id} was not read", field=f"refunds[{index}]")
    chronological = sorted(
        (refunds[entry.id] for entry in order.refunds), key=lambda r: (r.date_created_gmt, r.id)
    )
    for refund in chronological:
        units = _units(refund)
        amount = amount_in(abs(refund.amount), currency, f"refund {refund.id}.amount")
        reason = (refund.reason or "").strip()[:500] or None
        if shipped_at is None or refund.date_created_gmt < shipped_at:
            if units:
                before.append(
                    OrderCancelled(order=reference, id=refund_id(refund.id), lines=_lines(units))
                )
                _add(unshipped_refunded, units)
            excess = amount.amount - min(_value(refund, currency), amount.amount)
            if shipped_at is not None and excess > 0:
                after_shipping.append(
                    OrderReturned(
                        order=reference,
                        id=refund_id(refund.id),
                        refund=Money.of(excess, currency.code),
                        reason=reason,
                    )
                )
        else:
            after_shipping.append(
                OrderReturned(
                    order=reference,
                    id=refund_id(refund.id),
                    lines=_lines(units),
                    refund=amount,
                    reason=reason,
                )
            )
            _add(returned, units)

    events: list[Act] = list(before)
    shipped: dict[str, int] = {}
    if shipped_at is not None:
        shipped = {
            line: quantity - unshipped_refunded.get(line, 0)
            for line, quantity in ordered.items()
            if quantity > unshipped_refunded.get(line, 0)
        }
        if shipped:
            listed = ",".join(f"{line}x{quantity}" for line, quantity in sorted(shipped.items()))
            events.append(
                OrderShipped(
                    order=reference,
                    id=bounded_key(f"shipped:{reference}:{listed}"),
                    lines=_lines(shipped),
                    tracking=tracking(order.meta_data),
                )
            )
    events.extend(after_shipping)
    if status in CLOSING_STATUSES:
        if shipped_at is None:
            events.append(
                OrderCancelled(order=reference, id=closed_id(order.id), reason=CancelReason.OTHER)
            )
        else:
            kept = {
                line: quantity - returned.get(line, 0)
                for line, quantity in shipped.items()
                if quantity > returned.get(line, 0)
            }
            if kept:
                events.append(
                    OrderReturned(
                        order=reference,
                        id=closed_id(order.id),
                        lines=_lines(kept),
                        refund=Money.zero(currency.code),
                        reason=(
                            f"order {status} after it completed; WooCommerce refunded no more "
                            "than its refunds for these units"
                        ),
                    )
                )
    if not any(isinstance(event, OrderReturned) for event in events):
        return tuple(events)
    capped = cap_refunds(reference, currency.code, checkout_lines(order), events)
    return tuple(event for event in capped if not isinstance(event, OrderEdited))


def tracking(meta_data: tuple[MetaData, ...]) -> Tracking | None:
    """The first shipment the Shipment Tracking extension records, if any."""
    for meta in meta_data:
        if meta.key != TRACKING_META or not isinstance(meta.value, list):
            continue
        for item in meta.value:
            if isinstance(item, dict):
                found = _tracking_item(item)
                if found is not None:
                    return found
    return None


def _tracking_item(item: Mapping[str, Any]) -> Tracking | None:
    def text(*names: str) -> str | None:
        for name in names:
            value = item.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    carrier = text("custom_tracking_provider", "tracking_provider")
    number = text("tracking_number")
    url = text("custom_tracking_link")
    if url is not None and (len(url) > 2048 or not url.startswith(("http://", "https://"))):
        url = None
    if not (carrier or number or url):
        return None
    return Tracking(
        carrier=carrier[:_TEXT_MAX] if carrier else None,
        number=number[:_TEXT_MAX] if number else None,
        url=url,
    )


def _units(refund: RestRefund) -> dict[str, int]:
    units: dict[str, int] = {}
    for index, line in enumerate(refund.line_items):
        if not line.quantity:
            continue
        item = line.refunded_item
        if item is None:
            raise TranslationError(
                f"refund {refund.id} names no order line (_refunded_item_id)",
                field=f"line_items[{index}].meta_data",
            )
        units[item] = units.get(item, 0) + abs(line.quantity)
    return units


def _value(refund: RestRefund, currency: Currency) -> Decimal:
    """What the refund's units were worth, tax included (WooCommerce writes them negative)."""
    total = Decimal(0)
    for index, line in enumerate(refund.line_items):
        if line.quantity:
            at = f"refund {refund.id}.line_items[{index}]"
            total = EXACT.add(total, abs(amount_of(line.total, currency, f"{at}.total")))
            total = EXACT.add(total, abs(amount_of(line.total_tax, currency, f"{at}.total_tax")))
    return total


def _add(into: dict[str, int], units: Mapping[str, int]) -> None:
    for line, quantity in units.items():
        into[line] = into.get(line, 0) + quantity


def _lines(units: Mapping[str, int]) -> tuple[LineQuantity, ...]:
    return tuple(LineQuantity(line=line, quantity=q) for line, q in sorted(units.items()) if q)
