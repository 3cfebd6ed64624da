"""Passerelle: connect e-commerce platforms to a payment back end. Nothing lost, nothing doubled.

The public API. Everything not named in `__all__` is an implementation detail.
"""

from passerelle._version import __version__
from passerelle.backend.client import AsyncBackendClient, BackendClient
from passerelle.backend.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BackendError,
    CardDeclinedError,
)
from passerelle.backend.retry import RetryPolicy
from passerelle.batches import (
    BatchChange,
    BatchEntry,
    BatchFile,
    BatchKind,
    BatchPastCutoff,
    CutoffPolicy,
    Deleted,
    Direction,
    EntriesAdded,
    EntriesRemoved,
    EntryChanged,
    Rescheduled,
    apply,
    diff,
)
from passerelle.checkout import Line, Order
from passerelle.clock import Clock, FixedClock, SystemClock
from passerelle.events import (
    BatchFileEdited,
    CancelReason,
    CartLine,
    Envelope,
    Event,
    LineQuantity,
    LineType,
    OrderCancelled,
    OrderEdited,
    OrderEvent,
    OrderReturned,
    OrderShipped,
    Tracking,
)
from passerelle.formats import FormatError
from passerelle.hookspecs import hookimpl
from passerelle.json_fields import top_level_fields
from passerelle.ledger_errors import EventNotYetApplicable, LedgerError
from passerelle.money import Currency, CurrencyMismatchError, Money, MoneyError
from passerelle.order_effects import Effect
from passerelle.orders import LineState, OrderLedger
from passerelle.platforms import (
    FilePlatform,
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
from passerelle.plugins import PluginError, PluginInfo, Plugins, default_plugins
from passerelle.signatures import hmac_sha256

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncBackendClient",
    "BackendClient",
    "BackendError",
    "BatchChange",
    "BatchEntry",
    "BatchFile",
    "BatchFileEdited",
    "BatchKind",
    "BatchPastCutoff",
    "CancelReason",
    "CardDeclinedError",
    "CartLine",
    "Clock",
    "Currency",
    "CurrencyMismatchError",
    "CutoffPolicy",
    "Deleted",
    "Direction",
    "Effect",
    "EntriesAdded",
    "EntriesRemoved",
    "EntryChanged",
    "Envelope",
    "Event",
    "EventNotYetApplicable",
    "FilePlatform",
    "FixedClock",
    "FormatError",
    "LedgerError",
    "Line",
    "LineQuantity",
    "LineState",
    "LineType",
    "Money",
    "MoneyError",
    "Order",
    "OrderCancelled",
    "OrderEdited",
    "OrderEvent",
    "OrderLedger",
    "OrderReturned",
    "OrderShipped",
    "PluginError",
    "PluginInfo",
    "Plugins",
    "Rescheduled",
    "RetryPolicy",
    "Store",
    "StoreProblem",
    "SystemClock",
    "Tracking",
    "Translation",
    "TranslationContext",
    "TranslationError",
    "VerificationError",
    "Version",
    "WebhookPlatform",
    "WebhookRequest",
    "__version__",
    "apply",
    "default_plugins",
    "diff",
    "hmac_sha256",
    "hookimpl",
    "top_level_fields",
]
