"""What a platform plugin's author imports: ``from passerelle.plugin import ...``.

`passerelle` itself is the host's API (the back-end client, the ledger, the plugin manager); this
module is the plugin's: the hook marker, the platform base classes and what they receive and
return, the events, the errors, and the helpers every platform needs (signatures, reading a
body, money, keys, store options, error codes). A plugin imports from the core only through it.

This module is the plugin API that `PLUGIN_API_VERSION` numbers: a minor version adds names, only a
major one removes or changes one, and a name goes only after warning for a minor release (see
`passerelle.compatibility`). A plugin module declares the versions it works with::

    requires_plugin_api = ">=1.0,<2"
"""

from passerelle.amounts import EXACT, amount_in, amount_of, currency_code, fits, known_currency
from passerelle.backend.models import CartLineItem, OrderCreate
from passerelle.codes import ErrorCode, is_transient_status
from passerelle.compatibility import PLUGIN_API_VERSION
from passerelle.events import (
    CancelReason,
    CartLine,
    LineQuantity,
    LineType,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
    Tracking,
)
from passerelle.hookspecs import hookimpl
from passerelle.json_fields import top_level_fields
from passerelle.keys import LONGEST_DELIVERY_KEY, bounded_key
from passerelle.money import Currency, Money, MoneyError
from passerelle.payloads import (
    LONGEST_ID,
    Amount,
    Body,
    Count,
    Id,
    Items,
    Payload,
    field_path,
    loads,
    parse_json,
    parse_model,
    path_at,
    validate,
)
from passerelle.platform_api import platform_get
from passerelle.platforms import (
    JSON_MEDIA_TYPE,
    FilePlatform,
    Platform,
    PlatformUnavailableError,
    SignedDelivery,
    Store,
    StoreProblem,
    Translation,
    TranslationContext,
    TranslationError,
    VerificationError,
    Version,
    WebhookPlatform,
    WebhookRequest,
)
from passerelle.refund_caps import cap_refunds
from passerelle.scenarios import (
    BatchAction,
    DemoDelivery,
    DemoScenario,
    ExpectedLedger,
    FileDemoScenario,
    FileDrop,
)
from passerelle.serving import BackgroundServer
from passerelle.signatures import HmacSignature, hmac_sha256
from passerelle.store_options import (
    OptionList,
    StoreOptions,
    StoreOptionsError,
    option_list,
    secret_values,
)

__all__ = [
    "EXACT",
    "JSON_MEDIA_TYPE",
    "LONGEST_DELIVERY_KEY",
    "LONGEST_ID",
    "PLUGIN_API_VERSION",
    "Amount",
    "BackgroundServer",
    "BatchAction",
    "Body",
    "CancelReason",
    "CartLine",
    "CartLineItem",
    "Count",
    "Currency",
    "DemoDelivery",
    "DemoScenario",
    "ErrorCode",
    "ExpectedLedger",
    "FileDemoScenario",
    "FileDrop",
    "FilePlatform",
    "HmacSignature",
    "Id",
    "Items",
    "LineQuantity",
    "LineType",
    "Money",
    "MoneyError",
    "OptionList",
    "OrderCancelled",
    "OrderCreate",
    "OrderEdited",
    "OrderReturned",
    "OrderShipped",
    "Payload",
    "Platform",
    "PlatformUnavailableError",
    "SignedDelivery",
    "Store",
    "StoreOptions",
    "StoreOptionsError",
    "StoreProblem",
    "Tracking",
    "Translation",
    "TranslationContext",
    "TranslationError",
    "VerificationError",
    "Version",
    "WebhookPlatform",
    "WebhookRequest",
    "amount_in",
    "amount_of",
    "bounded_key",
    "cap_refunds",
    "currency_code",
    "field_path",
    "fits",
    "hmac_sha256",
    "hookimpl",
    "is_transient_status",
    "known_currency",
    "loads",
    "option_list",
    "parse_json",
    "parse_model",
    "path_at",
    "platform_get",
    "secret_values",
    "top_level_fields",
    "validate",
]
