"""The options of a Shopify store in ``passerelle.toml``, typed, and what `passerelle config
check` says about them.

``shop_domain``
    The ``*.myshopify.com`` domain Shopify names in ``X-Shopify-Shop-Domain``; not needed when the
    store's id is that domain. Without it no delivery can be verified.
``access_token``
    An Admin API token with the ``read_orders`` scope: ``orders/edited`` carries only what
    changed, so the order is read from the Admin API.
``api_version`` (optional)
    ``YYYY-MM`` or ``unstable``: the Admin API version asked for when a delivery names none.
``api_base_url`` (optional)
    Where the Admin API is, instead of ``https://{shop_domain}`` (a proxy, a test server).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from pydantic import ConfigDict, SecretStr, field_validator

from passerelle.plugin import Store, StoreOptions, StoreOptionsError, StoreProblem

__all__ = ["ShopifyOptions", "extra_problems", "options_of", "shop_domain"]

_MYSHOPIFY: Final = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")
_VERSION: Final = re.compile(r"\d{4}-(0[1-9]|1[0-2])|unstable")


class ShopifyOptions(StoreOptions):
    """A Shopify store's options (see the module documentation); blank ones count as absent."""

    # Stores may carry options of other tools: they are not Shopify's concern.
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    shop_domain: str | None = None
    access_token: SecretStr | None = None
    api_version: str | None = None
    api_base_url: str | None = None

    @field_validator("shop_domain", "api_version", "api_base_url", "access_token", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("shop_domain")
    @classmethod
    def _myshopify(cls, value: str | None) -> str | None:
        if value is not None and not _MYSHOPIFY.fullmatch(value.lower()):
            raise ValueError(
                f"{value!r} is not a *.myshopify.com domain, the one Shopify sends in "
                "X-Shopify-Shop-Domain"
            )
        return None if value is None else value.lower()

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not _VERSION.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an Admin API version: use YYYY-MM (e.g. 2025-07) or unstable"
            )
        return value

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL")
        return value


def options_of(store: Store) -> ShopifyOptions:
    """`store`'s options, typed; `StoreOptionsError` names each malformed one."""
    return store.options_as(ShopifyOptions)


def shop_domain(store: Store) -> str | None:
    """The store's ``*.myshopify.com`` domain, lower case, or None when not configured: the
    ``shop_domain`` option, or else the store's id when that is itself such a domain.

    Raises `StoreOptionsError` when the options are malformed.
    """
    configured = options_of(store).shop_domain
    if configured is not None:
        return configured
    return store.id.lower() if _MYSHOPIFY.fullmatch(store.id.lower()) else None


def extra_problems(store: Store) -> list[StoreProblem]:
    """What the options model cannot tell alone: a missing shop domain (the store id may stand
    for it) and a missing access token (with what it is needed for)."""
    try:
        options = options_of(store)
    except StoreOptionsError:
        return []  # the model's own problems are reported
    problems = []
    if shop_domain(store) is None:
        problems.append(
            StoreProblem(
                "options.shop_domain",
                f"is missing and the store id {store.id!r} is not a *.myshopify.com domain: "
                "no delivery could be verified",
            )
        )
    if options.access_token is None:
        problems.append(
            StoreProblem(
                "options.access_token",
                "is missing: orders/edited is read from the Admin API, which needs a token "
                "with the read_orders scope",
            )
        )
    return problems
