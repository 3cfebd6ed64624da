"""`passerelle explain CODE`: what a problem code or a card decline message id means."""

from __future__ import annotations

from typing import Annotated

import typer

from passerelle.backend.problems import UnknownProblemCodeError, explain, known_codes

_LIST_HINT = "`passerelle explain --list` shows every known code"


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
        """Explain a back-end problem code or a processor decline message id, and what to do."""
        if list_codes:
            typer.echo(known_codes())
            return
        if code is None:
            typer.echo(f"error: give a problem code or a decline id; {_LIST_HINT}", err=True)
            raise typer.Exit(2)
        try:
            typer.echo(explain(code))
        except UnknownProblemCodeError as exc:
            typer.echo(f"error: {exc}; {_LIST_HINT}", err=True)
            raise typer.Exit(1) from None
