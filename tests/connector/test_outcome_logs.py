"""Every settled attempt leaves one line in the log, with the delivery, its store and order, and
what became of it; `serve --log-format json` writes the same as objects with those fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from dispatch_support import deliver, make_dispatcher, new_order, refund, ship

from passerelle.backend.client import BackendClient
from passerelle.clock import FixedClock
from passerelle.connector.logs import LogFormat, LogLevel, configure_logging
from passerelle.connector.store import DeliveryStore


def outcomes(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name == "passerelle.dispatcher" and hasattr(r, "outcome")
    ]


def test_each_outcome_is_one_line_naming_the_delivery_order_and_why(
    store: DeliveryStore, client: BackendClient, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = make_dispatcher(store, client, clock)
    order = new_order(client)
    early = deliver(store, clock, "r1", order, events=[refund(order, "R1", "5.00")])
    shipped = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    ignored = deliver(store, clock, "i1", order, ignore="a topic of no interest")
    unreadable = deliver(store, clock, "x1", order, events=[{"kind": "order_teleported"}])
    with caplog.at_level(logging.INFO, "passerelle.dispatcher"):
        dispatcher.drain()
    until = (clock.now() + timedelta(seconds=5)).isoformat()
    lines = outcomes(caplog)
    assert lines[0] == (
        "INFO",
        f"delivery {early} test/shop-1 order {order} deferred (not_yet_applicable)"
        f" until {until}: cannot return 1 of line SKU-1 of order {order} yet: only 0 shipped"
        " and not returned, 2 still to ship (ordered 2, shipped 0, cancelled 0, returned 0)",
    )
    assert ("INFO", f"delivery {shipped} test/shop-1 order {order} done: order_shipped F1 of"
            f" order {order}: captured 30.00 CAD; SKU-1 x2") in lines  # fmt: skip
    assert ("INFO", f"delivery {ignored} test/shop-1 order {order} ignored:"
            " a topic of no interest") in lines  # fmt: skip
    failed = [line for level, line in lines if level == "WARNING"]
    assert len(failed) == 1
    assert failed[0].startswith(
        f"delivery {unreadable} test/shop-1 order {order} failed (unreadable_delivery): "
    )
    for record in caplog.records:
        assert "s3cret" not in record.getMessage()


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(LogLevel.INFO, LogFormat.JSON, stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_json_log_gives_each_outcome_as_an_object_with_its_fields(
    store: DeliveryStore,
    client: BackendClient,
    clock: FixedClock,
    json_log: io.StringIO,
) -> None:
    dispatcher = make_dispatcher(store, client, clock)
    order = new_order(client)
    shipped = deliver(store, clock, "s1", order, events=[ship(order, "F1")])
    dispatcher.drain()
    records = [json.loads(line) for line in json_log.getvalue().splitlines()]
    (done,) = [r for r in records if r.get("outcome") == "done"]
    assert done["level"] == "INFO"
    assert done["logger"] == "passerelle.dispatcher"
    assert (done["delivery"], done["platform"], done["store"], done["order"]) == (
        shipped,
        "test",
        "shop-1",
        order,
    )
    assert done["attempt"] == 1
    assert "captured 30.00 CAD" in done["message"]
    assert "time" in done
