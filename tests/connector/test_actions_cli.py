"""`passerelle actions ...` and `passerelle replay`, run on the configured store."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_actions import ACCESS_TOKEN, BODY, SIGNATURE, Deliveries
from typer.testing import CliRunner, Result

from passerelle.cli import app
from passerelle.clock import FixedClock
from passerelle.connector.actions import ENTRY_FIELDS
from passerelle.connector.store import DeliveryStatus, DeliveryStore, ErrorInfo, NoteAction

BACKEND_TOKEN = "backend-token-0123456789"
WEBHOOK_SECRET = "whsec-north-0123456789"
ADMIN_TOKEN = "admin-token-0123456789"
CONFIG_SECRETS = (BACKEND_TOKEN, WEBHOOK_SECRET, ADMIN_TOKEN)
LONG_MESSAGE = (
    "order #1001: line 2 (SKU TSHIRT-RED-XL) asks to ship 3 but only 2 are ordered, and the"
    " rest of this message is long enough to be cut short in the table"
)
# The CLI reads durations against the real clock: failures are placed relative to it.
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW - timedelta(days=1))


@pytest.fixture
def deliveries(store: DeliveryStore, clock: FixedClock) -> Deliveries:
    return Deliveries(store, clock)


@pytest.fixture
def config(tmp_path: Path, store_url: str, no_settings_env: None) -> Path:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        f"""
[backend]
url = "https://api.example.com"
token = "{BACKEND_TOKEN}"
merchant = "m-42"

[store]
url = "{store_url}"

[[stores]]
platform = "shopify"
id = "north.myshopify.com"
secrets = ["{WEBHOOK_SECRET}"]

[[admin.tokens]]
name = "ops"
token = "{ADMIN_TOKEN}"
access = "full"
""",
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str, stdin: str | None = None, columns: int = 250) -> Result:
    result = CliRunner().invoke(
        app, [*args, "--config", str(config)], input=stdin, env={"COLUMNS": str(columns)}
    )
    for secret in CONFIG_SECRETS:
        assert secret not in result.output
    return result


def refused(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"


# -- list ------------------------------------------------------------------------------------


def test_list_shows_each_failure_on_a_row(config: Path, deliveries: Deliveries) -> None:
    deliveries.done("999")
    failed = deliveries.failed("1001", error=ErrorInfo("ship_exceeds_ordered", LONG_MESSAGE))

    result = run(config, "actions", "list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "Platform" in line)
    for column in ("ID", "Store", "Order", "What failed", "Message", "Attempts"):
        assert column in header
    assert "First failure (UTC)" in header
    assert "Last failure (UTC)" in header
    row = next(line for line in lines if "north.myshopify.com" in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    when = (NOW - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert cells == [
        str(failed),
        "shopify",
        "north.myshopify.com",
        "1001",
        "ship_exceeds_ordered",
        LONG_MESSAGE[:59] + "…",
        "1",
        when,
        when,
    ]
    assert lines[-1] == "1 delivery"


def test_a_narrow_terminal_gets_one_block_per_failure(config: Path, deliveries: Deliveries) -> None:
    failed = deliveries.failed("1001", error=ErrorInfo("ship_exceeds_ordered", LONG_MESSAGE))
    no_order = deliveries.failed(None, retries=1)

    result = run(config, "actions", "list", columns=80)

    when = (NOW - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert result.stdout.splitlines() == [
        f"{failed}  shopify  north.myshopify.com  order 1001  1 attempt",
        "    ship_exceeds_ordered: " + LONG_MESSAGE[:53] + "…",
        f"    first failure {when}, last {when} UTC",
        f"{no_order}  shopify  north.myshopify.com  no order  2 attempts",
        "    unknown_order: order #1001 is unknown to the back end",
        f"    first failure {when}, last {when} UTC",
        "2 deliveries",
    ]


def test_list_json_gives_the_full_message(config: Path, deliveries: Deliveries) -> None:
    failed = deliveries.failed("1001", error=ErrorInfo("ship_exceeds_ordered", LONG_MESSAGE))

    result = run(config, "actions", "list", "--json")

    (entry,) = json.loads(result.stdout)
    assert tuple(entry) == ENTRY_FIELDS
    assert (entry["id"], entry["error_message"]) == (failed, LONG_MESSAGE)


def test_list_filters(config: Path, deliveries: Deliveries, clock: FixedClock) -> None:
    clock.set(NOW - timedelta(hours=5))
    north = deliveries.failed("1", platform="shopify", shop="north")
    clock.set(NOW - timedelta(hours=1))
    woo = deliveries.failed("2", platform="woocommerce", shop="north")
    dismissed = deliveries.failed("3", platform="shopify", shop="south")
    assert run(config, "actions", "dismiss", str(dismissed), "--note", "test").exit_code == 0

    def listed(*options: str) -> list[int]:
        result = run(config, "actions", "list", "--json", *options)
        assert result.exit_code == 0, result.output
        return [entry["id"] for entry in json.loads(result.stdout)]

    assert listed() == [north, woo]
    assert listed("--platform", "shopify") == [north]
    assert listed("--store", "north") == [north, woo]
    assert listed("--since", "2h") == [woo]
    assert listed("--since", (NOW - timedelta(hours=3)).isoformat()) == [woo]
    assert listed("--all") == [north, woo, dismissed]
    assert listed("--all", "--store", "south") == [dismissed]


def test_list_shows_the_status_with_all(config: Path, deliveries: Deliveries) -> None:
    dismissed = deliveries.failed()
    run(config, "actions", "dismiss", str(dismissed), "--note", "test order")

    result = run(config, "actions", "list", "--all")

    row = next(line for line in result.stdout.splitlines() if "north.myshopify.com" in line)
    assert "dismissed" in row


def test_an_empty_action_center_says_so(config: Path) -> None:
    result = run(config, "actions", "list")

    assert (result.exit_code, result.stdout) == (0, "Nothing in the action center.\n")


def test_stored_text_is_shown_as_it_is(config: Path, deliveries: Deliveries) -> None:
    deliveries.failed("[bold]1001[/bold]", error=ErrorInfo("x", "tab\there\x1b[31m red"))

    result = run(config, "actions", "list")

    assert "[bold]1001[/bold]" in result.stdout
    assert "\x1b" not in result.stdout
    assert "tab here\ufffd[31m red" in result.stdout


def test_a_bad_since_is_one_line(config: Path) -> None:
    refused(
        run(config, "actions", "list", "--since", "2 days"),
        "since: '2 days' is neither a duration (30m, 2h, 3d, 1w) nor a date or time"
        " (2026-03-01, 2026-03-01T09:30, 2026-03-01T09:30-05:00)",
    )


# -- show ------------------------------------------------------------------------------------


def test_show_lists_headers_attempts_and_notes_but_not_the_body(
    config: Path, deliveries: Deliveries
) -> None:
    delivery_id = deliveries.failed("1001", retries=1)
    run(config, "actions", "dismiss", str(delivery_id), "--note", "refunded by hand")

    result = run(config, "actions", "show", str(delivery_id))

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"Delivery {delivery_id}: dismissed\n")
    for expected in (
        "  order           1001",
        "  what failed     unknown_order",
        "  message         order #1001 is unknown to the back end",
        "  attempts        2",
        "  X-Shopify-Topic: orders/fulfilled",
        "  X-Shopify-Hmac-Sha256: ********",
        "  X-Shopify-Access-Token: ********",
        f"Body: {len(BODY)} bytes, not shown (--body shows it)",
        "worker-1  retry  backend_unavailable: the payment back end answered 503",
        "worker-1  failed  unknown_order: order #1001 is unknown to the back end",
        "dismissed  refunded by hand",
    ):
        assert expected in out
    assert SIGNATURE not in out
    assert ACCESS_TOKEN not in out
    assert "ana@example.com" not in out


def test_show_prints_the_body_only_with_body(config: Path, deliveries: Deliveries) -> None:
    delivery_id = deliveries.failed()

    result = run(config, "actions", "show", str(delivery_id), "--body")

    assert '"email": "ana@example.com"' in result.stdout
    assert "card [redacted card number]" in result.stdout
    assert "4111" not in result.stdout
    assert SIGNATURE not in result.stdout


def test_show_json(config: Path, deliveries: Deliveries) -> None:
    delivery_id = deliveries.failed()

    plain = json.loads(run(config, "actions", "show", str(delivery_id), "--json").stdout)
    with_body = json.loads(
        run(config, "actions", "show", str(delivery_id), "--json", "--body").stdout
    )

    assert plain["id"] == delivery_id
    assert [a["result"] for a in plain["attempt_history"]] == ["failed"]
    assert "body" not in plain
    assert with_body["body"].startswith('{"id": 1001')


def test_show_of_an_unknown_delivery_is_one_line(config: Path) -> None:
    refused(run(config, "actions", "show", "404"), "no delivery 404")


# -- retry and dismiss -----------------------------------------------------------------------


def test_retry_puts_deliveries_back_with_a_note(
    config: Path, deliveries: Deliveries, store: DeliveryStore
) -> None:
    first, second = deliveries.failed("1"), deliveries.failed("2")

    result = run(config, "actions", "retry", str(second), str(first), "--note", "SKU fixed")

    assert (result.exit_code, result.stdout) == (0, f"Re-queued deliveries {first}, {second}.\n")
    assert [store.get(i).status for i in (first, second)] == [DeliveryStatus.PENDING] * 2
    assert [(n.action, n.text) for n in store.notes(first)] == [(NoteAction.REQUEUED, "SKU fixed")]


def test_an_unknown_id_is_one_line_and_changes_nothing(
    config: Path, deliveries: Deliveries, store: DeliveryStore
) -> None:
    delivery_id = deliveries.failed()

    refused(
        run(config, "actions", "retry", str(delivery_id), "999"),
        "no delivery 999; nothing was requeued",
    )
    refused(
        run(config, "actions", "dismiss", str(delivery_id), "999", "--note", "x"),
        "no delivery 999; nothing was dismissed",
    )
    assert store.get(delivery_id).status is DeliveryStatus.FAILED
    assert store.notes(delivery_id) == []


def test_a_delivery_in_the_wrong_status_is_one_line(
    config: Path, deliveries: Deliveries, store: DeliveryStore
) -> None:
    done = deliveries.done()

    refused(
        run(config, "actions", "retry", str(done)),
        f"cannot requeue delivery {done} (done): only failed or dismissed deliveries can be"
        " requeued; nothing was requeued",
    )
    assert store.get(done).status is DeliveryStatus.DONE


def test_dismiss_records_why(config: Path, deliveries: Deliveries, store: DeliveryStore) -> None:
    delivery_id = deliveries.failed()

    result = run(config, "actions", "dismiss", str(delivery_id), "--note", "refunded by hand")

    assert result.stdout == f"Dismissed delivery {delivery_id}.\n"
    assert store.get(delivery_id).status is DeliveryStatus.DISMISSED
    assert [n.text for n in store.notes(delivery_id)] == ["refunded by hand"]


def test_dismiss_needs_a_note(config: Path, deliveries: Deliveries, store: DeliveryStore) -> None:
    delivery_id = deliveries.failed()

    missing = run(config, "actions", "dismiss", str(delivery_id))
    blank = run(config, "actions", "dismiss", str(delivery_id), "--note", " ")

    assert missing.exit_code == 2
    assert "Missing option '--note'" in missing.stderr
    refused(blank, "note: a dismissal needs a note saying why")
    assert store.get(delivery_id).status is DeliveryStatus.FAILED


# -- export ----------------------------------------------------------------------------------


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_export_writes_csv_to_standard_output(config: Path, deliveries: Deliveries) -> None:
    message = 'line 1, "quoted"\nline 2'
    first = deliveries.failed("=1+1", error=ErrorInfo("unknown_line", message))
    deliveries.failed("@2", platform="woocommerce", error=ErrorInfo("unknown_line", "-x"))

    result = run(config, "actions", "export", "--format", "csv")

    assert result.exit_code == 0, result.output
    rows = rows_of(result.stdout)
    assert tuple(rows[0]) == ENTRY_FIELDS
    assert [(r[0], r[1], r[3], r[6]) for r in rows[1:]] == [
        (str(first), "shopify", "'=1+1", message),
        (str(first + 1), "woocommerce", "'@2", "'-x"),
    ]


def test_export_to_a_file_with_filters(
    config: Path, deliveries: Deliveries, tmp_path: Path
) -> None:
    deliveries.failed("1")
    woo = deliveries.failed("2", platform="woocommerce")
    target = tmp_path / "actions.csv"

    result = run(config, "actions", "export", "--platform", "woocommerce", "--output", str(target))

    assert result.stdout == f"Exported 1 delivery to {target}.\n"
    rows = rows_of(target.read_text(encoding="utf-8"))
    assert [row[0] for row in rows[1:]] == [str(woo)]
    assert target.read_bytes().count(b"\r\n") == 2


def test_export_to_an_unwritable_place_is_one_line(config: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "actions.csv"

    refused(
        run(config, "actions", "export", "--output", str(target)),
        f"cannot write {target}: No such file or directory",
    )


# -- replay ----------------------------------------------------------------------------------


def test_replay_counts_what_it_requeues(
    config: Path, deliveries: Deliveries, store: DeliveryStore, clock: FixedClock
) -> None:
    clock.set(NOW - timedelta(hours=5))
    old = deliveries.done("1")
    clock.set(NOW - timedelta(hours=1))
    done, failed = deliveries.done("2"), deliveries.failed("3")

    by_order = run(config, "replay", "--since", "2h", "--order", "2", "--note", "fix", "--yes")
    the_rest = run(config, "replay", "--since", "2h", "--yes")

    assert by_order.stdout == "Re-queued 1 delivery for replay.\n"
    assert the_rest.stdout == "Re-queued 1 delivery for replay.\n"
    assert [store.get(i).status for i in (old, done, failed)] == [
        DeliveryStatus.DONE,
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
    ]
    assert [n.text for n in store.notes(done)] == ["fix"]


def test_replay_asks_first(config: Path, deliveries: Deliveries, store: DeliveryStore) -> None:
    done = deliveries.done("1001")

    declined = run(config, "replay", "--order", "1001", stdin="n\n")

    assert declined.exit_code == 1
    assert "Dispatch again every finished delivery of order 1001?" in declined.stdout
    assert store.get(done).status is DeliveryStatus.DONE

    accepted = run(config, "replay", "--order", "1001", "--platform", "shopify", stdin="y\n")

    assert accepted.exit_code == 0, accepted.output
    assert "Re-queued 1 delivery for replay." in accepted.stdout
    assert store.get(done).status is DeliveryStatus.PENDING


def test_replay_checks_since_before_asking(config: Path, deliveries: Deliveries) -> None:
    deliveries.done()

    result = run(config, "replay", "--since", "then")

    assert result.exit_code == 1
    assert "Dispatch again" not in result.stdout
    assert result.stderr.startswith("error: since: 'then' is neither a duration")


# -- configuration ---------------------------------------------------------------------------


def test_a_bad_configuration_lists_its_problems_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        f'[backend]\nurl = "ftp://x"\ntoken = "{BACKEND_TOKEN}"\nmerchant = "m"\n',
        encoding="utf-8",
    )

    result = run(path, "actions", "list")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: 1 configuration problem\n")
    assert "backend.url: must be an http:// or https:// URL with a host" in result.stderr


def test_an_unreachable_store_is_one_line_without_its_password(tmp_path: Path) -> None:
    path = tmp_path / "passerelle.toml"
    password = "db-password-0123456789"
    path.write_text(
        f'[backend]\nurl = "https://api.example.com"\ntoken = "{BACKEND_TOKEN}"\n'
        f'merchant = "m"\n[store]\nurl = "postgresql://passerelle:{password}@127.0.0.1:1/inbox"\n',
        encoding="utf-8",
    )

    result = run(path, "actions", "list")

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: PostgreSQL store postgresql://passerelle:***@127.0.0.1:1/inbox: "
    )
    assert result.stderr.count("\n") == 1
    assert password not in result.output


def test_a_store_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        f'[backend]\nurl = "https://api.example.com"\ntoken = "{BACKEND_TOKEN}"\n'
        f'merchant = "m"\n[store]\nurl = "sqlite:///{tmp_path}/missing/inbox.db"\n',
        encoding="utf-8",
    )

    result = run(path, "actions", "list")

    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: cannot open the SQLite store {tmp_path}/missing/inbox.db"
    )
    assert result.stderr.count("\n") == 1
