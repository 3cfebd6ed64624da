"""Print the mutation score of a finished mutmut run: ``python mutation_score.py STATS``, STATS
being the file ``mutmut export-cicd-stats`` writes (``mutants/mutmut-cicd-stats.json``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def score(stats: dict[str, int]) -> str:
    """One line: the mutants killed (a timeout kills too) out of those tried."""
    killed = stats["killed"] + stats["timeout"]
    tried = killed + stats["survived"] + stats["no_tests"]
    share = 100 * killed / tried if tried else 0.0
    return (
        f"mutation score: {killed} of {tried} killed ({share:.1f} %), "
        f"{stats['survived']} survived, {stats['no_tests']} untouched by the suite"
    )


if __name__ == "__main__":
    print(score(json.loads(Path(sys.argv[1]).read_text())))
