"""A Shopify refund as events: cancelled lines, returned lines, and the money given back.

Which lines are cancelled and which returned
    ``restock_type`` decides: ``cancel`` is a cancellation of unshipped units, ``return`` a return
    of shipped ones. ``no_restock``, ``legacy_restock`` and a missing type (old bodies) say
    nothing about shipping, so the refunded line's ``fulfillment_status`` decides: ``fulfilled``
    is a return, none (unfulfilled) a cancellation. A ``partial`` line is split: its shipped
    units (its ``quantity`` less its ``fulfillable_quantity``) are returned first and the rest
    cancelled, since the ledger can cancel only what has not shipped; the line's value is split
    pro rata, exact to the minor unit. A partial line that does not
    state its ``fulfillable_quantity`` is refused, naming the field.

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

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from pydantic import TypeAdapter

from passerelle.plugin import (
    EXACT,
    CancelReason,
    Currency,
    LineQuantity,
    Money,
    OrderCancelled,
    OrderReturned,
    TranslationError,
    amount_in,
    amount_of,
    fits,
    known_currency,
)
from passerelle_shopify.amounts import bare, presentment_amount
from passerelle_shopify.payloads import Refund, RefundLineItem

__all__ = [
    "RefundSplit",
    "events_of_split",
    "moves_anything",
    "refund_events",
    "split_refund",
]

RefundEvent = OrderCancelled | OrderReturned

_REASON_MAX = 500

_ZERO = Decimal(0)
_LINES = TypeAdapter(tuple[LineQuantity, ...])


@dataclass(frozen=True)
class RefundSplit:
    """How one refund divides into cancelled units, returned units and money."""

    currency: str
    cancelled: tuple[LineQuantity, ...]
    returned: tuple[LineQuantity, ...]
    return_refund: Money
    """The part of `refunded` the return carries (see the module documentation)."""
    refunded_amount: Decimal
    cancelled_amount: Decimal
    returned_amount: Decimal
    shipping_amount: Decimal

    # The totals other than `return_refund` become Money only when read: translating a refund
    # reads none of them.
    @property
    def refunded(self) -> Money:
        """The money given back: the successful refund transactions."""
        return Money(self.refunded_amount, self.currency)

    @property
    def cancelled_value(self) -> Money:
        """What the cancelled lines are worth (subtotal plus tax)."""
        return Money(self.cancelled_amount, self.currency)

    @property
    def returned_value(self) -> Money:
        """What the returned lines are worth (subtotal plus tax)."""
        return Money(self.returned_amount, self.currency)

    @property
    def shipping(self) -> Money:
        """The shipping refunded, with its tax."""
        return Money(self.shipping_amount, self.currency)

    @property
    def cancel_credit(self) -> Money:
        """The part of `refunded` the cancellation covers."""
        return self.refunded - self.return_refund

    @property
    def unattributed_amount(self) -> Decimal:
        """What the return carries beyond the value of the lines it names and the shipping:
        money given back for no named line (a goodwill credit, or an order's refund that names
        none of its shipped lines)."""
        named = EXACT.add(self.returned_amount, self.shipping_amount)
        return max(EXACT.subtract(self.return_refund.amount, named), _ZERO)


def refund_events(refund: Refund, *, order: str) -> tuple[RefundEvent, ...]:
    """The events of the ``refunds/create`` body `refund` for the order reference `order`,
    cancellation first."""
    if not moves_anything(refund):
        return ()
    return events_of_split(refund, split_refund(refund), order=order)


def moves_anything(refund: Refund) -> bool:
    """Whether `refund` names a line or a refund transaction (else it means nothing here)."""
    return bool(refund.refund_line_items) or any(t.kind == "refund" for t in refund.transactions)


def events_of_split(refund: Refund, split: RefundSplit, *, order: str) -> tuple[RefundEvent, ...]:
    """`refund_events` of a refund already split."""
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
    cur = _currency(refund, currency_hint, at)
    refunded = _refunded(refund, cur, at)
    shop = _shop_currency(refund)

    cancelled: dict[str, int] = {}
    returned: dict[str, int] = {}
    cancelled_value = returned_value = _ZERO
    for index, item in enumerate(refund.refund_line_items):
        if item.quantity == 0:
            continue
        back = _returned_units(item, refund, at, index)
        value = _stated_value(item, cur)
        if value is None:
            value = _line_value(item, cur, f"{at}refund_line_items[{index}]", shop)
        line = str(item.line_item_id)
        if back:
            returned[line] = returned.get(line, 0) + back
        if back < item.quantity:
            cancelled[line] = cancelled.get(line, 0) + item.quantity - back
        if back == item.quantity:
            returned_value = EXACT.add(returned_value, value)
        elif back == 0:
            cancelled_value = EXACT.add(cancelled_value, value)
        else:
            # Exact to the minor unit (largest remainder), as every share the ledger takes.
            part = Money(value, cur.code).allocate([item.quantity - back, back])[0].amount
            cancelled_value = EXACT.add(cancelled_value, part)
            returned_value = EXACT.add(returned_value, EXACT.subtract(value, part))

    shipping = _shipping(refund, cur, at, shop)
    left = max(EXACT.subtract(refunded, EXACT.add(returned_value, shipping)), _ZERO)
    cancel_credit = min(cancelled_value, left)
    return RefundSplit(
        currency=cur.code,
        cancelled=_quantities(cancelled),
        returned=_quantities(returned),
        return_refund=amount_in(EXACT.subtract(refunded, cancel_credit), cur, f"{at}transactions"),
        refunded_amount=refunded,
        cancelled_amount=cancelled_value,
        returned_amount=returned_value,
        shipping_amount=shipping,
    )


def _quantities(units: dict[str, int]) -> tuple[LineQuantity, ...]:
    # One validation of all the lines costs less than one per line.
    return _LINES.validate_python(
        [{"line": line, "quantity": quantity} for line, quantity in units.items()]
    )


def _returned_units(item: RefundLineItem, refund: Refund, at: str, index: int) -> int:
    """How many of the units `item` refunds are returned; the others are cancelled."""
    restock = item.restock_type
    if restock == "return":
        return item.quantity
    if restock == "cancel":
        return 0
    field = f"{at}refund_line_items[{index}]"
    if restock not in (None, "no_restock", "legacy_restock"):
        raise TranslationError(
            f"refund {refund.id} of order {refund.order_id}: unknown restock type {restock!r}",
            field=f"{field}.restock_type",
        )
    told = f"restock_type {restock}" if restock else "no restock_type"
    line = item.line_item
    if line is None:
        raise TranslationError(
            f"refund {refund.id} of order {refund.order_id} refunds line {item.line_item_id} "
            f"with {told} and without the line item: cannot tell a return from a cancellation",
            field=f"{field}.line_item",
        )
    status = line.fulfillment_status
    if status == "fulfilled":
        return item.quantity
    if status is None:
        return 0
    if status == "partial":
        if line.quantity is None or line.fulfillable_quantity is None:
            missing = "quantity" if line.quantity is None else "fulfillable_quantity"
            raise TranslationError(
                f"refund {refund.id} of order {refund.order_id} refunds {item.quantity} of line "
                f"{item.line_item_id}, which is partly shipped, with {told}, and the line item "
                f"has no {missing}: cannot tell how many of the refunded units had shipped",
                field=f"{field}.line_item.{missing}",
            )
        shipped = max(line.quantity - line.fulfillable_quantity, 0)
        return min(item.quantity, shipped)
    raise TranslationError(
        f"refund {refund.id} of order {refund.order_id}: unknown fulfillment status {status!r} "
        f"of line {item.line_item_id}",
        field=f"{field}.line_item.fulfillment_status",
    )


def _currency(refund: Refund, hint: str | None, at: str) -> Currency:
    """The refund's presentment currency; every presentment amount must agree on it."""
    found = _currencies(refund)
    first = next(found, None)
    if first is None:
        if hint:
            # The hint is the order's own currency, stated beside its refunds.
            return known_currency(hint, "presentment_currency")
        raise TranslationError(
            f"refund {refund.id} of order {refund.order_id} names no currency",
            field=f"{at}transactions",
        )
    code = first[0]
    for other in found:
        if other[0] != code and other[0].upper() != code.upper():
            raise TranslationError(
                f"refund {refund.id} of order {refund.order_id} mixes currencies: {code} at "
                f"{_path(at, first)}, {other[0]}",
                field=_path(at, other),
            )
    return known_currency(code, _path(at, first))


_Stated = tuple[str, str, int, str]
"""A currency code the refund states, and where: list, index, rest of the field path."""


def _path(at: str, stated: _Stated) -> str:
    return f"{at}{stated[1]}[{stated[2]}]{stated[3]}"


def _currencies(refund: Refund) -> Iterator[_Stated]:
    """Each presentment currency code the refund states, with where (paths are spelt out only
    for an error)."""
    for i, transaction in enumerate(refund.transactions):
        if transaction.currency:
            yield transaction.currency, "transactions", i, ".currency"
    for i, item in enumerate(refund.refund_line_items):
        if item.subtotal_set is not None:
            code = item.subtotal_set.presentment_money.currency_code
            yield code, "refund_line_items", i, ".subtotal_set.presentment_money.currency_code"
        if item.total_tax_set is not None:
            code = item.total_tax_set.presentment_money.currency_code
            yield code, "refund_line_items", i, ".total_tax_set.presentment_money.currency_code"
    for i, line in enumerate(refund.refund_shipping_lines):
        if line.subtotal_amount_set is not None:
            code = line.subtotal_amount_set.presentment_money.currency_code
            yield code, "refund_shipping_lines", i, ".subtotal_amount_set.presentment_money"
    for i, adjustment in enumerate(refund.order_adjustments):
        if adjustment.amount_set is not None:
            code = adjustment.amount_set.presentment_money.currency_code
            yield code, "order_adjustments", i, ".amount_set.presentment_money.currency_code"


def _refunded(refund: Refund, cur: Currency, at: str) -> Decimal:
    total = _ZERO
    for i, transaction in enumerate(refund.transactions):
        if transaction.kind != "refund":
            continue
        if transaction.status == "success":
            if transaction.amount < 0:
                raise TranslationError(
                    f"refund {refund.id} of order {refund.order_id}: transaction "
                    f"{transaction.id} refunds a negative amount {transaction.amount}",
                    field=f"{at}transactions[{i}].amount",
                )
            amount = amount_of(transaction.amount, cur, f"{at}transactions[{i}].amount")
            total = EXACT.add(total, amount)
        elif transaction.status in (None, "pending"):
            raise TranslationError(
                f"refund {refund.id} of order {refund.order_id}: transaction "
                f"{transaction.id} is {transaction.status or 'of unknown status'}; whether its "
                f"{transaction.amount} {cur.code} reached the customer is not known yet, so "
                "check it by hand",
                field=f"{at}transactions[{i}].status",
            )
    return total


def _stated_value(item: RefundLineItem, cur: Currency) -> Decimal | None:
    """`_line_value` when the line states its subtotal and tax in the presentment currency
    (the usual case), else None."""
    subtotal, tax = item.subtotal_set, item.total_tax_set
    if subtotal is None or tax is None:
        return None
    a, b = subtotal.presentment_money, tax.presentment_money
    if a.currency_code != cur.code or b.currency_code != cur.code:
        return None
    if not (fits(a.amount, cur) and fits(b.amount, cur)):
        return None
    return EXACT.add(a.amount, b.amount)


def _shop_currency(refund: Refund) -> str | None:
    """The shop's currency, as the refund's ``*_set`` fields state it; None when it has none
    (an API version before them, when a shop sold in its own currency alone)."""
    bags = [
        bag
        for item in refund.refund_line_items
        for bag in (
            item.subtotal_set,
            item.total_tax_set,
            item.line_item.price_set if item.line_item is not None else None,
        )
    ]
    bags += [line.subtotal_amount_set for line in refund.refund_shipping_lines]
    bags += [adjustment.amount_set for adjustment in refund.order_adjustments]
    return next(
        (bag.shop_money.currency_code for bag in bags if bag and bag.shop_money is not None), None
    )


def _line_value(item: RefundLineItem, cur: Currency, field: str, shop: str | None) -> Decimal:
    """Subtotal plus tax of a refunded line, in the presentment currency."""
    if item.subtotal_set is not None:
        value = presentment_amount(item.subtotal_set, cur, f"{field}.subtotal_set")
        if item.total_tax_set is not None:
            tax = presentment_amount(item.total_tax_set, cur, f"{field}.total_tax_set")
            value = EXACT.add(value, tax)
        return value
    if item.subtotal is not None:
        value = bare(item.subtotal, cur, shop, field, "subtotal subtotal_set").amount
        if item.total_tax is not None:
            tax = bare(item.total_tax, cur, shop, field, "total_tax total_tax_set").amount
            value = EXACT.add(value, tax)
        return value
    line = item.line_item
    if line is not None and line.price_set is not None:
        price = presentment_amount(line.price_set, cur, f"{field}.line_item.price_set")
        return EXACT.multiply(price, item.quantity)
    if line is not None and line.price is not None:
        price = bare(line.price, cur, shop, f"{field}.line_item", "price price_set").amount
        return EXACT.multiply(price, item.quantity)
    raise TranslationError(
        f"refunded line {item.line_item_id} has no amount (subtotal_set, subtotal or price)",
        field=field,
    )


def _shipping(refund: Refund, cur: Currency, at: str, shop: str | None) -> Decimal:
    """Shipping refunded: ``refund_shipping_lines`` when present, else the ``shipping_refund``
    order adjustments (older API versions; their amounts are negative). Never both, so the same
    shipping refund is not counted twice."""
    total = _ZERO
    if any(line.subtotal_amount_set is not None for line in refund.refund_shipping_lines):
        for i, line in enumerate(refund.refund_shipping_lines):
            field = f"{at}refund_shipping_lines[{i}]"
            if line.subtotal_amount_set is not None:
                total = EXACT.add(
                    total,
                    presentment_amount(
                        line.subtotal_amount_set, cur, f"{field}.subtotal_amount_set"
                    ),
                )
            if line.tax_amount_set is not None:
                total = EXACT.add(
                    total, presentment_amount(line.tax_amount_set, cur, f"{field}.tax_amount_set")
                )
        return total
    for i, adjustment in enumerate(refund.order_adjustments):
        if adjustment.kind != "shipping_refund":
            continue
        field = f"{at}order_adjustments[{i}]"
        if adjustment.amount_set is not None:
            total = EXACT.add(
                total, presentment_amount(adjustment.amount_set, cur, f"{field}.amount_set")
            )
            if adjustment.tax_amount_set is not None:
                total = EXACT.add(
                    total,
                    presentment_amount(adjustment.tax_amount_set, cur, f"{field}.tax_amount_set"),
                )
        elif adjustment.amount is not None:
            total = EXACT.add(
                total, bare(adjustment.amount, cur, shop, field, "amount amount_set").amount
            )
            if adjustment.tax_amount is not None:
                tax = bare(
                    adjustment.tax_amount, cur, shop, field, "tax_amount tax_amount_set"
                ).amount
                total = EXACT.add(total, tax)
    return abs(total)
