"""Testing helpers for plugin authors: fixtures and the platform contract suite.

The contract suite (`WebhookPlatformContract`, see `passerelle.testing.contract`) needs pytest,
hypothesis and freezegun (``pip install 'passerelle[test]'``); it is imported on first use, so the pytest
plugin this package installs loads without hypothesis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from passerelle.testing.contract import (
        AWKWARD_BODIES,
        Sample,
        WebhookPlatformContract,
        malformed_bodies,
        signed_request,
        translation_context,
    )

__all__ = [
    "AWKWARD_BODIES",
    "Sample",
    "WebhookPlatformContract",
    "malformed_bodies",
    "signed_request",
    "translation_context",
]

_CONTRACT = frozenset(__all__)


def __getattr__(name: str) -> Any:
    if name in _CONTRACT:
        return getattr(importlib.import_module("passerelle.testing.contract"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
