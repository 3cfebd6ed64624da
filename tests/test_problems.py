"""The problem code registry and `passerelle explain`."""

from __future__ import annotations

import pytest

from passerelle.backend.errors import is_retryable
from passerelle.backend.problems import (
    DECLINES,
    PROBLEMS,
    UnknownProblemCodeError,
    explain,
    explain_decline,
    problem_type,
)
from passerelle.orders import LedgerError

# The contract's status for each code; changing one breaks clients that catch by status.
STATUSES = {
    "validation_failed": 422,
    "unknown_order": 404,
    "order_exists": 409,
    "unknown_line": 422,
    "order_already_shipped": 409,
    "ship_exceeds_ordered": 409,
    "cancel_exceeds_ordered": 409,
    "not_a_product_line": 422,
    "return_exceeds_shipped": 409,
    "refund_exceeds_captured": 409,
    "line_already_shipped": 409,
    "currency_mismatch": 422,
    "unknown_batch": 404,
    "batch_exists": 409,
    "batch_past_cutoff": 409,
    "batch_deleted": 409,
    "invalid_batch_file": 422,
    "unknown_path": 404,
    "method_not_allowed": 405,
    "idempotency_key_reused": 422,
    "idempotency_key_in_use": 409,
    "idempotency_key_missing": 400,
    "rate_limited": 429,
    "unauthorized": 401,
    "forbidden": 403,
    "card_declined": 402,
    "internal_error": 500,
    "service_unavailable": 503,
}

RETRYABLE = {"idempotency_key_in_use", "rate_limited", "internal_error", "service_unavailable"}


def test_registry_holds_exactly_the_contract_codes_with_their_statuses() -> None:
    assert {code: spec.status for code, spec in PROBLEMS.items()} == STATUSES


def test_only_transient_problems_are_retryable() -> None:
    assert {code for code, spec in PROBLEMS.items() if spec.retryable} == RETRYABLE


@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_retryable_flag_agrees_with_the_client_retry_rule(code: str) -> None:
    spec = PROBLEMS[code]
    assert is_retryable(spec.status, code) is spec.retryable


@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_every_code_is_explained_in_sentences(code: str) -> None:
    spec = PROBLEMS[code]
    assert spec.code == code
    assert spec.type == problem_type(code) == f"/problems/{code}"
    for text in (spec.title, spec.meaning, spec.action):
        assert text.strip() == text
        assert text
    assert spec.meaning.endswith(".")
    assert spec.action.endswith(".")


# Ledger codes the back end never answers with: checks local to the connector, or requests the
# contract's models refuse before the ledger sees them (answered as validation_failed).
LOCAL_LEDGER_CODES = {
    "ledger_error": "the base class, never raised",
    "not_yet_applicable": "the connector defers the event; the back end answers the rule it breaks",
    "order_mismatch": "an event applied to another order's ledger, a local programming error",
    "duplicate_line": "refused by the request models",
    "invalid_refund": "refused by the request models",
    "invalid_cart": "refused by the request models or answered as validation_failed",
}


def _ledger_error_classes() -> list[type[LedgerError]]:
    found: list[type[LedgerError]] = []
    pending: list[type[LedgerError]] = [LedgerError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("error", _ledger_error_classes(), ids=lambda cls: cls.code)
def test_every_ledger_code_is_a_problem_code_or_known_to_stay_local(
    error: type[LedgerError],
) -> None:
    assert (error.code in PROBLEMS) != (error.code in LOCAL_LEDGER_CODES)


def test_explain_renders_meaning_and_action() -> None:
    assert explain("refund_exceeds_captured") == (
        "refund_exceeds_captured: Refund exceeds what was captured\n"
        "HTTP 409 Conflict, not retryable.\n"
        "\n"
        "What it means: The refund is larger than the amount captured minus what was already "
        "refunded.\n"
        "What to do: Refund at most the amount shown as captured minus refunded on the order. "
        "A refund before the goods shipped is a cancellation, not a return."
    )


def test_explain_says_when_the_client_retries() -> None:
    assert (
        explain("rate_limited").splitlines()[1]
        == "HTTP 429 Too Many Requests, retried automatically."
    )


def test_explain_accepts_surrounding_spaces_and_capitals() -> None:
    assert explain("  Batch_Past_Cutoff ") == explain("batch_past_cutoff")


def test_explain_of_card_declined_lists_the_processor_message_ids() -> None:
    text = explain("card_declined")
    for message_id, decline in DECLINES.items():
        assert f"{message_id:>3}  {decline.processor_message}: {decline.meaning}" in text


def test_explain_of_a_number_explains_the_processor_decline() -> None:
    assert explain("16") == explain_decline(16)
    assert explain_decline(16).splitlines()[0] == (
        "Processor message 16: Duplicate transaction (decline code duplicate_transaction)"
    )


def test_explain_unknown_code_suggests_close_ones() -> None:
    with pytest.raises(UnknownProblemCodeError) as info:
        explain("refund_exceeds_capture")
    assert str(info.value) == (
        "unknown problem code 'refund_exceeds_capture'; did you mean refund_exceeds_captured?"
    )


def test_explain_unknown_code_without_close_match() -> None:
    with pytest.raises(UnknownProblemCodeError, match=r"^unknown problem code 'zzz'$"):
        explain("zzz")


def test_explain_unknown_decline_names_the_known_ids() -> None:
    with pytest.raises(UnknownProblemCodeError) as info:
        explain("999")
    assert str(info.value) == (
        "unknown processor message id 999 (known: 7, 14, 16); "
        "see the processor's response code list"
    )


def test_decline_codes_are_unique() -> None:
    codes = [d.decline_code for d in DECLINES.values()]
    assert len(codes) == len(set(codes))
