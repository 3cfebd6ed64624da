"""Every ```python block of the documentation (docs/**/*.md and README.md) runs, so an example
that stops working fails the tests. Blocks of other languages (```sh, ```console, ```toml) are
shown, not run.

A page's blocks run in order in one namespace, as a reader would type them. A block whose first
line names a module file (``# passerelle_acme/__init__.py``) is written to that path in a
temporary folder on `sys.path` and imported, so that later blocks can import it, and its names
are in scope of the blocks after it; a block naming a test file (``# tests/test_x.py``) runs like
any other.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
_FENCE = re.compile(
    r"^(?P<indent>[ ]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$",
    re.MULTILINE | re.DOTALL,
)
_MODULE_FILE = re.compile(r"#\s*(?P<path>[\w/]+\.py)\s*$")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks of a Markdown text: the line each starts on, and its code."""
    blocks = []
    for fence in _FENCE.finditer(text):
        if fence["info"].strip().split(" ")[0] not in ("python", "py"):
            continue
        indent = len(fence["indent"])
        body = "".join(line[indent:] for line in fence["body"].splitlines(keepends=True))
        blocks.append((text.count("\n", 0, fence.start()) + 2, body))
    return blocks


PAGES = sorted(
    path
    for path in [*(ROOT / "docs").rglob("*.md"), ROOT / "README.md"]
    if python_blocks(path.read_text(encoding="utf-8"))
)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_python_block_of_the_page_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    # A real module, so that dataclasses and pydantic models the blocks define resolve their
    # annotations as they would in a reader's file.
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for line, code in python_blocks(page.read_text(encoding="utf-8")):
        where = f"{page.relative_to(ROOT)}, block at line {line}"
        header = _MODULE_FILE.match(code.splitlines()[0]) if code.strip() else None
        if header and not header["path"].startswith("tests/"):
            namespace.update(_import_written(header["path"], code, tmp_path, monkeypatch))
            continue
        exec(compile(code, where, "exec", dont_inherit=True), namespace)  # noqa: S102


def _import_written(
    path: str, code: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, object]:
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(code, encoding="utf-8")
    name = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    # Another test may have imported a module of that name from elsewhere: this page's wins.
    monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.invalidate_caches()
    module = importlib.import_module(name)
    monkeypatch.setitem(sys.modules, name, module)
    return {key: value for key, value in vars(module).items() if not key.startswith("__")}


def test_blocks_of_other_languages_are_not_taken_for_python() -> None:
    text = "```sh\nrm -rf /\n```\n\n  ```python\n  x = 1\n  ```\n\n```pycon\n>>> 1\n```\n"

    assert python_blocks(text) == [(6, "x = 1\n")]
