"""Every event kind is declared once, in `passerelle.events.AnyEvent`; each consumer handles each
kind: the ledger's rules, the back-end call, the observer hooks and their facade. A kind added to
the union and missed by any of them fails here."""

from __future__ import annotations

import inspect
import typing
from datetime import UTC, date, datetime

import httpx
import pytest
import respx

from passerelle import hookspecs
from passerelle.backend.calls import call_backend
from passerelle.backend.client import BackendClient
from passerelle.backend.retry import RetryPolicy
from passerelle.batches import Deleted
from passerelle.events import (
    EVENT_TYPES,
    AnyEvent,
    BatchFileEdited,
    CartLine,
    Envelope,
    LineQuantity,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
)
from passerelle.hookspecs import hookimpl
from passerelle.money import Money
from passerelle.orders import Effect, EventKind, LineType, Order, OrderLedger
from passerelle.plugins import Plugins

ORDER = Order(
    reference="1001",
    currency="CAD",
    lines=(
        CartLine(reference="SKU-1", name="Mug", unit_price=Money.of("10.00", "CAD"), quantity=2),
    ),
)

SAMPLES: dict[type[AnyEvent], AnyEvent] = {
    OrderShipped: OrderShipped(order="1001", id="f-1"),
    OrderCancelled: OrderCancelled(order="1001", id="c-1"),
    OrderReturned: OrderReturned(
        order="1001",
        id="r-1",
        lines=(LineQuantity(line="SKU-1", quantity=1),),
        refund=Money.of("10.00", "CAD"),
    ),
    OrderEdited: OrderEdited(
        order="1001",
        id="e-1",
        cart=(
            CartLine(
                reference="SKU-1",
                name="Mug",
                type=LineType.PRODUCT,
                unit_price=Money.of("10.00", "CAD"),
                quantity=1,
            ),
        ),
    ),
    BatchFileEdited: BatchFileEdited(
        batch="b-1", changes=(Deleted(),), processing_date=date.today()
    ),
}
"""One event of each kind: a kind added to `AnyEvent` needs its sample here first."""

BACKEND_PATHS = {
    OrderShipped: ("POST", "/v1/orders/1001/shipments"),
    OrderCancelled: ("POST", "/v1/orders/1001/cancellations"),
    OrderReturned: ("POST", "/v1/orders/1001/returns"),
    OrderEdited: ("PUT", "/v1/orders/1001/cart"),
}


def kind_of(event_type: type[AnyEvent]) -> str:
    return str(event_type.model_fields["kind"].default)


def envelope(event: AnyEvent) -> Envelope:
    return Envelope(
        platform="test",
        store="s",
        delivery="d-1",
        position=0,
        occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
        event=event,
    )


def test_the_samples_cover_every_kind_and_kinds_are_unique() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES)
    kinds = [kind_of(t) for t in EVENT_TYPES]
    assert len(set(kinds)) == len(kinds)


def test_every_order_kind_has_its_ledger_rule() -> None:
    order_kinds = {kind_of(t) for t in EVENT_TYPES if t is not BatchFileEdited}
    assert set(typing.get_args(EventKind)) == order_kinds
    ledger = OrderLedger.open(ORDER)
    shipped, _ = ledger.apply(SAMPLES[OrderShipped])  # type: ignore[arg-type]
    for event_type, event in SAMPLES.items():
        if event_type is BatchFileEdited:
            continue
        start = shipped if event_type is OrderReturned else ledger
        _, effect = start.apply(event)  # type: ignore[arg-type]
        assert effect.kind == kind_of(event_type)
        assert effect.describe()


def test_every_kind_has_an_observer_hook_taking_its_event() -> None:
    for event_type in EVENT_TYPES:
        spec = getattr(hookspecs, kind_of(event_type))
        parameters = inspect.signature(spec).parameters
        assert {"envelope", "event"} <= set(parameters), kind_of(event_type)
        assert parameters["event"].annotation == event_type.__name__
        assert spec.__doc__


def test_the_facade_calls_each_kinds_hook() -> None:
    seen: list[tuple[str, str]] = []

    class Everything:
        pass

    for event_type in EVENT_TYPES:
        name = kind_of(event_type)

        def record(envelope: Envelope, event: AnyEvent, name: str = name) -> None:
            seen.append((name, event.kind))

        setattr(Everything, name, hookimpl(specname=name)(staticmethod(record)))
    plugins = Plugins()
    plugins.register(Everything(), "everything")
    for event in SAMPLES.values():
        if isinstance(event, BatchFileEdited):
            plugins.observe(envelope=envelope(event), event=event)
        else:
            effect = Effect(event.order, event.id, event.kind, (), Money.zero("CAD"))
            plugins.observe(envelope=envelope(event), event=event, effect=effect)
    assert seen == [(kind_of(t), kind_of(t)) for t in SAMPLES]


@respx.mock
def test_every_kind_makes_its_back_end_call_under_the_envelopes_key(
    respx_mock: respx.MockRouter,
) -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500, json={"type": "about:blank", "title": "x", "status": 500})

    respx_mock.route().mock(side_effect=answer)
    with BackendClient(
        "http://backend.test", "sk_test_token", "m", retry=RetryPolicy(max_attempts=1)
    ) as client:
        for event_type, event in SAMPLES.items():
            calls.clear()
            sealed = envelope(event)
            with pytest.raises(Exception, match="500"):
                call_backend(client, sealed)
            (request,) = calls
            if isinstance(event, BatchFileEdited):
                # A batch is read first: only the calls its state still needs follow, each
                # under a key derived from the envelope's (tests/connector/test_batch_files.py).
                assert (request.method, request.url.path) == ("GET", f"/v1/batches/{event.batch}")
                continue
            assert (request.method, request.url.path) == BACKEND_PATHS[event_type]
            assert request.headers["Idempotency-Key"] == sealed.idempotency_key
