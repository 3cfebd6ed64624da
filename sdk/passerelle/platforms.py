"""What a platform plugin implements: small abstract base classes the core drives.

A webhook platform (Shopify, WooCommerce) verifies a delivery on its raw bytes, names the keys
that de-duplicate and order it, may date the state it reports (so a stale delivery is ignored),
and translates it into events. A file platform (Sage) reads a batch payment file. Translation
must be deterministic: the same delivery always gives the same events, so a stored delivery can
be replayed after a fix.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Final, TypeVar

import httpx
from pydantic import BaseModel, SecretStr

from passerelle.batches import BatchFile
from passerelle.codes import ErrorCode
from passerelle.events import AnyEvent
from passerelle.store_options import option_problems, validate_options

if TYPE_CHECKING:
    from passerelle.backend.models import OrderCreate
    from passerelle.scenarios import DemoScenario, FileDemoScenario

__all__ = [
    "JSON_MEDIA_TYPE",
    "FilePlatform",
    "Platform",
    "PlatformUnavailableError",
    "SignedDelivery",
    "Store",
    "StoreProblem",
    "Translation",
    "TranslationContext",
    "TranslationError",
    "VerificationError",
    "Version",
    "WebhookPlatform",
    "WebhookRequest",
]

JSON_MEDIA_TYPE: Final = "application/json"

M = TypeVar("M", bound=BaseModel)

TranslatedEvent = AnyEvent
"""What a platform may translate a delivery into: any event kind."""


@dataclass(frozen=True)
class Store:
    """A merchant's store on one platform, as the connector's configuration declares it.

    `secrets` verify webhook signatures; several are allowed so a rotated secret keeps working
    while deliveries signed with the old one drain. `options` holds platform settings such as API
    credentials (`access_token`) or the API base URL.
    """

    platform: str
    id: str
    secrets: tuple[SecretStr, ...] = ()
    # Options carry API credentials: keep them out of reprs and logs.
    options: Mapping[str, str] = field(default_factory=dict, repr=False)
    _typed: dict[type[BaseModel], BaseModel] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def options_as(self, model: type[M]) -> M:
        """The store's options validated as `model` (the platform's `options_model`), read once
        per store; `passerelle.store_options.StoreOptionsError` names each wrong option."""
        typed = self._typed.get(model)
        if typed is None:
            typed = validate_options(model, self.options, store=self.id)
            self._typed[model] = typed
        return typed  # type: ignore[return-value]


@dataclass(frozen=True)
class StoreProblem:
    """Something wrong with a store's configuration, as `WebhookPlatform.check_store` finds it.

    `key` is where, within the store's ``[[stores]]`` entry: ``options.access_token``, ``id``,
    ``secrets``. `message` says what is wrong and what to do; it never quotes a secret.
    """

    key: str
    message: str


@dataclass(frozen=True)
class WebhookRequest:
    """A delivery exactly as it was received: headers (case-insensitive) and raw body bytes."""

    platform: str
    store: str
    headers: httpx.Headers
    body: bytes
    received_at: datetime


@dataclass(frozen=True)
class SignedDelivery:
    """A delivery as the platform would send it, signature included: what `passerelle trigger`
    and `passerelle demo` post to ``/webhooks/{platform}/{store}``."""

    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class TranslationContext:
    """What `translate` may use besides the delivery: the store and an HTTP client for the
    platform's API (for bodies that carry only deltas)."""

    store: Store
    http: httpx.Client


@dataclass(frozen=True)
class Translation:
    """The events a delivery means, in the order they happened, or why it was ignored."""

    events: tuple[TranslatedEvent, ...] = ()
    ignored: str | None = None
    occurred_at: datetime | None = None
    """When the platform says the act happened; the receive time when None."""
    unless_money_held: str | None = None
    """With `ignored`: an order reference whose money a person must see to if the back end
    still holds some of it (authorized and not captured); the delivery then goes to the action
    center as ``money_held`` instead of being ignored (an order deleted on the platform)."""

    @classmethod
    def ignore(cls, reason: str, *, unless_money_held: str | None = None) -> Translation:
        """Nothing to apply, for `reason`; see `unless_money_held`."""
        return cls(ignored=reason, unless_money_held=unless_money_held)


@dataclass(frozen=True)
class Version:
    """The platform object a delivery reports on (e.g. ``fulfillment:123``) and the time of the
    state it reports. `as_of` must be time-zone aware."""

    subject: str
    as_of: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.subject, str) or not self.subject:
            raise ValueError("version subject must be a non-empty string")
        if not isinstance(self.as_of, datetime) or self.as_of.tzinfo is None:
            raise ValueError("version as_of must be a time-zone aware datetime")


class VerificationError(Exception):
    """The delivery is not authentic: a missing header (named) or a signature that matches no
    secret. The receiver answers 401 and stores nothing."""


class TranslationError(Exception):
    """An authentic delivery that cannot become events: the delivery goes to the action center
    with this message, under `code`.

    `field` names the offending field path (``refunds[0].amount``). `code` is
    ``unreadable_delivery`` by default; a platform that files an act it has no event for under
    a code of its own (Shopify's ``fulfillment_cancelled``) declares it in
    `WebhookPlatform.error_codes`, so that ``passerelle explain`` knows it.
    """

    def __init__(
        self, message: str, *, field: str | None = None, code: str = "unreadable_delivery"
    ) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        """The message without the field."""
        self.field = field
        self.code = code


class PlatformUnavailableError(Exception):
    """The platform's API could not answer now (unreachable, rate limited, 5xx): `translate`
    raises it for a call it makes to its platform. The dispatcher retries the delivery with
    backoff instead of filing it, waiting as long as `retry_after` asks (the ``Retry-After``
    value the platform sent: seconds or an HTTP date) when given.

    `passerelle.codes.is_transient_status` says which HTTP statuses call for it."""

    def __init__(self, message: str, *, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _model_problems(model: type[BaseModel] | None, store: Store) -> Sequence[StoreProblem]:
    """Each problem of `store`'s options against a platform's `options_model`; none without
    one."""
    if model is None:
        return ()
    return [StoreProblem(key, message) for key, message in option_problems(model, store.options)]


class WebhookPlatform(abc.ABC):
    """A platform that sends webhooks. Subclasses set `name` (the `{platform}` path segment)."""

    name: ClassVar[str]
    media_types: ClassVar[frozenset[str]] = frozenset({JSON_MEDIA_TYPE})
    """The content types the platform's deliveries come in; the receiver answers 415 to others
    (a ping, `is_ping`, is answered whatever its type)."""
    options_model: ClassVar[type[BaseModel] | None] = None
    """The store options the platform reads, as a pydantic model (secrets as `SecretStr`):
    `passerelle.store_options` validates, types and redacts them. None: free-form text."""
    error_codes: ClassVar[Sequence[ErrorCode]] = ()
    """The `TranslationError` codes the platform files deliveries under, beyond the core's."""
    attempt_headers: ClassVar[frozenset[str]] = frozenset()
    """Headers (lower case) whose values change from one delivery attempt of an act to the
    next (a retry's attempt id, its timestamp): the delivery key and the events must not
    depend on them, or a retry would be applied twice. The contract suite checks it."""
    origin_header: ClassVar[str | None] = None
    """The header naming the shop or site a delivery comes from, which `verify` checks against
    the store's configuration (Shopify's shop domain). The contract suite sends each sample
    naming another origin and requires a refusal."""

    @abc.abstractmethod
    def verify(self, request: WebhookRequest, store: Store) -> None:
        """Raise `VerificationError` unless `request` is authentic for `store`.

        Check the signature on `request.body` as received, in constant time, against every
        secret of the store; a store with no secret verifies nothing.
        """

    @abc.abstractmethod
    def delivery_key(self, request: WebhookRequest) -> str:
        """The de-duplication key: equal for every delivery of the same platform act."""

    @abc.abstractmethod
    def ordering_key(self, request: WebhookRequest) -> str | None:
        """The key deliveries are processed in order within (usually the order id), or None.

        Called before the delivery is stored, on a verified body that may still be malformed:
        must not raise.
        """

    @abc.abstractmethod
    def translate(self, request: WebhookRequest, context: TranslationContext) -> Translation:
        """The events `request` means; raise `TranslationError` for unreadable content."""

    def version(self, request: WebhookRequest) -> Version | None:
        """The object `request` reports on and the time of the state it reports; None (the
        default) when it reports no dated state.

        A delivery whose version is older than one already seen for the same subject (same
        platform and store) is stale: it is ignored, untranslated. An equal time is not stale.
        The version is recorded before translation, so a delivery that then fails still makes
        older ones stale. Give a version only for deliveries carrying the object's whole state,
        whose newest state is the one to act on; never for acts that each count (a refund).

        Called on a body that may be malformed: return None rather than raise (an exception
        sends the delivery to the action center as unreadable).
        """
        return None

    # Test deliveries: what `passerelle trigger`, `passerelle demo` and the contract suite use.

    delivery_acts: ClassVar[frozenset[str]] = frozenset()
    """The event kinds (``order_shipped``...) `signed_delivery` can build a delivery for."""

    def sign(self, body: bytes, secret: str) -> Mapping[str, str]:
        """The headers carrying the signature of `body` under `secret`, and only those, as the
        platform sends them: usually ``SIGNATURE.sign(body, secret)`` with the platform's
        `passerelle.plugin.HmacSignature`. The contract suite signs its samples with it.

        Raises `NotImplementedError` by default: a platform that cannot sign a test delivery
        cannot be triggered."""
        raise NotImplementedError(f"platform {self.name} provides no test signer")

    def signed_delivery(self, act: str, order: OrderCreate, store: Store) -> SignedDelivery:
        """A realistic delivery of `act` (one of `delivery_acts`) on `order`, as the platform
        would send it for `store`, signed with `sign` under the store's first secret.

        `order` is the order as created at checkout (its `reference` and line `reference`s are
        the platform's ids, numeric for most platforms); the delivery covers every line of it
        (a refund: one unit of its first line). Each call is a new act: fresh delivery and
        event ids. Raise `ValueError` naming the act for one not in `delivery_acts`."""
        raise ValueError(f"platform {self.name} cannot build a {act} delivery")

    def demo_scenarios(self, stack: ExitStack) -> Sequence[DemoScenario]:
        """The scenarios `passerelle demo` runs for this platform; none by default. What they
        need while they run (a local stand-in of the platform's API) is started on `stack`,
        which the demo closes once they are done."""
        return ()

    def is_ping(self, request: WebhookRequest) -> bool:
        """True for an unsigned liveness probe the platform expects a plain 200 for."""
        return False

    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        """Every problem with `store`'s configuration: a missing or malformed option, an id the
        platform cannot use. None (the default) when the platform needs nothing beyond secrets.

        `passerelle config check` reports each under the store's key (``stores[0].options.
        access_token: ...``) and fails. Look at `store` only: no network, no exception. `store`
        holds the secrets in clear: never quote them in a message.

        The default checks the options against `options_model` when the platform declares one.
        """
        return _model_problems(self.options_model, store)


class FilePlatform(abc.ABC):
    """A platform that hands over batch payment files."""

    name: ClassVar[str]
    options_model: ClassVar[type[BaseModel] | None] = None
    """The store options the platform reads, as for `WebhookPlatform.options_model`."""

    @abc.abstractmethod
    def read(self, data: bytes, *, filename: str) -> BatchFile:
        """Parse `data`; raise `passerelle.formats.FormatError` naming the line and position."""

    def recognises(self, filename: str) -> bool:
        """Whether `filename` (a bare name, or a path with POSIX or Windows separators) is a name
        the platform's files go by. True by default: the platform reads files of any name."""
        return True

    def read_for_store(self, data: bytes, *, filename: str, store: Store) -> BatchFile:
        """`read` for a file that came for `store`: a platform whose stores' options say what
        their files must carry (an originator, a currency, a format) checks it here and raises
        `TranslationError` naming the option. The default is `read`."""
        return self.read(data, filename=filename)

    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        """Every problem with `store`'s options, as `WebhookPlatform.check_store` says: by
        default, against `options_model` when the platform declares one."""
        return _model_problems(self.options_model, store)

    def demo_scenarios(self, stack: ExitStack) -> Sequence[FileDemoScenario]:
        """The scenarios `passerelle demo` runs for this platform; none by default (see
        `WebhookPlatform.demo_scenarios`). The demo gives the scenario's store its watched
        folder."""
        return ()


Platform = WebhookPlatform | FilePlatform
