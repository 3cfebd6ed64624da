"""`passerelle explain CODE`: what a problem code, a delivery code or a card decline message id
means."""

from __future__ import annotations

from typing import Annotated

import typer

from passerelle.backend.problems import UnknownProblemCodeError, explain, known_codes
from passerelle.codes import ErrorCode, describe, merged
from passerelle.platforms import WebhookPlatform
from passerelle.plugins import PluginError, default_plugins

_LIST_HINT = "`passerelle explain --list` shows every known code"


def platform_codes() -> dict[str, tuple[ErrorCode, ...]]:
    """The delivery codes each installed webhook platform adds, by platform name."""
    try:
        platforms = default_plugins().platforms()
    except PluginError:
        platforms = {}
    return {
        name: tuple(platform.error_codes)
        for name, platform in platforms.items()
        if isinstance(platform, WebhookPlatform) and platform.error_codes
    }


def delivery_codes() -> dict[str, ErrorCode]:
    """The connector's delivery codes and those of every installed platform plugin."""
    return merged(code for codes in platform_codes().values() for code in codes)


def register(app: typer.Typer) -> None:
    @app.command("explain")
    def explain_command(
        code: Annotated[
            str | None,
            typer.Argument(help="A problem code (refund_exceeds_captured) or a decline id (7)."),
        ] = None,
        list_codes: Annotated[
            bool, typer.Option("--list", help="List every problem code and decline id.")
        ] = False,
    ) -> None:
        """Explain a back-end problem code, a delivery code of the action center or a processor
        decline message id, and what to do."""
        codes = delivery_codes()
        if list_codes:
            typer.echo(known_codes())
            width = max(map(len, codes))
            typer.echo("\nDelivery codes (action center):")
            typer.echo("\n".join(f"{c.code:<{width}}  {c.title}" for c in codes.values()))
            return
        if code is None:
            typer.echo(f"error: give a problem code or a decline id; {_LIST_HINT}", err=True)
            raise typer.Exit(2)
        delivery = codes.get(code.strip().lower())
        if delivery is not None:
            typer.echo(describe(delivery))
            return
        try:
            typer.echo(explain(code))
        except UnknownProblemCodeError as exc:
            typer.echo(f"error: {exc}; {_LIST_HINT}", err=True)
            raise typer.Exit(1) from None
