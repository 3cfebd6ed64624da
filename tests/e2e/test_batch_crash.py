"""A connector killed with SIGKILL while it dispatches batch files from a watched folder, and
started again: every file it took reaches the back end as one batch, once."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from batch_support import business_day, payroll

from passerelle.backend.errors import UnknownBatchError
from passerelle.connector.store import DeliveryStatus, open_store
from passerelle.formats import cpa005
from passerelle.sandbox.faults import Faults
from passerelle.sandbox.server import SandboxServer

from .support import (
    ConnectorConfig,
    ConnectorProcess,
    backend,
    sqlite_url,
    subprocess_env,
    wait_settled,
    wait_until,
)

pytestmark = pytest.mark.slow

FILES = 12


def test_a_killed_connector_schedules_every_batch_file_once(
    tmp_path: Path, plugin_site: Path, sandbox: SandboxServer
) -> None:
    folder = tmp_path / "eft"
    folder.mkdir()
    day = business_day(dt.datetime.now(dt.UTC).date(), 7)
    base = random.randrange(10**8)
    batches = [
        payroll(f"K{base + n:09d}", day, f"{100 + n}.00", f"{n + 1}.00", f"{7 + n}.50")
        for n in range(FILES)
    ]
    for n, batch in enumerate(batches):
        (folder / f"PAY{n:04d}.DAT").write_bytes(cpa005.write(batch))
    # Every payment differs, so no batch is held as repeating another's.
    # Back-end calls take a while, so the kills land while files are being dispatched.
    sandbox.state.set_faults(Faults(latency_ms=40))

    store_url = sqlite_url(tmp_path / "inbox.db")
    config = ConnectorConfig(sandbox.url, store_url, lease=1.5, files_folder=folder)
    connector = ConnectorProcess(
        config.write(tmp_path / "passerelle.toml"),
        subprocess_env(plugin_site),
        tmp_path / "connector.log",
        port=config.port,
    )

    def scheduled() -> int:
        count = 0
        with backend(sandbox.url) as client:
            for batch in batches:
                try:
                    client.get_batch(batch.batch_id)
                except UnknownBatchError:
                    continue
                count += 1
        return count

    with connector:
        connector.start().wait_ready()
        for wanted in (3, 7):
            wait_until(lambda w=wanted: scheduled() >= w, timeout=60, what=f"{wanted} batches")
            connector.kill()
            connector.start().wait_ready()
        wait_until(lambda: scheduled() == FILES, timeout=60, what="every batch")
        wait_settled(connector.url, timeout=60)

    with open_store(store_url) as inbox:
        assert inbox.list_failures() == []
        assert inbox.stats()[DeliveryStatus.DONE] == FILES
    with backend(sandbox.url) as client:
        for batch in batches:
            view = client.get_batch(batch.batch_id)
            assert [item.to_entry() for item in view.entries] == list(batch.entries)
