"""The connector's configuration model: the sections of `passerelle.toml` and their rules.

`Settings.load()` reads it from the file and the environment, as
`passerelle.connector.config_sources` describes.

Secrets are `SecretStr`: they never appear in a repr, an error or `passerelle config check`.
A bad configuration raises `ConfigError`, which lists every problem with its key path
(`stores[1].secrets: at least one secret is required`).
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterator, Mapping
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from passerelle.backend.exchange import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    DEFAULT_TOTAL_TIMEOUT,
    base_url_problem,
    merchant_problem,
    token_problem,
)
from passerelle.batches import DEFAULT_CUTOFF, CutoffPolicy, StoreCutoffs
from passerelle.connector.config_sources import (
    CONFIG_ENV,
    ENV_DELIMITER,
    ENV_PREFIX,
    ConfigError,
    Problem,
    config_path,
    file_and_environment,
    read_settings,
)
from passerelle.connector.store import store_url_problem
from passerelle.connector.workers import DEFAULT_CONCURRENCY
from passerelle.platforms import Store
from passerelle.redaction import looks_secret, redact_url
from passerelle.serving import ClientLimits

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "AdminSettings",
    "AdminToken",
    "AlertSettings",
    "BackendSettings",
    "BatchSettings",
    "ConfigError",
    "DispatcherSettings",
    "Problem",
    "ReceiverSettings",
    "Settings",
    "SmtpSettings",
    "StorageSettings",
    "StoreSettings",
    "config_path",
    "redact_url",
]

MIN_ADMIN_TOKEN_LENGTH = 16
MASK = "********"


def _not_blank_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


_V = TypeVar("_V")


def _checked(value: _V, problem: str | None) -> _V:
    if problem is not None:
        raise ValueError(problem)
    return value


Secret = Annotated[SecretStr, AfterValidator(_not_blank_secret)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _platform_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", value):
        raise ValueError(
            "a platform name is lower case letters, digits, '-' and '_', starting with a letter"
        )
    return value


def _store_id(value: str) -> str:
    if not value or re.search(r"[/?#%\s]", value):
        raise ValueError("a store id is not empty and has no '/', '?', '#', '%' or spaces")
    return value


PlatformName = Annotated[str, AfterValidator(_platform_name)]
StoreId = Annotated[str, AfterValidator(_store_id)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class BackendSettings(_Section):
    """`[backend]`: where the payment back end is, who the connector is to it, and how long a
    call may take, in seconds: `connect_timeout` each connection attempt, `timeout` each read
    and write, `total_timeout` a whole call with its retries and the waits between them."""

    url: str
    token: Secret
    merchant: Text
    connect_timeout: Seconds = DEFAULT_CONNECT_TIMEOUT
    timeout: Seconds = DEFAULT_TIMEOUT
    total_timeout: Seconds = DEFAULT_TOTAL_TIMEOUT

    # The client's own checks: whatever `serve` would refuse, loading refuses in the same words.
    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _checked(value, base_url_problem(value))

    @field_validator("token")
    @classmethod
    def _header_token(cls, value: SecretStr) -> SecretStr:
        return _checked(value, token_problem(value.get_secret_value()))

    @field_validator("merchant")
    @classmethod
    def _header_merchant(cls, value: str) -> str:
        return _checked(value, merchant_problem(value))

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" else value


class StorageSettings(_Section):
    """`[store]`: the durable inbox, a SQLite file or a PostgreSQL database."""

    url: str = "sqlite:///passerelle.db"
    """A relative SQLite path is read from the configuration file's folder."""

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        return _checked(value, store_url_problem(value))

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield "url", self.redacted_url


class StoreSettings(_Section):
    """One `[[stores]]` entry: a merchant's store on a platform and its webhook secrets.

    Options whose name looks secret (token, secret, password, key, ...) are kept as `SecretStr`.
    """

    platform: PlatformName
    id: StoreId
    secrets: list[Secret] = Field(default_factory=list, validate_default=True)
    options: dict[str, str | SecretStr] = Field(default_factory=dict)
    cutoff: time | None = None
    """A file platform's store: the cutoff of its batches, in place of ``[batches]``'s."""
    cutoff_zone: ZoneInfo | None = None
    """A file platform's store: the time zone of its `cutoff`, in place of ``[batches]``'s."""

    @field_validator("secrets")
    @classmethod
    def _at_least_one(cls, value: list[SecretStr]) -> list[SecretStr]:
        if not value:
            raise ValueError("at least one secret is required")
        return value

    @field_validator("options", mode="before")
    @classmethod
    def _plain_values(cls, value: object) -> object:
        if not isinstance(value, Mapping):
            return value
        return {name: _option_text(name, item) for name, item in value.items()}

    @field_validator("options")
    @classmethod
    def _hide_secret_options(cls, value: dict[str, str | SecretStr]) -> dict[str, str | SecretStr]:
        return {
            name: SecretStr(item) if isinstance(item, str) and looks_secret(name) else item
            for name, item in value.items()
        }

    def to_store(self) -> Store:
        """The `Store` a platform plugin verifies and translates with (secrets revealed)."""
        return Store(
            platform=self.platform,
            id=self.id,
            secrets=tuple(self.secrets),
            options={
                name: item.get_secret_value() if isinstance(item, SecretStr) else item
                for name, item in self.options.items()
            },
        )


def _option_text(name: str, item: object) -> object:
    # TOML gives integers and booleans their own types; platforms read options as text.
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if not isinstance(item, str | SecretStr):
        raise ValueError(f"option {name!r} must be text, an integer or a boolean")
    return item


_DAY = 86_400.0
"""The longest lease or backoff, in seconds."""


class DispatcherSettings(_Section):
    """`[dispatcher]`: workers, the deliveries in flight, the lease a worker holds a delivery
    for, retries with backoff.

    `concurrency` is how many back-end calls may be in flight at once (default: 32, or one per
    worker when there are more). Durations are in seconds. `health_host` and `health_port` are where a ``--role dispatcher``
    process answers ``/healthz`` and ``/readyz`` (two dispatchers on one host need two ports).
    """

    workers: int = Field(default=4, ge=1, le=256)
    concurrency: int | None = Field(default=None, ge=1, le=1024)
    health_host: Text = "127.0.0.1"
    health_port: int = Field(default=8081, ge=1, le=65535)
    # Bounded, so that every time computed from them stays a date that can exist.
    lease: float = Field(default=60.0, gt=0, le=_DAY, allow_inf_nan=False)
    max_attempts: int = Field(default=10, ge=1, le=1_000_000)
    backoff_base: float = Field(default=1.0, gt=0, le=_DAY, allow_inf_nan=False)
    backoff_cap: float = Field(default=300.0, gt=0, le=_DAY, allow_inf_nan=False)

    @property
    def in_flight(self) -> int:
        """`concurrency`, or its default when unset."""
        if self.concurrency is None:
            return max(DEFAULT_CONCURRENCY, self.workers)
        return self.concurrency

    @model_validator(mode="after")
    def _concurrency_covers_workers(self) -> DispatcherSettings:
        if self.concurrency is not None and self.concurrency < self.workers:
            raise ValueError(
                f"concurrency ({self.concurrency}) must not be below workers ({self.workers}):"
                " each worker keeps one delivery in hand at least"
            )
        return self

    @model_validator(mode="after")
    def _cap_above_base(self) -> DispatcherSettings:
        if self.backoff_cap < self.backoff_base:
            raise ValueError(
                f"backoff_cap ({self.backoff_cap:g}) must not be below backoff_base "
                f"({self.backoff_base:g})"
            )
        return self


class ReceiverSettings(_Section):
    """`[receiver]`: where the webhook receiver listens, the largest body it accepts, and how
    slow and how many its clients may be (see `passerelle.serving`): headers within
    `header_timeout` seconds, the body within `body_timeout` seconds plus one per
    `body_min_rate` bytes, at most `max_connections` at once (default: what the open-file limit
    leaves room for)."""

    host: Text = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    header_timeout: Seconds = ClientLimits.header_timeout
    body_timeout: Seconds = ClientLimits.body_timeout
    body_min_rate: float = Field(default=ClientLimits.body_min_rate, gt=0, allow_inf_nan=False)
    max_connections: int | None = Field(default=None, ge=1)

    def client_limits(self) -> ClientLimits:
        """The limits the server applies to the receiver's clients."""
        return ClientLimits(
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            body_min_rate=self.body_min_rate,
            max_connections=self.max_connections,
        )


class BatchSettings(_Section):
    """`[batches]`: the daily cutoff after which a batch can no longer change, in `zone`; and
    how many seconds a file in a watched folder must stay unchanged before it is read."""

    cutoff: time = DEFAULT_CUTOFF.time
    zone: ZoneInfo = ZoneInfo(DEFAULT_CUTOFF.zone)
    settle: float = Field(default=2.0, gt=0, le=3600)

    def policy(self) -> CutoffPolicy:
        """The cutoff as the batch rules use it."""
        return CutoffPolicy(time=self.cutoff, zone=self.zone.key)


Access = Literal["read", "full"]


class AdminToken(_Section):
    """A token for the action-center API: `read` lists, `full` may also retry and dismiss."""

    name: Text
    token: Secret
    access: Access = "read"

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_ADMIN_TOKEN_LENGTH} characters")
        return value


class AdminSettings(_Section):
    """`[admin]`: the tokens the action-center API accepts (`[[admin.tokens]]`)."""

    tokens: list[AdminToken] = Field(default_factory=list)

    @field_validator("tokens")
    @classmethod
    def _distinct(cls, value: list[AdminToken]) -> list[AdminToken]:
        names: dict[str, int] = {}
        secrets: dict[str, int] = {}
        for index, token in enumerate(value):
            if token.name in names:
                raise ValueError(
                    f"tokens[{index}] has the same name as tokens[{names[token.name]}]"
                )
            if token.token.get_secret_value() in secrets:
                raise ValueError(
                    f"tokens[{index}] has the same token as "
                    f"tokens[{secrets[token.token.get_secret_value()]}]"
                )
            names[token.name] = index
            secrets[token.token.get_secret_value()] = index
        return value

    def access(self, presented: str) -> Access | None:
        """The access `presented` grants, compared in constant time; None if it is unknown."""
        granted: Access | None = None
        for token in self.tokens:
            # Compare against every token so timing does not tell which one matched.
            if hmac.compare_digest(token.token.get_secret_value().encode(), presented.encode()):
                granted = token.access
        return granted


class SmtpSettings(_Section):
    """`[alerts.smtp]`: the mail server the daily digest is sent through, with STARTTLS and a
    login. `ca_file` is a PEM bundle to trust instead of the system's (a private relay)."""

    host: Text
    port: int = Field(default=587, ge=1, le=65535)
    username: Text | None = None
    password: Secret | None = None
    sender: Text
    recipients: list[Text] = Field(min_length=1)
    starttls: bool = True
    ca_file: Path | None = None
    timeout: Seconds = 10.0

    @model_validator(mode="after")
    def _login_is_whole(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: give both or neither")
        return self


class AlertSettings(_Section):
    """`[alerts]`: the daily digest e-mail and the alert webhooks. Durations are in seconds.

    The digest goes out every day at `digest_at` in `zone` (none without it); it lists the
    failures of the day before by code and store and what is still deferred after
    `deferred_age`. Each URL of `webhooks` gets a JSON POST with a Slack-compatible `text` when
    a delivery fails and when the oldest waiting delivery is older than `backlog_age`, at most
    one of each kind per `min_interval`. `page_url` is the action center the messages link to
    (default: the receiver's address).
    """

    zone: ZoneInfo = ZoneInfo("UTC")
    digest_at: time | None = None
    deferred_age: Seconds = 3600.0
    page_url: str | None = None
    smtp: SmtpSettings | None = None
    webhooks: list[Secret] = Field(default_factory=list)
    backlog_age: Seconds | None = None
    min_interval: Seconds = 300.0
    check_every: Seconds = 30.0

    @field_validator("page_url")
    @classmethod
    def _page_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("webhooks")
    @classmethod
    def _webhook_urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for index, url in enumerate(value):
            if not url.get_secret_value().startswith(("http://", "https://")):
                raise ValueError(f"webhooks[{index}] must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _digest_needs_smtp(self) -> AlertSettings:
        if self.digest_at is not None and self.smtp is None:
            raise ValueError("digest_at needs an [alerts.smtp] section to send the digest")
        return self

    @property
    def enabled(self) -> bool:
        """Whether anything is to be sent at all."""
        return self.digest_at is not None or bool(self.webhooks)


class Settings(BaseSettings):
    """The whole connector configuration. Load it with `Settings.load()`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, extra="forbid", frozen=True
    )

    backend: BackendSettings
    store: StorageSettings = StorageSettings()
    stores: list[StoreSettings] = Field(default_factory=list)
    dispatcher: DispatcherSettings = DispatcherSettings()
    receiver: ReceiverSettings = ReceiverSettings()
    batches: BatchSettings = BatchSettings()
    admin: AdminSettings = AdminSettings()
    alerts: AlertSettings = AlertSettings()

    @field_validator("stores")
    @classmethod
    def _distinct_stores(cls, value: list[StoreSettings]) -> list[StoreSettings]:
        seen: dict[tuple[str, str], int] = {}
        for index, store in enumerate(value):
            key = (store.platform, store.id)
            if key in seen:
                raise ValueError(
                    f"stores[{index}] repeats stores[{seen[key]}] "
                    f"(platform {store.platform!r}, id {store.id!r})"
                )
            seen[key] = index
        return value

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Settings:
        """Read the file (see `config_path`) and the environment; raise `ConfigError`."""
        settings, file = read_settings(cls, path)
        return settings._with_store_beside(file)

    def _with_store_beside(self, path: Path) -> Settings:
        # A relative SQLite path names a file beside the configuration, wherever the command
        # runs from: `passerelle actions list -c /etc/passerelle/passerelle.toml` must read the
        # inbox that `serve` writes, not start an empty one in the current directory.
        relative = self.store.url[len("sqlite:///") :]
        if not self.store.url.startswith("sqlite:///") or relative.startswith("/"):
            return self
        beside = Path(os.path.abspath(path)).parent / relative
        return self.model_copy(update={"store": StorageSettings(url=f"sqlite:///{beside}")})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, file_and_environment(settings_cls)

    def stores_by_key(self) -> dict[tuple[str, str], Store]:
        """Every declared store as `{(platform, store id): Store}`."""
        return {(entry.platform, entry.id): entry.to_store() for entry in self.stores}

    def cutoffs(self) -> StoreCutoffs:
        """Each store's batch cutoff: ``[batches]``'s, or the store's own where it sets one."""
        default = self.batches.policy()
        return StoreCutoffs(
            default=default,
            stores={
                (entry.platform, entry.id): CutoffPolicy(
                    time=entry.cutoff or default.time,
                    zone=entry.cutoff_zone.key if entry.cutoff_zone else default.zone,
                )
                for entry in self.stores
                if entry.cutoff is not None or entry.cutoff_zone is not None
            },
        )
