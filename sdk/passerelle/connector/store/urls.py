"""Store URLs as they may be shown: without a password."""

from __future__ import annotations

import re

__all__ = ["redact_url"]


def redact_url(url: str) -> str:
    """`url` with the password of its user info masked."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
