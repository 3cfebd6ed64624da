"""``passerelle sandbox orders create``: an order at the back end, as a checkout makes it.

A delivery applies only to an order the back end knows. This makes one by hand, with numeric ids
as the platforms give them (`passerelle trigger --sandbox` makes one the same way).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from pydantic import ValidationError

from passerelle.backend.client import BackendClient
from passerelle.backend.errors import BackendError
from passerelle.backend.models import CartLineItem, OrderCreate, OrderView
from passerelle.money import Money
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN

__all__ = [
    "DEFAULT_LINE",
    "CurrencyOption",
    "LineOption",
    "ReferenceOption",
    "create_order",
    "orders_app",
    "parse_line",
    "sample_order",
]

DEFAULT_LINE = "Sample item:10.00:1"
"""The cart of an order made without ``--line``."""

LineOption = Annotated[
    list[str] | None,
    typer.Option(
        "--line",
        metavar="NAME:PRICE[:QUANTITY]",
        help=f"A product line of the order (repeatable). Default: {DEFAULT_LINE}.",
    ),
]
CurrencyOption = Annotated[str, typer.Option(help="The order's currency.")]
ReferenceOption = Annotated[
    str | None,
    typer.Option(help="The order's reference (the platform's order id); a new one if not given."),
]

orders_app = typer.Typer(
    name="orders",
    help="Orders at a running sandbox back end.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _new_id(base: int) -> str:
    # Above 2^53, as Shopify's ids are: a float on the way would show.
    return str(base + secrets.randbelow(10**15))


def parse_line(text: str, currency: str, position: int = 1) -> CartLineItem:
    """``NAME:PRICE[:QUANTITY]`` as a product line with a fresh numeric reference;
    `typer.BadParameter` names the line and what is wrong."""
    parts = text.rsplit(":", 2) if text.count(":") >= 2 else text.rsplit(":", 1)
    if len(parts) < 2 or not parts[0].strip():
        raise typer.BadParameter(
            f"--line number {position} {text!r} is not NAME:PRICE[:QUANTITY]", param_hint="--line"
        )
    name, price = parts[0].strip(), parts[1].strip()
    quantity = parts[2].strip() if len(parts) == 3 else "1"
    try:
        Decimal(price)
        return CartLineItem(
            reference=_new_id(14_000_000_000_000_000),
            name=name,
            unit_price=Money.of(price, currency),
            quantity=int(quantity),
        )
    except (InvalidOperation, ValueError, ValidationError) as exc:
        raise typer.BadParameter(
            f"--line number {position} {text!r}: {_first_error(exc)}", param_hint="--line"
        ) from None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    if isinstance(exc, InvalidOperation):
        return "the price is not a decimal amount"
    return str(exc)


def sample_order(
    lines: Sequence[str] = (), *, currency: str = "CAD", reference: str | None = None
) -> OrderCreate:
    """An order of `lines` (``NAME:PRICE[:QUANTITY]``; one sample item when none) with a fresh
    numeric reference unless given."""
    cart = tuple(
        parse_line(text, currency, n) for n, text in enumerate(lines or [DEFAULT_LINE], start=1)
    )
    try:
        return OrderCreate(
            reference=reference or _new_id(5_000_000_000_000_000_000),
            currency=currency,
            lines=cart,
        )
    except ValidationError as exc:
        raise typer.BadParameter(_first_error(exc)) from None


def create_order(backend: BackendClient, order: OrderCreate) -> OrderView:
    """Create `order` at the back end, once however often it is repeated (keyed on its
    reference); a refusal is one line on stderr and exit 1."""
    try:
        return backend.create_order(order, idempotency_key=f"order-{order.reference}")
    except BackendError as exc:
        typer.echo(f"error: the back end refused order {order.reference}: {exc}", err=True)
        raise typer.Exit(1) from None


@orders_app.command("create")
def create_command(
    line: LineOption = None,
    currency: CurrencyOption = "CAD",
    reference: ReferenceOption = None,
    url: Annotated[str, typer.Option(help="The sandbox back end's URL.")] = "http://127.0.0.1:8765",
    token: Annotated[str, typer.Option(help="Its API token.")] = DEFAULT_TOKEN,
    merchant: Annotated[str, typer.Option(help="The merchant.")] = DEFAULT_MERCHANT,
) -> None:
    """Create an order at a running sandbox back end, as a checkout would, and print its ids."""
    order = sample_order(line or (), currency=currency, reference=reference)
    with BackendClient(url, token, merchant) as backend:
        view = create_order(backend, order)
    typer.echo(f"order {view.reference}: {view.status.value}, authorized {view.authorized}")
    for item in view.lines:
        typer.echo(f"  line {item.reference}: {item.name} x{item.ordered} at {item.unit_price}")
