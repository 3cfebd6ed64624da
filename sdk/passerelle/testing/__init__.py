"""Testing helpers for plugin authors: fixtures and the platform contract suites.

The contract suites (`WebhookPlatformContract`, see `passerelle.testing.contract`, and
`FilePlatformContract`, see `passerelle.testing.file_contract`) need pytest, hypothesis and
freezegun (``pip install -e '.[test]'`` in a clone); they are imported on first use, so the
pytest plugin this package installs loads without hypothesis.
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
    from passerelle.testing.file_contract import (
        FilePlatformContract,
        FileSample,
        FileVersion,
        MalformedFile,
        byte_edits,
    )

__all__ = [
    "AWKWARD_BODIES",
    "FilePlatformContract",
    "FileSample",
    "FileVersion",
    "MalformedFile",
    "Sample",
    "WebhookPlatformContract",
    "byte_edits",
    "malformed_bodies",
    "signed_request",
    "translation_context",
]

_FILE_CONTRACT = frozenset(
    {"FilePlatformContract", "FileSample", "FileVersion", "MalformedFile", "byte_edits"}
)
_CONTRACT = frozenset(__all__) - _FILE_CONTRACT


def __getattr__(name: str) -> Any:
    if name in _CONTRACT:
        return getattr(importlib.import_module("passerelle.testing.contract"), name)
    if name in _FILE_CONTRACT:
        return getattr(importlib.import_module("passerelle.testing.file_contract"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
