"""Writing Markdown safely from text the code holds (help texts, docstrings, schema notes)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def cell(text: str) -> str:
    """`text` for one table cell: on one line, its pipes and angle brackets kept as text."""
    parts = []
    last = 0
    for span in _CODE_SPAN.finditer(text):
        parts.append(_escape(text[last : span.start()]))
        parts.append(span.group(0).replace("|", "\\|"))
        last = span.end()
    parts.append(_escape(text[last:]))
    return " ".join("".join(parts).split())


def prose(text: str) -> str:
    """`text` as a paragraph: angle brackets outside code spans kept as text."""
    parts = []
    last = 0
    for span in _CODE_SPAN.finditer(text):
        parts.append(text[last : span.start()].replace("<", "&lt;"))
        parts.append(span.group(0))
        last = span.end()
    parts.append(text[last:].replace("<", "&lt;"))
    return "".join(parts).strip()


def code(text: str) -> str:
    """`text` as an inline code span, whatever backticks it holds."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """A Markdown table; the cells are written as given (escape them with `cell`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
