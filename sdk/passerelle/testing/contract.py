"""The platform contract suite: what every webhook platform must do for the core to be safe.

A platform plugin proves itself by subclassing `WebhookPlatformContract` in its tests, in a
class pytest collects (its name starts with ``Test``). The class names the platform, a store to
verify deliveries for, how the platform signs a body, and a few deliveries it really sends;
every test of the suite is inherited and runs on each delivery. It needs pytest and hypothesis
(``pip install 'passerelle[test]'``)::

    # tests/test_acme_contract.py
    from pathlib import Path

    from pydantic import SecretStr

    from passerelle.plugin import Store
    from passerelle.testing import Sample, WebhookPlatformContract
    from passerelle.testing.golden import golden_path
    from passerelle_acme import SIGNATURE, AcmePlatform

    SAMPLES = Path(__file__).parent / "samples"
    HEADERS = {"Content-Type": "application/json", "X-Acme-Delivery": "dlv_1"}


    class TestAcmeContract(WebhookPlatformContract):
        platform = AcmePlatform()
        store = Store(platform="acme", id="main", secrets=(SecretStr("whsec_test"),))
        samples = tuple(
            Sample(path.stem, path.read_bytes(), HEADERS, golden=golden_path(path))
            for path in sorted(SAMPLES.glob("*.json"))
        )

        def sign(self, body: bytes, secret: str) -> dict[str, str]:
            return SIGNATURE.sign(body, secret)

A failure names the rule and the sample (``test_verify_rejects_another_secret[refund]``) and
says what the core would do with such a platform.

What the subclass sets:

``platform``
    The `WebhookPlatform` under test.
``store``
    The `Store` deliveries are verified for, with the options the platform needs; its first
    secret signs the samples. ``other_secret`` is a second valid secret for the same platform,
    used to test rotation and wrong signatures (override it if secrets have a required shape).
``samples``
    Deliveries as the platform sends them, without their signature: a name (the test id), the
    raw body and every other header (topic, delivery id, shop...). Use real bodies, byte for
    byte, and cover each kind of delivery the platform handles. Each must translate, to events
    or to an ignore with a reason: deliveries that end in `TranslationError` belong in the
    plugin's own tests. A sample may carry the `Order` it applies to (and events applied
    before it): its events must then apply to that order through the ledger.
``sign(body, secret)`` (optional)
    The headers that carry the signature of `body` under `secret`, and only those (a
    timestamp the signature covers included): the suite removes and corrupts each of them.
    By default the platform's own test signer, `WebhookPlatform.sign`.

What it checks, on every sample:

- `verify` accepts the signed delivery, also with lower-case header names (as the receiver
  sees them), and with either secret of a store being rotated. It raises `VerificationError`,
  and nothing else, for a signature made with another secret, a body changed by one byte, a
  missing or garbled signature header (non-ASCII bytes included), and a store with no secret
  or an empty one, which verifies nothing. Its message is not empty and quotes neither a
  secret nor the signature it expected.
- `delivery_key` is a non-empty string of at most 255 characters without surrounding spaces,
  equal for every delivery of the same act: received later, signed with the other secret, with
  other header case. `ordering_key` is None or a non-empty string, just as stable; `version`
  is None or a `Version`, just as stable.
- On a signed delivery whose body is malformed (random bytes, empty, not JSON, JSON of the
  wrong shape, the sample with one value replaced by another of any type or removed),
  `delivery_key`, `ordering_key` and `version` never raise, and `translate` returns a well-formed
  `Translation` or raises `TranslationError` with a message (or, for a platform that reads its
  API, `PlatformUnavailableError`, an `httpx.TransportError` or `httpx.HTTPStatusError`, which
  the dispatcher retries or files). These use hypothesis, ``max_examples`` (default 30)
  per sample, derandomized so every run draws the same bodies, after a fixed set of awkward
  bodies and the sweep below.
- `translate` is deterministic: the same delivery gives an equal `Translation`, or the same
  error. A `Translation` either ignores the delivery with a non-blank reason and no events, or
  has events; each is an SDK event that survives being stored and read back (`Envelope`), order
  events have no repeated (kind, id), and ``occurred_at`` is None or timezone-aware.
- `is_ping` is False for a signed delivery, and ``name`` is accepted by the plugin manager (a
  valid ``{platform}`` path segment). Each sample's ``Content-Type`` is one the platform
  declares in ``media_types`` (the receiver answers 415 to others).
- `verify` compares with `hmac.compare_digest` (as `passerelle.plugin.HmacSignature` does),
  never in a time that tells how much of a forged signature is right. A platform declaring an
  ``origin_header`` (Shopify's shop domain) refuses each sample naming another origin.
- A sample with `golden` expectations translates to exactly them (`passerelle.testing.golden`;
  ``pytest --update-golden`` writes them for review); the summary counts samples without.
- A sample marked `versioned` yields a `Version`; one marked `newer_than` another yields a
  later version of the same subject.
- `translate` runs with sockets blocked: a plugin reaches its platform's API only through
  ``context.http``, which the suite serves (``contract_http``).
- A retry keeps its key and its events: the sample received a day later, with other values of
  the platform's ``attempt_headers``, has the same `delivery_key` and translates to the same
  events (ids from the act, never from the delivery or the clock).
- A header value outside Latin-1 (UTF-8 bytes of ``€``) in any header: `verify` raises only
  `VerificationError`, the keys and `version` never raise.
- The malformed bodies include the sample with each value, at every depth (up to 500 paths),
  removed, made null and replaced by values of the wrong shape (another type, an empty one, a
  number too large, text that is not ASCII): enumerated, so a mistake is caught in every run.
- A sample carrying its `order`: the events it translates to name that order's reference and
  apply to it through the ledger (`OrderLedger`), after the sample's `before` events: a return
  of more than shipped, a line the order does not have, an act repeated with other content
  fail.

`translate` gets an HTTP client that is offline: a request through it raises
`httpx.ConnectError`. A sample whose translation reads the platform's API is then skipped,
saying so; to cover it, override the ``contract_http`` fixture with a client that answers::

    @pytest.fixture
    def contract_http(self) -> Iterator[httpx.Client]:
        # A small WSGI app plays Acme's API for the orders the samples name.
        with httpx.Client(transport=httpx.WSGITransport(app=acme_api)) as client:
            yield client

The module's functions `signed_request` and `translation_context` build such requests and
contexts for the plugin's own tests, without the suite. A test that cannot hold for a platform is turned off as any pytest test is,
by overriding it in the subclass with a skip that says why.
"""

from __future__ import annotations

import contextlib
import difflib
import hmac
import json
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from passerelle.events import (
    BatchFileEdited,
    Envelope,
    OrderCancelled,
    OrderEdited,
    OrderEvent,
    OrderReturned,
    OrderShipped,
)
from passerelle.hookspecs import hookimpl
from passerelle.orders import LedgerError, Order, OrderLedger
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
from passerelle.testing.golden import UPDATE_OPTION, Coverage, render

__all__ = [
    "AWKWARD_BODIES",
    "Sample",
    "WebhookPlatformContract",
    "malformed_bodies",
    "signed_request",
    "translation_context",
]

_SDK_EVENTS: Final = (OrderShipped, OrderCancelled, OrderReturned, OrderEdited, BatchFileEdited)
_LONGEST_DELIVERY_KEY: Final = 255
"""`Envelope.delivery` holds at most this many characters."""

AWKWARD_BODIES: Final[tuple[bytes, ...]] = (
    b"",
    b" \r\n",
    b"null",
    b"true",
    b"0",
    b"-1.5e400",
    b'"text"',
    b"[]",
    b"{}",
    b"[{}]",
    b"{",
    b'{"id":',
    b"NaN",
    b'{"id": Infinity}',
    b"\xff\xfe\x00{",
    b"\xef\xbb\xbf{}",
    "{}".encode("utf-16"),
    # Python refuses integers of more than 4300 digits with ValueError, not JSONDecodeError.
    b'{"id": ' + b"9" * 5000 + b"}",
    b"[" * 200 + b"]" * 200,
    b"webhook_id=1",
    b"<html><body>502 Bad Gateway</body></html>",
    b"\x00" * 16,
)
"""Bodies every platform must survive, signed: tried before the random ones."""

# Values a field of any type may be replaced by: wrong types, empties, ids beyond a float's
# precision, amounts a Decimal reads as infinite.
_AWKWARD_VALUES: Final[tuple[object, ...]] = (
    None,
    "",
    " ",
    0,
    -1,
    2**53 + 1,
    1.5,
    True,
    [],
    {},
    "x",
    "1e400",
    "NaN",
)
_MOST_PATHS: Final = 500
_NOT_LATIN1: Final = "\u20ac\u2603".encode()
"""A header value's bytes outside Latin-1 text as the receiver decodes them (UTF-8 of €☃)."""


@dataclass(frozen=True)
class Sample:
    """A delivery as the platform sends it, without its signature.

    `name` labels the tests run on it (``test_...[name]``); `body` is the raw body, byte for
    byte; `headers` are every header but those `WebhookPlatformContract.sign` adds.
    """

    name: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    order: Order | None = None
    """The order the delivery applies to, as the checkout created it (``POST /v1/orders``): the
    suite applies the translated events to it through the ledger."""
    before: tuple[OrderEvent, ...] = ()
    """Events applied to `order` before this delivery's (the shipment a return follows)."""
    versioned: bool = False
    """The delivery carries an object's dated state: `version` must give its `Version`."""
    newer_than: str | None = None
    """The name of a sample reporting an older state of the same object: its version must be
    older than this one's."""
    golden: Path | None = None
    """The file of the events the delivery must become (`passerelle.testing.golden`), usually
    `golden_path` of the sample's file; written by ``pytest --update-golden``."""


class _OfflineError(httpx.ConnectError):
    """What the suite's HTTP client raises: the suite makes no network calls."""


class _OfflineTransport(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise _OfflineError(
            f"the contract suite is offline: no answer for {request.method} {request.url}",
            request=request,
        )


class _Registers:
    """A plugin registering one platform, to check its name as the plugin manager does."""

    def __init__(self, platform: WebhookPlatform | FilePlatform) -> None:
        self._platform = platform

    @hookimpl
    def register_platforms(
        self, register: Callable[[WebhookPlatform | FilePlatform], None]
    ) -> None:
        register(self._platform)


def _check_registers(platform: WebhookPlatform | FilePlatform) -> None:
    """Fail unless the plugin manager takes `platform` under its name (a path segment)."""
    plugins = Plugins()
    plugins.register(_Registers(platform), "passerelle-contract")
    try:
        found: WebhookPlatform | FilePlatform = (
            plugins.webhook_platform(platform.name)
            if isinstance(platform, WebhookPlatform)
            else plugins.file_platform(platform.name)
        )
    except PluginError as exc:
        raise AssertionError(str(exc)) from None
    assert found is platform


def _fail_unless_configured(contract: object, problems: list[str], suite: str) -> None:
    """Fail the test, saying what is missing, when the contract class is not set up."""
    if problems:
        pytest.fail(
            f"{type(contract).__name__} is not set up for the {suite}: " + "; ".join(problems),
            pytrace=False,
        )


@dataclass(frozen=True)
class _Raised:
    """An exception `translate` raised, compared by type and message."""

    type: type[BaseException]
    message: str
    offline: bool = field(default=False, compare=False)
    """Raised because the suite's HTTP client is offline."""


_Outcome = Translation | _Raised
_SDKEvent = OrderShipped | OrderCancelled | OrderReturned | OrderEdited | BatchFileEdited


class WebhookPlatformContract:
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
        if cls.sign is WebhookPlatformContract.sign and not platform_signs:
            problems.append(
                "sign(body, secret) must return the signature headers: define it on the "
                "platform (WebhookPlatform.sign) or on the contract class"
            )
        return problems

    @pytest.fixture(autouse=True)
    def _contract_configured(self) -> None:
        _fail_unless_configured(self, self.configuration_problems(), "contract suite")

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run each test taking a `sample` once per sample, with the sample's name as its id."""
        if "sample" in metafunc.fixturenames:
            samples = getattr(self, "samples", ())
            valid = (
                [s for s in samples if isinstance(s, Sample)]
                if isinstance(samples, Sequence)
                else []
            )
            metafunc.parametrize("sample", valid, ids=[s.name for s in valid])

    @pytest.fixture
    def contract_http(self) -> Iterator[httpx.Client]:
        """The HTTP client `translate` gets: offline, every request raises `httpx.ConnectError`."""
        with httpx.Client(transport=_OfflineTransport()) as client:
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

    # The platform

    def test_name_is_a_platform_path_segment(self) -> None:
        _check_registers(self.platform)

    def test_a_signed_delivery_is_not_a_ping(self, sample: Sample) -> None:
        request = self.signed_request(sample)
        assert self.platform.is_ping(request) is False, (
            f"is_ping is true for the signed sample {sample.name}: the receiver would answer "
            "it without storing it"
        )

    def test_a_sample_comes_in_a_declared_media_type(self, sample: Sample) -> None:
        content_type = next(
            (v for k, v in sample.headers.items() if k.lower() == "content-type"), ""
        )
        media_type = content_type.partition(";")[0].strip().lower()
        assert media_type in self.platform.media_types, (
            f"the sample {sample.name} comes as {media_type or 'no content type'}, which the "
            f"platform does not declare in media_types ({', '.join(sorted(self.platform.media_types))}): "
            "the receiver would answer 415"
        )

    def test_header_values_outside_latin1_never_crash(self, sample: Sample) -> None:
        signature = self.sign(sample.body, self.secret)
        headers = {**sample.headers, **signature}
        for name in headers:
            pairs: list[tuple[str | bytes, str | bytes]] = [
                (k, _NOT_LATIN1 if k == name else v) for k, v in headers.items()
            ]
            request = self._request(pairs, sample.body)
            what = f"the sample with {name}: {_NOT_LATIN1!r}"
            try:
                self.platform.verify(request, self.store)
            except VerificationError:
                pass
            except Exception as exc:
                raise AssertionError(
                    f"verify raised {type(exc).__name__} for {what}: the receiver would answer "
                    "500 instead of 401"
                ) from exc
            self._delivery_key(request)
            self._ordering_key(request)
            self._version(request)

    # verify

    def test_verify_accepts_a_signed_delivery(self, sample: Sample) -> None:
        self._assert_accepted(self.signed_request(sample), self.store, "the signed sample")

    def test_header_names_are_case_insensitive(
        self, sample: Sample, contract_http: httpx.Client
    ) -> None:
        as_sent = self.signed_request(sample)
        as_received = self.signed_request(sample, lower_case=True)
        self._assert_accepted(as_received, self.store, "the sample with lower-case header names")
        assert self._delivery_key(as_received) == self._delivery_key(as_sent), (
            "delivery_key depends on the case of header names"
        )
        assert self._ordering_key(as_received) == self._ordering_key(as_sent), (
            "ordering_key depends on the case of header names"
        )
        context = self.translation_context(contract_http)
        assert self._translate(as_received, context) == self._translate(as_sent, context), (
            "translate depends on the case of header names"
        )

    def test_verify_rejects_another_secret(self, sample: Sample) -> None:
        request = self.signed_request(sample, secret=self.other_secret)
        self._assert_rejected(request, self.store, "a delivery signed with another secret")

    def test_verify_rejects_a_changed_body(self, sample: Sample) -> None:
        signature = self.sign(sample.body, self.secret)

        def forged(body: bytes) -> WebhookRequest:
            return self._request([*sample.headers.items(), *signature.items()], body)

        self._assert_rejected(forged(sample.body + b" "), self.store, "a body with a byte added")
        if sample.body:
            shorter = forged(sample.body[:-1])
            self._assert_rejected(shorter, self.store, "a body with its last byte removed")

            @settings(
                max_examples=self.max_examples,
                deadline=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow],
            )
            @given(
                position=st.integers(0, len(sample.body) - 1),
                flip=st.integers(1, 255),
            )
            def one_byte_changed(position: int, flip: int) -> None:
                body = bytearray(sample.body)
                body[position] ^= flip
                self._assert_rejected(
                    forged(bytes(body)), self.store, f"a body with byte {position} changed"
                )

            one_byte_changed()

    def test_verify_rejects_a_missing_signature_header(self, sample: Sample) -> None:
        signature = self.sign(sample.body, self.secret)
        self._assert_rejected(
            self._request(sample.headers.items(), sample.body),
            self.store,
            "a delivery without its signature headers",
        )
        for name in signature:
            kept = [(k, v) for k, v in signature.items() if k != name]
            request = self._request([*sample.headers.items(), *kept], sample.body)
            self._assert_rejected(request, self.store, f"a delivery without its header {name}")

    def test_verify_rejects_a_garbled_signature(self, sample: Sample) -> None:
        signature = self.sign(sample.body, self.secret)
        for name, value in signature.items():
            empty_body_signature = self.sign(b"", self.secret).get(name, "")
            garbled: tuple[bytes, ...] = (
                b"",
                b"=",
                b"not base64!",
                value.encode("latin-1")[:-2],
                value.encode("latin-1").swapcase(),
                empty_body_signature.encode("latin-1"),
                b"A" * 4096,
                # Header values are bytes: anything but ASCII must not crash a string compare.
                b"\xe9t\xe9\xff",
                "é".encode() * 22,
                _NOT_LATIN1,
            )
            for bad in garbled:
                if bad == value.encode("latin-1"):
                    continue
                pairs: list[tuple[str | bytes, str | bytes]] = [
                    *sample.headers.items(),
                    *((k, v) for k, v in signature.items() if k != name),
                    (name.encode("latin-1"), bad),
                ]
                request = self._request(pairs, sample.body)
                self._assert_rejected(request, self.store, f"{name}: {bad[:40]!r}")

    def test_a_store_without_a_secret_verifies_nothing(self, sample: Sample) -> None:
        for secrets in ((), ("",)):
            store = self._store_with(*secrets)
            for signed_with in (self.secret, ""):
                self._assert_rejected(
                    self.signed_request(sample, secret=signed_with),
                    store,
                    f"a delivery signed with {'the' if signed_with else 'an empty'} secret, "
                    f"for a store whose secrets are {list(secrets)!r}",
                )
        with_empty = self._store_with("", self.secret)
        self._assert_rejected(
            self.signed_request(sample, secret=""),
            with_empty,
            "a delivery signed with an empty secret, for a store with an empty secret among "
            "its secrets",
        )
        self._assert_accepted(
            self.signed_request(sample),
            with_empty,
            "the signed sample, for a store with an empty secret besides the right one",
        )

    def test_a_rotated_secret_keeps_verifying(self, sample: Sample) -> None:
        for store in (
            self._store_with(self.other_secret, self.secret),
            self._store_with(self.secret, self.other_secret),
        ):
            for secret in (self.secret, self.other_secret):
                self._assert_accepted(
                    self.signed_request(sample, secret=secret),
                    store,
                    "a delivery signed with either secret of a store being rotated",
                )
        self._assert_rejected(
            self.signed_request(sample),
            self._store_with(self.other_secret),
            "a delivery signed with a secret the store no longer has",
        )

    def test_verify_compares_in_constant_time(self, sample: Sample) -> None:
        calls = 0
        compare = hmac.compare_digest

        def counting(a: Any, b: Any) -> bool:
            nonlocal calls
            calls += 1
            return compare(a, b)

        hmac.compare_digest = counting
        try:
            with contextlib.suppress(VerificationError):
                self.platform.verify(
                    self.signed_request(sample, secret=self.other_secret), self.store
                )
            self.platform.verify(self.signed_request(sample), self.store)
        finally:
            hmac.compare_digest = compare
        assert calls, (
            "verify compared the signature without hmac.compare_digest: a comparison that stops "
            "at the first difference tells an attacker, by its time, how much of a forged "
            "signature is right; verify with passerelle.plugin.HmacSignature"
        )

    def test_verify_refuses_a_delivery_naming_another_origin(self, sample: Sample) -> None:
        self._assert_accepted(self.signed_request(sample), self.store, "the signed sample")
        header = self.platform.origin_header
        if header is None:
            return  # the platform declares no origin: the webhook URL alone names the store
        named = {k: v for k, v in sample.headers.items() if k.lower() == header.lower()}
        assert named, (
            f"the sample {sample.name} has no {header} header, which the platform declares as "
            "naming the delivery's origin"
        )
        foreign = replace(
            sample, headers={**sample.headers, **{k: f"other-{v}" for k, v in named.items()}}
        )
        self._assert_rejected(
            self.signed_request(foreign),
            self.store,
            f"the sample naming another origin in {header} than the store's",
        )

    # Keys

    def test_a_retry_keeps_its_key_and_its_events(
        self, sample: Sample, contract_http: httpx.Client
    ) -> None:
        first = self.signed_request(sample)
        again = replace(
            sample,
            headers={
                k: _another_attempt(v) if k.lower() in self.platform.attempt_headers else v
                for k, v in sample.headers.items()
            },
        )
        retry = self.signed_request(again, received_at=self.received_at + timedelta(days=1))
        assert self._delivery_key(retry) == self._delivery_key(first), (
            f"delivery_key of {sample.name} changes on a retry (received a day later, other "
            f"values of {', '.join(sorted(self.platform.attempt_headers)) or 'no header'}): "
            "the retry would pass the inbox and be applied twice"
        )
        context = self.translation_context(contract_http)
        before, after = self._translate(first, context), self._translate(retry, context)
        if isinstance(before, Translation) and isinstance(after, Translation):
            assert (after.events, after.ignored) == (before.events, before.ignored), (
                f"the events of {sample.name} change on a retry (received a day later, other "
                "attempt headers): event ids must come from the act, never from the delivery "
                "or the clock, or the retry applies twice"
            )
        else:
            assert after == before, f"translate of a retry of {sample.name} gave {after!r}"

    def test_delivery_key_is_the_same_for_every_delivery_of_an_act(self, sample: Sample) -> None:
        key = self._delivery_key(self.signed_request(sample))
        again = self.signed_request(
            sample, secret=self.other_secret, received_at=self.received_at + timedelta(hours=4)
        )
        assert self._delivery_key(again) == key, (
            f"delivery_key of {sample.name} changes when the same delivery comes again (later, "
            "signed with the other secret of a rotation): duplicates would be applied twice"
        )

    def test_ordering_key_is_the_same_for_every_delivery_of_an_act(self, sample: Sample) -> None:
        key = self._ordering_key(self.signed_request(sample))
        again = self.signed_request(
            sample, secret=self.other_secret, received_at=self.received_at + timedelta(hours=4)
        )
        assert self._ordering_key(again) == key, (
            f"ordering_key of {sample.name} changes when the same delivery comes again"
        )

    def test_version_is_the_same_for_every_delivery_of_an_act(self, sample: Sample) -> None:
        version = self._version(self.signed_request(sample))
        again = self.signed_request(
            sample, secret=self.other_secret, received_at=self.received_at + timedelta(hours=4)
        )
        assert self._version(again) == version, (
            f"version of {sample.name} changes when the same delivery comes again: a "
            "redelivery could make the first delivery look stale"
        )
        if sample.versioned or sample.newer_than:
            assert version is not None, (
                f"version is None for {sample.name}, which carries a dated state: a late, older "
                "delivery of it would be applied over a newer one"
            )
        if sample.newer_than:
            older = next((s for s in self.samples if s.name == sample.newer_than), None)
            assert older is not None, f"{sample.name} is newer than no sample {sample.newer_than}"
            before = self._version(self.signed_request(older))
            assert before is not None, f"version is None for {older.name}"
            assert version is not None
            assert (before.subject, before.as_of < version.as_of) == (version.subject, True), (
                f"version of {sample.name} ({version.subject} as of {version.as_of.isoformat()}) "
                f"is not newer than that of {older.name} ({before.subject} as of "
                f"{before.as_of.isoformat()}): the older state could be applied after the newer"
            )

    def test_keys_never_raise_on_a_malformed_body(self, sample: Sample) -> None:
        def check(body: bytes) -> None:
            request = self.signed_request(sample, body=body)
            self._delivery_key(request)
            self._ordering_key(request)
            self._version(request)

        self._for_malformed_bodies(sample, check)

    # translate

    def test_translate_of_a_sample_is_deterministic_and_well_formed(
        self, sample: Sample, contract_http: httpx.Client
    ) -> None:
        context = self.translation_context(contract_http)
        request = self.signed_request(sample)
        first = self._translate(request, context)
        if isinstance(first, _Raised) and first.offline:
            pytest.skip(
                f"{sample.name}: translation reads the platform's API ({first.message}); "
                "override the contract_http fixture to answer it"
            )
        assert not isinstance(first, _Raised), (
            f"translate raised {first.type.__name__} for the sample {sample.name}: "
            f"{first.message}; samples are deliveries that translate"
        )
        self._check_translation(first, f"the sample {sample.name}")
        assert self._translate(request, context) == first, (
            f"translate gave another result for the same delivery {sample.name}: it must be "
            "deterministic, a stored delivery is replayed after a fix"
        )
        assert self._translate(self.signed_request(sample), context) == first, (
            f"translate gave another result for an equal request of {sample.name}"
        )

    def test_the_events_of_each_sample_apply_to_its_order(
        self, contract_http: httpx.Client
    ) -> None:
        context = self.translation_context(contract_http)
        for sample in self.samples:
            if sample.order is not None:
                self._apply_to_order(sample, sample.order, context)

    def test_a_sample_translates_to_its_golden_expectations(
        self, sample: Sample, contract_http: httpx.Client, request: pytest.FixtureRequest
    ) -> None:
        outcome = self._translate(
            self.signed_request(sample), self.translation_context(contract_http)
        )
        assert isinstance(outcome, Translation), (
            f"translate raised {outcome.type.__name__} for the sample {sample.name}: "
            f"{outcome.message}"
        )
        rendered = render(outcome)
        where = f"{type(self).__name__}[{sample.name}]"
        if sample.golden is None:
            Coverage.without.add(where)
            return
        Coverage.with_golden.add(where)
        if request.config.getoption(UPDATE_OPTION, default=False):
            sample.golden.write_text(rendered, encoding="utf-8")
            return
        assert sample.golden.is_file(), (
            f"{sample.golden} does not exist: run pytest {UPDATE_OPTION} and review what it writes"
        )
        expected = sample.golden.read_text(encoding="utf-8")
        if rendered != expected:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    rendered.splitlines(keepends=True),
                    str(sample.golden),
                    "translated now",
                )
            )
            raise AssertionError(
                f"the sample {sample.name} no longer translates to its golden expectations "
                f"(pytest {UPDATE_OPTION} rewrites them, for review):\n{diff}"
            )

    def test_translate_reads_a_malformed_body_or_raises_translation_error(
        self, sample: Sample, contract_http: httpx.Client
    ) -> None:
        context = self.translation_context(contract_http)

        def check(body: bytes) -> None:
            request = self.signed_request(sample, body=body)
            what = f"{sample.name} with the body {body[:60]!r}"
            outcome = self._translate(request, context)
            if isinstance(outcome, Translation):
                self._check_translation(outcome, what)
            assert self._translate(request, context) == outcome, (
                f"translate gave another result for the same delivery ({what})"
            )

        self._for_malformed_bodies(sample, check)

    # Internals

    def _request(
        self,
        headers: Iterable[tuple[str | bytes, str | bytes]],
        body: bytes,
        *,
        received_at: datetime | None = None,
    ) -> WebhookRequest:
        raw = [(_latin1(name), _latin1(value)) for name, value in headers]
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

    def _translate(self, request: WebhookRequest, context: TranslationContext) -> _Outcome:
        opened: list[str] = []
        with _no_sockets(opened):
            outcome = self._translate_once(request, context, opened)
        assert not opened, (
            f"translate opened a connection to {opened[0]} for the body {request.body[:60]!r}: "
            "reach the platform's API only through context.http (the suite serves it)"
        )
        return outcome

    def _translate_once(
        self, request: WebhookRequest, context: TranslationContext, opened: list[str]
    ) -> _Outcome:
        try:
            translation = self.platform.translate(request, context)
        except TranslationError as exc:
            raised = _Raised(type(exc), str(exc))
            assert raised.message.strip(), (
                f"translate raised TranslationError without a message for the body "
                f"{request.body[:60]!r}: the action center shows it"
            )
            return raised
        except (httpx.TransportError, httpx.HTTPStatusError, PlatformUnavailableError) as exc:
            offline = isinstance(exc, _OfflineError) or isinstance(exc.__cause__, _OfflineError)
            return _Raised(type(exc), str(exc), offline=offline)
        except Exception as exc:
            if opened:
                return _Raised(type(exc), str(exc))  # reported as the connection it tried
            raise AssertionError(
                f"translate raised {type(exc).__name__} for the body {request.body[:60]!r}: "
                "raise TranslationError naming the field and the rule"
            ) from exc
        assert isinstance(translation, Translation), (
            f"translate returned {type(translation).__name__}, not a Translation"
        )
        return translation

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
        for body in (*AWKWARD_BODIES, *_swept(sample.body)):
            check(body)
        run = given(body=malformed_bodies(sample.body))(check)
        run = example(body=sample.body[: len(sample.body) // 2])(run)
        settings(
            max_examples=self.max_examples,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        )(run)()


def malformed_bodies(body: bytes) -> st.SearchStrategy[bytes]:
    """Bodies a platform must survive, signed: random bytes and text, JSON of any shape, and
    `body` (when JSON) with one value replaced by another of any type, or removed."""
    choices = [
        st.binary(max_size=64),
        st.text(max_size=32).map(str.encode),
        _json_values().map(_dumps),
    ]
    document = _loads(body)
    paths = _paths(document)
    if paths:
        replacement = st.one_of(_json_values(), st.just(_REMOVED))
        changed = st.builds(
            lambda path, value: _dumps(_replaced(document, path, value)),
            st.sampled_from(paths),
            replacement,
        )
        choices += [changed, changed]
    return st.one_of(choices)


_REMOVED: Final = object()


def _json_values() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.sampled_from(_AWKWARD_VALUES),
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=12),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=6,
    )


def _swept(body: bytes) -> Iterator[bytes]:
    """`body` with each value, at every depth, removed, made null and replaced by values of the
    wrong shape for it (see `_wrong_values`), one at a time, deterministically."""
    document = _loads(body)
    for path in _paths(document):
        for value in (_REMOVED, None, *_wrong_values(_at(document, path))):
            yield _dumps(_replaced(document, path, value))


_DEEP: Final = json.loads("[" * 64 + "]" * 64)
"""A list nested 64 deep, where an object or a list was: recursion that is not bounded."""


def _wrong_values(value: object) -> tuple[object, ...]:
    """Values a field holding `value` must survive: another type, empties, deep nesting,
    numbers too large for a float or a Decimal's context, text that is not ASCII."""
    if isinstance(value, dict):
        return ([], "x", _DEEP)
    if isinstance(value, list):
        return ({}, "x", [], _DEEP) if value else ({}, "x", _DEEP)
    if isinstance(value, bool):
        return ("x", 2)
    if isinstance(value, int | float):
        return ("x", -(10**40), "9" * 30, 1.5e308, "1e400")
    if isinstance(value, str):
        return (0, "", "\u20ac\U0001f600", "9" * 300)
    return ("x", 0)


def _at(document: object, path: Sequence[str | int]) -> object:
    node: Any = document
    for key in path:
        node = node[key]
    return node


class _SocketBlockedError(ConnectionRefusedError):
    """A connection `translate` tried to open by itself while the suite ran it."""


@contextlib.contextmanager
def _no_sockets(opened: list[str]) -> Iterator[None]:
    """Refuse every connection and name lookup while `translate` runs, noting each in
    `opened`: a plugin reaches its platform only through `TranslationContext.http`."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        target = next((a for a in args if isinstance(a, tuple | str)), "?")
        opened.append(str(target))
        raise _SocketBlockedError(f"the contract suite blocks sockets: {target}")

    saved = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)
    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.getaddrinfo = refuse
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = saved  # type: ignore[method-assign]


def _another_attempt(value: str) -> str:
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


def _latin1(text: str | bytes) -> bytes:
    # HTTP header bytes are Latin-1, as the receiver decodes them.
    return text if isinstance(text, bytes) else text.encode("latin-1")


def _loads(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


def _paths(document: object) -> list[tuple[str | int, ...]]:
    """Paths to the values of `document`, shallowest first, at most `_MOST_PATHS`."""
    paths: list[tuple[str | int, ...]] = []
    queue: deque[tuple[tuple[str | int, ...], object]] = deque([((), document)])
    while queue and len(paths) < _MOST_PATHS:
        path, node = queue.popleft()
        children: Sequence[tuple[str | int, object]] = (
            list(node.items())
            if isinstance(node, dict)
            else list(enumerate(node))
            if isinstance(node, list)
            else []
        )
        for key, child in children:
            paths.append((*path, key))
            queue.append(((*path, key), child))
    return paths[:_MOST_PATHS]


def _replaced(node: Any, path: Sequence[str | int], value: object) -> Any:
    """A copy of `node` with the value at `path` replaced by `value` (removed: `_REMOVED`)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    if not rest and value is _REMOVED:
        del copy[head]
    else:
        copy[head] = _replaced(node[head], rest, value)
    return copy


def signed_request(
    platform: WebhookPlatform,
    sample: Sample,
    sign: Callable[[bytes, str], Mapping[str, str]],
    secret: str,
    *,
    store: str = "main",
    body: bytes | None = None,
    received_at: datetime = datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
    lower_case: bool = False,
) -> WebhookRequest:
    """`sample` as the receiver gets it for `store`, signed by `sign` with `secret` (`sign` as
    `WebhookPlatformContract.sign`: the signature headers), with `body` in place of the
    sample's if given, header names lower-cased if `lower_case`."""
    content = sample.body if body is None else body
    headers = {**sample.headers, **sign(content, secret)}
    raw = [
        (_latin1(name.lower() if lower_case else name), _latin1(value))
        for name, value in headers.items()
    ]
    return WebhookRequest(
        platform=platform.name,
        store=store,
        headers=httpx.Headers(raw),
        body=content,
        received_at=received_at,
    )


def translation_context(store: Store, http: httpx.Client | None = None) -> TranslationContext:
    """The context `translate` gets for `store`; `http` is offline by default (every request
    raises `httpx.ConnectError`)."""
    return TranslationContext(
        store=store, http=http if http is not None else httpx.Client(transport=_OfflineTransport())
    )
