"""WooCommerce webhooks for Passerelle: order snapshots into shipments, cancellations and
refunds."""

from passerelle_woocommerce.platform import WooCommercePlatform
from passerelle_woocommerce.translate import HANDLED_TOPICS

__all__ = ["HANDLED_TOPICS", "WooCommercePlatform", "__version__"]

__version__ = "0.1.0"
