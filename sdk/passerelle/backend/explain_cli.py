"""`passerelle explain CODE`: what a problem code or a card decline message id means."""

from __future__ import annotations

from typing import Annotated

import typer

from passerelle.backend.problems import UnknownProblemCodeError, explain


def register(app: typer.Typer) -> None:
    @app.command("explain")
    def explain_command(
        code: Annotated[
            str,
            typer.Argument(help="A problem code (refund_exceeds_captured) or a decline id (7)."),
        ],
    ) -> None:
        """Explain a back-end problem code or a processor decline message id, and what to do."""
        try:
            typer.echo(explain(code))
        except UnknownProblemCodeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
