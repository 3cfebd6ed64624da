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
from passerelle.payloads import WHOLE_BODY, parse_json
from passerelle.platforms import Translation, TranslationContext, TranslationError, WebhookRequest
from passerelle.testing import Sample
from passerelle.testing.golden import render
from passerelle.testing.json_paths import REMOVED, Added, names_a_field
from test_contract_suite import JSON, MUG_ORDER, SHIPPED, contract_for, updating

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
        match=r"about the field .order_reference. .* which is no field of the body, of the sample",
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
        {"events[0].id": "f-9", "events[0].order": REMOVED, "note": Added("added")},
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
    with pytest.raises(ValueError, match=r"^shipped has no field events\[3\]\.id .*: variant late"):
        sample.variant("late", {"events[3].id": "f-2"})
    with pytest.raises(ValueError, match=r"^shipped has no field order\.id .*: variant nested"):
        sample.variant("nested", {"order.id": "f-2"})
    # A mistyped name is an error, not a new field that changes nothing.
    with pytest.raises(
        ValueError, match=r"^shipped has no field notes \(Added\(value\) adds one\)"
    ):
        sample.variant("typo", {"notes": "x"})
    with pytest.raises(ValueError, match=r"'events\[x\]\.id' is not a field path"):
        sample.variant("malformed", {"events[x].id": "f-2"})
    with pytest.raises(ValueError, match=r"^variant label 'In Capitals': use lower case"):
        sample.variant("In Capitals", {})
    with pytest.raises(ValueError, match=r"shipped\.txt does not end in \.events\.txt"):
        replace(sample, golden=Path("shipped.txt")).variant("again", {})


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
            match=r"^translate raised TranslationError about the field 'order_id' .* or of the "
            r"platform's answers",
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


class SaysNoneOf(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        try:
            return super().translate(request, context)
        except TranslationError as exc:
            raise TranslationError(
                f"None of the events reads: {exc.message}", field=exc.field
            ) from None


def test_a_message_showing_none_fails_and_a_quoted_none_of_the_body_passes(
    http: httpx.Client,
) -> None:
    with pytest.raises(AssertionError, match=r"whose message shows None .* a missing value"):
        contract_for(
            WritesNoneIntoItsMessage()
        ).test_translate_reads_a_malformed_body_or_raises_translation_error(SHIPPED, http)
    contract_for(SaysNoneOf()).test_translate_reads_a_malformed_body_or_raises_translation_error(
        SHIPPED, http
    )
    # The sweep makes an event's kind null: pydantic quotes it, 'None', in its message.
    contract_for(TestPlatform()).test_translate_reads_a_malformed_body_or_raises_translation_error(
        SHIPPED, http
    )


def test_a_field_names_a_value_a_source_or_a_key_of_an_added_object() -> None:
    sample = {"status": "open", "refunds": []}
    assert names_a_field("status", {}, (sample,))
    assert names_a_field("refunds", {"refunds": "x"}, (sample,))
    # The sweep put an object where the sample has none: its keys are the platform's to name.
    assert names_a_field("refunds[0].id", {"refunds": [{}]}, (sample,))
    assert not names_a_field("refunds[0].id", {"refunds": []}, (sample,))
    # A key of an object the sample has must be one of its keys.
    assert not names_a_field("state", {"status": "x"}, (sample,))
    assert not names_a_field("status.code", {"status": "x"}, (sample,))


class ParsesWithTheKit(TestPlatform):
    """Reads the body with the kit: text that is not JSON is refused at the parser's path."""

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        parse_json(request.body, "test body")
        return super().translate(request, context)


class RefusesTheWholeBody(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        try:
            return super().translate(request, context)
        except TranslationError as exc:
            raise TranslationError(exc.message, field=WHOLE_BODY) from None


@pytest.mark.parametrize("platform", [ParsesWithTheKit(), RefusesTheWholeBody()])
def test_an_error_about_text_that_is_not_json_or_the_whole_body_names_no_key(
    platform: TestPlatform, http: httpx.Client
) -> None:
    contract_for(platform).test_translate_reads_a_malformed_body_or_raises_translation_error(
        SHIPPED, http
    )


class ReadsTheAnswerItIsSent(TestPlatform):
    """Reads the order at the body's ``fetch`` URL; carelessly when it is a version 2 URL."""

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        url = json.loads(request.body)["fetch"]
        answer = context.http.get(url).json()
        if url.endswith("/v2"):
            order = answer["order"]["id"]
        else:
            found = answer.get("order") if isinstance(answer, dict) else None
            order = found.get("id") if isinstance(found, dict) else None
            if type(order) is not int:
                raise TranslationError("the order the API answered has no id", field="order.id")
        return Translation(events=(OrderShipped(order=str(order), id="f-1"),))


def test_a_variant_reading_other_answers_has_them_swept() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"order": {"id": 1001}})

    base = Sample("fetched", json.dumps({"fetch": "https://api.example/v1"}).encode(), JSON)
    same = base.variant("same-answer", {})
    other = base.variant("other-answer", {"fetch": "https://api.example/v2"})
    contract = contract_for(ReadsTheAnswerItIsSent())
    contract.samples = (base, same, other)
    check = contract.test_translate_reads_a_malformed_api_answer_or_raises_translation_error
    with httpx.Client(transport=httpx.MockTransport(api)) as answering:
        check(base, answering)
        check(same, answering)
        with pytest.raises(AssertionError, match=r"^translate raised KeyError for the body"):
            check(other, answering)


def test_a_refused_sample_carrying_an_order_is_not_applied(http: httpx.Client) -> None:
    contract = contract_for(TestPlatform())
    contract.samples = (replace(REFUSED, order=MUG_ORDER),)
    contract.test_the_events_of_each_sample_apply_to_its_order(http)


def test_golden_expectations_name_the_order_whose_held_money_needs_a_person() -> None:
    held = json.loads(render(Translation.ignore("trashed", unless_money_held="1001")))
    assert held == {
        "events": [],
        "ignored": "trashed",
        "occurred_at": None,
        "unless_money_held": "1001",
    }
    assert "unless_money_held" not in json.loads(render(Translation.ignore("trashed")))
