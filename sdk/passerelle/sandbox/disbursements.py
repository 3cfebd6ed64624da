"""Disbursements: what the sandbox pays out to the merchant, per day and currency.

A day is a calendar day in the time zone of the batch cutoff (America/Vancouver by default), read
on the sandbox clock. Money captured by a shipment is paid out with the day it was captured on.
A refund comes off the next disbursement: the first later day with captures in its currency, as
far as that day's captures go, the rest off the following such days, oldest refund first. So a
day's ``net`` is never negative, and a refund that no later captures cover yet is listed as
pending, not as a payout of its own.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Response

from passerelle.backend.batch_models import (
    DisbursementDay,
    DisbursementList,
    DisbursementOrder,
    DisbursementQuery,
    PendingRefund,
)
from passerelle.money import Money
from passerelle.sandbox.db import Movement
from passerelle.sandbox.deps import Merchant, SandboxDep
from passerelle.sandbox.errors import problem_responses
from passerelle.sandbox.orders import json_response

__all__ = ["router"]

router = APIRouter(prefix="/v1/disbursements", tags=["disbursements"])


@dataclass
class _Refund:
    order: str
    made_on: dt.date
    left: int


@dataclass(frozen=True)
class _Payouts:
    """Each day's payout of one currency (order → [captured, refunded] in minor units), and the
    refunds no payout has taken off yet."""

    days: dict[dt.date, dict[str, list[int]]]
    pending: list[_Refund]


def _payouts(movements: list[Movement], tz: dt.tzinfo) -> dict[str, _Payouts]:
    """The payouts of `movements` (oldest first), by currency; days are calendar days in `tz`."""
    captures: dict[str, dict[dt.date, dict[str, int]]] = defaultdict(dict)
    refunds: dict[str, list[_Refund]] = defaultdict(list)
    for movement in movements:
        day = movement.occurred_at.astimezone(tz).date()
        if movement.kind == "capture":
            orders = captures[movement.currency].setdefault(day, {})
            orders[movement.reference] = orders.get(movement.reference, 0) + movement.amount_minor
        else:
            refunds[movement.currency].append(
                _Refund(movement.reference, day, movement.amount_minor)
            )
    result: dict[str, _Payouts] = {}
    for code in captures.keys() | refunds.keys():
        days: dict[dt.date, dict[str, list[int]]] = {}
        waiting = refunds[code]
        for day, orders in sorted(captures[code].items()):
            parts = {reference: [minor, 0] for reference, minor in orders.items()}
            room = sum(orders.values())
            for refund in waiting:
                if room == 0:
                    break
                if refund.made_on >= day:
                    continue
                taken = min(room, refund.left)
                parts.setdefault(refund.order, [0, 0])[1] += taken
                refund.left -= taken
                room -= taken
            waiting = [refund for refund in waiting if refund.left]
            days[day] = parts
        result[code] = _Payouts(days, waiting)
    return result


@router.get(
    "",
    response_model=DisbursementList,
    responses=problem_responses(),
    summary="List disbursements",
)
def list_disbursements(
    query: Annotated[DisbursementQuery, Query()], sandbox: SandboxDep, merchant: Merchant
) -> Response:
    """What was paid out per day between `since` and `until` (inclusive), by date, and the
    refunds still waiting to come off a disbursement."""
    with sandbox.db.transaction() as tx:
        # Which payout a refund comes off depends on every capture after it: all are read.
        movements = tx.movements(merchant, dt.date.min, dt.date.max)
    since, until = query.since or dt.date.min, query.until or dt.date.max
    disbursements = []
    pending = []
    for code, paid in _payouts(movements, sandbox.cutoff.tz).items():
        if query.currency is not None and code != query.currency:
            continue
        pending += [
            PendingRefund(
                order=refund.order,
                refunded_on=refund.made_on,
                amount=Money.from_minor(refund.left, code),
            )
            for refund in paid.pending
        ]
        for day, orders in paid.days.items():
            if since <= day <= until:
                disbursements.append(_day(day, code, orders))
    disbursements.sort(key=lambda d: (d.date, d.currency))
    pending.sort(key=lambda p: p.refunded_on)
    return json_response(
        DisbursementList(disbursements=tuple(disbursements), pending=tuple(pending))
    )


def _day(day: dt.date, code: str, orders: dict[str, list[int]]) -> DisbursementDay:
    parts = tuple(
        DisbursementOrder(
            order=reference,
            captured=Money.from_minor(captured, code),
            refunded=Money.from_minor(refunded, code),
        )
        for reference, (captured, refunded) in sorted(orders.items())
    )
    captured = Money.sum((part.captured for part in parts), code)
    refunded = Money.sum((part.refunded for part in parts), code)
    return DisbursementDay(
        date=day,
        currency=code,
        captured=captured,
        refunded=refunded,
        net=captured - refunded,
        orders=parts,
    )
