"""The Passerelle plugin: registers `SagePlatform` (entry point ``sage`` of the group
``passerelle``)."""

from __future__ import annotations

from collections.abc import Callable

from passerelle.hookspecs import hookimpl
from passerelle.platforms import FilePlatform, WebhookPlatform
from passerelle_sage.platform import SagePlatform

__all__ = ["register_platforms", "requires_plugin_api"]

requires_plugin_api = ">=1.0,<2"
"""The versions of `passerelle.plugin` this plugin works with."""


@hookimpl
def register_platforms(register: Callable[[WebhookPlatform | FilePlatform], None]) -> None:
    register(SagePlatform())
