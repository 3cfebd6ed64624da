"""Authentic Shopify deliveries that Passerelle cannot act on by itself."""

from __future__ import annotations

from passerelle.platforms import TranslationError

__all__ = ["FulfillmentReversedError"]


class FulfillmentReversedError(TranslationError):
    """A fulfillment was cancelled, or failed, in Shopify.

    Passerelle never un-ships: goods it recorded as shipped were captured, so a person decides
    whether to refund or ship again (or, when nothing shipped, dismisses the delivery). The
    delivery lands in the action center with this message.
    """

    def __init__(self, *, fulfillment: int, order: int, status: str) -> None:
        if status == "cancelled":
            message = (
                f"Shopify reports fulfillment {fulfillment} of order {order} cancelled, and "
                "Passerelle cannot undo a capture: if the goods shipped, record their return or "
                "refund in Shopify; if they never left, dismiss this delivery"
            )
        else:
            message = (
                f"fulfillment {fulfillment} of order {order} ended in status {status}; "
                "Passerelle cannot un-ship what it recorded as shipped: check the order, then "
                "refund or re-ship by hand"
            )
        super().__init__(message)
        self.fulfillment = fulfillment
        self.order = order
        self.status = status
