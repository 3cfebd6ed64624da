"""Authentic Shopify deliveries that Passerelle cannot act on by itself."""

from __future__ import annotations

from passerelle.plugin import ErrorCode, TranslationError

__all__ = ["ERROR_CODES", "FulfillmentReversedError"]

ERROR_CODES = (
    ErrorCode(
        "fulfillment_cancelled",
        "Shopify reports a fulfillment cancelled.",
        "Passerelle never un-ships, and the delivery does not say whether the fulfillment "
        "shipped here: one cancelled before it ever succeeded looks the same.",
        "If the order's ledger lists the fulfillment shipped, its units were captured: record "
        "their return or refund in Shopify, or ship them again. If it does not, dismiss the "
        "delivery.",
    ),
    ErrorCode(
        "fulfillment_failed",
        "Shopify reports a fulfillment failed.",
        "The fulfillment ended in status failure or error. Passerelle never un-ships.",
        "If the order's ledger lists the fulfillment shipped, refund or re-ship its units by "
        "hand; if it does not, dismiss the delivery.",
    ),
)
"""The codes `FulfillmentReversedError` files deliveries under."""


class FulfillmentReversedError(TranslationError):
    """A fulfillment was cancelled, or failed, in Shopify.

    Not unreadable: an act Passerelle has no event for. It never un-ships (goods it recorded as
    shipped were captured), and the delivery does not say whether the fulfillment shipped here
    (one cancelled before it ever succeeded looks the same), so a person decides. `code` files
    the action-center entry as ``fulfillment_cancelled`` or ``fulfillment_failed``, with this
    message.
    """

    def __init__(self, *, fulfillment: int, order: int, status: str) -> None:
        applied = f"order_shipped {fulfillment}"
        if status == "cancelled":
            code = "fulfillment_cancelled"
            message = (
                f"Shopify reports fulfillment {fulfillment} of order {order} cancelled. "
                "Passerelle never un-ships, and the delivery does not say whether the "
                f"fulfillment shipped here: if the order's ledger lists {applied}, its units "
                "were captured, so record their return or refund in Shopify or ship them "
                "again; if it does not, nothing was captured for it: dismiss this delivery"
            )
        else:
            code = "fulfillment_failed"
            message = (
                f"fulfillment {fulfillment} of order {order} ended in status {status}. "
                "Passerelle never un-ships: if the order's ledger lists "
                f"{applied}, its units were captured, so refund or re-ship them by hand; if "
                "it does not, nothing was captured for it: dismiss this delivery"
            )
        super().__init__(message, field="status", code=code)
        self.fulfillment = fulfillment
        self.order = order
        self.status = status
