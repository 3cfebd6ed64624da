"""``python -m bench [NAME [ARGS...]]``: run the benchmark ``bench/NAME.py``, or all of them."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast


def available() -> list[str]:
    """The benchmark names: the modules of this package, private ones excepted."""
    here = str(Path(__file__).parent)
    return sorted(
        info.name for info in pkgutil.iter_modules([here]) if not info.name.startswith("_")
    )


def run_one(name: str, argv: list[str]) -> int:
    module = importlib.import_module(f"bench.{name}")
    main = cast(Callable[[list[str]], int | None], module.main)
    return main(argv) or 0


def run(argv: Sequence[str]) -> int:
    names = available()
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: python -m bench [NAME [ARGS...]]\nbenchmarks: {', '.join(names)}")
        return 0
    if not argv:
        status = 0
        for name in names:
            print(f"== {name}", flush=True)
            status = max(status, run_one(name, []))
        return status
    name = argv[0]
    if name not in names:
        print(f"unknown benchmark {name!r}; benchmarks: {', '.join(names)}", file=sys.stderr)
        return 2
    return run_one(name, list(argv[1:]))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
