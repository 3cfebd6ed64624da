"""Golden expectations: the events a sample must become, in a canonical, reviewable text form.

Beside a sample ``refunds_create.json`` the file ``refunds_create.events.txt`` holds what its
delivery translates to: the events as the SDK stores them (kind, order, id, lines and quantities,
amounts with their currency, reason, tracking), when it happened, or why it is ignored (and the
order whose money held then needs a person); for a sample marked refused, the error's code,
field and message. The
contract suite compares; ``pytest --update-golden`` writes the files for review instead, and the
suite's summary says how many samples have none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pydantic import TypeAdapter

from passerelle.events import Event
from passerelle.platforms import Translation

if TYPE_CHECKING:
    from passerelle.testing.harness import Raised

__all__ = ["SUFFIX", "UPDATE_OPTION", "Coverage", "golden_path", "render"]

UPDATE_OPTION: Final = "--update-golden"
SUFFIX: Final = ".events.txt"
"""How the name of a file of golden expectations ends."""
_EVENTS: Final = TypeAdapter(tuple[Event, ...])


def golden_path(sample: Path) -> Path:
    """Where the golden expectations of the sample file `sample` are kept."""
    return sample.with_name(f"{sample.name.removesuffix('.json')}{SUFFIX}")


def render(outcome: Translation | Raised) -> str:
    """`outcome` in the canonical text form: sorted keys, one value a line, amounts as
    decimal strings with their currency, times in UTC offset notation; a refusal as its code,
    field and message."""
    if not isinstance(outcome, Translation):
        refusal = {
            "error": outcome.type.__name__,
            "code": outcome.code,
            "field": outcome.field,
            "message": outcome.detail,
        }
        return json.dumps({"refused": refusal}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    document = {
        "ignored": outcome.ignored,
        "occurred_at": outcome.occurred_at.isoformat() if outcome.occurred_at else None,
        "events": _EVENTS.dump_python(outcome.events, mode="json"),
    }
    if outcome.unless_money_held is not None:
        # Only where set, so that files written before it was rendered still hold.
        document["unless_money_held"] = outcome.unless_money_held
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class Coverage:
    """How many samples of the contract suites that ran have golden expectations."""

    with_golden: Final[set[str]] = set()
    without: Final[set[str]] = set()

    @classmethod
    def summary(cls) -> str | None:
        """One line for pytest's summary; None when no contract suite ran."""
        total = len(cls.with_golden) + len(cls.without)
        if not total:
            return None
        line = f"contract suite: {len(cls.with_golden)} of {total} samples have golden expectations"
        if cls.without:
            line += f"; none for {', '.join(sorted(cls.without))}"
        return line
