"""The payment back end's problem codes: what each one means and what to do about it.

Every error the back end answers is an RFC 9457 problem (``application/problem+json``) with a
stable ``code`` from `PROBLEMS`. The back end uses the registry to build its answers (`problem`),
the client to pick the exception class, and ``passerelle explain CODE`` to tell a merchant what
happened (`explain`).

Status choices: a request that breaks a ledger rule against the order's or batch's *current* state
(shipping more than is left, refunding more than was captured, editing a batch past its cutoff) is
409 Conflict; a request that is wrong whatever the state (a malformed body, an unknown line, a
currency other than the order's, an unreadable batch file) is 422. Only the codes marked retryable
can succeed when the same request is sent again; for all others, change something first.

Ledger codes that never come back from the back end are not here: ``order_mismatch`` (an event
applied to another order's ledger, a local programming error) and ``not_yet_applicable`` (the
connector defers such an event itself instead of sending it).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType

__all__ = [
    "DECLINES",
    "PROBLEMS",
    "PROBLEM_CONTENT_TYPE",
    "Decline",
    "ProblemSpec",
    "UnknownProblemCodeError",
    "explain",
    "explain_decline",
    "known_codes",
    "problem_type",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True, slots=True)
class ProblemSpec:
    """One problem code: its HTTP status, its title and its explanation for merchants."""

    code: str
    status: int
    title: str
    retryable: bool
    meaning: str
    action: str

    @property
    def type(self) -> str:
        """The problem's RFC 9457 ``type`` URI."""
        return problem_type(self.code)


@dataclass(frozen=True, slots=True)
class Decline:
    """A card processor's decline, named by the processor's numeric message id."""

    message_id: int
    processor_message: str
    decline_code: str
    meaning: str
    action: str


def problem_type(code: str) -> str:
    """The ``type`` URI of a problem code, relative to the back end's base URL.

    The back end can serve the explanation of a code at that path.
    """
    return f"/problems/{code}"


_SPECS = (
    ProblemSpec(
        "validation_failed",
        422,
        "The request does not match the API contract",
        False,
        "A field is missing, has the wrong type or breaks a rule (an amount sent as a float, a "
        "negative quantity, an unknown currency). The problem's `errors` list names each field "
        "and what is wrong with it.",
        "Fix the named fields and send the request again. If the connector sent it, the event "
        "that produced it is malformed: check the platform plugin's translation.",
    ),
    ProblemSpec(
        "unknown_order",
        404,
        "No order with this reference",
        False,
        "The back end knows no order under this store order reference for this merchant.",
        "Check the reference and the merchant id. An order is created at checkout: if checkout "
        "went through another merchant account, the connector is configured with the wrong one.",
    ),
    ProblemSpec(
        "order_exists",
        409,
        "An order with this reference already exists",
        False,
        "An order was already created under this reference, by a request with another "
        "idempotency key.",
        "Fetch the existing order instead of creating it again; if it is another order, give it "
        "another reference.",
    ),
    ProblemSpec(
        "unknown_line",
        422,
        "The order has no line with this reference",
        False,
        "The request names a line reference the order does not have.",
        "Refresh the order (`GET /v1/orders/{ref}`) and use its line references; if the cart was "
        "edited on the platform, make sure the edit reached the back end first.",
    ),
    ProblemSpec(
        "order_already_shipped",
        409,
        "The order's goods have already shipped",
        False,
        "The request only applies to goods that have not shipped (a cancellation), but "
        "everything it names has left the warehouse.",
        "Handle it as a return: send the returned lines and the amount to refund.",
    ),
    ProblemSpec(
        "ship_exceeds_ordered",
        409,
        "Shipping more than is left to ship",
        False,
        "A line would ship more than was ordered minus what is already shipped or cancelled.",
        "Compare the shipment with the order's ledger (`GET /v1/orders/{ref}`); if the platform "
        "reports a quantity above the order, correct the order on the platform first.",
    ),
    ProblemSpec(
        "cancel_exceeds_ordered",
        409,
        "Cancelling more than is left to cancel",
        False,
        "A line would cancel more units than were ordered minus those already cancelled.",
        "Compare the cancellation with the order's ledger (`GET /v1/orders/{ref}`); units that "
        "shipped are taken back with a return, not a cancellation.",
    ),
    ProblemSpec(
        "not_a_product_line",
        422,
        "Only product lines ship, cancel or return",
        False,
        "The request names a handling, fee or discount line where only product lines count; "
        "those lines follow the products pro rata.",
        "Name product lines only. To change handling, fees or discounts, edit the cart.",
    ),
    ProblemSpec(
        "return_exceeds_shipped",
        409,
        "Returning more than was shipped",
        False,
        "A line would come back more often than it shipped (minus what already came back).",
        "If the fulfillment has not reached the back end yet, it will be retried once it has; "
        "otherwise correct the returned quantities.",
    ),
    ProblemSpec(
        "refund_exceeds_captured",
        409,
        "Refund exceeds what was captured",
        False,
        "The refund is larger than the amount captured minus what was already refunded.",
        "Refund at most the amount shown as captured minus refunded on the order. A refund "
        "before the goods shipped is a cancellation, not a return.",
    ),
    ProblemSpec(
        "line_already_shipped",
        409,
        "A line of this cart edit has already shipped",
        False,
        "A cart edit may only change lines that have not shipped; this one changes or removes "
        "a shipped line.",
        "Leave shipped lines out of the new cart; take back shipped goods with a return.",
    ),
    ProblemSpec(
        "currency_mismatch",
        422,
        "Amount in another currency than the order or batch",
        False,
        "An amount of the request is not in the currency of the order or batch it applies to.",
        "Send amounts in the order's or batch's currency; currencies are never converted.",
    ),
    ProblemSpec(
        "unknown_batch",
        404,
        "No batch with this id",
        False,
        "The back end knows no batch under this id for this merchant.",
        "Check the batch id; a batch created through another merchant account is not visible.",
    ),
    ProblemSpec(
        "batch_exists",
        409,
        "A batch with this id already exists",
        False,
        "A batch was already scheduled under this id (the id given with the entries, or the one "
        "the file carries), by a request with another idempotency key: the file was sent twice, "
        "or two batches share an id.",
        "Fetch the existing batch (`GET /v1/batches/{id}`) instead of sending it again; to change "
        "it, reschedule it or replace its entries. If it is another batch, give it another id "
        "(for a file, another file creation number).",
    ),
    ProblemSpec(
        "batch_past_cutoff",
        409,
        "The batch is past its cutoff",
        False,
        "The batch's processing has started (its `cutoff_at` has passed), so it can no longer be "
        "rescheduled, edited or deleted.",
        "Send the changes as a new batch (or reversal entries) for a later processing date, and "
        "tell the payees concerned.",
    ),
    ProblemSpec(
        "batch_deleted",
        409,
        "The batch was deleted",
        False,
        "The batch was deleted before its cutoff; a deleted batch cannot be changed.",
        "Create a new batch with the entries to pay.",
    ),
    ProblemSpec(
        "invalid_batch_file",
        422,
        "The batch file cannot be read",
        False,
        "The uploaded file is not a valid CPA-005, NACHA or Bambora CSV file, or its totals do not "
        "balance. The detail, and each entry of `errors`, gives the line and column.",
        "Fix the file at the given line and column (or export it again from the accounting "
        "package) and upload it again.",
    ),
    ProblemSpec(
        "unknown_path",
        404,
        "Nothing at this path",
        False,
        "The request's path names no endpoint of the API (a typo, an API version the back end "
        "does not serve, or an explanation page for a code that does not exist).",
        "Check the path against the API reference (`GET /openapi.json`) and the client's base "
        "URL; the Passerelle client always builds valid paths.",
    ),
    ProblemSpec(
        "method_not_allowed",
        405,
        "This path does not take this method",
        False,
        "The endpoint exists but not with this HTTP method (a DELETE of an order, a PUT of a "
        "shipment); the `Allow` header lists the methods it takes.",
        "Use one of the methods in the `Allow` header; the Passerelle client always does.",
    ),
    ProblemSpec(
        "idempotency_key_reused",
        422,
        "Idempotency key used for another request",
        False,
        "The idempotency key was already used with another method, path or body. A key names one "
        "request; its answer is replayed only for that exact request.",
        "Use a new key for a new request. If this is a retry, send exactly the body of the first "
        "attempt.",
    ),
    ProblemSpec(
        "idempotency_key_in_use",
        409,
        "A request with this idempotency key is still running",
        True,
        "An earlier attempt with the same key has not finished yet.",
        "Nothing: the client retries after a short wait and gets the first attempt's answer.",
    ),
    ProblemSpec(
        "idempotency_key_missing",
        400,
        "Write without an idempotency key",
        False,
        "Every write (POST, PUT, PATCH, DELETE) needs an `Idempotency-Key` header.",
        "Send an `Idempotency-Key` header; the Passerelle client always does.",
    ),
    ProblemSpec(
        "rate_limited",
        429,
        "Too many requests",
        True,
        "The merchant sent more requests than the back end accepts in this period.",
        "Nothing: the client waits for `Retry-After` and tries again. If it keeps happening, "
        "lower the connector's number of workers.",
    ),
    ProblemSpec(
        "unauthorized",
        401,
        "Missing or invalid API token",
        False,
        "The `Authorization: Bearer` token is missing, unknown, expired or revoked.",
        "Set a valid token in the connector configuration (`[backend] token`) and restart it.",
    ),
    ProblemSpec(
        "forbidden",
        403,
        "The token may not act for this merchant",
        False,
        "The token is valid but is not allowed to act for the merchant in `Passerelle-Merchant`, "
        "or not for this operation.",
        "Check the merchant id in the configuration and the token's permissions.",
    ),
    ProblemSpec(
        "card_declined",
        402,
        "The card was declined",
        False,
        "The card processor refused the payment (authorization or capture). The problem's "
        "`processor_message_id` is the processor's own reason; see below.",
        "Ask the customer for another payment method; do not retry the same card again and again.",
    ),
    ProblemSpec(
        "internal_error",
        500,
        "The payment back end failed",
        True,
        "The back end hit an unexpected error; nothing was changed.",
        "Nothing: the client retries. If it persists, contact support with the request id.",
    ),
    ProblemSpec(
        "service_unavailable",
        503,
        "The payment back end is unavailable",
        True,
        "The back end is overloaded or under maintenance.",
        "Nothing: the client retries, honouring `Retry-After`. Deliveries wait in the connector's "
        "inbox meanwhile; none is lost.",
    ),
)

PROBLEMS: Mapping[str, ProblemSpec] = MappingProxyType({spec.code: spec for spec in _SPECS})
"""Every problem code the back end answers, by code."""

# Worldline (formerly Bambora) North America report card declines with a numeric message id;
# only ids whose meaning was checked against the processor's published list are here.
_DECLINES = (
    Decline(
        7,
        "DECLINE",
        "declined",
        "The card issuer refused the payment without giving a reason.",
        "Ask the customer for another card, or to call their bank and try again.",
    ),
    Decline(
        14,
        "Invalid expiration date",
        "invalid_expiry_date",
        "The card's expiry date was wrong or the card has expired.",
        "Ask the customer to check the expiry date or use another card.",
    ),
    Decline(
        16,
        "Duplicate transaction",
        "duplicate_transaction",
        "The processor already approved an identical transaction moments ago.",
        "Check the order's payments before charging again: the customer may already have paid.",
    ),
)

DECLINES: Mapping[int, Decline] = MappingProxyType({d.message_id: d for d in _DECLINES})
"""Known card-processor decline message ids."""


class UnknownProblemCodeError(LookupError):
    """`explain` was asked about a code that is not in the registry."""


def explain(code: str) -> str:
    """A merchant-readable explanation of a problem code or a processor decline message id.

    ``explain("refund_exceeds_captured")`` explains a problem code; ``explain("7")`` a card
    decline. Raises `UnknownProblemCodeError` (with close matches) for anything else.
    """
    wanted = code.strip()
    # ASCII digits only: str.isdigit() also takes "²" (which int() refuses) and "٣" (read as 3).
    if wanted.isascii() and wanted.isdigit():
        return explain_decline(int(wanted))
    spec = PROBLEMS.get(wanted.lower())
    if spec is None:
        close = difflib.get_close_matches(wanted.lower(), PROBLEMS, n=3, cutoff=0.8)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownProblemCodeError(f"unknown problem code {code!r}{hint}")
    phrase = HTTPStatus(spec.status).phrase
    retry = "retried automatically" if spec.retryable else "not retryable"
    lines = [
        f"{spec.code}: {spec.title}",
        f"HTTP {spec.status} {phrase}, {retry}.",
        "",
        f"What it means: {spec.meaning}",
        f"What to do: {spec.action}",
    ]
    if spec.code == "card_declined":
        lines += ["", "Processor message ids:"]
        lines += [f"  {d.message_id:>3}  {d.processor_message}: {d.meaning}" for d in _DECLINES]
        lines.append("Other ids: see the processor's response code list.")
    return "\n".join(lines)


def known_codes() -> str:
    """Every problem code with its status and title, then every known decline message id."""
    width = max(map(len, PROBLEMS))
    lines = [f"{spec.code:<{width}}  {spec.status}  {spec.title}" for spec in _SPECS]
    lines += ["", "Processor message ids (card_declined):"]
    lines += [f"  {d.message_id:>3}  {d.processor_message}" for d in _DECLINES]
    return "\n".join(lines)


def explain_decline(message_id: int) -> str:
    """A merchant-readable explanation of a card processor's decline message id."""
    decline = DECLINES.get(message_id)
    if decline is None:
        known = ", ".join(str(d) for d in DECLINES)
        raise UnknownProblemCodeError(
            f"unknown processor message id {message_id} (known: {known}); "
            "see the processor's response code list"
        )
    return "\n".join(
        [
            f"Processor message {decline.message_id}: {decline.processor_message} "
            f"(decline code {decline.decline_code})",
            "",
            f"What it means: {decline.meaning}",
            f"What to do: {decline.action}",
        ]
    )
