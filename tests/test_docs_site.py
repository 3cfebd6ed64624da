"""The documentation site's own checks: a page that fetches from elsewhere is caught, the
configuration page names variables the loader really reads, and the README's links lead to files
that exist. (`tox -e docs` builds the whole site strictly.)"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import ModuleType

import pytest

from passerelle.connector.config import ConfigError, Settings

ROOT = Path(__file__).parents[1]


@pytest.fixture
def sitegen(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))
    import sitegen.config_page
    import sitegen.offline

    return sitegen


@pytest.mark.parametrize(
    "page",
    [
        '<script src="https://unpkg.com/iframe-worker/shim"></script>',
        '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">',
        '<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>',
        '<img srcset="local.png 1x, https://cdn.example.com/big.png 2x">',
        "<style>@import 'https://cdn.example.com/theme.css';</style>",
        '<div style="background: url(https://cdn.example.com/bg.svg)"></div>',
    ],
)
def test_a_page_fetching_from_elsewhere_is_caught(sitegen: ModuleType, page: str) -> None:
    assert len(sitegen.offline.html_urls(page)) == 1


def test_links_a_reader_follows_and_local_assets_are_fine(sitegen: ModuleType) -> None:
    page = (
        '<a href="https://semver.org/">semver</a><link rel="canonical" href="https://x.org/">'
        '<script src="assets/javascripts/bundle.js"></script><img src="../shot.png">'
        '<link rel="stylesheet" href="assets/stylesheets/main.css">'
    )

    assert sitegen.offline.html_urls(page) == []


def test_a_stylesheet_fetching_a_remote_font_is_caught(sitegen: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<p>fine</p>")
    (tmp_path / "assets" / "main.css").write_text(
        "@font-face { src: url('https://fonts.gstatic.com/roboto.woff2') }"
    )

    assert sitegen.offline.remote_assets(tmp_path) == [
        "assets/main.css: https://fonts.gstatic.com/roboto.woff2"
    ]


def test_every_variable_of_the_configuration_page_is_one_the_loader_reads(
    sitegen: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("PASSERELLE_"):
            monkeypatch.delenv(name)
    config = tmp_path / "passerelle.toml"
    config.write_text(
        '[backend]\nurl = "https://payments.example.com"\nmerchant = "m_1"\n'
        'token = "sk_test_0123456789"\n'
    )
    keys = [key for section in sitegen.config_page.sections() for key in section.keys]
    assert len(keys) > 30

    for key in keys:
        variable = key.variable.replace("<N>", "0").replace("<NAME>", "COLOUR")
        with monkeypatch.context() as env:
            env.setenv(variable, "1")
            try:
                Settings.load(config)
                problems: tuple[str, ...] = ()
            except ConfigError as exc:
                problems = tuple(str(problem) for problem in exc.problems)
        misrouted = [p for p in problems if "unknown key" in p or "not a " in p]
        assert misrouted == [], (key, problems)


def test_the_readme_links_to_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [target for target in targets if not re.match(r"[a-z]+:", target)]

    assert "docs/compatibility.md" in local
    assert [target for target in local if not (ROOT / target).exists()] == []
