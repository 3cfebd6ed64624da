"""A Shopify refund as events: cancelled lines, returned lines, and the money given back.

Which lines are cancelled and which returned
    ``restock_type`` decides: ``cancel`` is a cancellation of unshipped units, ``return`` a return
    of shipped ones. ``no_restock``, ``legacy_restock`` and a missing type (old bodies) say
    nothing about shipping, so the refunded line's ``fulfillment_status`` decides: ``fulfilled``
    is a return, none (unfulfilled) a cancellation. A ``partial`` line is refused: the body does
    not say whether the refunded units are the shipped ones, and guessing moves money.

The money
    The refund is the sum of the refund's successful ``refund`` transactions, in the presentment
    currency; a pending transaction is refused until a person checks it, failed ones moved no
    money. A cancellation moves no money of its own (the back end releases the authorization of
    the cancelled units from its own prices), so the refund is split, exactly, in this order:

    1. the returned lines and the refunded shipping get their value first (subtotal plus tax;
       shipping with its tax, from ``refund_shipping_lines``, or else from ``shipping_refund``
       order adjustments): that money was captured, it is what the customer gets back;
    2. the cancelled lines get what is left, up to their value: that part is dropped, the
       cancellation covers it;
    3. anything beyond (a goodwill amount) goes with the return.

    So ``OrderReturned.refund`` = refund - min(cancelled value, max(refund - returned value -
    shipping, 0)). A refund with no line returned but money left after step 2 (shipping only, a
    goodwill credit) is an ``OrderReturned`` with no lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from passerelle.events import CancelReason, LineQuantity, OrderCancelled, OrderReturned
from passerelle.money import Money
from passerelle.platforms import TranslationError
from passerelle_shopify.amounts import currency_code, money, presentment
from passerelle_shopify.payloads import Refund, RefundLineItem

__all__ = ["RefundSplit", "refund_events", "split_refund"]

RefundEvent = OrderCancelled | OrderReturned

_REASON_MAX = 500


@dataclass(frozen=True)
class RefundSplit:
    """How one refund divides into cancelled units, returned units and money."""

    currency: str
    cancelled: tuple[LineQuantity, ...]
    returned: tuple[LineQuantity, ...]
    refunded: Money
    """The money given back: the successful refund transactions."""
    cancelled_value: Money
    returned_value: Money
    shipping: Money
    return_refund: Money
    """The part of `refunded` the return carries (see the module documentation)."""

    @property
    def cancel_credit(self) -> Money:
        """The part of `refunded` the cancellation covers."""
        return self.refunded - self.return_refund


def refund_events(
    refund: Refund, *, order: str, currency_hint: str | None = None, at: str = ""
) -> tuple[RefundEvent, ...]:
    """The events of `refund` for the order reference `order`, cancellation first.

    `currency_hint` is the order's presentment currency when known; `at` prefixes field paths
    (``"refunds[0]."`` inside an order body).
    """
    if not refund.refund_line_items and not any(t.kind == "refund" for t in refund.transactions):
        return ()
    split = split_refund(refund, currency_hint=currency_hint, at=at)
    events: list[RefundEvent] = []
    if split.cancelled:
        events.append(
            OrderCancelled(
                order=order, id=str(refund.id), lines=split.cancelled, reason=CancelReason.OTHER
            )
        )
    if split.returned or not split.return_refund.is_zero():
        note = (refund.note or "").strip()
        events.append(
            OrderReturned(
                order=order,
                id=str(refund.id),
                lines=split.returned,
                refund=split.return_refund,
                reason=note[:_REASON_MAX] or None,
            )
        )
    return tuple(events)


def split_refund(refund: Refund, *, currency_hint: str | None = None, at: str = "") -> RefundSplit:
    """Divide `refund` into cancelled and returned units and money (see the module doc)."""
    currency = _currency(refund, currency_hint, at)
    zero = Money.zero(currency)
    refunded = _refunded(refund, currency, at)

    cancelled: dict[str, int] = {}
    returned: dict[str, int] = {}
    cancelled_value = returned_value = zero
    for index, item in enumerate(refund.refund_line_items):
        if item.quantity == 0:
            continue
        field = f"{at}refund_line_items[{index}]"
        is_return = _is_return(item, refund, field)
        units = returned if is_return else cancelled
        line = str(item.line_item_id)
        units[line] = units.get(line, 0) + item.quantity
        value = _line_value(item, currency, field)
        if is_return:
            returned_value += value
        else:
            cancelled_value += value

    shipping = _shipping(refund, currency, at)
    captured_part = returned_value + shipping
    left = (refunded - captured_part).max(zero)
    cancel_credit = cancelled_value.min(left)
    return RefundSplit(
        currency=currency,
        cancelled=_quantities(cancelled),
        returned=_quantities(returned),
        refunded=refunded,
        cancelled_value=cancelled_value,
        returned_value=returned_value,
        shipping=shipping,
        return_refund=refunded - cancel_credit,
    )


def _quantities(units: dict[str, int]) -> tuple[LineQuantity, ...]:
    return tuple(LineQuantity(line=line, quantity=quantity) for line, quantity in units.items())


def _is_return(item: RefundLineItem, refund: Refund, field: str) -> bool:
    restock = item.restock_type
    if restock == "return":
        return True
    if restock == "cancel":
        return False
    if restock not in (None, "no_restock", "legacy_restock"):
        raise TranslationError(
            f"refund {refund.id} of order {refund.order_id}: unknown restock type {restock!r}",
            field=f"{field}.restock_type",
        )
    told = f"restock_type {restock}" if restock else "no restock_type"
    if item.line_item is None:
        raise TranslationError(
            f"refund {refund.id} of order {refund.order_id} refunds line {item.line_item_id} "
            f"with {told} and without the line item: cannot tell a return from a cancellation",
            field=f"{field}.line_item",
        )
    status = item.line_item.fulfillment_status
    if status == "fulfilled":
        return True
    if status is None:
        return False
    if status == "partial":
        raise TranslationError(
            f"refund {refund.id} of order {refund.order_id} refunds {item.quantity} of line "
            f"{item.line_item_id}, which is partly shipped, with {told}: Shopify does not say "
            "whether the refunded units had shipped; record the return or the cancellation by "
            "hand",
            field=f"{field}.line_item.fulfillment_status",
        )
    raise TranslationError(
        f"refund {refund.id} of order {refund.order_id}: unknown fulfillment status {status!r} "
        f"of line {item.line_item_id}",
        field=f"{field}.line_item.fulfillment_status",
    )


def _currency(refund: Refund, hint: str | None, at: str) -> str:
    """The refund's presentment currency; every presentment amount must agree on it."""
    found: list[tuple[str, str]] = []
    for i, transaction in enumerate(refund.transactions):
        if transaction.currency:
            found.append((transaction.currency, f"{at}transactions[{i}].currency"))
    for i, item in enumerate(refund.refund_line_items):
        for name in ("subtotal_set", "total_tax_set"):
            bag = getattr(item, name)
            if bag is not None:
                where = f"{at}refund_line_items[{i}].{name}.presentment_money.currency_code"
                found.append((bag.presentment_money.currency_code, where))
    for i, line in enumerate(refund.refund_shipping_lines):
        if line.subtotal_amount_set is not None:
            where = f"{at}refund_shipping_lines[{i}].subtotal_amount_set.presentment_money"
            found.append((line.subtotal_amount_set.presentment_money.currency_code, where))
    for i, adjustment in enumerate(refund.order_adjustments):
        if adjustment.amount_set is not None:
            where = f"{at}order_adjustments[{i}].amount_set.presentment_money.currency_code"
            found.append((adjustment.amount_set.presentment_money.currency_code, where))
    if not found:
        if hint:
            return currency_code(hint, f"{at}currency")
        raise TranslationError(
            f"refund {refund.id} of order {refund.order_id} names no currency",
            field=f"{at}transactions",
        )
    code, where = found[0]
    for other, other_where in found[1:]:
        if other.upper() != code.upper():
            raise TranslationError(
                f"refund {refund.id} of order {refund.order_id} mixes currencies: {code} at "
                f"{where}, {other}",
                field=other_where,
            )
    return currency_code(code, where)


def _refunded(refund: Refund, currency: str, at: str) -> Money:
    total = Money.zero(currency)
    for i, transaction in enumerate(refund.transactions):
        if transaction.kind != "refund":
            continue
        field = f"{at}transactions[{i}]"
        if transaction.status == "success":
            total += money(transaction.amount, currency, f"{field}.amount")
        elif transaction.status in (None, "pending"):
            raise TranslationError(
                f"refund {refund.id} of order {refund.order_id}: transaction "
                f"{transaction.id} is {transaction.status or 'of unknown status'}; whether its "
                f"{transaction.amount} {currency} reached the customer is not known yet, so check "
                "it by hand",
                field=f"{field}.status",
            )
    return total


def _line_value(item: RefundLineItem, currency: str, field: str) -> Money:
    """Subtotal plus tax of a refunded line, in the presentment currency."""
    if item.subtotal_set is not None:
        value = presentment(item.subtotal_set, currency, f"{field}.subtotal_set")
        if item.total_tax_set is not None:
            value += presentment(item.total_tax_set, currency, f"{field}.total_tax_set")
        return value
    if item.subtotal is not None:
        value = money(item.subtotal, currency, f"{field}.subtotal")
        if item.total_tax is not None:
            value += money(item.total_tax, currency, f"{field}.total_tax")
        return value
    line = item.line_item
    if line is not None and line.price_set is not None:
        return presentment(line.price_set, currency, f"{field}.line_item.price_set") * item.quantity
    if line is not None and line.price is not None:
        return money(line.price, currency, f"{field}.line_item.price") * item.quantity
    raise TranslationError(
        f"refunded line {item.line_item_id} has no amount (subtotal_set, subtotal or price)",
        field=f"{field}.subtotal_set",
    )


def _shipping(refund: Refund, currency: str, at: str) -> Money:
    """Shipping refunded: ``refund_shipping_lines`` when present, else the ``shipping_refund``
    order adjustments (older API versions; their amounts are negative). Never both, so the same
    shipping refund is not counted twice."""
    zero = Money.zero(currency)
    if any(line.subtotal_amount_set is not None for line in refund.refund_shipping_lines):
        total = zero
        for i, line in enumerate(refund.refund_shipping_lines):
            field = f"{at}refund_shipping_lines[{i}]"
            if line.subtotal_amount_set is not None:
                total += presentment(
                    line.subtotal_amount_set, currency, f"{field}.subtotal_amount_set"
                )
            if line.tax_amount_set is not None:
                total += presentment(line.tax_amount_set, currency, f"{field}.tax_amount_set")
        return total
    total = zero
    for i, adjustment in enumerate(refund.order_adjustments):
        if adjustment.kind != "shipping_refund":
            continue
        field = f"{at}order_adjustments[{i}]"
        if adjustment.amount_set is not None:
            total += presentment(adjustment.amount_set, currency, f"{field}.amount_set")
            if adjustment.tax_amount_set is not None:
                total += presentment(adjustment.tax_amount_set, currency, f"{field}.tax_amount_set")
        elif adjustment.amount is not None:
            total += money(adjustment.amount, currency, f"{field}.amount")
            if adjustment.tax_amount is not None:
                total += money(adjustment.tax_amount, currency, f"{field}.tax_amount")
    return abs(total)
