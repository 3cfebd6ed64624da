"""The connector configuration: passerelle.toml, PASSERELLE_* overrides, `passerelle config check`."""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from datetime import time
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel, SecretStr
from testplatform import TestPlatform
from typer.testing import CliRunner

from passerelle.connector import config_checks, config_cli
from passerelle.connector.config import ConfigError, Problem, Settings, config_path, redact_url
from passerelle.connector.config_cli import register
from passerelle.platforms import Store, StoreProblem

SECRETS = (
    "whsec-shop-current",
    "whsec-shop-previous",
    "shpat-access-token",
    "backend-token-0001",
    "dbpassword",
    "admin-token-0123456789",
    "whsec-woo",
)

VALID = """
[backend]
url = "https://api.example.com"
token = "backend-token-0001"
merchant = "m-42"
connect_timeout = 2
total_timeout = 45.0

[store]
url = "postgresql://passerelle:dbpassword@db.internal:5432/inbox"

[[stores]]
platform = "shopify"
id = "north.myshopify.com"
secrets = ["whsec-shop-current", "whsec-shop-previous"]
options = { access_token = "shpat-access-token", api_version = "2024-10", page_size = 50 }

[[stores]]
platform = "woocommerce"
id = "shop.example.ca"
secrets = ["whsec-woo"]

[dispatcher]
workers = 8
concurrency = 64
lease = 30
max_attempts = 5
backoff_base = 0.5
backoff_cap = 60
health_host = "10.1.2.4"
health_port = 9001

[receiver]
host = "10.1.2.3"
port = 9000
max_body_bytes = 2097152

[batches]
cutoff = "15:30"
zone = "America/Toronto"

[[admin.tokens]]
name = "ops"
token = "admin-token-0123456789"
access = "full"
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("PASSERELLE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "passerelle.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Settings.load(path)
    return [str(problem) for problem in caught.value.problems]


def test_file_is_read_with_every_section(tmp_path: Path) -> None:
    settings = Settings.load(write(tmp_path, VALID))

    assert settings.backend.url == "https://api.example.com"
    assert settings.backend.token.get_secret_value() == "backend-token-0001"
    assert settings.store.url == "postgresql://passerelle:dbpassword@db.internal:5432/inbox"
    assert settings.dispatcher.workers == 8
    assert settings.dispatcher.in_flight == 64
    assert settings.dispatcher.backoff_base == 0.5
    assert (settings.dispatcher.health_host, settings.dispatcher.health_port) == ("10.1.2.4", 9001)
    assert (settings.receiver.host, settings.receiver.port) == ("10.1.2.3", 9000)
    assert settings.receiver.max_body_bytes == 2 * 1024 * 1024
    assert settings.batches.cutoff == time(15, 30)
    assert settings.batches.zone.key == "America/Toronto"
    assert settings.admin.access("admin-token-0123456789") == "full"
    assert settings.admin.access("admin-token-012345678") is None


def test_stores_by_key_gives_platform_stores_with_secrets_in_rotation_order(
    tmp_path: Path,
) -> None:
    stores = Settings.load(write(tmp_path, VALID)).stores_by_key()

    assert set(stores) == {("shopify", "north.myshopify.com"), ("woocommerce", "shop.example.ca")}
    shop = stores["shopify", "north.myshopify.com"]
    assert [s.get_secret_value() for s in shop.secrets] == [
        "whsec-shop-current",
        "whsec-shop-previous",
    ]
    assert dict(shop.options) == {
        "access_token": "shpat-access-token",
        "api_version": "2024-10",
        "page_size": "50",
    }
    assert stores["woocommerce", "shop.example.ca"].options == {}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/inbox.db", "sqlite:///{folder}/etc/data/inbox.db"),
        ("sqlite:////var/lib/passerelle/inbox.db", "sqlite:////var/lib/passerelle/inbox.db"),
        ("postgresql://db.example/passerelle", "postgresql://db.example/passerelle"),
    ],
)
def test_a_relative_sqlite_path_is_beside_the_configuration_wherever_it_is_read_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "elsewhere").mkdir()
    path = write(
        tmp_path / "etc",
        '[backend]\nurl = "http://127.0.0.1:8001"\ntoken = "t"\nmerchant = "m"\n'
        f'[store]\nurl = "{url}"\n',
    )
    monkeypatch.chdir(tmp_path / "elsewhere")

    assert Settings.load(path).store.url == expected.format(folder=tmp_path)
    assert Settings.load(Path("../etc/passerelle.toml")).store.url == expected.format(
        folder=tmp_path
    )


def test_defaults_when_only_the_backend_is_given(tmp_path: Path) -> None:
    settings = Settings.load(
        write(tmp_path, '[backend]\nurl = "http://127.0.0.1:8001"\ntoken = "t"\nmerchant = "m"\n')
    )

    assert settings.store.url == f"sqlite:///{tmp_path / 'passerelle.db'}"
    assert settings.stores == []
    assert settings.receiver.max_body_bytes == 1024 * 1024
    assert settings.receiver.port == 8080
    assert settings.dispatcher.health_port == 8081
    assert settings.dispatcher.in_flight == 32
    assert settings.admin.tokens == []


def test_without_concurrency_each_of_many_workers_keeps_one_delivery_in_flight(
    tmp_path: Path,
) -> None:
    settings = Settings.load(
        write(tmp_path, VALID.replace("workers = 8\nconcurrency = 64", "workers = 100"))
    )

    assert settings.dispatcher.in_flight == 100


def test_environment_overrides_file_keys_and_list_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, VALID)
    monkeypatch.setenv("PASSERELLE_BACKEND__TOKEN", "token-from-env")
    monkeypatch.setenv("PASSERELLE_RECEIVER__PORT", "9100")
    monkeypatch.setenv("PASSERELLE_STORES__0__SECRETS", '["rotated-new", "whsec-shop-current"]')
    monkeypatch.setenv("PASSERELLE_STORES__1__SECRETS", "woo-from-env")
    monkeypatch.setenv("PASSERELLE_STORES__0__OPTIONS__ACCESS_TOKEN", "shpat-from-env")

    settings = Settings.load(path)

    assert settings.backend.token.get_secret_value() == "token-from-env"
    assert settings.backend.merchant == "m-42"
    assert settings.receiver.port == 9100
    assert settings.receiver.host == "10.1.2.3"
    stores = settings.stores_by_key()
    shop = stores["shopify", "north.myshopify.com"]
    assert [s.get_secret_value() for s in shop.secrets] == ["rotated-new", "whsec-shop-current"]
    assert shop.options["access_token"] == "shpat-from-env"
    assert shop.options["api_version"] == "2024-10"
    woo = stores["woocommerce", "shop.example.ca"]
    assert [s.get_secret_value() for s in woo.secrets] == ["woo-from-env"]


def test_environment_alone_can_configure_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSERELLE_BACKEND__URL", "https://api.example.com")
    monkeypatch.setenv("PASSERELLE_BACKEND__TOKEN", "t")
    monkeypatch.setenv("PASSERELLE_BACKEND__MERCHANT", "m")
    monkeypatch.setenv("PASSERELLE_STORES__0__PLATFORM", "shopify")
    monkeypatch.setenv("PASSERELLE_STORES__0__ID", "a.myshopify.com")
    monkeypatch.setenv("PASSERELLE_STORES__0__SECRETS", "s0")
    monkeypatch.setenv("PASSERELLE_STORES__1__PLATFORM", "shopify")
    monkeypatch.setenv("PASSERELLE_STORES__1__ID", "b.myshopify.com")
    monkeypatch.setenv("PASSERELLE_STORES__1__SECRETS", "s1")

    settings = Settings.load()

    assert sorted(settings.stores_by_key()) == [
        ("shopify", "a.myshopify.com"),
        ("shopify", "b.myshopify.com"),
    ]


def test_other_passerelle_variables_are_not_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSERELLE_LOAD_PLUGINS", "shopify")
    monkeypatch.setenv("PASSERELLE_TEST_POSTGRES_DSN", "postgresql://x@y/z")

    assert Settings.load(write(tmp_path, VALID)).backend.merchant == "m-42"


def test_file_is_chosen_by_argument_then_variable_then_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert config_path() == Path("passerelle.toml")
    monkeypatch.setenv("PASSERELLE_CONFIG", str(tmp_path / "from-env.toml"))
    assert config_path() == tmp_path / "from-env.toml"
    assert config_path(tmp_path / "explicit.toml") == tmp_path / "explicit.toml"

    write(tmp_path, VALID.replace("m-42", "from-env"), "from-env.toml")
    write(tmp_path, VALID.replace("m-42", "explicit"), "explicit.toml")
    write(tmp_path, VALID.replace("m-42", "cwd"))
    assert Settings.load().backend.merchant == "from-env"
    assert Settings.load(tmp_path / "explicit.toml").backend.merchant == "explicit"
    monkeypatch.delenv("PASSERELLE_CONFIG")
    assert Settings.load().backend.merchant == "cwd"


def test_a_named_file_that_is_missing_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"

    assert problems(missing) == [f"{missing}: configuration file not found"]


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[backend]\nurl = "https://x"\ntoken = \n')

    (message,) = problems(path)
    assert message.startswith(f"{path}: not valid TOML: ")
    assert "line 3" in message


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        (
            'secrets = ["whsec-woo"]',
            "secrets = []",
            "stores[1].secrets: at least one secret is required",
        ),
        ('secrets = ["whsec-woo"]', "", "stores[1].secrets: at least one secret is required"),
        ('secrets = ["whsec-woo"]', 'secrets = ["  "]', "stores[1].secrets[0]: must not be empty"),
        (
            'platform = "woocommerce"',
            'platform = "Woo Commerce"',
            "stores[1].platform: a platform name is lower case letters, digits, '-' and '_',"
            " starting with a letter",
        ),
        (
            'id = "shop.example.ca"',
            'id = "shop/ca"',
            "stores[1].id: a store id is not empty and has no '/', '?', '#', '%' or spaces",
        ),
        (
            'id = "shop.example.ca"',
            'id = "shop.example.ca"\nsecret = "typo"',
            "stores[1].secret: unknown key",
        ),
        (
            'platform = "woocommerce"\nid = "shop.example.ca"',
            'platform = "shopify"\nid = "north.myshopify.com"',
            "stores: stores[1] repeats stores[0] (platform 'shopify', id 'north.myshopify.com')",
        ),
        (
            "page_size = 50",
            "page_size = 0.5",
            "stores[0].options: option 'page_size' must be text, an integer or a boolean",
        ),
        ('merchant = "m-42"', "", "backend.merchant: is required"),
        (
            'url = "https://api.example.com"',
            'url = "ftp://api.example.com"',
            "backend.url: must be an http:// or https:// URL with a host",
        ),
        (
            'token = "backend-token-0001"',
            'token = ""',
            "backend.token: must not be empty",
        ),
        (
            'url = "postgresql://passerelle:dbpassword@db.internal:5432/inbox"',
            'url = "mysql://db"',
            "store.url: must start with sqlite:/// or postgresql://",
        ),
        (
            "workers = 8",
            "workers = 0",
            "dispatcher.workers: input should be greater than or equal to 1",
        ),
        (
            "concurrency = 64",
            "concurrency = 4",
            "dispatcher: concurrency (4) must not be below workers (8): each worker keeps one"
            " delivery in hand at least",
        ),
        (
            "concurrency = 64",
            "concurrency = 5000",
            "dispatcher.concurrency: input should be less than or equal to 1024",
        ),
        (
            "backoff_cap = 60",
            "backoff_cap = 0.1",
            "dispatcher: backoff_cap (0.1) must not be below backoff_base (0.5)",
        ),
        (
            "port = 9000",
            "port = 70000",
            "receiver.port: input should be less than or equal to 65535",
        ),
        (
            "max_body_bytes = 2097152",
            'max_body_bytes = "big"',
            "receiver.max_body_bytes: input should be a valid integer, unable to parse string as"
            " an integer",
        ),
        (
            'zone = "America/Toronto"',
            'zone = "America/Atlantis"',
            "batches.zone: invalid timezone: America/Atlantis",
        ),
        (
            'token = "admin-token-0123456789"',
            'token = "short"',
            "admin.tokens[0].token: must be at least 16 characters",
        ),
        (
            'access = "full"',
            'access = "write"',
            "admin.tokens[0].access: input should be 'read' or 'full'",
        ),
        ("[receiver]", "[reciever]", "reciever: unknown key"),
    ],
)
def test_each_problem_names_its_key(tmp_path: Path, replace: str, by: str, expected: str) -> None:
    assert replace in VALID
    assert problems(write(tmp_path, VALID.replace(replace, by, 1))) == [expected]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        VALID.replace('secrets = ["whsec-woo"]', "")
        .replace("workers = 8", "workers = -1")
        .replace('merchant = "m-42"', "")
    )

    assert problems(write(tmp_path, text)) == [
        "backend.merchant: is required",
        "stores[1].secrets: at least one secret is required",
        "dispatcher.workers: input should be greater than or equal to 1",
    ]


def test_problems_from_the_environment_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, VALID)
    monkeypatch.setenv("PASSERELLE_RECEIVER__PORT", "eighty")
    monkeypatch.setenv("PASSERELLE_BACKEND__TOKNE", "x")
    monkeypatch.setenv("PASSERELLE_STORES__3__ID", "late")
    monkeypatch.setenv("PASSERELLE_STORES__0__OPTIONS", "{not json")

    assert problems(path) == [
        "stores[0].options: PASSERELLE_STORES__0__OPTIONS: not valid JSON",
        "stores[3]: PASSERELLE_STORES__3__ID: stores[2] must be set first",
        "backend.tokne: unknown key (from PASSERELLE_BACKEND__TOKNE)",
        "receiver.port: input should be a valid integer, unable to parse string as an integer"
        " (from PASSERELLE_RECEIVER__PORT)",
    ]


def test_a_problem_from_the_environment_alone_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSERELLE_STORES__5__SECRETS", "s")

    assert problems(write(tmp_path, VALID)) == [
        "stores[5]: PASSERELLE_STORES__5__SECRETS: stores[2] must be set first"
    ]


def test_a_comma_separated_list_from_the_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSERELLE_STORES__0__SECRETS", "whsec-shop-current,whsec-shop-previous")

    found = problems(write(tmp_path, VALID))

    assert found == [
        "stores[0].secrets: PASSERELLE_STORES__0__SECRETS: a list is given as JSON, e.g."
        ' \'["new", "old"]\'; a comma-separated value is not split (a single item holding a'
        " comma is '[\"a,b\"]')"
    ]
    assert "whsec-shop" not in "".join(found)


def test_a_json_list_may_hold_a_secret_with_a_comma(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSERELLE_STORES__0__SECRETS", '["a,b", "c"]')

    settings = Settings.load(write(tmp_path, VALID))

    assert [s.get_secret_value() for s in settings.stores[0].secrets] == ["a,b", "c"]


def test_secrets_never_appear_in_reprs_or_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load(write(tmp_path, VALID))
    shown = repr(settings) + str(settings) + repr(settings.stores_by_key())
    monkeypatch.setenv("PASSERELLE_RECEIVER__PORT", "x")
    with pytest.raises(ConfigError) as caught:
        Settings.load(
            write(tmp_path, VALID.replace('access = "full"', 'access = "admin-token-0123456789"'))
        )
    shown += str(caught.value)

    for secret in SECRETS:
        assert secret not in shown
    assert "postgresql://***@db.internal:5432/inbox" in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p%40ss@h/db", "postgresql://***@h/db"),
        (
            "postgresql://u@h/db?password=pw&sslmode=require",
            "postgresql://***@h/db?password=***&sslmode=require",
        ),
        ("sqlite:///var/lib/inbox.db", "sqlite:///var/lib/inbox.db"),
        ("https://api.example.com/v1", "https://api.example.com/v1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_problem_text() -> None:
    assert str(Problem("stores[1].secrets", "at least one secret is required")) == (
        "stores[1].secrets: at least one secret is required"
    )
    assert str(ConfigError([Problem("a", "x"), Problem("b", "y")])) == "a: x\nb: y"


# passerelle config check


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """The passerelle command."""

    register(app)
    return app


@pytest.fixture(autouse=True)
def installed(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The platforms `config check` finds installed: the two VALID names, which check nothing."""
    platforms: dict[str, object] = {"shopify": TestPlatform(), "woocommerce": TestPlatform()}
    monkeypatch.setattr(config_cli, "installed_platforms", lambda: platforms)
    return platforms


def check(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli(), ["config", "check", *args], env={"PASSERELLE_LOAD_PLUGINS": "", **(env or {})}
    )
    return result.exit_code, result.stdout, result.stderr


def test_check_prints_a_redacted_summary(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)

    code, out, err = check("--config", str(path), env={"PASSERELLE_BACKEND__TOKEN": "env-token-x"})

    assert code == 0
    assert out.splitlines() == [
        f"{path}: OK",
        "backend     https://api.example.com as merchant m-42, token ********;"
        " timeouts connect 2 s, read/write 10 s, call 45 s",
        "store       postgresql://***@db.internal:5432/inbox",
        "receiver    http://10.1.2.3:9000, bodies up to 2097152 bytes",
        "clients     headers within 10 s, bodies within 20 s + 1 s per 500 bytes,"
        " connections as many as the open-file limit allows",
        "dispatcher  8 workers, 64 calls in flight, lease 30 s, 5 attempts, backoff 0.5 s to 60 s,"
        " health checks on http://10.1.2.4:9001",
        "batches     cutoff 15:30 America/Toronto",
        "stores      2",
        "  shopify north.myshopify.com: 2 secrets; options access_token=********,"
        " api_version=2024-10, page_size=50",
        "  woocommerce shop.example.ca: 1 secret",
        "admin       ops (full)",
    ]
    for secret in (*SECRETS, "env-token-x"):
        assert secret not in out + err


def test_check_fails_on_a_platform_no_plugin_registers(
    tmp_path: Path, installed: dict[str, object]
) -> None:
    del installed["woocommerce"]
    path = write(tmp_path, VALID)

    code, out, err = check("--config", str(path))

    assert (code, out) == (1, "")
    assert [line for line in err.splitlines() if not line.startswith("warning: ")] == [
        f"{path}: 1 problem",
        "  stores[1].platform: no installed plugin registers platform 'woocommerce'"
        " (installed: shopify): every webhook to this store would be answered 404",
    ]


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID.replace('secrets = ["whsec-woo"]', "").replace(
            'token = "admin-token-0123456789"', 'token = "admin-token"'
        ),
    )

    code, out, err = check("--config", str(path))

    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        f"{path}: 2 problems",
        "  stores[1].secrets: at least one secret is required",
        "  admin.tokens[0].token: must be at least 16 characters",
    ]
    for secret in SECRETS:
        assert secret not in err


def test_check_reads_passerelle_config_and_reports_a_missing_file(tmp_path: Path) -> None:
    code, out, err = check(env={"PASSERELLE_CONFIG": str(tmp_path / "nope.toml")})

    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{tmp_path / 'nope.toml'}: 1 problem",
        f"  {tmp_path / 'nope.toml'}: configuration file not found",
    ]


def test_check_without_a_file_uses_the_environment(tmp_path: Path) -> None:
    code, out, _ = check(
        env={
            "PASSERELLE_BACKEND__URL": "http://127.0.0.1:8001",
            "PASSERELLE_BACKEND__TOKEN": "t-123",
            "PASSERELLE_BACKEND__MERCHANT": "m",
        }
    )

    assert code == 0
    assert out.splitlines()[0] == "passerelle.toml (absent: environment only): OK"
    assert "t-123" not in out


def test_the_batch_cutoff_defaults_to_11_vancouver_and_becomes_a_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from passerelle.batches import DEFAULT_CUTOFF

    config = tmp_path / "passerelle.toml"
    config.write_text('[backend]\nurl = "http://127.0.0.1:1"\ntoken = "t"\nmerchant = "m"\n')
    settings = Settings.load(config)
    assert settings.batches.cutoff == time(11, 0)
    assert settings.batches.policy() == DEFAULT_CUTOFF


def test_a_store_may_set_its_own_batch_cutoff_and_zone(tmp_path: Path) -> None:
    from passerelle.batches import CutoffPolicy

    config = tmp_path / "passerelle.toml"
    config.write_text(
        '[backend]\nurl = "http://127.0.0.1:1"\ntoken = "t"\nmerchant = "m"\n'
        '[batches]\ncutoff = "10:30"\n'
        '[[stores]]\nplatform = "sage"\nid = "payroll"\nsecrets = ["s"]\ncutoff = "09:00"\n'
        '[[stores]]\nplatform = "sage"\nid = "vendors"\nsecrets = ["s"]\n'
        'cutoff_zone = "America/Toronto"\n'
        '[[stores]]\nplatform = "sage"\nid = "plain"\nsecrets = ["s"]\n'
    )
    cutoffs = Settings.load(config).cutoffs()

    assert cutoffs.of("sage", "payroll") == CutoffPolicy(time=time(9, 0))
    assert cutoffs.of("sage", "vendors") == CutoffPolicy(time=time(10, 30), zone="America/Toronto")
    assert cutoffs.of("sage", "plain") == CutoffPolicy(time=time(10, 30))


def test_a_store_s_cutoff_zone_must_be_a_known_zone(tmp_path: Path) -> None:
    config = tmp_path / "passerelle.toml"
    config.write_text(
        '[backend]\nurl = "http://127.0.0.1:1"\ntoken = "t"\nmerchant = "m"\n'
        '[[stores]]\nplatform = "sage"\nid = "payroll"\nsecrets = ["s"]\n'
        'cutoff_zone = "Mars/Olympus"\n'
    )
    (problem,) = problems(config)
    assert problem.startswith("stores[0].cutoff_zone: ")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            'url = "https://payments.example.com:99999/"',
            "backend.url: must have a port between 1 and 65535, not 99999",
        ),
        (
            'url = "https://pay ments.example.com/"',
            "backend.url: must name a host or an IP address, not 'pay%20ments.example.com'",
        ),
        (
            'url = "https://ops:pw-in-url-7@payments.example.com/"',
            "backend.url: must not carry a user name or password: the token authenticates",
        ),
        (
            'token = "sk_live_é9d2"',
            "backend.token: must be a non-empty printable ASCII string without spaces or line "
            "breaks",
        ),
        (
            'merchant = "boutique-québec"',
            "backend.merchant: must be a non-empty printable ASCII string",
        ),
        (
            '[store]\nurl = "sqlite:///:memory:"',
            "store.url: must name a database file, as in sqlite:///inbox.db (relative) or "
            "sqlite:////var/lib/passerelle/inbox.db (absolute)",
        ),
    ],
)
def test_config_check_refuses_what_serve_refuses_in_the_same_words(
    tmp_path: Path, line: str, problem: str
) -> None:
    lines = {"url": 'url = "https://payments.example.com"', "token": 'token = "t"'}
    lines["merchant"] = 'merchant = "m"'
    lines[line.partition(" ")[0]] = line
    path = write(tmp_path, "[backend]\n" + "\n".join(lines.values()) + "\n")
    root = typer.Typer()
    importlib.import_module("passerelle.connector.serve_cli").register(root)
    register(root)

    checked = CliRunner().invoke(root, ["config", "check", "--config", str(path)])
    # Checked first: a configuration that passes would be served until interrupted.
    assert (checked.exit_code, checked.stderr) == (1, f"{path}: 1 problem\n  {problem}\n")
    served = CliRunner().invoke(root, ["serve", "--config", str(path)])

    assert (served.exit_code, served.stderr) == (1, f"error: {problem}\n")
    assert "pw-in-url-7" not in checked.output + served.output


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8001", "https://[::1]:8443/v1", "https://pay-ments.example.com"]
)
def test_backend_urls_with_names_and_addresses_are_accepted(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[backend]\nurl = "{url}"\ntoken = "t"\nmerchant = "m"\n')
    assert Settings.load(path).backend.url == url


# Secrets written in the file


PLAIN_TEXT = "written in passerelle.toml in plain text"
# Each secret of VALID: its key, the line that writes it, the variable to give it by instead
# and the value to give it.
INLINE = [
    (
        "backend.token",
        'token = "backend-token-0001"',
        "PASSERELLE_BACKEND__TOKEN",
        "backend-token-0001",
    ),
    (
        "store.url",
        'url = "postgresql://passerelle:dbpassword@db.internal:5432/inbox"',
        "PASSERELLE_STORE__URL",
        "postgresql://passerelle:dbpassword@db.internal:5432/inbox",
    ),
    (
        "stores[0].secrets",
        'secrets = ["whsec-shop-current", "whsec-shop-previous"]',
        "PASSERELLE_STORES__0__SECRETS",
        '["whsec-shop-current", "whsec-shop-previous"]',
    ),
    (
        "stores[0].options.access_token",
        'access_token = "shpat-access-token", ',
        "PASSERELLE_STORES__0__OPTIONS__ACCESS_TOKEN",
        "shpat-access-token",
    ),
    ("stores[1].secrets", 'secrets = ["whsec-woo"]', "PASSERELLE_STORES__1__SECRETS", "whsec-woo"),
    (
        "admin.tokens[0].token",
        'token = "admin-token-0123456789"',
        "PASSERELLE_ADMIN__TOKENS__0__TOKEN",
        "admin-token-0123456789",
    ),
]


def what(key: str) -> str:
    return "the URL's password" if key == "store.url" else "a secret"


def test_check_warns_about_each_secret_written_in_the_file_and_how_to_move_it(
    tmp_path: Path,
) -> None:
    code, out, err = check("--config", str(write(tmp_path, VALID)))

    assert code == 0
    assert out.startswith(f"{tmp_path / 'passerelle.toml'}: OK\n")
    assert [line for line in err.splitlines() if PLAIN_TEXT in line] == [
        f"warning: {key}: {what(key)} is {PLAIN_TEXT}: remove it from the file and set "
        f"{variable} in the environment instead"
        for key, _, variable, _ in INLINE
    ]
    for secret in SECRETS:
        assert secret not in out + err


def test_secrets_moved_as_the_warnings_say_load_the_same_and_warn_no_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline = Settings.load(write(tmp_path, VALID, "inline.toml"))
    bare = VALID
    for _, line, variable, value in INLINE:
        assert line in bare
        bare = bare.replace(line, "")
        monkeypatch.setenv(variable, value)
    path = write(tmp_path, bare)

    assert Settings.load(path) == inline
    assert config_checks.secrets_in_file(path) == []


def test_a_secret_the_environment_overrides_is_still_to_be_removed_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSERELLE_BACKEND__TOKEN", "token-from-env")
    monkeypatch.setenv("PASSERELLE_STORES", "[]")

    warnings = [str(p) for p in config_checks.secrets_in_file(write(tmp_path, VALID))]

    assert warnings[0] == (
        f"backend.token: a secret is {PLAIN_TEXT}, though PASSERELLE_BACKEND__TOKEN "
        "overrides it: remove it from the file"
    )
    assert warnings[2] == (
        f"stores[0].secrets: a secret is {PLAIN_TEXT}, though PASSERELLE_STORES overrides it: "
        "remove it from the file"
    )


def test_check_masks_and_warns_about_credentials_in_any_url(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[backend]\nurl = "https://api.example.com"\ntoken = "t"\nmerchant = "m"\n'
        '[store]\nurl = "postgresql://db.internal/inbox?sslpassword=key-pass-1&sslmode=verify-full"\n'
        '[[stores]]\nplatform = "shopify"\nid = "a.myshopify.com"\nsecrets = ["s"]\n'
        'options = { api_url = "https://opt-user-3:opt-pass-2@a.example/api", page_size = 50 }\n',
    )

    code, out, err = check("--config", str(path), env={"PASSERELLE_BACKEND__TOKEN": "t"})

    assert code == 0, err
    assert "store       postgresql://db.internal/inbox?sslpassword=***&sslmode=verify-full" in (
        out.splitlines()
    )
    assert "  shopify a.myshopify.com: 1 secret; options api_url=https://***@a.example/api," in out
    for secret in ("key-pass-1", "opt-pass-2", "opt-user-3"):
        assert secret not in out + err
    assert [line for line in err.splitlines() if "URL's password" in line] == [
        f"warning: store.url: the URL's password is {PLAIN_TEXT}: remove it from the file and "
        "set PASSERELLE_STORE__URL in the environment instead",
        f"warning: stores[0].options.api_url: the URL's password is {PLAIN_TEXT}: remove it "
        "from the file and set PASSERELLE_STORES__0__OPTIONS__API_URL in the environment instead",
    ]


def test_no_warning_for_a_file_without_secrets_or_for_options_that_are_not_secret(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        '[backend]\nurl = "https://api.example.com"\nmerchant = "m"\n'
        '[store]\nurl = "postgresql://passerelle@db.internal/inbox"\n'
        '[[stores]]\nplatform = "shopify"\nid = "a.myshopify.com"\n'
        'options = { api_version = "2024-10", shop_domain = "a.myshopify.com" }\n',
    )

    assert config_checks.secrets_in_file(path) == []
    assert config_checks.secrets_in_file(tmp_path / "absent.toml") == []


# Platform checks of a store's options


class CheckedPlatform(TestPlatform):
    """The test platform, asking for an `api_key` option and an `https` API base URL."""

    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        problems = []
        if not store.options.get("api_key"):
            problems.append(StoreProblem("options.api_key", "is required to read orders"))
        base = store.options.get("api_base_url", "https://")
        if not base.startswith("https://"):
            problems.append(StoreProblem("options.api_base_url", "must be an https:// URL"))
        if store.options.get("api_key") == "quote-me":
            # A careless plugin quoting a secret: the check masks it.
            problems.append(StoreProblem("", f"the key {store.options['api_key']} is a test key"))
        return problems


class BrokenPlatform(TestPlatform):
    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        raise KeyError(store.secrets[0].get_secret_value())


TEST_STORES = """
[backend]
url = "https://api.example.com"
merchant = "m"

[[stores]]
platform = "test"
id = "ok"
options = { api_key = "key-0001" }

[[stores]]
platform = "test"
id = "no-key"
options = { api_base_url = "http://api.example.com" }

[[stores]]
platform = "test"
id = "quoted"
options = { api_key = "quote-me" }
"""

ONE_TEST_STORE = TEST_STORES.partition('[[stores]]\nplatform = "test"\nid = "no-key"')[0]


def check_one_store(path: Path) -> tuple[int, str, str]:
    return check(
        "--config",
        str(path),
        env={"PASSERELLE_BACKEND__TOKEN": "t", "PASSERELLE_STORES__0__SECRETS": "whsec-0"},
    )


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    platforms: dict[str, object] = {"test": CheckedPlatform()}
    monkeypatch.setattr(config_cli, "installed_platforms", lambda: platforms)
    return platforms


def test_check_reports_what_each_platform_finds_in_its_stores_and_exits_1(
    tmp_path: Path, checked: dict[str, object]
) -> None:
    path = write(tmp_path, TEST_STORES)
    env = {
        "PASSERELLE_BACKEND__TOKEN": "t",
        **{f"PASSERELLE_STORES__{n}__SECRETS": f"whsec-{n}" for n in range(3)},
    }

    code, out, err = check("--config", str(path), env=env)

    assert (code, out) == (1, "")
    assert [line for line in err.splitlines() if not line.startswith("warning: ")] == [
        f"{path}: 3 problems",
        "  stores[1].options.api_key: is required to read orders",
        "  stores[1].options.api_base_url: must be an https:// URL",
        "  stores[2]: the key ******** is a test key",
    ]


def test_check_passes_when_every_platform_is_content(
    tmp_path: Path, checked: dict[str, object]
) -> None:
    path = write(tmp_path, ONE_TEST_STORE)

    code, out, err = check_one_store(path)

    assert code == 0
    assert out.startswith(f"{path}: OK\n")
    assert [line for line in err.splitlines() if PLAIN_TEXT not in line] == []


def test_a_platform_failing_its_check_is_a_problem_of_the_store_without_its_secrets(
    tmp_path: Path, checked: dict[str, object]
) -> None:
    checked["test"] = BrokenPlatform()
    code, _, err = check_one_store(write(tmp_path, ONE_TEST_STORE))

    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("  ")] == [
        "  stores[0]: the test plugin failed to check the store: KeyError: '********'"
    ]


def test_a_platform_asks_nothing_of_its_stores_by_default() -> None:
    assert TestPlatform().check_store(Store("test", "s")) == ()


# Back-end timeouts


def test_backend_timeouts_default_to_the_clients_and_are_overridable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from passerelle.backend import client

    bare = write(tmp_path, '[backend]\nurl = "http://127.0.0.1:1"\ntoken = "t"\nmerchant = "m"\n')
    backend = Settings.load(bare).backend
    assert (backend.connect_timeout, backend.timeout, backend.total_timeout) == (
        client.DEFAULT_CONNECT_TIMEOUT,
        client.DEFAULT_TIMEOUT,
        client.DEFAULT_TOTAL_TIMEOUT,
    )

    monkeypatch.setenv("PASSERELLE_BACKEND__TOTAL_TIMEOUT", "12.5")
    monkeypatch.setenv("PASSERELLE_BACKEND__CONNECT_TIMEOUT", "0.75")
    backend = Settings.load(write(tmp_path, VALID)).backend
    assert (backend.connect_timeout, backend.timeout, backend.total_timeout) == (0.75, 10.0, 12.5)


@pytest.mark.parametrize("value", ["0", "-1", '"inf"', '"nan"', '"soon"'])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_reported(
    tmp_path: Path, value: str
) -> None:
    path = write(
        tmp_path,
        f'[backend]\nurl = "http://127.0.0.1:1"\ntoken = "t"\nmerchant = "m"\n'
        f"connect_timeout = {value}\ntimeout = {value}\ntotal_timeout = {value}\n",
    )

    reported = problems(path)
    assert [problem.split(":")[0] for problem in reported] == [
        "backend.connect_timeout",
        "backend.timeout",
        "backend.total_timeout",
    ]


class _ConsumerKeys(BaseModel):
    consumer_ref: SecretStr
    """A secret whose name does not look like one."""
    site_label: str = ""


class _TypedOptionsPlatform(TestPlatform):
    options_model = _ConsumerKeys

    def check_store(self, store: Store) -> Sequence[StoreProblem]:
        # A careless plugin quoting an option in its message.
        return [
            StoreProblem("options.site_label", f"is odd next to {store.options['consumer_ref']}")
        ]


def test_an_option_the_platform_declares_secret_is_masked_whatever_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        '[backend]\nurl = "https://api.example.com"\ntoken = "tok-0123456789"\nmerchant = "m"\n'
        '[[stores]]\nplatform = "acme"\nid = "s1"\nsecrets = ["whsec-123"]\n'
        'options = { consumer_ref = "ck_live_0987654321", site_label = "north" }\n'
    )
    monkeypatch.setattr(config_cli, "installed_platforms", lambda: {"acme": TestPlatform()})
    platforms = {"acme": _TypedOptionsPlatform()}

    lines = config_cli.summary(Settings.load(path), platforms)
    problems = config_checks.store_problems(Settings.load(path), platforms)

    assert "  acme s1: 1 secret; options consumer_ref=********, site_label=north" in lines
    assert [str(p) for p in problems] == ["stores[0].options.site_label: is odd next to ********"]


def test_a_batch_cutoff_on_a_webhook_platform_s_store_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        '[backend]\nurl = "https://api.example.com"\ntoken = "tok-0123456789"\nmerchant = "m"\n'
        '[[stores]]\nplatform = "acme"\nid = "s1"\nsecrets = ["whsec-123"]\ncutoff = "09:00"\n'
    )

    problems = config_checks.store_problems(Settings.load(path), {"acme": TestPlatform()})

    assert [str(p) for p in problems] == [
        "stores[0].cutoff: a batch cutoff is for a file platform's store; acme sends webhooks,"
        " which have none"
    ]


@pytest.mark.parametrize(
    ("key", "value"), [("lease", "inf"), ("backoff_cap", "1e300"), ("backoff_base", "nan")]
)
def test_dispatcher_durations_past_a_day_or_not_numbers_are_refused(
    tmp_path: Path, key: str, value: str
) -> None:
    path = tmp_path / "passerelle.toml"
    path.write_text(
        '[backend]\nurl = "https://api.example.com"\ntoken = "tok-0123456789"\nmerchant = "m"\n'
        f"[dispatcher]\n{key} = {value}\n"
    )
    with pytest.raises(ConfigError) as refused:
        Settings.load(path)
    assert [problem.key for problem in refused.value.problems] == [f"dispatcher.{key}"]
