"""The codes the action center files deliveries under, beside the back end's problem codes.

A delivery the connector could not apply carries a stable code: a back-end problem code
(`passerelle.backend.problems.PROBLEMS`), a ledger rule, or one of the connector's own listed
here. A platform plugin adds the codes its `TranslationError` uses through
`WebhookPlatform.error_codes`. ``passerelle explain CODE`` explains every one of them, saying
whether the dispatcher retries it: what the connector does, not what one HTTP call answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "CONNECTOR_CODES",
    "ErrorCode",
    "describe",
    "is_transient_status",
    "merged",
    "retry_note",
]

_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def is_transient_status(status: int) -> bool:
    """Whether an HTTP answer with `status` may succeed when the request is sent again later:
    408, 429 and every 5xx. The back-end client, the dispatcher and plugins calling their
    platform's API all decide with this rule."""
    return status in (408, 429) or status >= 500


@dataclass(frozen=True)
class ErrorCode:
    """One code a delivery can be filed under: a title, what it means, what to do, and whether
    the dispatcher retries it by itself (`retryable`)."""

    code: str
    title: str
    meaning: str
    action: str
    retryable: bool = False

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise ValueError(
                f"error code {self.code!r} must be lower-case letters, digits and underscores"
            )
        for name in ("title", "meaning", "action"):
            if not getattr(self, name).strip():
                raise ValueError(f"error code {self.code}: {name} must not be blank")


_CODES: Final = (
    ErrorCode(
        "unreadable_delivery",
        "The delivery is authentic but its content cannot be read.",
        "The platform plugin could not turn the delivery into events: a field is missing or "
        "malformed. The message names the field.",
        "Fix the plugin (or the platform's data), restart `passerelle serve`, then "
        "`passerelle actions retry` the delivery.",
    ),
    ErrorCode(
        "not_yet_applicable",
        "The event depends on one not applied yet.",
        "A refund arrived before the shipment it returns, for instance: platforms deliver out "
        "of order.",
        "Nothing: the dispatcher defers the delivery and retries it until the missing event "
        "arrives, then files it here if it never does.",
        retryable=True,
    ),
    ErrorCode(
        "unknown_order",
        "The back end does not know the order yet.",
        "Orders are created at checkout, outside the connector; the webhook can be faster.",
        "Nothing at first: the dispatcher defers the delivery and retries it. If it stays, "
        "check that the checkout created the order under the reference the plugin uses.",
        retryable=True,
    ),
    ErrorCode(
        "platform_unreachable",
        "The platform's API could not be reached.",
        "A call the plugin made to its platform failed to connect or timed out.",
        "Nothing: the dispatcher retries with backoff; it files the delivery here only once "
        "its attempts run out.",
        retryable=True,
    ),
    ErrorCode(
        "platform_unavailable",
        "The platform's API is unavailable or rate limiting.",
        "A call the plugin made to its platform was answered 408, 429 or 5xx.",
        "Nothing: the dispatcher retries with backoff, honouring Retry-After.",
        retryable=True,
    ),
    ErrorCode(
        "platform_refused",
        "The platform's API refused a call.",
        "A call the plugin made to its platform was answered with a status retrying cannot fix.",
        "Check the store's API credentials and options (`passerelle config check`), then "
        "retry the delivery.",
    ),
    ErrorCode(
        "store_unavailable",
        "The delivery store could not be reached.",
        "The connector's database failed while handling the delivery.",
        "Nothing: the delivery is retried once the database answers again.",
        retryable=True,
    ),
    ErrorCode(
        "order_mismatch",
        "An event was applied to another order's ledger.",
        "A programming error in the connector or a plugin: the event names another order.",
        "Report it with the delivery's id; dismiss the delivery once understood.",
    ),
    ErrorCode(
        "duplicate_line",
        "An event names the same line twice.",
        "The plugin built an event listing one line twice.",
        "Fix the plugin, restart `passerelle serve`, then retry the delivery.",
    ),
    ErrorCode(
        "invalid_refund",
        "A refund amount the ledger cannot take.",
        "A negative refund, or one in another currency than the order.",
        "Check the refund on the platform; dismiss the delivery or refund by hand.",
    ),
    ErrorCode(
        "internal_error",
        "Handling the delivery raised an unexpected exception.",
        "A plugin, an observer or the connector itself failed in a way it did not foresee; the "
        "message gives the exception's type and text, and the log its traceback. The delivery "
        "is retried with backoff, and filed here once its attempts are spent.",
        "Fix the cause (a plugin update, an observer's dependency), restart `passerelle serve`, "
        "then `passerelle actions retry` the delivery.",
        retryable=True,
    ),
    ErrorCode(
        "quarantined",
        "The delivery ended a worker's handling abnormally three times in a row.",
        "Each worker that held it stopped, hung or was killed before settling it (its lease ran "
        "out), so it is set aside rather than take down the workers again. The message names "
        "the workers.",
        "Look for a crash in the log around those attempts, fix it, then `passerelle actions "
        "retry` the delivery: a retry by hand is tried afresh.",
    ),
    ErrorCode(
        "unreadable_file",
        "A batch file that cannot be read.",
        "The file is not valid CPA-005, NACHA or Bambora as the platform reads it; the message "
        "names the line, the positions and the rule.",
        "Have the accounting package write the file again, or fix it, and submit it anew.",
    ),
    ErrorCode(
        "batch_overlap",
        "A new batch repeats payments of another batch still to be processed.",
        "The same account, amount and reference are in both: most often the same payroll "
        "exported twice. The message names both batches and the entries; nothing was sent.",
        "If both are meant, `passerelle actions retry` the file: a retry by hand sends it. "
        "Otherwise dismiss it.",
    ),
    ErrorCode(
        "money_held",
        "The platform dropped an order whose money the back end still holds.",
        "The order was deleted (trashed) on the platform while part of its authorization was "
        "neither captured nor released: nothing will now ship or cancel it.",
        "Capture what shipped or void the rest at the back end by hand, then `passerelle "
        "actions dismiss` the delivery with a note.",
    ),
    ErrorCode(
        "invalid_cart",
        "An edited cart the ledger cannot take.",
        "The order edit leaves a cart with a line the ledger refuses (a negative total, a "
        "line that already shipped).",
        "Check the edit on the platform; dismiss the delivery or correct the order by hand.",
    ),
)

CONNECTOR_CODES: Mapping[str, ErrorCode] = MappingProxyType({c.code: c for c in _CODES})
"""The connector's own codes, by code (a back-end problem code it handles differently from one
HTTP call's view, such as ``unknown_order``, is here too)."""


def retry_note(code: ErrorCode) -> str:
    """Whether the dispatcher retries a delivery filed under `code`, in a few words."""
    if code.retryable:
        return "retried automatically by the dispatcher"
    return "not retried: it waits in the action center"


def describe(code: ErrorCode) -> str:
    """`code` explained for a merchant, as ``passerelle explain`` prints it."""
    return "\n".join(
        [
            f"{code.code}: {code.title}",
            f"Delivery code, {retry_note(code)}.",
            "",
            f"What it means: {code.meaning}",
            f"What to do: {code.action}",
        ]
    )


def merged(extra: Iterable[ErrorCode]) -> dict[str, ErrorCode]:
    """The connector's codes with `extra` (platforms' codes) added; a platform cannot redefine
    a connector code."""
    codes = dict(CONNECTOR_CODES)
    for code in extra:
        codes.setdefault(code.code, code)
    return codes
