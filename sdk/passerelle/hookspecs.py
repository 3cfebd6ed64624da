"""The hooks a Passerelle plugin can implement: the plugin author's reference.

A plugin is a module or an object whose functions are marked with `hookimpl` and named after a
hook below. It is found through the entry-point group ``passerelle`` of its distribution::

    [project.entry-points.passerelle]
    acme = "passerelle_acme"

and implements any subset of the hooks, taking any subset of each hook's arguments by name::

    from passerelle import hookimpl

    @hookimpl
    def register_platforms(register):
        register(AcmePlatform())

    @hookimpl
    def order_shipped(envelope, effect):
        ...

The core always calls hooks with keyword arguments. A function marked with `hookimpl` whose name
is not a hook here stops the plugins from loading, naming the plugin and the hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

from passerelle.events import (
    BatchFileEdited,
    Envelope,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
)
from passerelle.platforms import FilePlatform, WebhookPlatform

if TYPE_CHECKING:
    from passerelle.order_effects import Effect

__all__ = [
    "PROJECT",
    "batch_file_edited",
    "hookimpl",
    "hookspec",
    "order_cancelled",
    "order_edited",
    "order_returned",
    "order_shipped",
    "register_platforms",
]

PROJECT = "passerelle"
"""The pluggy project name, also the entry-point group plugins are registered under."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin function as the implementation of the hook it is named after."""


# Platform hooks


@hookspec
def register_platforms(register: Callable[[WebhookPlatform | FilePlatform], None]) -> None:
    """Hand the SDK the platforms this plugin provides.

    Called once per plugin when the host first needs the platforms (receiving a webhook,
    reading a batch file, listing plugins). Call ``register(platform)`` once per platform with an
    instance of a `WebhookPlatform` or `FilePlatform` subclass; its class attribute ``name`` (lower
    case letters, digits, ``-`` and ``_``) is the ``{platform}`` segment of webhook URLs and the
    ``platform`` of store configuration. Return nothing.

    Registering something that is not a platform, an invalid name, or a name another plugin
    already registered is an error naming both plugins: the host refuses to start rather than
    route deliveries to the wrong code. An exception raised here is reported the same way, naming
    this plugin.
    """


# Lifecycle hooks
#
# Called by the dispatcher for each event the ledger applied, in the order the events happened
# for the same order, once the payment back end accepted it: the back-end call is the
# dispatcher's own step, made before any hook, so an observer never sees an event the back end
# refused, whatever other plugins implement (wrappers, tryfirst). An event the ledger found to change
# nothing (a repeated delivery, a fulfillment already shipped) calls no hook. When a hook raises,
# the delivery is retried and every hook is called again for the event, the back end answering
# its first answer again under the same idempotency key. A process that dies between the back
# end's answer and the observers' calls is the one case in which observers miss an event: after
# the restart the ledger finds it applied.


@hookspec
def order_shipped(envelope: Envelope, event: OrderShipped, effect: Effect) -> None:
    """Goods of an order were shipped: their value is to be captured.

    Called after the ledger accepted the shipment. ``envelope`` says which platform, store and
    delivery the event came from; ``event`` is ``envelope.event``; ``effect`` is what the ledger
    applied: the lines and quantities newly shipped (an overlapping fulfillment carries only the
    new part) and the amount to capture. Return nothing.

    Raising makes the delivery fail: it is retried with backoff (a retryable ``passerelle.backend``
    error, such as a timeout, keeps its own code; any other exception is ``internal_error``) and
    goes to the action center with its message once the attempts are spent. Either way the same event may be dispatched again,
    later or by a replay, so an implementation must be idempotent: key any side effect on
    ``envelope.idempotency_key``, which is the same every time.
    """


@hookspec
def order_cancelled(envelope: Envelope, event: OrderCancelled, effect: Effect) -> None:
    """Unshipped goods of an order will not ship: their authorization is released.

    Called after the ledger accepted the cancellation. ``effect`` holds the lines and
    quantities newly cancelled and the amount released; its void flag is set when the whole
    remaining authorization is voided (nothing left to ship). Return nothing.

    Failures and re-dispatch are handled as for `order_shipped`: be idempotent on
    ``envelope.idempotency_key``.
    """


@hookspec
def order_returned(envelope: Envelope, event: OrderReturned, effect: Effect) -> None:
    """Shipped goods came back or money was given back: the amount is to be refunded.

    Called after the ledger accepted the return (never more than was shipped, never a refund
    above what was captured and not yet refunded). ``effect`` holds the returned lines and
    quantities, which may be none for a refund without goods, and the amount to refund. Return
    nothing.

    Failures and re-dispatch are handled as for `order_shipped`: be idempotent on
    ``envelope.idempotency_key``.
    """


@hookspec
def order_edited(envelope: Envelope, event: OrderEdited, effect: Effect) -> None:
    """The unshipped part of an order's cart was edited.

    Called after the ledger accepted the edit (only unshipped lines may change). ``event.cart``
    is the whole new unshipped cart; ``effect`` holds the line quantities and the amount as the
    ledger recomputed them. Return nothing.

    Failures and re-dispatch are handled as for `order_shipped`: be idempotent on
    ``envelope.idempotency_key``.
    """


@hookspec
def batch_file_edited(envelope: Envelope, event: BatchFileEdited) -> None:
    """A batch payment file changed before its cutoff.

    Called once per new version of a batch file that differs from the previous one, after the
    batch rules (cutoff, entries) accepted it. ``event.batch`` is the batch id, stable across
    versions; ``event.changes`` lists what changed (rescheduled, deleted, entries added, removed
    or changed). The first version of a batch comes too, as every entry added; an edit read from
    a file carries the whole batch as that version has it in ``event.after``. Return nothing.

    Failures and re-dispatch are handled as for `order_shipped`: be idempotent on
    ``envelope.idempotency_key``.
    """
