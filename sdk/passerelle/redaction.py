"""Credentials kept out of whatever is printed or logged: every URL goes through `redact_url`.

A URL may carry credentials in its user info (``postgresql://user:password@host``, or a token as
the user name, ``https://ghp_token@host``) and in its query or fragment (``?sslpassword=...``,
``#access_token=...``). `redact_url` masks the user info whole and the value of every parameter
whose name `looks_secret`; nothing else changes, byte for byte. `redact_urls` does so for every
URL in a text.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

__all__ = [
    "MASK",
    "SECRET_NAME",
    "looks_secret",
    "password_in_url",
    "redact_url",
    "redact_urls",
]

MASK: Final = "***"
SECRET_NAME: Final = re.compile(
    r"token|secret|pass(word|wd)?$|pwd|key|credential|auth|signature|^sig$", re.IGNORECASE
)
"""What the name of a secret looks like: an option, a query parameter."""
_URL_IN_TEXT: Final = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")


def looks_secret(name: str) -> bool:
    """Whether `name` (an option or a query parameter) names a secret, by its look."""
    return SECRET_NAME.search(name) is not None


def redact_url(url: str) -> str:
    """`url` with its user info and the value of each secret-looking parameter of its query and
    fragment masked; the rest as it was, byte for byte. Text without ``://`` is returned as it
    is."""
    if "://" not in url:
        return url  # not a URL: an e-mail address keeps its user
    head, user_info, host, path, query, fragment = _split(url)
    if user_info is not None:
        host = f"{MASK}@{host}"
    query = query[:1] + _masked(query[1:])
    fragment = fragment[:1] + _masked(fragment[1:])
    return head + host + path + query + fragment


def redact_urls(text: str) -> str:
    """`text` (a message, an error) with every URL in it passed through `redact_url`."""
    return _URL_IN_TEXT.sub(_redact_found, text)


def _redact_found(found: re.Match[str]) -> str:
    # Punctuation after a URL in a sentence is the sentence's.
    url = found.group()
    kept = url.rstrip(".,;:!)]}")
    return redact_url(kept) + url[len(kept) :]


def password_in_url(url: str) -> bool:
    """Whether `url` holds a password or a secret-looking parameter (a user name alone does
    not count: a database user is seldom secret)."""
    if "://" not in url:
        return False
    _, user_info, _, _, query, fragment = _split(url)
    return (
        (user_info is not None and ":" in user_info)
        or _masked(query[1:]) != query[1:]
        or _masked(fragment[1:]) != fragment[1:]
    )


def _split(url: str) -> tuple[str, str | None, str, str, str, str]:
    """Of a URL: ``scheme://``, the user info (None without an '@'), the host and port, the path, then
    the query and the fragment each with its leading '?' or '#'."""
    scheme, sep, rest = url.partition("://")
    head = scheme + sep
    # The authority ends at the first '/', '?' or '#'; its user info at its last '@'.
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, rest = rest[:end], rest[end:]
    user_info, at, host = authority.rpartition("@")
    rest, hash_sign, fragment = rest.partition("#")
    path, question_mark, query = rest.partition("?")
    return (
        head,
        user_info if at else None,
        host,
        path,
        question_mark + query,
        hash_sign + fragment,
    )


def _masked(pairs: str) -> str:
    if "=" not in pairs:
        return pairs
    masked = []
    for pair in pairs.split("&"):
        name, sep, value = pair.partition("=")
        masked.append(f"{name}={MASK}" if sep and value and looks_secret(unquote(name)) else pair)
    return "&".join(masked)
