"""`passerelle config check --connect`: the store and the back end tried for real, nothing
changed; one that does not answer is one line and exit status 2."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from passerelle.cli import app
from passerelle.connector.store import open_store
from passerelle.connector.store.migrations import migrations


@pytest.fixture
def backend() -> Iterator[str]:
    """A back end address that accepts connections."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config(folder: Path, backend_url: str, store_url: str) -> Path:
    path = folder / "passerelle.toml"
    path.write_text(
        f'[backend]\nurl = "{backend_url}"\nmerchant = "m-42"\n\n[store]\nurl = "{store_url}"\n',
        encoding="utf-8",
    )
    return path


def check_connect(path: Path) -> Result:
    return CliRunner().invoke(
        app,
        ["config", "check", "--connect", "-c", str(path)],
        env={"PASSERELLE_BACKEND__TOKEN": "backend-token-0123456789"},
    )


@pytest.mark.usefixtures("clean_environment")
def test_a_store_not_made_yet_is_fine_and_not_made(tmp_path: Path, backend: str) -> None:
    inbox = tmp_path / "inbox.db"

    result = check_connect(config(tmp_path, backend, f"sqlite:///{inbox}"))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "connected   store not made yet; serve will create it; back end accepts connections"
    )
    assert not inbox.exists()


@pytest.mark.usefixtures("clean_environment")
def test_an_existing_store_opens(tmp_path: Path, backend: str) -> None:
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    open_store(url).close()

    result = check_connect(config(tmp_path, backend, url))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("connected   store opens;")


@pytest.mark.postgres
@pytest.mark.usefixtures("clean_environment")
def test_a_postgresql_store_answers(tmp_path: Path, backend: str, postgres_store_url: str) -> None:
    result = check_connect(config(tmp_path, backend, postgres_store_url))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("connected   store answers;")


@pytest.mark.usefixtures("clean_environment")
def test_an_unreachable_postgresql_is_one_line(
    tmp_path: Path, backend: str, closed_port: int
) -> None:
    url = f"postgresql://passerelle:hunter2-secret@127.0.0.1:{closed_port}/inbox"

    result = check_connect(config(tmp_path, backend, url))

    assert result.exit_code == 2
    # The password written in the file is warned about first.
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert line.startswith(
        f"error: store: cannot reach PostgreSQL at postgresql://***@127.0.0.1:{closed_port}/inbox: "
    )
    assert "hunter2-secret" not in result.output


@pytest.mark.usefixtures("clean_environment")
def test_a_store_in_a_missing_folder_is_one_line(tmp_path: Path, backend: str) -> None:
    inbox = tmp_path / "gone" / "inbox.db"

    result = check_connect(config(tmp_path, backend, f"sqlite:///{inbox}"))

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: store: cannot open the SQLite file {inbox}: the folder {inbox.parent} does not"
        " exist\n"
    )


@pytest.mark.usefixtures("clean_environment")
def test_an_unreachable_back_end_is_one_line(tmp_path: Path, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"

    result = check_connect(config(tmp_path, url, f"sqlite:///{tmp_path / 'inbox.db'}"))

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: back end: cannot connect to {url} (127.0.0.1 port {closed_port}):"
        " Connection refused\n"
    )


@pytest.mark.usefixtures("clean_environment")
def test_a_sqlite_store_a_newer_passerelle_migrated_is_refused(
    tmp_path: Path, backend: str
) -> None:
    inbox = tmp_path / "inbox.db"
    open_store(f"sqlite:///{inbox}").close()
    known = len(migrations("sqlite"))
    with contextlib.closing(sqlite3.connect(inbox)) as db, db:
        db.execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, 0)",
            (known + 1, "from_a_newer_passerelle"),
        )

    result = check_connect(config(tmp_path, backend, f"sqlite:///{inbox}"))

    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"error: store: SQLite store {inbox} has schema version {known + 1}; this version of"
        f" Passerelle knows versions up to {known}"
    ]


@pytest.mark.postgres
@pytest.mark.usefixtures("clean_environment")
def test_a_postgresql_store_a_newer_passerelle_migrated_is_refused(
    tmp_path: Path, backend: str, postgres_store_url: str
) -> None:
    import psycopg

    open_store(postgres_store_url).close()
    with psycopg.connect(postgres_store_url, autocommit=True) as connection:
        newer = len(migrations("postgresql")) + 1
        connection.execute(
            "INSERT INTO schema_version (version, name, applied_at)"
            " VALUES (%s, 'from_a_newer_passerelle', now())",
            (newer,),
        )

    result = check_connect(config(tmp_path, backend, postgres_store_url))

    assert result.exit_code == 2, result.output
    assert f"has schema version {newer}; this version of Passerelle knows versions up to" in (
        result.stderr
    )
