"""How the contract suite calls a platform and judges what it returns: `ContractHarness`, the
base of `passerelle.testing.WebhookPlatformContract`, with its settings, its set-up, the
opt-outs it honours (`passerelle.testing.opt_outs`) and the helpers its tests share."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Final

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from pydantic import SecretStr

from passerelle.checkout import Order
from passerelle.codes import CONNECTOR_CODES
from passerelle.events import (
    BatchFileEdited,
    Envelope,
    OrderCancelled,
    OrderEdited,
    OrderReturned,
    OrderShipped,
)
from passerelle.hookspecs import hookimpl
from passerelle.ledger_errors import LedgerError
from passerelle.orders import OrderLedger
from passerelle.payloads import WHOLE_BODY
from passerelle.platforms import (
    FilePlatform,
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
from passerelle.plugins import PluginError, Plugins
from passerelle.testing.isolation import no_sockets
from passerelle.testing.json_paths import document_of, names_a_field
from passerelle.testing.malformed import AWKWARD_BODIES, malformed_bodies, swept
from passerelle.testing.opt_outs import OptOuts, check_of, opt_out_problems
from passerelle.testing.samples import (
    OfflineError,
    OfflineTransport,
    Sample,
    latin1,
    signed_request,
    translation_context,
)

__all__ = [
    "ContractHarness",
    "Outcome",
    "Raised",
    "Registers",
    "another_attempt",
    "check_registers",
    "fail_unless_configured",
    "sweeps",
]

_SDK_EVENTS: Final = (OrderShipped, OrderCancelled, OrderReturned, OrderEdited, BatchFileEdited)
_LONGEST_DELIVERY_KEY: Final = 255
"""`Envelope.delivery` holds at most this many characters."""


class Registers:
    """A plugin registering one platform, to check its name as the plugin manager does."""

    def __init__(self, platform: WebhookPlatform | FilePlatform) -> None:
        self._platform = platform

    @hookimpl
    def register_platforms(
        self, register: Callable[[WebhookPlatform | FilePlatform], None]
    ) -> None:
        register(self._platform)


def check_registers(platform: WebhookPlatform | FilePlatform) -> None:
    """Fail unless the plugin manager takes `platform` under its name (a path segment)."""
    plugins = Plugins()
    plugins.register(Registers(platform), "passerelle-contract")
    try:
        found: WebhookPlatform | FilePlatform = (
            plugins.webhook_platform(platform.name)
            if isinstance(platform, WebhookPlatform)
            else plugins.file_platform(platform.name)
        )
    except PluginError as exc:
        raise AssertionError(str(exc)) from None
    assert found is platform


def fail_unless_configured(contract: object, problems: list[str], suite: str) -> None:
    """Fail the test, saying what is missing, when the contract class is not set up."""
    if problems:
        pytest.fail(
            f"{type(contract).__name__} is not set up for the {suite}: " + "; ".join(problems),
            pytrace=False,
        )


@dataclass(frozen=True)
class Raised:
    """An exception `translate` raised, compared by type and message."""

    type: type[BaseException]
    message: str
    offline: bool = dataclass_field(default=False, compare=False)
    """Raised because the suite's HTTP client is offline."""
    code: str | None = None
    """A `TranslationError`'s code."""
    field: str | None = None
    """A `TranslationError`'s field path."""
    detail: str | None = None
    """A `TranslationError`'s message without its field."""

    @property
    def refused(self) -> bool:
        """Whether this is the `TranslationError` of a delivery the platform refuses."""
        return issubclass(self.type, TranslationError)


Outcome = Translation | Raised
_SDKEvent = OrderShipped | OrderCancelled | OrderReturned | OrderEdited | BatchFileEdited


class ContractHarness:
    """The contract suite for a `WebhookPlatform`: subclass it in a ``Test...`` class.

    See the module documentation for what to set and what is checked.
    """

    platform: ClassVar[WebhookPlatform]
    """The platform under test."""
    store: ClassVar[Store]
    """The store deliveries are verified for; its first secret signs the samples."""
    samples: ClassVar[Sequence[Sample]]
    """Deliveries the platform sends, unsigned; each must translate."""
    # Only ever signs the suite's own requests.
    other_secret: ClassVar[str] = "passerelle-contract-other-secret"  # noqa: S105
    """A second valid secret, for rotation and wrong signatures."""
    max_examples: ClassVar[int] = 30
    """Random malformed bodies tried per sample and property, after the fixed ones."""
    received_at: ClassVar[datetime] = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    """When the suite's deliveries are received."""
    opt_outs: ClassVar[Mapping[str, str]] = {}
    """Checks (keys of `CHECKS`) the platform cannot pass, each with the reason the suite
    prints: ``{"binding": "Acme names no shop in its deliveries"}``."""

    def sign(self, body: bytes, secret: str) -> Mapping[str, str]:
        """The headers carrying the signature of `body` under `secret`, and only those: the
        platform's own test signer, `WebhookPlatform.sign`, unless the subclass overrides it."""
        return self.platform.sign(body, secret)

    # Set-up

    @classmethod
    def configuration_problems(cls) -> list[str]:
        """What the subclass is missing or got wrong; every test fails with these."""
        problems = []
        platform = getattr(cls, "platform", None)
        if not isinstance(platform, WebhookPlatform):
            problems.append(f"platform must be a WebhookPlatform instance, not {platform!r}")
        store = getattr(cls, "store", None)
        if not isinstance(store, Store):
            problems.append(f"store must be a passerelle.platforms.Store, not {store!r}")
        elif not store.secrets or not store.secrets[0].get_secret_value():
            problems.append("store must have a non-empty first secret: it signs the samples")
        elif cls.other_secret in {s.get_secret_value() for s in store.secrets}:
            problems.append("other_secret must not be one of the store's secrets")
        if not cls.other_secret:
            problems.append("other_secret must not be empty")
        samples = getattr(cls, "samples", None)
        if not isinstance(samples, Sequence) or not samples:
            problems.append("samples must be a non-empty sequence of Sample")
        elif not all(isinstance(sample, Sample) for sample in samples):
            problems.append("samples must hold only Sample instances")
        else:
            names = [sample.name for sample in samples]
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                problems.append(f"sample names must be distinct; repeated: {', '.join(repeated)}")
        platform_signs = (
            isinstance(platform, WebhookPlatform)
            and type(platform).sign is not WebhookPlatform.sign
        )
        if cls.sign is ContractHarness.sign and not platform_signs:
            problems.append(
                "sign(body, secret) must return the signature headers: define it on the "
                "platform (WebhookPlatform.sign) or on the contract class"
            )
        problems += opt_out_problems(cls.opt_outs)
        return problems

    @pytest.fixture(autouse=True)
    def _contract_configured(self, request: pytest.FixtureRequest) -> None:
        fail_unless_configured(self, self.configuration_problems(), "contract suite")
        self.skip_if_opted_out(check_of(request.function))

    def skip_if_opted_out(self, name: str | None) -> None:
        """Skip the running test, saying why, if the platform opts out of its check `name`."""
        reason = self.opt_outs.get(name) if name is not None else None
        if reason is not None:
            suite = type(self).__name__
            OptOuts.record(suite, str(name), reason)
            pytest.skip(f"{suite} opts out of the {name} check: {reason}")

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run each test taking a `sample` once per sample, with the sample's name as its id;
        a test marked `sweeps` once per sample that is no variant."""
        if "sample" in metafunc.fixturenames:
            samples = getattr(self, "samples", ())
            valid = (
                [s for s in samples if isinstance(s, Sample)]
                if isinstance(samples, Sequence)
                else []
            )
            if getattr(metafunc.function, _SWEEPS, False):
                valid = [s for s in valid if s.variant_of is None]
            metafunc.parametrize("sample", valid, ids=[s.name for s in valid])

    @pytest.fixture
    def contract_http(self) -> Iterator[httpx.Client]:
        """The HTTP client `translate` gets: offline, every request raises `httpx.ConnectError`."""
        with httpx.Client(transport=OfflineTransport()) as client:
            yield client

    # Helpers for subclasses

    @property
    def secret(self) -> str:
        """The secret the samples are signed with: the store's first."""
        return self.store.secrets[0].get_secret_value()

    def signed_request(
        self,
        sample: Sample,
        *,
        body: bytes | None = None,
        secret: str | None = None,
        received_at: datetime | None = None,
        lower_case: bool = False,
    ) -> WebhookRequest:
        """`sample` as received: signed with `secret` (the store's first by default), with
        `body` in place of the sample's if given, header names lower-cased if `lower_case`."""
        return signed_request(
            self.platform,
            sample,
            self.sign,
            self.secret if secret is None else secret,
            store=self.store.id,
            body=body,
            received_at=received_at or self.received_at,
            lower_case=lower_case,
        )

    def translation_context(self, http: httpx.Client) -> TranslationContext:
        """The context `translate` gets: the suite's store and `http`."""
        return translation_context(self.store, http)

    # Internals

    def _request(
        self,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        body: bytes,
        *,
        received_at: datetime | None = None,
    ) -> WebhookRequest:
        raw = [(latin1(name), latin1(value)) for name, value in headers]
        return WebhookRequest(
            platform=self.platform.name,
            store=self.store.id,
            headers=httpx.Headers(raw),
            body=body,
            received_at=received_at or self.received_at,
        )

    def _store_with(self, *secrets: str) -> Store:
        return replace(self.store, secrets=tuple(SecretStr(secret) for secret in secrets))

    def _assert_accepted(self, request: WebhookRequest, store: Store, what: str) -> None:
        try:
            result = self.platform.verify(request, store)
        except VerificationError as exc:
            raise AssertionError(f"verify rejected {what}: {exc}") from None
        assert result is None, f"verify returned {result!r} for {what}: it returns None or raises"

    def _assert_rejected(self, request: WebhookRequest, store: Store, what: str) -> None:
        try:
            self.platform.verify(request, store)
        except VerificationError as exc:
            message = str(exc)
            assert message.strip(), f"verify rejected {what} with an empty message"
            revealed = self._revealed(message, request.body, store)
            assert revealed is None, (
                f"verify rejected {what} with a message that quotes {revealed}: "
                "anyone could read it from the logs"
            )
            return
        except Exception as exc:
            raise AssertionError(
                f"verify raised {type(exc).__name__} instead of VerificationError for {what}: "
                "the receiver would answer 500 and log a traceback for every such request"
            ) from exc
        raise AssertionError(f"verify accepted {what}")

    def _revealed(self, message: str, body: bytes, store: Store) -> str | None:
        for secret in (s.get_secret_value() for s in store.secrets):
            # An empty secret verifies nothing: its signature gives nothing away.
            if not secret:
                continue
            if secret in message:
                return "a secret of the store"
            for value in self.sign(body, secret).values():
                if len(value) >= 8 and value in message:
                    return "the signature it expected"
        return None

    def _delivery_key(self, request: WebhookRequest) -> str:
        try:
            key = self.platform.delivery_key(request)
        except Exception as exc:
            raise AssertionError(
                f"delivery_key raised {type(exc).__name__} for a verified delivery "
                f"(body {request.body[:60]!r}): {exc}"
            ) from exc
        assert isinstance(key, str), f"delivery_key returned {key!r}, not a str"
        assert key, "delivery_key returned an empty string"
        assert key == key.strip(), f"delivery_key {key!r} has surrounding white space"
        assert len(key) <= _LONGEST_DELIVERY_KEY, (
            f"delivery_key is {len(key)} characters long; an envelope holds at most "
            f"{_LONGEST_DELIVERY_KEY}: hash a longer one"
        )
        return key

    def _ordering_key(self, request: WebhookRequest) -> str | None:
        try:
            key = self.platform.ordering_key(request)
        except Exception as exc:
            raise AssertionError(
                f"ordering_key raised {type(exc).__name__} for a verified delivery "
                f"(body {request.body[:60]!r}): it must return None when the body names no "
                "order, the receiver calls it before the delivery is stored"
            ) from exc
        assert key is None or (isinstance(key, str) and key), (
            f"ordering_key returned {key!r} for the body {request.body[:60]!r}: "
            "None or a non-empty str"
        )
        return key

    def _version(self, request: WebhookRequest) -> Version | None:
        try:
            version = self.platform.version(request)
        except Exception as exc:
            raise AssertionError(
                f"version raised {type(exc).__name__} for a verified delivery "
                f"(body {request.body[:60]!r}): it must return None when the body cannot be "
                "read, or the delivery goes to the action center as unreadable"
            ) from exc
        assert version is None or isinstance(version, Version), (
            f"version returned {version!r} for the body {request.body[:60]!r}: None or a Version"
        )
        return version

    def _translate(
        self,
        request: WebhookRequest,
        context: TranslationContext,
        *,
        origin: tuple[bytes, ...] = (),
    ) -> Outcome:
        """`translate` of `request`, judged; `origin` holds the documents `request` and the API's
        answers were made from (the sample's body, the answers as the API gave them): when
        given, an error names a field of one of them, of the body or of an answer."""
        opened: list[str] = []
        with contextlib.nullcontext() if "purity" in self.opt_outs else no_sockets(opened):
            outcome = self._translate_once(request, context, opened, origin)
        assert not opened, (
            f"translate opened a connection to {opened[0]} for the body {request.body[:60]!r}: "
            "reach the platform's API only through context.http (the suite serves it)"
        )
        return outcome

    def _translate_once(
        self,
        request: WebhookRequest,
        context: TranslationContext,
        opened: list[str],
        origin: tuple[bytes, ...],
    ) -> Outcome:
        asked: list[httpx.Request] = []
        answers: list[bytes] = []

        def keep(response: httpx.Response) -> None:
            answers.append(response.read())

        hooks = context.http.event_hooks
        context.http.event_hooks = {
            "request": [*hooks["request"], asked.append],
            "response": [*hooks["response"], keep],
        }
        try:
            translation = self.platform.translate(request, context)
        except TranslationError as exc:
            # An error about the platform's answer may name no field of the body.
            sources = (*origin, *answers) if origin else ()
            self._check_translation_error(exc, request.body, sources, about_the_body=not asked)
            return Raised(type(exc), str(exc), code=exc.code, field=exc.field, detail=exc.message)
        except (httpx.TransportError, httpx.HTTPStatusError, PlatformUnavailableError) as exc:
            offline = isinstance(exc, OfflineError) or isinstance(exc.__cause__, OfflineError)
            return Raised(type(exc), str(exc), offline=offline)
        except Exception as exc:
            if opened:
                return Raised(type(exc), str(exc))  # reported as the connection it tried
            raise AssertionError(
                f"translate raised {type(exc).__name__} for the body {request.body[:60]!r}: "
                "raise TranslationError naming the field and the rule"
            ) from exc
        finally:
            context.http.event_hooks = hooks
        assert isinstance(translation, Translation), (
            f"translate returned {type(translation).__name__}, not a Translation"
        )
        return translation

    def _check_translation_error(
        self,
        exc: TranslationError,
        body: bytes,
        origin: tuple[bytes, ...],
        *,
        about_the_body: bool,
    ) -> None:
        """A `TranslationError` as the action center shows it: a message, the field of a JSON
        object's body it is about, a path of the body or of an `origin` document (the sample's
        body, the platform's answers) when those are given, and a code the core or the
        platform declares."""
        what = f"for the body {body[:60]!r}"
        field = exc.field
        message = exc.message
        assert message.strip() not in {"", "None"}, (
            f"translate raised TranslationError without a message ({str(exc)!r}) {what}: the "
            "action center shows it"
        )
        assert not _NONE.search(message), (
            f"translate raised TranslationError whose message shows None ({str(exc)!r}) {what}: "
            "a missing value was written into the text a person reads"
        )
        if about_the_body and _is_json_object(body):
            assert (field or "").strip() not in {"", "None"}, (
                f"translate raised TranslationError naming no field ({str(exc)!r}) {what}: name "
                "the field path, so a person can find what to fix"
            )
        # Text that is not JSON has no fields: its error names where the parser stopped.
        readable = _is_json_object(body) or not about_the_body
        if origin and readable and field and field != WHOLE_BODY:
            sources = tuple(document_of(document) for document in origin)
            assert names_a_field(field, document_of(body), sources), (
                f"translate raised TranslationError about the field {field!r} ({str(exc)!r}) "
                f"{what}, which is no field of the body, of the sample it was made from or of "
                "the platform's answers: name the path of the value at fault "
                "(refunds[0].amount), so a person finds it"
            )
        codes = {*CONNECTOR_CODES, *(c.code for c in self.platform.error_codes)}
        assert exc.code in codes, (
            f"translate filed the body {body[:60]!r} under the code {exc.code!r}, which neither "
            "the core nor the platform's error_codes declares: passerelle explain cannot say "
            "what to do"
        )

    def _check_translation(self, translation: Translation, what: str) -> None:
        ignored, events = translation.ignored, translation.events
        if ignored is not None:
            assert isinstance(ignored, str), f"translate ignored {what} with {ignored!r}"
            assert ignored.strip(), (
                f"translate ignored {what} without a reason ({ignored!r}): say why"
            )
            assert not events, (
                f"translate ignored {what} yet returned {len(events)} events: the dispatcher "
                "applies none of them"
            )
        else:
            assert events, (
                f"translate returned neither events nor a reason for {what}: ignore it with "
                "Translation.ignore(reason)"
            )
        occurred_at = translation.occurred_at
        assert occurred_at is None or (
            isinstance(occurred_at, datetime) and occurred_at.utcoffset() is not None
        ), f"translate returned occurred_at {occurred_at!r} for {what}: None or timezone-aware"
        seen: set[tuple[str, str]] = set()
        for position, event in enumerate(events):
            assert isinstance(event, _SDK_EVENTS), (
                f"event {position} of {what} is a {type(event).__name__}, not an SDK event"
            )
            if not isinstance(event, BatchFileEdited):
                assert event.order.strip(), f"event {position} of {what} names no order"
                assert event.id.strip(), f"event {position} of {what} has no id"
            self._check_stored_and_read_back(event, position, occurred_at, what)
            if not isinstance(event, BatchFileEdited):
                act = (event.kind, event.id)
                assert act not in seen, (
                    f"events of {what} repeat {event.kind} {event.id}: the ledger applies each "
                    "(kind, id) once, so the second would be dropped"
                )
                seen.add(act)

    def _apply_to_order(self, sample: Sample, order: Order, context: TranslationContext) -> None:
        outcome = self._translate(self.signed_request(sample), context)
        assert isinstance(outcome, Translation), (
            f"translate raised {outcome.type.__name__} for the sample {sample.name}: "
            f"{outcome.message}"
        )
        ledger = OrderLedger.open(order)
        for earlier in sample.before:
            ledger, _ = ledger.apply(earlier)
        for position, event in enumerate(outcome.events):
            assert not isinstance(event, BatchFileEdited), (
                f"event {position} of {sample.name} is a batch file event, not an order event"
            )
            assert event.order == order.reference, (
                f"event {position} of {sample.name} names order {event.order!r}, not the "
                f"reference {order.reference!r} the checkout gave the order"
            )
            try:
                ledger, _ = ledger.apply(event)
            except LedgerError as exc:
                raise AssertionError(
                    f"event {position} of {sample.name} ({event.kind} {event.id}) does not apply "
                    f"to its order: {exc.code}: {exc}"
                ) from None

    def _check_stored_and_read_back(
        self, event: _SDKEvent, position: int, occurred_at: datetime | None, what: str
    ) -> None:
        try:
            envelope = Envelope(
                platform=self.platform.name,
                store=self.store.id,
                delivery="contract",
                position=position,
                occurred_at=occurred_at or self.received_at,
                event=event,
            )
            read_back = Envelope.model_validate_json(envelope.model_dump_json()).event
        except Exception as exc:
            raise AssertionError(
                f"event {position} of {what} cannot be stored and read back: {exc}"
            ) from exc
        assert read_back == event, (
            f"event {position} of {what} reads back as {read_back!r}, not {event!r}"
        )

    def _for_malformed_bodies(self, sample: Sample, check: Callable[[bytes], None]) -> None:
        for body in (*AWKWARD_BODIES, *swept(sample.body)):
            check(body)
        run = given(body=malformed_bodies(sample.body))(check)
        run = example(body=sample.body[: len(sample.body) // 2])(run)
        settings(
            max_examples=self.max_examples,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        )(run)()


_NONE: Final = re.compile(r"(?<!['\"])(?<!^)\bNone\b(?!['\"]| of\b)")
"""Python's None, as text formatting writes it; quoted, it may be a value of the body, and
"None of" is English."""
_SWEEPS: Final = "_passerelle_sweeps"


def sweeps(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a test that sweeps a sample's shape with malformed bodies: a variant has its
    sample's shape, so the test runs on samples only."""
    setattr(test, _SWEEPS, True)
    return test


def another_attempt(value: str) -> str:
    """Another attempt's value of a per-attempt header, of the same shape: a time a day later,
    a number plus one, other text."""
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        return (when + timedelta(days=1)).isoformat()
    if value.strip().isdigit():
        return str(int(value) + 1)
    return f"{value}-2"


def _is_json_object(body: bytes) -> bool:
    """Whether `body` is a JSON object, by the standard (no NaN nor Infinity)."""

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    try:
        return isinstance(json.loads(body, parse_constant=refuse), dict)
    except (ValueError, RecursionError):
        return False
