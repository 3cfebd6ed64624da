"""Payment plans: the order's remaining balance split into installments that sum to it exactly.

The first installment is due the day the order was placed, the next ones every
`INSTALLMENT_INTERVAL` after it. The split is `Money.allocate` over equal weights, so the parts
differ by at most one minor unit and the earliest installments take the extra units.
"""

from __future__ import annotations

import datetime as dt

from passerelle.backend.models import PaymentPlan
from passerelle.money import Money

__all__ = ["INSTALLMENT_INTERVAL", "payment_plan"]

INSTALLMENT_INTERVAL = dt.timedelta(days=30)


def payment_plan(balance: Money, installments: int, first_due: dt.date) -> PaymentPlan:
    """The plan paying `balance` in `installments` parts from `first_due`; none when zero."""
    if installments < 1:
        raise ValueError(f"a payment plan needs at least one installment, not {installments}")
    if balance.is_zero():
        return PaymentPlan.allocate(balance, ())
    due_dates = [first_due + INSTALLMENT_INTERVAL * i for i in range(installments)]
    return PaymentPlan.allocate(balance, due_dates)
