"""Sign-in to the action-center page: a session cookie and the CSRF token of its forms.

Both are signed with the admin token's own secret, so nothing is kept on the server: every
process of a connector accepts the cookie another one issued, and removing or changing a token
in ``[[admin.tokens]]`` ends its sessions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from passerelle.connector.config import AdminToken

__all__ = ["COOKIE", "SESSION_TTL", "csrf_token", "csrf_valid", "issue", "verify"]

COOKIE: Final = "passerelle_session"
SESSION_TTL: Final = timedelta(hours=12)


def _mac(token: AdminToken, purpose: str, *parts: str) -> str:
    key = token.token.get_secret_value().encode()
    message = "\x00".join((purpose, *parts)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _name(token: AdminToken) -> str:
    return base64.urlsafe_b64encode(token.name.encode()).decode().rstrip("=")


def issue(token: AdminToken, now: datetime) -> str:
    """A session cookie value for `token`, valid for `SESSION_TTL` from `now`."""
    name = _name(token)
    expires = str(int((now + SESSION_TTL).timestamp()))
    return f"{name}.{expires}.{_mac(token, 'session', name, expires)}"


def verify(tokens: Iterable[AdminToken], value: str, now: datetime) -> AdminToken | None:
    """The token the session cookie `value` was issued for, while it is valid; else None."""
    name, _, rest = value.partition(".")
    expires, _, mac = rest.partition(".")
    if not expires.isdigit() or int(expires) <= now.timestamp():
        return None
    try:
        wanted = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    for token in tokens:
        if token.name == wanted and hmac.compare_digest(_mac(token, "session", name, expires), mac):
            return token
    return None


def csrf_token(token: AdminToken, session: str) -> str:
    """The token the forms of `session` carry: a page of another site cannot know it."""
    return _mac(token, "csrf", session)


def csrf_valid(token: AdminToken, session: str, presented: str) -> bool:
    """Whether `presented` is the CSRF token of `session`."""
    return hmac.compare_digest(csrf_token(token, session), presented)
