"""The error-code reference page, from the registry ``passerelle explain`` reads: the back end's
problem codes, the card declines, the connector's delivery codes and each platform's."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus

from passerelle.backend.explain_cli import platform_codes
from passerelle.backend.problems import DECLINES, PROBLEMS
from passerelle.codes import CONNECTOR_CODES, ErrorCode, retry_note
from sitegen.markdown import prose

PATH = "reference/codes.md"


def page() -> str:
    """The page's Markdown."""
    out = [
        "# Error codes",
        "Every code a delivery in the action center or an answer of the back end can carry, "
        "with what it means and what to do: what `passerelle explain CODE` prints. This page is "
        "generated from the same registry at each build.",
        "## Back-end problem codes",
        "The payment back end answers every error as an RFC 9457 problem "
        "(`application/problem+json`) with one of these codes.",
    ]
    for spec in PROBLEMS.values():
        retry = "retried automatically" if spec.retryable else "not retryable"
        out.append(f"### `{spec.code}`")
        out.append(
            f"**{prose(spec.title)}** HTTP {spec.status} {HTTPStatus(spec.status).phrase}, {retry}."
        )
        out += _meaning_and_action(spec.meaning, spec.action)
    out.append("## Card declines")
    out.append("The processor's message ids a `card_declined` problem may carry.")
    for decline in DECLINES.values():
        out.append(f"### Message {decline.message_id}: {prose(decline.processor_message)}")
        out.append(f"Decline code `{decline.decline_code}`.")
        out += _meaning_and_action(decline.meaning, decline.action)
    out.append("## Delivery codes of the connector")
    out.append("The codes the action center files a delivery under.")
    out += _delivery_codes(CONNECTOR_CODES.values())
    for platform, codes in sorted(platform_codes().items()):
        own = [code for code in codes if code.code not in CONNECTOR_CODES]
        if own:
            out.append(f"## Delivery codes of the `{platform}` platform")
            out += _delivery_codes(own)
    return "\n\n".join(out) + "\n"


def _delivery_codes(codes: Iterable[ErrorCode]) -> list[str]:
    out = []
    for code in codes:
        out.append(f"### `{code.code}`")
        out.append(f"**{prose(code.title)}** Delivery code, {retry_note(code)}.")
        out += _meaning_and_action(code.meaning, code.action)
    return out


def _meaning_and_action(meaning: str, action: str) -> list[str]:
    return [f"What it means: {prose(meaning)}", f"What to do: {prose(action)}"]
