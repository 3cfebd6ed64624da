"""The connector tests' platform, installed as a plugin for `passerelle serve` subprocesses.

It registers the signed test platform (`testplatform.TestPlatform`), a file platform reading
CPA-005 (`batch_support.CpaFiles`), and an observer that appends
one JSON line per lifecycle hook call to the file named by `PASSERELLE_TEST_JOURNAL` (nothing
when unset): the process id, the hook, the order, the event id and the idempotency key. Lines
are written with one `write` on a file opened for appending, so processes sharing the journal
never interleave within a line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from batch_support import CpaFiles
from testplatform import TestPlatform

from passerelle.events import Envelope, OrderCancelled, OrderEdited, OrderReturned, OrderShipped
from passerelle.hookspecs import hookimpl
from passerelle.orders import Effect
from passerelle.platforms import FilePlatform, WebhookPlatform

JOURNAL_ENV = "PASSERELLE_TEST_JOURNAL"


@hookimpl
def register_platforms(register: Callable[[WebhookPlatform | FilePlatform], None]) -> None:
    register(TestPlatform())
    register(CpaFiles())


def _record(hook: str, envelope: Envelope, order: str, event_id: str, effect: Effect) -> None:
    path = os.environ.get(JOURNAL_ENV)
    if not path:
        return
    line = json.dumps(
        {
            "pid": os.getpid(),
            "hook": hook,
            "order": order,
            "id": event_id,
            "key": envelope.idempotency_key,
            "amount": str(effect.amount),
        }
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, (line + "\n").encode())
    finally:
        os.close(descriptor)


@hookimpl
def order_shipped(envelope: Envelope, event: OrderShipped, effect: Effect) -> None:
    _record("order_shipped", envelope, event.order, event.id, effect)


@hookimpl
def order_cancelled(envelope: Envelope, event: OrderCancelled, effect: Effect) -> None:
    _record("order_cancelled", envelope, event.order, event.id, effect)


@hookimpl
def order_returned(envelope: Envelope, event: OrderReturned, effect: Effect) -> None:
    _record("order_returned", envelope, event.order, event.id, effect)


@hookimpl
def order_edited(envelope: Envelope, event: OrderEdited, effect: Effect) -> None:
    _record("order_edited", envelope, event.order, event.id, effect)
