"""Shopify webhooks for Passerelle: shipments, cancellations, refunds and order edits."""

from passerelle_shopify.errors import FulfillmentReversedError
from passerelle_shopify.platform import ShopifyPlatform
from passerelle_shopify.translate import HANDLED_TOPICS

__all__ = ["HANDLED_TOPICS", "FulfillmentReversedError", "ShopifyPlatform", "__version__"]

__version__ = "0.1.0"
