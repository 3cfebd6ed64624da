"""Disbursements: what the sandbox pays out to the merchant, per day and currency.

A day is a calendar day in the time zone of the batch cutoff (America/Vancouver by default), read
on the sandbox clock. Money captured by a shipment is paid out with the day it was captured on;
a refund comes off the next disbursement, the one of the day after it was made. So a day's
``net`` (captured minus refunded) may be negative, and the list includes tomorrow's disbursement
as soon as a refund is made today.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response

from passerelle.backend.models import (
    DisbursementDay,
    DisbursementList,
    DisbursementOrder,
    DisbursementQuery,
)
from passerelle.money import Money
from passerelle.sandbox.deps import Merchant, SandboxDep
from passerelle.sandbox.errors import problem_responses
from passerelle.sandbox.orders import json_response

__all__ = ["router"]

router = APIRouter(prefix="/v1/disbursements", tags=["disbursements"])


@router.get(
    "",
    response_model=DisbursementList,
    responses=problem_responses(),
    summary="List disbursements",
)
def list_disbursements(
    query: Annotated[DisbursementQuery, Query()], sandbox: SandboxDep, merchant: Merchant
) -> Response:
    """What was paid out per day between `since` and `until` (inclusive), by date."""
    with sandbox.db.transaction() as tx:
        movements = tx.movements(merchant, query.since or dt.date.min, query.until or dt.date.max)
    days: dict[tuple[dt.date, str], dict[str, list[int]]] = {}
    for movement in movements:
        if query.currency is not None and movement.currency != query.currency:
            continue
        orders = days.setdefault((movement.disbursed_on, movement.currency), {})
        captured_refunded = orders.setdefault(movement.reference, [0, 0])
        captured_refunded[0 if movement.kind == "capture" else 1] += movement.amount_minor
    disbursements = []
    for (day, code), orders in sorted(days.items()):
        parts = tuple(
            DisbursementOrder(
                order=reference,
                captured=Money.from_minor(captured, code),
                refunded=Money.from_minor(refunded, code),
            )
            for reference, (captured, refunded) in orders.items()
        )
        captured = Money.sum((part.captured for part in parts), code)
        refunded = Money.sum((part.refunded for part in parts), code)
        disbursements.append(
            DisbursementDay(
                date=day,
                currency=code,
                captured=captured,
                refunded=refunded,
                net=captured - refunded,
                orders=parts,
            )
        )
    return json_response(DisbursementList(disbursements=tuple(disbursements)))
