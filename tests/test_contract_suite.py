"""The platform contract suite: the test platform passes it, and broken platforms fail it."""

from __future__ import annotations

import hmac
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretStr

from connector.testplatform import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TestPlatform,
    body,
    sign,
)
from passerelle.events import CartLine, OrderReturned, OrderShipped
from passerelle.money import Money
from passerelle.orders import Order
from passerelle.platforms import (
    PlatformUnavailableError,
    Store,
    Translation,
    TranslationContext,
    TranslationError,
    VerificationError,
    Version,
    WebhookPlatform,
    WebhookRequest,
)
from passerelle.testing import (
    Sample,
    WebhookPlatformContract,
    signed_request,
    translation_context,
)

SECRET = "whsec-contract-current"
JSON = {"Content-Type": "application/json"}
MUG_ORDER = Order(
    reference="1002",
    currency="CAD",
    lines=(CartLine(reference="mug", name="Mug", unit_price=Money.of("24.00", "CAD"), quantity=1),),
)
SHIPPED = Sample(
    "shipped",
    body(order="1001", events=[{"kind": "order_shipped", "order": "1001", "id": "f-1"}]),
    {**JSON, DELIVERY_HEADER: "d-1"},
)
SAMPLES = (
    SHIPPED,
    Sample(
        "shipped then returned",
        body(
            order="1002",
            events=[
                {"kind": "order_shipped", "order": "1002", "id": "f-2", "lines": None},
                {
                    "kind": "order_returned",
                    "order": "1002",
                    "id": "r-2",
                    "lines": [{"line": "mug", "quantity": 1}],
                    "refund": {"amount": "24.00", "currency": "CAD"},
                },
            ],
        ),
        {**JSON, DELIVERY_HEADER: "d-2"},
        order=MUG_ORDER,
    ),
)
RETURNED = SAMPLES[1]


class TestTheTestPlatform(WebhookPlatformContract):
    """The suite, turned on for the connector tests' platform as a plugin author would."""

    platform = TestPlatform()
    store = Store(platform="test", id="north", secrets=(SecretStr(SECRET),))
    samples = SAMPLES
    max_examples = 20

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        return {SIGNATURE_HEADER: sign(body, secret)}


# Platforms that break one rule each, and the suite failing them with a message saying which.


class SkipsTheSignature(TestPlatform):
    def verify(self, request: WebhookRequest, store: Store) -> None:
        if SIGNATURE_HEADER not in request.headers:
            raise VerificationError(f"missing header {SIGNATURE_HEADER}")


class ComparesStrings(TestPlatform):
    def verify(self, request: WebhookRequest, store: Store) -> None:
        presented = request.headers.get(SIGNATURE_HEADER, "")
        for secret in store.secrets:
            expected = sign(request.body, secret.get_secret_value())
            if secret.get_secret_value() and hmac.compare_digest(expected, presented):
                return
        raise VerificationError(f"{SIGNATURE_HEADER} matches no secret of the store")


class TrustsAnEmptySecret(TestPlatform):
    def verify(self, request: WebhookRequest, store: Store) -> None:
        presented = request.headers.get(SIGNATURE_HEADER, "")
        for secret in store.secrets:
            if sign(request.body, secret.get_secret_value()) == presented:
                return
        raise VerificationError(f"{SIGNATURE_HEADER} matches no secret of the store")


class QuotesTheExpectedSignature(TestPlatform):
    def verify(self, request: WebhookRequest, store: Store) -> None:
        try:
            super().verify(request, store)
        except VerificationError:
            expected = sign(request.body, store.secrets[0].get_secret_value())
            raise VerificationError(f"{SIGNATURE_HEADER}: expected {expected}") from None


class RaisesFromOrderingKey(TestPlatform):
    def ordering_key(self, request: WebhookRequest) -> str | None:
        return str(json.loads(request.body)["order"])


class TranslatesNondeterministically(TestPlatform):
    def __init__(self) -> None:
        self._shipments = itertools.count(1)

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        order = str(json.loads(request.body)["order"])
        return Translation(events=(OrderShipped(order=order, id=f"f-{next(self._shipments)}"),))


class RaisesKeyErrorFromTranslate(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        translation = super().translate(request, context)
        json.loads(request.body)["order"]
        return translation


class ReportsANaiveTime(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        translation = super().translate(request, context)
        return Translation(events=translation.events, occurred_at=datetime(2026, 1, 15, 12))


class RepeatsAnAct(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        event = OrderShipped(order="1001", id="f-1")
        return Translation(events=(event, event))


class RaisesFromVersion(TestPlatform):
    def version(self, request: WebhookRequest) -> Version | None:
        order = json.loads(request.body)["order"]
        return Version(subject=f"order:{order}", as_of=datetime(2026, 1, 15, tzinfo=UTC))


class DatedByReceiveTime(TestPlatform):
    def version(self, request: WebhookRequest) -> Version | None:
        return Version(subject="order:1001", as_of=request.received_at)


class KeyedByReceiveTime(TestPlatform):
    def delivery_key(self, request: WebhookRequest) -> str:
        return f"{request.headers[DELIVERY_HEADER]}@{request.received_at.isoformat()}"


class ReadsANestedAmountCarelessly(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        try:
            content = json.loads(request.body)
        except (ValueError, RecursionError):
            content = None
        events = content.get("events") if isinstance(content, dict) else None
        for raw in events if isinstance(events, list) else ():
            refund = raw.get("refund") if isinstance(raw, dict) else None
            if isinstance(refund, dict) and isinstance(refund.get("amount"), str):
                # Every level checked but the amount's text.
                Decimal(refund["amount"]).quantize(Decimal("0.01"))
        return super().translate(request, context)


class EncodesHeadersAsLatin1(TestPlatform):
    def delivery_key(self, request: WebhookRequest) -> str:
        return super().delivery_key(request).encode("latin-1").decode("latin-1")


class ReturnsTwice(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        translation = super().translate(request, context)
        extra = tuple(
            OrderReturned(
                order=e.order, id=f"{e.id}-again", lines=e.lines, refund=Money.zero("CAD")
            )
            for e in translation.events
            if isinstance(e, OrderReturned)
        )
        return Translation(events=translation.events + extra)


class NamesTheOrderByAnotherReference(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        translation = super().translate(request, context)
        events = tuple(e.model_copy(update={"order": f"#{e.order}"}) for e in translation.events)
        return Translation(events=events)


class AsksItsApiForGarbage(TestPlatform):
    """Reads its platform's API for a body it cannot place, and finds the API down."""

    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        if request.body != SHIPPED.body:
            raise PlatformUnavailableError("the API is down", retry_after="5")
        return super().translate(request, context)


class ComparesWithEquals(TestPlatform):
    def verify(self, request: WebhookRequest, store: Store) -> None:
        presented = request.headers.get(SIGNATURE_HEADER, "")
        secrets = [s.get_secret_value() for s in store.secrets if s.get_secret_value()]
        if not any(sign(request.body, secret) == presented for secret in secrets):
            raise VerificationError(f"{SIGNATURE_HEADER} matches no secret of the store")


class DeclaresAnOriginItIgnores(TestPlatform):
    origin_header = "X-Test-Shop"


class ChecksItsOrigin(DeclaresAnOriginItIgnores):
    def verify(self, request: WebhookRequest, store: Store) -> None:
        if request.headers.get("X-Test-Shop") != store.id:
            raise VerificationError(f"X-Test-Shop is not the shop of store {store.id}")
        super().verify(request, store)


class KeyedByAttempt(TestPlatform):
    attempt_headers = frozenset({"x-test-attempt"})

    def delivery_key(self, request: WebhookRequest) -> str:
        return f"{super().delivery_key(request)}#{request.headers.get('X-Test-Attempt')}"


class IdsFromTheReceiveDay(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        order = str(json.loads(request.body)["order"])
        day = request.received_at.date().isoformat()
        return Translation(events=(OrderShipped(order=order, id=f"ship-{day}"),))


class Contract(WebhookPlatformContract):
    """Not collected (no ``Test`` prefix): each test below runs one of its tests by hand."""

    platform: ClassVar[WebhookPlatform] = TestPlatform()
    store = Store(platform="test", id="north", secrets=(SecretStr(SECRET),))
    samples = SAMPLES
    max_examples = 20

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        return {SIGNATURE_HEADER: sign(body, secret)}


def contract_for(platform: WebhookPlatform) -> Contract:
    class ForPlatform(Contract):
        pass

    ForPlatform.platform = platform
    return ForPlatform()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def test_a_platform_that_skips_the_signature_fails() -> None:
    contract = contract_for(SkipsTheSignature())
    with pytest.raises(AssertionError, match=r"^verify accepted a delivery signed with another"):
        contract.test_verify_rejects_another_secret(SHIPPED)
    with pytest.raises(AssertionError, match=r"^verify accepted a body with a byte added$"):
        contract.test_verify_rejects_a_changed_body(SHIPPED)


def test_a_platform_that_trusts_an_empty_secret_fails() -> None:
    contract = contract_for(TrustsAnEmptySecret())
    with pytest.raises(
        AssertionError,
        match=r"^verify accepted a delivery signed with an empty secret, for a store whose "
        r"secrets are \[''\]$",
    ):
        contract.test_a_store_without_a_secret_verifies_nothing(SHIPPED)


def test_a_platform_that_quotes_the_expected_signature_fails() -> None:
    contract = contract_for(QuotesTheExpectedSignature())
    with pytest.raises(
        AssertionError,
        match=r"^verify rejected a delivery signed with another secret with a message that "
        r"quotes the signature it expected: anyone could read it from the logs",
    ):
        contract.test_verify_rejects_another_secret(SHIPPED)


def test_a_platform_crashing_on_a_non_ascii_signature_fails() -> None:
    contract = contract_for(ComparesStrings())
    with pytest.raises(
        AssertionError,
        match=r"^verify raised TypeError instead of VerificationError for X-Test-Signature: "
        r"b'\\xe9t\\xe9\\xff': the receiver would answer 500",
    ):
        contract.test_verify_rejects_a_garbled_signature(SHIPPED)


def test_a_platform_whose_ordering_key_raises_on_garbage_fails() -> None:
    contract = contract_for(RaisesFromOrderingKey())
    with pytest.raises(
        AssertionError,
        match=r"^ordering_key raised JSONDecodeError for a verified delivery \(body b''\): it "
        r"must return None when the body names no order",
    ):
        contract.test_keys_never_raise_on_a_malformed_body(SHIPPED)


def test_a_platform_that_translates_nondeterministically_fails(http: httpx.Client) -> None:
    contract = contract_for(TranslatesNondeterministically())
    with pytest.raises(
        AssertionError,
        match=r"^translate gave another result for the same delivery shipped: it must be "
        r"deterministic, a stored delivery is replayed after a fix",
    ):
        contract.test_translate_of_a_sample_is_deterministic_and_well_formed(SHIPPED, http)


def test_a_platform_whose_translate_raises_key_error_fails(http: httpx.Client) -> None:
    contract = contract_for(RaisesKeyErrorFromTranslate())
    with pytest.raises(
        AssertionError,
        match=r"^translate raised KeyError for the body b'\{\}': raise TranslationError "
        r"naming the field and the rule$",
    ):
        contract.test_translate_reads_a_malformed_body_or_raises_translation_error(SHIPPED, http)


def test_a_platform_reporting_a_naive_time_fails(http: httpx.Client) -> None:
    contract = contract_for(ReportsANaiveTime())
    with pytest.raises(
        AssertionError,
        match=r"^translate returned occurred_at datetime.datetime\(2026, 1, 15, 12, 0\) for the "
        r"sample shipped: None or timezone-aware(\n|$)",
    ):
        contract.test_translate_of_a_sample_is_deterministic_and_well_formed(SHIPPED, http)


def test_a_platform_repeating_an_act_in_one_translation_fails(http: httpx.Client) -> None:
    contract = contract_for(RepeatsAnAct())
    with pytest.raises(
        AssertionError,
        match=r"^events of the sample shipped repeat order_shipped f-1: the ledger applies each "
        r"\(kind, id\) once, so the second would be dropped(\n|$)",
    ):
        contract.test_translate_of_a_sample_is_deterministic_and_well_formed(SHIPPED, http)


def test_a_platform_keying_deliveries_by_receive_time_fails() -> None:
    contract = contract_for(KeyedByReceiveTime())
    with pytest.raises(
        AssertionError,
        match=r"^delivery_key of shipped changes when the same delivery comes again",
    ):
        contract.test_delivery_key_is_the_same_for_every_delivery_of_an_act(SHIPPED)


def test_a_platform_whose_version_raises_on_garbage_fails() -> None:
    contract = contract_for(RaisesFromVersion())
    with pytest.raises(
        AssertionError,
        match=r"^version raised JSONDecodeError for a verified delivery \(body b''\): it must "
        r"return None when the body cannot be read",
    ):
        contract.test_keys_never_raise_on_a_malformed_body(SHIPPED)


def test_a_platform_dating_deliveries_by_receive_time_fails() -> None:
    contract = contract_for(DatedByReceiveTime())
    with pytest.raises(
        AssertionError,
        match=r"^version of shipped changes when the same delivery comes again",
    ):
        contract.test_version_is_the_same_for_every_delivery_of_an_act(SHIPPED)


def test_a_platform_name_that_is_no_path_segment_fails() -> None:
    class BadlyNamed(TestPlatform):
        name = "Test Platform"

    with pytest.raises(
        AssertionError,
        match=r"with name 'Test Platform': a platform name is lower case letters, digits, '-' "
        r"and '_', starting with a letter$",
    ):
        contract_for(BadlyNamed()).test_name_is_a_platform_path_segment()


def test_an_incomplete_subclass_is_told_what_is_missing() -> None:
    class Incomplete(WebhookPlatformContract):
        store = Store(platform="test", id="north")
        samples = (SHIPPED, SHIPPED)

    assert Incomplete.configuration_problems() == [
        "platform must be a WebhookPlatform instance, not None",
        "store must have a non-empty first secret: it signs the samples",
        "sample names must be distinct; repeated: shipped",
        "sign(body, secret) must return the signature headers: define it on the "
        "platform (WebhookPlatform.sign) or on the contract class",
    ]


def test_a_subclass_without_sign_signs_with_the_platforms_own_signer() -> None:
    class PlatformSigns(WebhookPlatformContract):
        platform = TestPlatform()
        store = Store(platform="test", id="north", secrets=(SecretStr(SECRET),))
        samples = SAMPLES

    class Unsigned(TestPlatform):
        sign = WebhookPlatform.sign  # type: ignore[assignment]

    class NoSigner(PlatformSigns):
        platform = Unsigned()

    assert PlatformSigns.configuration_problems() == []
    assert PlatformSigns().sign(b"{}", SECRET) == {SIGNATURE_HEADER: sign(b"{}", SECRET)}
    assert NoSigner.configuration_problems() == [
        "sign(body, secret) must return the signature headers: define it on the "
        "platform (WebhookPlatform.sign) or on the contract class"
    ]
    with pytest.raises(NotImplementedError, match="platform test provides no test signer"):
        Unsigned().sign(b"{}", SECRET)


def test_the_pytest_plugin_loads_without_hypothesis() -> None:
    # The pytest plugin loads in every pytest run where passerelle is installed, hypothesis or
    # not; only the contract suite needs it.
    code = (
        "import sys, passerelle.testing.plugin, passerelle.testing as t; "
        "print('hypothesis' in sys.modules, t.WebhookPlatformContract.__name__, "
        "'hypothesis' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["False", "WebhookPlatformContract", "True"]


def test_a_platform_crashing_on_a_nested_amount_fails_in_every_run(http: httpx.Client) -> None:
    contract = contract_for(ReadsANestedAmountCarelessly())
    contract.max_examples = 0  # the enumerated sweep alone must catch it
    with pytest.raises(AssertionError, match=r"^translate raised InvalidOperation"):
        contract.test_translate_reads_a_malformed_body_or_raises_translation_error(RETURNED, http)


def test_a_platform_crashing_on_a_header_outside_latin1_fails() -> None:
    contract = contract_for(EncodesHeadersAsLatin1())
    with pytest.raises(AssertionError, match=r"^delivery_key raised UnicodeEncodeError"):
        contract.test_header_values_outside_latin1_never_crash(SHIPPED)


def test_a_sample_in_an_undeclared_media_type_fails() -> None:
    form = Sample("form", b"webhook_id=1", {"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(AssertionError, match=r"the receiver would answer 415"):
        contract_for(TestPlatform()).test_a_sample_comes_in_a_declared_media_type(form)


def test_a_platform_returning_more_than_shipped_fails(http: httpx.Client) -> None:
    contract = contract_for(ReturnsTwice())
    with pytest.raises(
        AssertionError,
        match=r"^event 2 of shipped then returned \(order_returned r-2-again\) does not apply to "
        r"its order: return_exceeds_shipped: ",
    ):
        contract.test_the_events_of_each_sample_apply_to_its_order(http)


def test_a_platform_naming_orders_by_another_reference_fails(http: httpx.Client) -> None:
    contract = contract_for(NamesTheOrderByAnotherReference())
    with pytest.raises(AssertionError, match=r"names order '#1002', not the reference '1002'"):
        contract.test_the_events_of_each_sample_apply_to_its_order(http)


def test_the_request_helpers_serve_a_plugins_own_tests() -> None:
    request = signed_request(
        TestPlatform(), SHIPPED, lambda body, secret: {SIGNATURE_HEADER: sign(body, secret)}, SECRET
    )
    store = Store(platform="test", id="main", secrets=(SecretStr(SECRET),))
    TestPlatform().verify(request, store)
    assert request.headers[DELIVERY_HEADER] == "d-1"
    context = translation_context(store)
    with pytest.raises(httpx.ConnectError, match="offline"):
        context.http.get("https://platform.example/orders/1")
    events = TestPlatform().translate(request, context).events
    assert events == (OrderShipped(order="1001", id="f-1"),)


def test_a_platform_whose_api_is_unavailable_on_garbage_passes(http: httpx.Client) -> None:
    contract = contract_for(AsksItsApiForGarbage())
    contract.test_translate_reads_a_malformed_body_or_raises_translation_error(SHIPPED, http)
    contract.test_translate_of_a_sample_is_deterministic_and_well_formed(SHIPPED, http)


def test_a_platform_comparing_signatures_with_equals_fails() -> None:
    contract = contract_for(ComparesWithEquals())
    with pytest.raises(AssertionError, match=r"^verify compared the signature without hmac"):
        contract.test_verify_compares_in_constant_time(SHIPPED)
    contract_for(TestPlatform()).test_verify_compares_in_constant_time(SHIPPED)


def test_a_platform_ignoring_the_origin_it_declares_fails() -> None:
    at_north = Sample("shipped", SHIPPED.body, {**SHIPPED.headers, "X-Test-Shop": "north"})
    with pytest.raises(AssertionError, match=r"^verify accepted the sample naming another origin"):
        contract_for(
            DeclaresAnOriginItIgnores()
        ).test_verify_refuses_a_delivery_naming_another_origin(at_north)
    contract_for(ChecksItsOrigin()).test_verify_refuses_a_delivery_naming_another_origin(at_north)


def test_a_platform_keying_a_delivery_by_its_attempt_fails(http: httpx.Client) -> None:
    attempt = Sample("shipped", SHIPPED.body, {**SHIPPED.headers, "X-Test-Attempt": "1"})
    with pytest.raises(AssertionError, match=r"^delivery_key of shipped changes on a retry"):
        contract_for(KeyedByAttempt()).test_a_retry_keeps_its_key_and_its_events(attempt, http)


def test_a_platform_whose_event_ids_depend_on_the_delivery_fails(http: httpx.Client) -> None:
    with pytest.raises(AssertionError, match=r"^the events of shipped change on a retry"):
        contract_for(IdsFromTheReceiveDay()).test_a_retry_keeps_its_key_and_its_events(
            SHIPPED, http
        )


class ShipsUnderAnotherId(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        events = super().translate(request, context).events
        return Translation(events=tuple(e.model_copy(update={"id": f"{e.id}-x"}) for e in events))


def updating(update: bool) -> pytest.FixtureRequest:
    config = SimpleNamespace(getoption=lambda name, default=None: update)
    return SimpleNamespace(config=config)  # type: ignore[return-value]


def test_golden_expectations_are_written_for_review_then_held(
    tmp_path: Path, http: httpx.Client
) -> None:
    golden = tmp_path / "shipped.events.txt"
    sample = replace(SHIPPED, golden=golden)
    contract = contract_for(TestPlatform())
    with pytest.raises(AssertionError, match=r"does not exist: run pytest --update-golden"):
        contract.test_a_sample_translates_to_its_golden_expectations(sample, http, updating(False))

    contract.test_a_sample_translates_to_its_golden_expectations(sample, http, updating(True))
    assert '"id": "f-1"' in golden.read_text()
    contract.test_a_sample_translates_to_its_golden_expectations(sample, http, updating(False))

    changed = contract_for(ShipsUnderAnotherId())
    with pytest.raises(
        AssertionError,
        match=r'(?s)no longer translates.*-      "id": "f-1",\n\+      "id": "f-1-x",',
    ):
        changed.test_a_sample_translates_to_its_golden_expectations(sample, http, updating(False))


def dated(name: str, as_of: str, **marks: Any) -> Sample:
    content = body(order="1001", version={"subject": "order:1001", "as_of": as_of}, ignore="x")
    return Sample(name, content, {**JSON, DELIVERY_HEADER: name}, **marks)


class SwallowsItsVersion(TestPlatform):
    def version(self, request: WebhookRequest) -> Version | None:
        return None


def test_a_versioned_sample_without_a_version_fails() -> None:
    sample = dated("old", "2026-01-15T10:00:00+00:00", versioned=True)
    contract_for(TestPlatform()).test_version_is_the_same_for_every_delivery_of_an_act(sample)
    with pytest.raises(AssertionError, match=r"^version is None for old, which carries a dated"):
        contract_for(SwallowsItsVersion()).test_version_is_the_same_for_every_delivery_of_an_act(
            sample
        )


def test_a_newer_sample_dated_older_fails() -> None:
    old = dated("old", "2026-01-15T10:00:00+00:00", versioned=True)
    contract = contract_for(TestPlatform())
    contract.samples = (old, dated("new", "2026-01-15T11:00:00+00:00", newer_than="old"))
    contract.test_version_is_the_same_for_every_delivery_of_an_act(contract.samples[1])
    contract.samples = (old, dated("new", "2026-01-15T09:00:00+00:00", newer_than="old"))
    with pytest.raises(
        AssertionError, match=r"^version of new \(order:1001 as of .*\) is not newer"
    ):
        contract.test_version_is_the_same_for_every_delivery_of_an_act(contract.samples[1])


class CallsItsApiDirectly(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        try:
            httpx.get("http://127.0.0.1:9/orders/1001", timeout=1)
        except httpx.HTTPError as exc:
            raise PlatformUnavailableError(f"the API is down: {exc}") from exc
        return super().translate(request, context)


def test_a_platform_opening_its_own_connections_fails(http: httpx.Client) -> None:
    contract = contract_for(CallsItsApiDirectly())
    with pytest.raises(
        AssertionError, match=r"^translate opened a connection to 127\.0\.0\.1 for the body"
    ):
        contract.test_translate_of_a_sample_is_deterministic_and_well_formed(SHIPPED, http)


class RefusesWithoutAField(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        if request.body != SHIPPED.body:
            raise TranslationError("the body is not a shipment")
        return super().translate(request, context)


class FilesUnderAnUndeclaredCode(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        if request.body != SHIPPED.body:
            raise TranslationError("not a shipment", field="events", code="not_a_shipment")
        return super().translate(request, context)


def test_a_translation_error_naming_no_field_or_an_undeclared_code_fails(
    http: httpx.Client,
) -> None:
    with pytest.raises(AssertionError, match=r"^translate raised TranslationError naming no field"):
        contract_for(
            RefusesWithoutAField()
        ).test_translate_reads_a_malformed_body_or_raises_translation_error(SHIPPED, http)
    with pytest.raises(AssertionError, match=r"under the code 'not_a_shipment', which neither"):
        contract_for(
            FilesUnderAnUndeclaredCode()
        ).test_translate_reads_a_malformed_body_or_raises_translation_error(SHIPPED, http)


class ReadsItsApiAnswerCarelessly(TestPlatform):
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        answer = context.http.get("https://platform.example/orders/1001").json()
        order = str(answer["order"]["id"])
        return Translation(events=(OrderShipped(order=order, id="f-1"),))


def test_a_platform_crashing_on_a_malformed_api_answer_fails() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"order": {"id": 1001}})

    contract = contract_for(ReadsItsApiAnswerCarelessly())
    with httpx.Client(transport=httpx.MockTransport(api)) as answering:
        contract.test_translate_of_a_sample_is_deterministic_and_well_formed(SHIPPED, answering)
        with pytest.raises(AssertionError, match=r"^translate raised KeyError for the body"):
            contract.test_translate_reads_a_malformed_api_answer_or_raises_translation_error(
                SHIPPED, answering
            )
