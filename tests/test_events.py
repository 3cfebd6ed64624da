"""Events and their envelope: the idempotency key the back end de-duplicates on."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from passerelle import Envelope, OrderCancelled, OrderReturned, OrderShipped
from passerelle.events import CancelReason, Event, LineQuantity, idempotency_key
from passerelle.money import Money

WHEN = dt.datetime(2026, 3, 14, 12, 0, tzinfo=dt.UTC)


def envelope(*, delivery: str = "evt-1", position: int = 0, when: dt.datetime = WHEN) -> Envelope:
    return Envelope(
        platform="shopify",
        store="acme.myshopify.com",
        delivery=delivery,
        position=position,
        occurred_at=when,
        event=OrderShipped(order="1001", id="ful-1"),
    )


def test_the_key_is_the_documented_digest() -> None:
    material = b"shopify\0acme.myshopify.com\0evt-1\x000"

    key = envelope().idempotency_key

    assert key == "pse1_" + hashlib.sha256(material).hexdigest()[:40]
    assert len(key) == 45


def test_a_redelivery_stamped_later_keeps_its_key() -> None:
    later = WHEN + dt.timedelta(hours=3)

    assert envelope(when=later).idempotency_key == envelope().idempotency_key


def test_each_redispatch_by_hand_has_its_own_documented_key() -> None:
    first = envelope()
    again = first.model_copy(update={"redispatch": 2})

    material = b"shopify\0acme.myshopify.com\0evt-1\x000\x002"
    assert again.idempotency_key == "pse1_" + hashlib.sha256(material).hexdigest()[:40]
    assert first.model_copy(update={"redispatch": 1}).idempotency_key not in (
        first.idempotency_key,
        again.idempotency_key,
    )
    with pytest.raises(ValidationError, match="redispatch"):
        Envelope.model_validate({**first.model_dump(), "redispatch": -1})


def test_each_event_of_a_delivery_has_its_own_key() -> None:
    keys = {envelope(position=i).idempotency_key for i in range(3)}
    keys.add(envelope(delivery="evt-2").idempotency_key)

    assert len(keys) == 4


# The fields are header values and ids: text that encodes as UTF-8 and holds no NUL, so the
# separator keeps ("ab", "c") and ("a", "bc") apart.
_FIELD = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1)


@given(
    parts=st.tuples(_FIELD, _FIELD, _FIELD),
    other=st.tuples(_FIELD, _FIELD, _FIELD),
    position=st.integers(0, 50),
)
def test_keys_differ_whenever_their_sources_do(
    parts: tuple[str, str, str], other: tuple[str, str, str], position: int
) -> None:
    same = idempotency_key(*parts, position) == idempotency_key(*other, position)

    assert same == (parts == other)


def test_events_are_frozen() -> None:
    event = OrderCancelled(order="1001", id="c-1", reason=CancelReason.CUSTOMER)

    with pytest.raises(ValidationError, match="frozen"):
        event.reason = CancelReason.FRAUD  # type: ignore[misc]


@pytest.mark.parametrize(
    ("payload", "location"),
    [
        (
            {
                "kind": "order_shipped",
                "order": "1",
                "id": "f",
                "lines": [{"line": "A", "quantity": 0}],
            },
            ("order_shipped", "lines", 0, "quantity"),
        ),
        (
            {"kind": "order_returned", "order": "1", "id": "r", "refund": {"amount": 1.5}},
            ("order_returned", "refund"),
        ),
        (
            {"kind": "order_cancelled", "order": "1", "id": "c", "reason": "bored"},
            ("order_cancelled", "reason"),
        ),
        ({"kind": "order_teleported", "order": "1", "id": "t"}, ()),
    ],
)
def test_malformed_events_name_the_field(payload: object, location: tuple[object, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(Event).validate_python(payload)

    assert caught.value.errors()[0]["loc"] == location


def test_an_envelope_needs_an_aware_occurrence_time() -> None:
    with pytest.raises(ValidationError) as caught:
        envelope(when=WHEN.replace(tzinfo=None))

    assert caught.value.errors()[0]["loc"] == ("occurred_at",)


def test_a_return_round_trips_through_json_with_its_money() -> None:
    event = OrderReturned(
        order="1001",
        id="r-1",
        lines=(LineQuantity(line="SKU-1", quantity=1),),
        refund=Money.of("24.00", "CAD"),
    )

    again = TypeAdapter(Event).validate_json(TypeAdapter(Event).dump_json(event))

    assert again == event
    assert again.refund == Money.of("24.00", "CAD")
