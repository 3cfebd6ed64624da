"""Calling a platform's own API from `translate`: what fails for now is retried, not filed.

`platform_get` sends one GET and turns what may succeed later (unreachable, 408, 429, 5xx, as
`passerelle.codes.is_transient_status` says) into `PlatformUnavailableError` with the
``Retry-After`` the platform sent; the dispatcher retries the delivery with backoff. Any other
answer is returned for the plugin to judge (401, 404 are its own to explain).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from passerelle.codes import is_transient_status
from passerelle.platforms import PlatformUnavailableError

__all__ = ["platform_get"]


def platform_get(
    http: httpx.Client,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> httpx.Response:
    """GET `url`; `what` names the call in errors (``"the REST API reading refund 7"``)."""
    try:
        response = http.get(url, headers=headers, params=params, auth=auth)
    except httpx.TransportError as exc:
        raise PlatformUnavailableError(
            f"{what}: could not be reached: {type(exc).__name__}: {exc}"
        ) from exc
    if is_transient_status(response.status_code):
        raise PlatformUnavailableError(
            f"{what}: HTTP {response.status_code}",
            retry_after=response.headers.get("Retry-After"),
        )
    return response
