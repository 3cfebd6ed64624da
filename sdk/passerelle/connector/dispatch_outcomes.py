"""What an attempt at a delivery came to (a `Verdict`), and how each settled attempt is counted
and logged (`log_outcome`)."""

from __future__ import annotations

import logging
from datetime import datetime

from passerelle.connector import metrics
from passerelle.connector.store import Claim, ErrorInfo

__all__ = ["DeferError", "PermanentError", "TransientError", "Verdict", "log_outcome"]

log = logging.getLogger("passerelle.dispatcher")


class TransientError(Exception):
    """An attempt failed for a reason that may pass; retry after `wait` seconds (or backoff)."""

    def __init__(self, error: ErrorInfo, wait: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait


class DeferError(Exception):
    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


class PermanentError(Exception):
    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


Verdict = TransientError | DeferError | PermanentError | list[str] | str
"""What an attempt came to: an error to settle by its kind, the outcomes of the events applied,
or why the delivery is ignored."""


def log_outcome(
    claim: Claim,
    outcome: str,
    detail: str,
    *,
    code: str | None = None,
    until: datetime | None = None,
    level: int = logging.INFO,
) -> None:
    """Count the settled attempt, and log it in one line: the delivery, its store and order,
    what became of it and why; never a body or a secret. The fields are also given apart, for a
    JSON log."""
    metrics.record_dispatch(outcome, code)
    if not log.isEnabledFor(level):
        return
    delivery = claim.delivery
    fields: dict[str, object] = {
        "delivery": delivery.id,
        "platform": delivery.platform,
        "store": delivery.store,
        "order": delivery.ordering_key,
        "outcome": outcome,
        "attempt": claim.attempt,
    }
    what = outcome
    if code is not None:
        fields["code"] = code
        what += f" ({code})"
    if until is not None:
        fields["until"] = until.isoformat()
        what += f" until {until.isoformat()}"
    order = f" order {delivery.ordering_key}" if delivery.ordering_key else ""
    log.log(
        level,
        "delivery %d %s/%s%s %s: %s",
        delivery.id,
        delivery.platform,
        delivery.store,
        order,
        what,
        detail,
        extra=fields,
    )
