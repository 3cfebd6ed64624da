"""The CLI reference page, from the Typer app of `passerelle.cli`: every command and option."""

from __future__ import annotations

from typing import Any

import typer
import typer.main

from passerelle.cli import app
from sitegen.markdown import cell, code, prose, table

PATH = "reference/cli.md"


def page() -> str:
    """The page's Markdown."""
    root = typer.main.get_command(app)
    sections = [
        "# Command line",
        "Every command of `passerelle`, as `passerelle COMMAND --help` shows it. "
        "This page is generated from the command definitions at each build.",
    ]
    sections += _command(root, typer.Context(root, info_name="passerelle"), level=2)
    return "\n\n".join(sections) + "\n"


def _command(command: Any, ctx: typer.Context, level: int) -> list[str]:
    path = ctx.command_path
    out = [f"{'#' * level} `{path}`"]
    if command.help:
        out.append(prose(_unescape(command.help)))
    out.append(f"```console\n{command.get_usage(ctx)}\n```")
    rows = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or param.name == "help":
            continue
        term, text = record
        rows.append((cell(code(_unescape(term))), cell(_unescape(text))))
    if rows:
        out.append(table(("Option or argument", "Meaning"), rows))
    if hasattr(command, "list_commands"):
        names = command.list_commands(ctx)
        if names:
            listed = [
                (code(name), cell(_short_help(command.get_command(ctx, name)))) for name in names
            ]
            out.append(table(("Command", "What it does"), listed))
        for name in names:
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            out += _command(sub, typer.Context(sub, info_name=name, parent=ctx), level + 1)
    return out


def _short_help(command: Any) -> str:
    return _unescape(command.get_short_help_str(limit=300))


def _unescape(text: str) -> str:
    # Typer's help is rich markup, in which a literal "[" is written "\[".
    return text.replace("\\[", "[")
