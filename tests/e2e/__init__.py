"""End-to-end tests: `passerelle serve` subprocesses on real ports, the sandbox as back end.

A package, so its module names (`e2e.test_faults`) do not collide with other test folders'. The
connector tests' signed platform (`tests/connector/testplatform.py`) signs the deliveries here
and, installed as a plugin (`plugin/`), verifies them in the subprocesses: both folders are made
importable.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _folder in (str(_HERE.parent / "connector"), str(_HERE / "plugin")):
    if _folder not in sys.path:
        sys.path.append(_folder)
