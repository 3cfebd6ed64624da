"""``passerelle sandbox``: serve the reference payment back end on a port."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from passerelle.sandbox.clock import SandboxClock
from passerelle.sandbox.faults import Faults
from passerelle.sandbox.orders_cli import orders_app
from passerelle.sandbox.server import SandboxStartError, run_sandbox
from passerelle.sandbox.state import DEFAULT_MERCHANT, DEFAULT_TOKEN, SandboxConfig
from passerelle.serving import raise_file_limit

__all__ = ["main", "parse_tokens", "register", "sandbox_command"]


def parse_tokens(pairs: list[str]) -> dict[str, str]:
    """``TOKEN=MERCHANT`` pairs as a mapping; `typer.BadParameter` names a malformed one."""
    tokens: dict[str, str] = {}
    for i, pair in enumerate(pairs, start=1):
        token, sep, merchant = pair.partition("=")
        if not sep or not token.strip() or not merchant.strip():
            raise typer.BadParameter(
                f"--token number {i} is not TOKEN=MERCHANT", param_hint="--token"
            )
        if token.strip() in tokens:
            raise typer.BadParameter(f"--token number {i} repeats a token", param_hint="--token")
        tokens[token.strip()] = merchant.strip()
    return tokens


def _fault_option(help_text: str) -> object:
    return typer.Option(min=0.0, max=1.0, help=help_text, rich_help_panel="Fault injection")


def sandbox_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8765,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", dir_okay=False, help="SQLite file to keep the state in; memory if not given."
        ),
    ] = None,
    token: Annotated[
        list[str] | None,
        typer.Option(
            "--token",
            metavar="TOKEN=MERCHANT",
            envvar="PASSERELLE_SANDBOX_TOKENS",
            help=f"Accept TOKEN for MERCHANT (repeatable). Default: {DEFAULT_TOKEN}={DEFAULT_MERCHANT}.",
        ),
    ] = None,
    admin_token: Annotated[
        str | None,
        typer.Option(
            envvar="PASSERELLE_SANDBOX_ADMIN_TOKEN",
            help="Enable the /_sandbox/ admin API (clock, faults) for this bearer token.",
        ),
    ] = None,
    clock: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"],
            help="Start with the clock stopped at this time (ISO 8601 with offset).",
        ),
    ] = None,
    fault_latency: Annotated[
        int,
        typer.Option(
            min=0,
            max=60_000,
            help="Added latency per request, ms.",
            rich_help_panel="Fault injection",
        ),
    ] = 0,
    fault_error_rate: Annotated[float, _fault_option("Rate of 500 internal_error answers.")] = 0.0,
    fault_throttle_rate: Annotated[float, _fault_option("Rate of 429 rate_limited answers.")] = 0.0,
    fault_retry_after: Annotated[
        int,
        typer.Option(
            min=0, max=3600, help="Retry-After of a 429, s.", rich_help_panel="Fault injection"
        ),
    ] = 1,
    fault_drop_rate: Annotated[
        float, _fault_option("Rate of connections closed without an answer, before any change.")
    ] = 0.0,
    fault_lost_response_rate: Annotated[
        float, _fault_option("Rate of requests carried out whose answer is then lost.")
    ] = 0.0,
    fault_seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the fault draws, for repeatable runs.", rich_help_panel="Fault injection"
        ),
    ] = None,
    fault_limit: Annotated[
        int | None,
        typer.Option(
            min=0, help="Inject at most this many faults.", rich_help_panel="Fault injection"
        ),
    ] = None,
) -> None:
    """Serve the sandbox payment back end: the real API, rules and idempotency, no credentials.

    `passerelle sandbox orders create` makes an order at a running one."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        faults = Faults(
            latency_ms=fault_latency,
            error_rate=fault_error_rate,
            throttle_rate=fault_throttle_rate,
            retry_after=fault_retry_after,
            drop_rate=fault_drop_rate,
            lost_response_rate=fault_lost_response_rate,
            seed=fault_seed,
            limit=fault_limit,
        )
    except ValidationError as exc:
        message = exc.errors()[0].get("ctx", {}).get("error", exc.errors()[0]["msg"])
        raise typer.BadParameter(str(message), param_hint="--fault-*") from None
    sandbox_clock = SandboxClock()
    if clock is not None:
        if clock.tzinfo is None:
            raise typer.BadParameter("give the time with its UTC offset", param_hint="--clock")
        sandbox_clock.set(clock)
    tokens = parse_tokens(token or []) or {DEFAULT_TOKEN: DEFAULT_MERCHANT}
    config = SandboxConfig(
        tokens=tokens, db=db, clock=sandbox_clock, faults=faults, admin_token=admin_token
    )
    merchants = ", ".join(sorted(set(tokens.values())))
    files = raise_file_limit()

    def announce(url: str) -> None:
        typer.echo(f"Sandbox payment back end on {url} for merchants: {merchants}")
        if token is None:
            typer.echo(f"Demo credentials: token {DEFAULT_TOKEN}, merchant {DEFAULT_MERCHANT}")
        typer.echo(f"State: {db if db is not None else 'in memory (gone on exit)'}")
        if faults.enabled:
            typer.echo(f"Faults: {faults.model_dump_json(exclude_defaults=True)}")
        if files is not None:
            typer.echo(f"Open-file limit: soft {files[1]} (was {files[0]}), hard {files[2]}")

    try:
        run_sandbox(config, host=host, port=port, ready=announce)
    except SandboxStartError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add ``sandbox`` (and ``sandbox orders``) to the ``passerelle`` command."""
    sandbox_app = typer.Typer(
        invoke_without_command=True, add_completion=False, pretty_exceptions_show_locals=False
    )
    sandbox_app.callback()(sandbox_command)
    sandbox_app.add_typer(orders_app, name="orders")
    app.add_typer(sandbox_app, name="sandbox")


def main() -> None:
    """``python -m passerelle.sandbox.cli``: the same command without the ``passerelle`` CLI."""
    typer.run(sandbox_command)


if __name__ == "__main__":
    main()
