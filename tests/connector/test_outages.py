"""An outage is told in a line at its start, a count while it lasts and a line at its end."""

from __future__ import annotations

import logging

import pytest

from passerelle.connector.outages import Outage


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records]


def test_an_outage_is_three_kinds_of_line_not_one_per_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    outage = Outage("the store x.db", logging.getLogger("test.outage"), monotonic=ticks)
    with caplog.at_level(logging.INFO, "test.outage"):
        outage.succeeded()
        assert not outage.down
        for _ in range(800):
            outage.failed(OSError("database or disk is full"))
            ticks.now += 0.125  # 100 s of failures
        assert outage.down
        assert outage.cause == "database or disk is full"
        outage.succeeded()  # under a second after the last failure: not over yet
        assert outage.down
        ticks.now += 1
        outage.succeeded()
        outage.succeeded()
    assert not outage.down
    assert outage.cause == ""
    assert messages(caplog) == [
        ("ERROR", "the store x.db is unavailable: database or disk is full"),
        (
            "ERROR",
            "the store x.db is still unavailable after 60 s (481 operations failed):"
            " database or disk is full",
        ),
        (
            "WARNING",
            "the store x.db is available again after 101.0 s (800 operations failed meanwhile)",
        ),
    ]


def test_a_second_outage_is_told_anew(caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    outage = Outage("db", logging.getLogger("test.outage"), monotonic=ticks, quiet_for=0)
    with caplog.at_level(logging.INFO, "test.outage"):
        for cause in ("refused", "reset"):
            outage.failed(cause)
            ticks.now += 5
            outage.succeeded()
    assert [text for _, text in messages(caplog)] == [
        "db is unavailable: refused",
        "db is available again after 5.0 s (1 operations failed meanwhile)",
        "db is unavailable: reset",
        "db is available again after 5.0 s (1 operations failed meanwhile)",
    ]
