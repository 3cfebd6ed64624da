"""The checks of the contract suite, and a platform's opting out of one with a stated reason.

A platform that cannot pass a check names it in its suite's ``opt_outs`` with the reason; the
check's tests are then skipped with that reason, and pytest's summary lists every opt-out. An
opt-out without a reason, or naming no check, fails every test of the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

__all__ = ["CHECKS", "OptOuts", "check", "check_of", "opt_out_problems"]

CHECKS: Final[Mapping[str, str]] = {
    "verification": "verify accepts the signed samples and refuses all else, in constant time",
    "binding": "a delivery naming another origin than the store's is refused",
    "identity": "a retry, a redelivery or a moved clock keeps the key and the events",
    "ordering": "a versioned sample yields a version, later than the one it is newer than",
    "meaning": "samples translate to their golden expectations and apply through the ledger",
    "structure": "malformed bodies and headers raise only the errors the core handles",
    "purity": "no connection at import or in translate but through context.http",
}
"""Each check a platform may opt out of, and what it holds the platform to."""

_Test = TypeVar("_Test", bound=Callable[..., Any])
_ATTRIBUTE: Final = "passerelle_contract_check"


def check(name: str) -> Callable[[_Test], _Test]:
    """Mark a test of the suite as part of the check `name` (a key of `CHECKS`)."""
    if name not in CHECKS:
        raise ValueError(f"no contract check {name!r}; the checks are {', '.join(CHECKS)}")

    def mark(test: _Test) -> _Test:
        setattr(test, _ATTRIBUTE, name)
        return test

    return mark


def check_of(test: object) -> str | None:
    """The check the test `test` belongs to, if it was marked."""
    name = getattr(test, _ATTRIBUTE, None)
    return name if isinstance(name, str) else None


def opt_out_problems(opt_outs: object) -> list[str]:
    """What is wrong with a suite's ``opt_outs`` (check name -> reason)."""
    if not isinstance(opt_outs, Mapping):
        return [f"opt_outs must map a check name to the reason, not {opt_outs!r}"]
    problems = []
    for name, reason in opt_outs.items():
        if name not in CHECKS:
            problems.append(f"opt_outs names no check {name!r}: the checks are {', '.join(CHECKS)}")
        elif not isinstance(reason, str) or not reason.strip():
            problems.append(
                f"opt_outs[{name!r}] gives no reason ({reason!r}): say why the platform cannot "
                "pass it, the suite prints it"
            )
    return problems


class OptOuts:
    """The opt-outs of the contract suites that ran, for pytest's summary."""

    taken: Final[dict[str, str]] = {}
    """``"TestSuite: check"`` -> reason."""

    @classmethod
    def record(cls, suite: str, name: str, reason: str) -> None:
        cls.taken[f"{suite} opts out of {name}"] = reason

    @classmethod
    def summary(cls) -> list[str]:
        """One line per opt-out, for pytest's summary."""
        return [f"contract suite: {what}: {reason}" for what, reason in sorted(cls.taken.items())]
