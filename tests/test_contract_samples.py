"""Samples the contract suite judges: refused ones, variants of a real one, and the field paths
a platform's errors name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from connector.testplatform import TestPlatform
from passerelle.events import OrderShipped
from passerelle.platforms import Translation, TranslationContext, TranslationError, WebhookRequest
from passerelle.testing import Sample
from passerelle.testing.json_paths import REMOVED
from test_contract_suite import SHIPPED, contract_for, updating

REFUSED = Sample(
    "not a list",
    json.dumps({"order": "1001", "events": "order_shipped"}).encode(),
    SHIPPED.headers,
    refused=True,
)
"""A delivery the test platform refuses: its events are not a list."""


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


class NamesAFieldTheBodyLacks(TestPlatform):
    """Refuses a body without its order under a field no body has."""

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        try:
            content = json.loads(request.body)
        except (ValueError, RecursionError):
            content = None
        if isinstance(content, dict) and not isinstance(content.get("order"), str):
            raise TranslationError("the delivery names no order", field="order_reference")
        return super().translate(request, context)


class NamesTheOrderField(NamesAFieldTheBodyLacks):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        try:
            return super().translate(request, context)
        except TranslationError as exc:
            if exc.field != "order_reference":
                raise
            raise TranslationError("the delivery names no order", field="order") from None


def test_an_error_naming_a_field_of_neither_the_body_nor_its_sample_fails(
    http: httpx.Client,
) -> None:
    with pytest.raises(
        AssertionError,
        match=r"about the field .order_reference. .* which is no field of the body nor of the API",
    ):
        contract_for(
            NamesAFieldTheBodyLacks()
        ).test_translate_reads_a_malformed_body_or_raises_translation_error(SHIPPED, http)
    # The sweep removes the order: an error naming it names a field of the sample.
    contract_for(
        NamesTheOrderField()
    ).test_translate_reads_a_malformed_body_or_raises_translation_error(SHIPPED, http)


def test_a_refused_sample_must_be_refused(http: httpx.Client) -> None:
    contract = contract_for(TestPlatform())
    contract.test_translate_of_a_sample_is_deterministic_and_well_formed(REFUSED, http)
    accepted = replace(REFUSED, body=SHIPPED.body)
    with pytest.raises(
        AssertionError, match=r"^translate translated it to 1 events for the sample not a list, "
    ):
        contract.test_translate_of_a_sample_is_deterministic_and_well_formed(accepted, http)
    with pytest.raises(AssertionError, match=r"^translate raised TranslationError .* samples are"):
        contract.test_translate_of_a_sample_is_deterministic_and_well_formed(
            replace(REFUSED, refused=False), http
        )


class RefusesInOtherWords(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        try:
            return super().translate(request, context)
        except TranslationError as exc:
            raise TranslationError("events are not a list", field=exc.field) from None


def test_a_refusals_golden_expectations_hold_its_code_field_and_message(
    tmp_path: Path, http: httpx.Client
) -> None:
    sample = replace(REFUSED, golden=tmp_path / "refused.events.txt")
    contract = contract_for(TestPlatform())
    contract.test_a_sample_translates_to_its_golden_expectations(sample, http, updating(True))
    assert json.loads(sample.golden.read_text()) == {  # type: ignore[union-attr]
        "refused": {
            "code": "unreadable_delivery",
            "error": "TranslationError",
            "field": "events",
            "message": "must be a list",
        }
    }
    contract.test_a_sample_translates_to_its_golden_expectations(sample, http, updating(False))
    with pytest.raises(
        AssertionError,
        match=r'(?s)no longer translates.*-    "message": "must be a list"\n'
        r'\+    "message": "events are not a list"',
    ):
        contract_for(RefusesInOtherWords()).test_a_sample_translates_to_its_golden_expectations(
            sample, http, updating(False)
        )
    with pytest.raises(
        AssertionError, match=r"^translate translated it to 1 events .*marked refused"
    ):
        contract.test_a_sample_translates_to_its_golden_expectations(
            replace(sample, body=SHIPPED.body), http, updating(False)
        )


def test_a_variant_changes_a_sample_by_field_paths() -> None:
    sample = replace(SHIPPED, golden=Path("samples/shipped.events.txt"))
    variant = sample.variant(
        "returned-too",
        {"events[0].id": "f-9", "events[0].order": REMOVED, "note": "added"},
        refused=True,
    )
    assert variant.name == "shipped#returned-too"
    assert variant.golden == Path("samples/shipped.returned-too.events.txt")
    assert variant.refused
    assert variant.variant_of == "shipped"
    assert json.loads(variant.body) == {
        "order": "1001",
        "events": [{"kind": "order_shipped", "id": "f-9"}],
        "note": "added",
    }
    assert variant.headers == sample.headers
    assert json.loads(sample.body)["events"][0]["id"] == "f-1"
    assert variant.variant("again", {}).variant_of == "shipped"
    with pytest.raises(ValueError, match=r"^shipped has no field events\[3\]\.id: late cannot"):
        sample.variant("late", {"events[3].id": "f-2"})
    with pytest.raises(ValueError, match=r"^shipped has no field order\.id: nested cannot"):
        sample.variant("nested", {"order.id": "f-2"})


def test_the_body_sweeps_skip_variants_and_the_other_checks_run_on_them() -> None:
    contract = contract_for(TestPlatform())
    contract.samples = (SHIPPED, SHIPPED.variant("again", {"events[0].id": "f-2"}))
    ran: dict[str, list[str]] = {}
    for name in (
        "test_translate_reads_a_malformed_body_or_raises_translation_error",
        "test_keys_never_raise_on_a_malformed_body",
        "test_a_sample_translates_to_its_golden_expectations",
    ):

        def parametrize(arg: str, values: list[Sample], ids: list[str], name: str = name) -> None:
            ran[name] = ids

        metafunc = SimpleNamespace(
            fixturenames=["sample"], function=getattr(contract, name), parametrize=parametrize
        )
        contract.pytest_generate_tests(metafunc)  # type: ignore[arg-type]
    assert ran == {
        "test_translate_reads_a_malformed_body_or_raises_translation_error": ["shipped"],
        "test_keys_never_raise_on_a_malformed_body": ["shipped"],
        "test_a_sample_translates_to_its_golden_expectations": ["shipped", "shipped#again"],
    }


class ReadsItsApiAnswer(TestPlatform):
    """Reads the order from its API; `field` is what it names when the answer has no id."""

    field = "order.id"

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        answer = context.http.get("https://platform.example/orders/1001").json()
        order = answer.get("order") if isinstance(answer, dict) else None
        if not isinstance(order, dict) or type(order.get("id")) is not int:
            raise TranslationError("the order the API answered has no id", field=self.field)
        return Translation(events=(OrderShipped(order=str(order["id"]), id="f-1"),))


class NamesAFieldOfNoAnswer(ReadsItsApiAnswer):
    field = "order_id"


def test_an_error_about_an_api_answer_names_a_field_of_the_answer() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"order": {"id": 1001}})

    with httpx.Client(transport=httpx.MockTransport(api)) as answering:
        contract_for(
            ReadsItsApiAnswer()
        ).test_translate_reads_a_malformed_api_answer_or_raises_translation_error(
            SHIPPED, answering
        )
        with pytest.raises(
            AssertionError,
            match=r"^translate raised TranslationError about the field 'order_id' .* nor of the "
            r"API's answer",
        ):
            contract_for(
                NamesAFieldOfNoAnswer()
            ).test_translate_reads_a_malformed_api_answer_or_raises_translation_error(
                SHIPPED, answering
            )


class WritesNoneIntoItsMessage(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        try:
            return super().translate(request, context)
        except TranslationError as exc:
            what = None  # meant to name the body, never set
            raise TranslationError(f"{exc} in the {what}", field=exc.field) from None


def test_a_message_showing_none_fails_and_a_quoted_none_of_the_body_passes(
    http: httpx.Client,
) -> None:
    with pytest.raises(AssertionError, match=r"whose message shows None .* a missing value"):
        contract_for(
            WritesNoneIntoItsMessage()
        ).test_translate_reads_a_malformed_body_or_raises_translation_error(SHIPPED, http)
    # The sweep makes an event's kind null: pydantic quotes it, 'None', in its message.
    contract_for(TestPlatform()).test_translate_reads_a_malformed_body_or_raises_translation_error(
        SHIPPED, http
    )
