"""The ``passerelle`` command.

This module holds the root command (``--version``) and ``plugins``. Every other command lives in
its own small module that defines

    def register(app: typer.Typer) -> None:
        app.command("explain")(explain)              # a single command, or
        app.add_typer(actions_app, name="actions")   # a group of sub-commands

and is named in `COMMAND_MODULES`, which adds it to `app` when this module is imported.
"""

from __future__ import annotations

import importlib
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperOption

from passerelle._version import __version__
from passerelle.plugins import PluginError, PluginInfo, default_plugins

__all__ = ["COMMAND_MODULES", "app", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "passerelle.demo",
    "passerelle.connector.serve_cli",
    "passerelle.sandbox.cli",
    "passerelle.connector.actions_cli",
    "passerelle.connector.trigger_cli",
    "passerelle.connector.status_cli",
    "passerelle.connector.batch_cli",
    "passerelle.connector.config_cli",
    "passerelle.backend.explain_cli",
    "passerelle.template",
)
"""Modules whose ``register(app)`` adds their commands, in the order they are listed in help."""

app = typer.Typer(
    name="passerelle",
    help="Connect e-commerce platforms to the payment back end: nothing lost, nothing doubled.",
    no_args_is_help=True,
    add_completion=False,
    # Locals of a failing frame may hold store secrets or API tokens.
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"passerelle {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Connect e-commerce platforms to the payment back end: nothing lost, nothing doubled."""


@app.command("plugins")
def plugins_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array, one object per plugin.")
    ] = False,
) -> None:
    """List the installed plugins that load.

    Installed plugins are those of the entry-point group "passerelle" that
    PASSERELLE_LOAD_PLUGINS and PASSERELLE_DISABLE_PLUGINS allow. The back-end
    plugin is not among them: `passerelle serve` registers it with the
    configured back-end client. A plugin whose requires_plugin_api range
    excludes this plugin API version is refused, in one line, with exit
    status 1.
    """
    try:
        infos = default_plugins().list_plugins()
    except PluginError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps([info.as_json() for info in infos], indent=2))
        return
    _print_table(infos)


def _print_table(infos: list[PluginInfo]) -> None:
    console = Console()
    if not infos:
        console.print("No plugins.")
        return
    table = Table()
    for column in ("Name", "Distribution", "Version", "Plugin API", "Platforms", "Hooks"):
        # A narrow terminal folds a long name rather than cutting it short.
        table.add_column(column, overflow="fold")
    for info in infos:
        table.add_row(
            info.name,
            info.distribution,
            info.version,
            info.plugin_api or "any",
            ", ".join(info.platforms),
            ", ".join(info.hooks),
        )
    console.print(table)


_display_type_rich = TyperOption.display_type_rich


def _no_type_for_flags(option: TyperOption, ctx: Any) -> str | None:
    # Typer labels a flag's type "<bool>" in help, as if it took a value; a flag takes none.
    return None if option.is_flag else _display_type_rich(option, ctx)


TyperOption.display_type_rich = _no_type_for_flags  # type: ignore[method-assign,assignment]


def _add_commands() -> None:
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)


_add_commands()


def main() -> None:
    """The console script's entry point."""
    app(prog_name="passerelle")
