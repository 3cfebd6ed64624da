"""The pytest plugin `passerelle` installs: fixtures every platform plugin's tests can use."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from passerelle.clock import FixedClock
from passerelle.testing.golden import UPDATE_OPTION, Coverage
from passerelle.testing.opt_outs import OptOuts


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        UPDATE_OPTION,
        action="store_true",
        help="write the contract suite's golden expectations instead of comparing them",
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    summary = Coverage.summary()
    if summary is not None:
        terminalreporter.write_line(summary)
    for line in OptOuts.summary():
        terminalreporter.write_line(line)


@pytest.fixture
def passerelle_clock() -> FixedClock:
    """A clock standing still at 2026-03-02 12:00 UTC; set or advance it in the test."""
    return FixedClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
