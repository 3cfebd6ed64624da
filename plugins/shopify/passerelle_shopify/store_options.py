"""The options of a Shopify store in ``passerelle.toml``, and what `passerelle config check`
says about them.

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
from urllib.parse import urlsplit

from passerelle.platforms import Store, StoreProblem
from passerelle_shopify.verify import shop_domain

__all__ = ["check_store"]

_MYSHOPIFY = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")
_VERSION = re.compile(r"\d{4}-(0[1-9]|1[0-2])|unstable")


def check_store(store: Store) -> list[StoreProblem]:
    """Every problem with `store`'s options (see the module documentation); never quotes one."""
    problems = []
    configured = store.options.get("shop_domain", "").strip()
    if configured and not _MYSHOPIFY.fullmatch(configured.lower()):
        problems.append(
            StoreProblem(
                "options.shop_domain",
                f"{configured!r} is not a *.myshopify.com domain, the one Shopify sends in "
                "X-Shopify-Shop-Domain",
            )
        )
    elif shop_domain(store) is None:
        problems.append(
            StoreProblem(
                "options.shop_domain",
                f"is missing and the store id {store.id!r} is not a *.myshopify.com domain: "
                "no delivery could be verified",
            )
        )
    if not store.options.get("access_token", "").strip():
        problems.append(
            StoreProblem(
                "options.access_token",
                "is missing: orders/edited is read from the Admin API, which needs a token "
                "with the read_orders scope",
            )
        )
    version = store.options.get("api_version", "").strip()
    if version and not _VERSION.fullmatch(version):
        problems.append(
            StoreProblem(
                "options.api_version",
                f"{version!r} is not an Admin API version: use YYYY-MM (e.g. 2025-07) or unstable",
            )
        )
    base = store.options.get("api_base_url", "").strip()
    if base:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(
                StoreProblem("options.api_base_url", "must be an http:// or https:// URL")
            )
    return problems
