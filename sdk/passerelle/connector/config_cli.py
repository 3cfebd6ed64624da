"""`passerelle config check`: validate the configuration and show it with its secrets hidden."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import SecretStr

from passerelle.connector.config import MASK, Settings, redact_url
from passerelle.connector.config_checks import secrets_in_file, store_problems
from passerelle.connector.config_sources import ConfigError, Problem, config_path
from passerelle.connector.startup import StartupError, check_backend, probe_store
from passerelle.platforms import Platform
from passerelle.plugins import IncompatiblePluginError, PluginError, default_plugins
from passerelle.redaction import redact_urls
from passerelle.store_options import secret_option_names

__all__ = ["config_app", "installed_platforms", "register", "summary"]

config_app = typer.Typer(
    name="config",
    help="Check the connector's configuration (passerelle.toml and PASSERELLE_* variables).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def register(app: typer.Typer) -> None:
    """Add the `config` command group to `app`."""
    app.add_typer(config_app, name="config")


def installed_platforms() -> Mapping[str, Platform] | None:
    """The platforms installed plugins register, by name, or None when they cannot be loaded.

    A plugin made for another plugin API version is an error (exit 1): `serve` would refuse it.
    """
    try:
        return default_plugins().platforms()
    except IncompatiblePluginError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except PluginError as exc:
        typer.echo(f"warning: platform names not checked: {exc}", err=True)
        return None


@config_app.command("check")
def check(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="The configuration file \\[default: $PASSERELLE_CONFIG, else ./passerelle.toml].",
            dir_okay=False,
        ),
    ] = None,
    connect: Annotated[
        bool,
        typer.Option(
            "--connect",
            help="Also try the store and the back end, changing nothing; exit 2 if one fails.",
        ),
    ] = False,
) -> None:
    """Validate the configuration, and each store's options with its platform's plugin: every
    problem is listed with its key and the command exits with status 1; otherwise print a
    summary with secrets hidden. A store's platform must be installed. Warn about secrets written
    in the file rather than given by the environment. With --connect, also try the store and
    the back end: one that does not answer is one line and exit 2."""
    source = config_path(config)
    try:
        settings = Settings.load(config)
    except ConfigError as exc:
        _fail(source, exc.problems)
    installed = installed_platforms()
    for warning in secrets_in_file(source):
        typer.echo(f"warning: {warning}", err=True)
    if installed is not None:
        problems = store_problems(settings, installed)
        if problems:
            _fail(source, problems)
    shown = source if source.is_file() else f"{source} (absent: environment only)"
    typer.echo(f"{shown}: OK")
    for line in summary(settings, installed or {}):
        typer.echo(line)
    if connect:
        _try_connections(settings)


def _try_connections(settings: Settings) -> None:
    try:
        store = probe_store(settings.store.url)
        check_backend(settings.backend)
    except StartupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"connected   store {store}; back end accepts connections")


def _fail(source: Path, problems: Iterable[Problem]) -> NoReturn:
    problems = list(problems)
    count = len(problems)
    typer.echo(f"{source}: {count} problem{'s' if count != 1 else ''}", err=True)
    for problem in problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


def summary(settings: Settings, platforms: Mapping[str, Platform] | None = None) -> list[str]:
    """The configuration as lines for a terminal; every secret is masked."""
    backend = settings.backend
    dispatcher = settings.dispatcher
    receiver = settings.receiver
    batches = settings.batches
    lines = [
        f"backend     {redact_url(backend.url)} as merchant {backend.merchant}, token {MASK}; "
        f"timeouts connect {backend.connect_timeout:g} s, read/write {backend.timeout:g} s, "
        f"call {backend.total_timeout:g} s",
        f"store       {settings.store.redacted_url}",
        f"receiver    http://{receiver.host}:{receiver.port}, "
        f"bodies up to {receiver.max_body_bytes} bytes",
        f"clients     headers within {receiver.header_timeout:g} s, bodies within "
        f"{receiver.body_timeout:g} s + 1 s per {receiver.body_min_rate:g} bytes, "
        + (
            f"{receiver.max_connections} connections at most"
            if receiver.max_connections is not None
            else "connections as many as the open-file limit allows"
        ),
        f"dispatcher  {dispatcher.workers} workers, {dispatcher.in_flight} calls in flight,"
        f" lease {dispatcher.lease:g} s, "
        f"{dispatcher.max_attempts} attempts, backoff {dispatcher.backoff_base:g} s "
        f"to {dispatcher.backoff_cap:g} s, "
        f"health checks on http://{dispatcher.health_host}:{dispatcher.health_port}",
        f"batches     cutoff {batches.cutoff.isoformat('minutes')} {batches.zone.key}",
        f"stores      {len(settings.stores)}",
    ]
    for store in settings.stores:
        secrets = len(store.secrets)
        # The platform says which options are secrets; names that look secret are masked too.
        declared = _secret_options((platforms or {}).get(store.platform))
        options = ", ".join(
            f"{name}="
            f"{MASK if isinstance(value, SecretStr) or name in declared else redact_urls(value)}"
            for name, value in sorted(store.options.items())
        )
        line = f"  {store.platform} {store.id}: {secrets} secret{'s' if secrets != 1 else ''}"
        lines.append(f"{line}; options {options}" if options else line)
    tokens = ", ".join(f"{token.name} ({token.access})" for token in settings.admin.tokens)
    lines.append(f"admin       {tokens or 'no tokens'}")
    return lines


def _secret_options(platform: Platform | None) -> frozenset[str]:
    model = getattr(platform, "options_model", None)
    return secret_option_names(model) if model is not None else frozenset()
