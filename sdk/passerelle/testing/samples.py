"""Samples and the requests made of them: what a plugin's own tests and the contract suite send.

A `Sample` is a delivery as the platform sends it, unsigned; `signed_request` makes the request
the receiver gets of it, and `translation_context` the context `translate` gets, with an HTTP
client that is offline unless one is given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx

from passerelle.checkout import Order
from passerelle.events import OrderEvent
from passerelle.platforms import Store, TranslationContext, WebhookPlatform, WebhookRequest
from passerelle.testing.golden import SUFFIX
from passerelle.testing.json_paths import with_changes

__all__ = [
    "OfflineError",
    "OfflineTransport",
    "Sample",
    "latin1",
    "signed_request",
    "translation_context",
]


@dataclass(frozen=True)
class Sample:
    """A delivery as the platform sends it, without its signature.

    `name` labels the tests run on it (``test_...[name]``); `body` is the raw body, byte for
    byte; `headers` are every header but those `WebhookPlatformContract.sign` adds.
    """

    name: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    order: Order | None = None
    """The order the delivery applies to, as the checkout created it (``POST /v1/orders``): the
    suite applies the translated events to it through the ledger."""
    before: tuple[OrderEvent, ...] = ()
    """Events applied to `order` before this delivery's (the shipment a return follows)."""
    versioned: bool = False
    """The delivery carries an object's dated state: `version` must give its `Version`."""
    newer_than: str | None = None
    """The name of a sample reporting an older state of the same object: its version must be
    older than this one's."""
    golden: Path | None = None
    """The file of the events the delivery must become (`passerelle.testing.golden`), usually
    `golden_path` of the sample's file; written by ``pytest --update-golden``."""
    refused: bool = False
    """The platform refuses the delivery with a `TranslationError`: its golden expectations
    hold the error's code, field and message."""
    variant_of: str | None = None
    """The name of the sample this one is a `variant` of: the malformed-body sweeps, which
    would only repeat the sample's, skip it."""

    def variant(
        self,
        label: str,
        changes: Mapping[str, object],
        *,
        refused: bool = False,
        order: Order | None = None,
        before: tuple[OrderEvent, ...] = (),
        versioned: bool | None = None,
    ) -> Sample:
        """This sample with the value at each field path of `changes` replaced
        (``{"line_items[0].quantity": 2}``; `passerelle.testing.json_paths.REMOVED` removes
        one, ``Added(value)`` adds one the sample lacks), the body written anew as JSON. It is named ``{name}#{label}`` (`label`: lower case, digits and ``-``), its golden
        expectations lie beside the sample's (``refunds_create.{label}.events.txt``); it applies
        to `order` after `before` when given, and is versioned as the sample unless told."""
        if not _LABEL.fullmatch(label):
            raise ValueError(f"variant label {label!r}: use lower case letters, digits and -")
        try:
            document = with_changes(json.loads(self.body), changes)
        except ValueError as exc:
            raise ValueError(f"{self.name} has {exc}: variant {label} cannot change it") from None
        golden = None
        if self.golden is not None:
            stem = self.golden.name.removesuffix(SUFFIX)
            if stem == self.golden.name:
                raise ValueError(f"{self.golden} does not end in {SUFFIX}: see golden_path")
            golden = self.golden.with_name(f"{stem}.{label}{SUFFIX}")
        return replace(
            self,
            name=f"{self.name}#{label}",
            body=json.dumps(document, ensure_ascii=False).encode(),
            golden=golden,
            refused=refused,
            order=order,
            before=before,
            versioned=self.versioned if versioned is None else versioned,
            newer_than=None,
            variant_of=self.variant_of or self.name,
        )


_LABEL: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class OfflineError(httpx.ConnectError):
    """What the suite's HTTP client raises: the suite makes no network calls."""


class OfflineTransport(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise OfflineError(
            f"the contract suite is offline: no answer for {request.method} {request.url}",
            request=request,
        )


def latin1(text: str | bytes) -> bytes:
    # HTTP header bytes are Latin-1, as the receiver decodes them.
    return text if isinstance(text, bytes) else text.encode("latin-1")


def signed_request(
    platform: WebhookPlatform,
    sample: Sample,
    sign: Callable[[bytes, str], Mapping[str, str]],
    secret: str,
    *,
    store: str = "main",
    body: bytes | None = None,
    received_at: datetime = datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
    lower_case: bool = False,
) -> WebhookRequest:
    """`sample` as the receiver gets it for `store`, signed by `sign` with `secret` (`sign` as
    `WebhookPlatformContract.sign`: the signature headers), with `body` in place of the
    sample's if given, header names lower-cased if `lower_case`."""
    content = sample.body if body is None else body
    headers = {**sample.headers, **sign(content, secret)}
    raw = [
        (latin1(name.lower() if lower_case else name), latin1(value))
        for name, value in headers.items()
    ]
    return WebhookRequest(
        platform=platform.name,
        store=store,
        headers=httpx.Headers(raw),
        body=content,
        received_at=received_at,
    )


def translation_context(store: Store, http: httpx.Client | None = None) -> TranslationContext:
    """The context `translate` gets for `store`; `http` is offline by default (every request
    raises `httpx.ConnectError`)."""
    return TranslationContext(
        store=store, http=http if http is not None else httpx.Client(transport=OfflineTransport())
    )
