"""The options of a WooCommerce store in ``passerelle.toml``, typed.

``site_url``
    The site's address as WooCommerce sends it in ``X-WC-Webhook-Source``
    (``https://shop.example/``): deliveries naming another site are refused.
``consumer_key``, ``consumer_secret``
    A REST API key with **read** permission (WooCommerce → Settings → Advanced → REST API):
    a partial refund's lines and amounts are read from
    ``GET /wp-json/wc/v3/orders/{id}/refunds/{refund_id}``.
``auth_in_query`` (optional, ``false``)
    Send the key as ``consumer_key``/``consumer_secret`` query parameters instead of HTTP basic
    auth, for servers that drop the ``Authorization`` header.
``api_base_url`` (optional)
    Where the REST API is, instead of ``{site_url}/wp-json/wc/v3`` (a proxy, a test server).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator

from passerelle.plugin import StoreOptions

__all__ = ["WooCommerceOptions", "same_site"]


class WooCommerceOptions(StoreOptions):
    """A WooCommerce store's options (see the module documentation)."""

    site_url: str
    consumer_key: SecretStr
    consumer_secret: SecretStr
    auth_in_query: bool = False
    api_base_url: str | None = None

    @field_validator("site_url", "api_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("consumer_key", "consumer_secret")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be blank")
        return value

    @property
    def rest_base(self) -> str:
        """The REST API's base URL, without a trailing slash."""
        return self.api_base_url or f"{self.site_url}/wp-json/wc/v3"


def same_site(sent: str, configured: str) -> bool:
    """Whether the ``X-WC-Webhook-Source`` value `sent` names the site `configured`: scheme and
    host compared case-insensitively, a trailing slash ignored."""

    def canonical(url: str) -> tuple[str, str, str]:
        parts = urlsplit(url.strip())
        return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")

    return canonical(sent) == canonical(configured)
