"""MkDocs hooks (named in mkdocs.yml): add the generated reference pages, then check that the
built site fetches nothing from elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).parents[1]
# MkDocs loads this file by path; its siblings are imported as the package they are.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sitegen import cli_page, codes_page, config_page, offline, openapi_page  # noqa: E402

CHANGELOG = ROOT / "CHANGELOG.md"


def generated_pages() -> dict[str, str]:
    """Every generated page's Markdown by its path in the site's sources."""
    return {
        cli_page.PATH: cli_page.page(),
        codes_page.PATH: codes_page.page(),
        openapi_page.PATH: openapi_page.page(),
        config_page.PATH: config_page.page(),
        "changelog.md": CHANGELOG.read_text(encoding="utf-8"),
    }


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path, content in generated_pages().items():
        files.append(File.generated(config, path, content=content))
    return files


def on_post_build(config: MkDocsConfig) -> None:
    remote = offline.remote_assets(Path(config.site_dir))
    if remote:
        raise PluginError(
            "the site fetches assets from elsewhere (it must work offline):\n  "
            + "\n  ".join(remote)
        )
