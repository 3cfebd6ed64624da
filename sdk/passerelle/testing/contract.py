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
    or to an ignore with a reason, unless it is marked ``refused=True``: then it must raise
    `TranslationError`. A sample may carry the `Order` it applies to (and events applied
    before it): its events must then apply to that order through the ledger.
    `Sample.variant` makes a case no real body shows from a real sample, by field paths.
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
- `verify` compares with `hmac.compare_digest` (as `passerelle.plugin.HmacSignature` does, or
  under a name bound by ``from hmac import compare_digest``), never in a time that tells how
  much of a forged signature is right. A platform declaring an
  ``origin_header`` (Shopify's shop domain) refuses each sample naming another origin.
- A sample with `golden` expectations translates to exactly them (`passerelle.testing.golden`;
  ``pytest --update-golden`` writes them for review); the summary counts samples without.
- A sample marked `versioned` yields a `Version`; one marked `newer_than` another yields a
  later version of the same subject.
- `translate` runs with sockets blocked: a plugin reaches its platform's API only through
  ``context.http``, which the suite serves (``contract_http``).
- A retry keeps its key and its events: the sample received a day later, with other values of
  the platform's ``attempt_headers``, has the same `delivery_key` and translates to the same
  events (ids from the act, never from the delivery or the clock). The same delivery
  translated with the clock a day later (``time.time``, ``datetime.now``, the SDK's clocks)
  gives the same events.
- The plugin imports in a fresh interpreter with sockets blocked: its package, the platform's
  module and its ``passerelle`` entry points open no connection at import.
- A header value outside Latin-1 (UTF-8 bytes of ``€``) in any header: `verify` raises only
  `VerificationError`, the keys and `version` never raise.
- The malformed bodies include the sample with each value, at every depth (up to 500 paths;
  in a list, each path in the first item that has it), removed, made null and replaced by
  values of the wrong shape (another type, an empty one, a number too large, text that is not
  ASCII): enumerated, so a mistake is caught in every run. A variant's body, which has its
  sample's shape, is not swept.
- A sample whose translation reads the platform's API through ``context.http``: each JSON
  answer swept as the bodies are (for a variant, the answers its sample does not get),
  `translate` still returns a well-formed `Translation` or one of the errors above.
- A `TranslationError` has a message; on a body that is a JSON object it names its field
  (unless it is about the platform's answer to a request through ``context.http``): a path of
  the malformed body, of the sample it was made from or of the platform's answers, or a key
  missing from an object the sweep added. Its code is the core's or one of the platform's
  ``error_codes``, and its message shows no bare ``None``. A sample marked refused gives one;
  its golden expectations hold its code, field and message.
- A sample carrying its `order`: the events it translates to name that order's reference and
  apply to it through the ledger (`OrderLedger`), after the sample's `before` events: a return
  of more than shipped, a line the order does not have, an act repeated with other content
  fail.

`translate` gets an HTTP client that is offline: a request through it raises
`httpx.ConnectError`. A sample whose translation reads the platform's API then fails, saying
so (never a skip, which would pass it untranslated): override the ``contract_http`` fixture with
a client that answers from fixtures::

    @pytest.fixture
    def contract_http(self) -> Iterator[httpx.Client]:
        # A small WSGI app plays Acme's API for the orders the samples name.
        with httpx.Client(transport=httpx.WSGITransport(app=acme_api)) as client:
            yield client

The module's functions `signed_request` and `translation_context` build such requests and
contexts for the plugin's own tests, without the suite.

Each test belongs to one of seven checks (`passerelle.testing.opt_outs.CHECKS`: verification,
binding, identity, ordering, meaning, structure, purity). A platform that cannot pass one says
so, with the reason, in ``opt_outs``; its tests are skipped with that reason and pytest's
summary lists it. An opt-out without a reason fails every test::

    opt_outs = {"binding": "Acme deliveries name no shop: each store has its own webhook URL"}
"""

from __future__ import annotations

from passerelle.testing.key_checks import KeyChecks
from passerelle.testing.malformed import AWKWARD_BODIES, malformed_bodies
from passerelle.testing.samples import Sample, signed_request, translation_context
from passerelle.testing.translate_checks import TranslateChecks
from passerelle.testing.verify_checks import VerifyChecks

__all__ = [
    "AWKWARD_BODIES",
    "Sample",
    "WebhookPlatformContract",
    "malformed_bodies",
    "signed_request",
    "translation_context",
]


class WebhookPlatformContract(VerifyChecks, KeyChecks, TranslateChecks):
    """The contract suite for a `WebhookPlatform`: subclass it in a ``Test...`` class.

    See the module documentation for what to set and what is checked.
    """
