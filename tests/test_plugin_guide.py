"""The "Write a plugin" guide's code, run literally, block after block in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = (Path(__file__).parents[1] / "docs" / "writing-a-plugin.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", GUIDE, re.DOTALL)


def test_every_code_block_of_the_guide_runs() -> None:
    assert len(BLOCKS) >= 6
    namespace: dict[str, object] = {"__name__": "guide"}
    for number, block in enumerate(BLOCKS, 1):
        code = compile(block, f"docs/writing-a-plugin.md block {number}", "exec", dont_inherit=True)
        exec(code, namespace)  # noqa: S102
    assert "AcmePlatform" in namespace
