"""Path segments that may hold a slash or a percent sign: an order reference such as ``#1001/B``
travels as ``%231001%2FB``, and must reach the route as one segment.

Servers decode the path before routing, which turns ``%2F`` into a separator. `SegmentMiddleware`
routes API paths on the raw path instead, each segment decoded but with ``/`` and ``%`` kept
escaped; the ``segment`` convertor (``/{ref:segment}``) then decodes them in the parameter.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import unquote

from starlette.convertors import Convertor, register_url_convertor

from passerelle.sandbox.faults import ASGIApp, Receive, Scope, Send

__all__ = ["SEGMENT", "SegmentConvertor", "SegmentMiddleware"]

SEGMENT = "segment"
"""The convertor's name in a route: ``/{ref:segment}``; importing this module registers it."""


def _escape(segment: str) -> str:
    return segment.replace("%", "%25").replace("/", "%2F")


class SegmentConvertor(Convertor[str]):
    """One path segment, ``/`` and ``%`` included (see `SegmentMiddleware`)."""

    regex: ClassVar[str] = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return _escape(value)


register_url_convertor(SEGMENT, SegmentConvertor())


class SegmentMiddleware:
    """Routes ``/v1/`` requests on their raw path, so an escaped ``/`` stays in its segment."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw and str(scope["path"]).startswith("/v1/"):
            path = raw.decode("latin-1").partition("?")[0]
            scope = {**scope, "path": "/".join(_escape(unquote(s)) for s in path.split("/"))}
        await self.app(scope, receive, send)
