"""Read a few top-level fields of a JSON body without paying for the rest of it.

A receiver must name a delivery's keys before it answers, and a platform's body is often 10 KB or
more of which one id matters. `top_level_fields` reads the first KiB, partially, and takes every
wanted field that is complete there; only when one is missing or cut short does it read the whole
body, and then without building what it skips. Either way the values are those a full parse
gives, integers exact.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Any, Final

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

__all__ = ["top_level_fields"]

_HEAD_BYTES: Final = 1024


def top_level_fields(body: bytes, names: Collection[str]) -> dict[str, Any]:
    """The fields of the JSON object `body` that are among `names` (absent ones left out).

    Raises `ValueError` (naming the line and column) when `body` is not a JSON object. A body
    whose wanted fields all lie in its first KiB is not read further, so a syntax error after
    them goes unnoticed here; and of a field given twice, the first is taken there, the last
    otherwise (JSON leaves duplicate names undefined).
    """
    wanted = frozenset(names)
    if len(body) > _HEAD_BYTES:
        found = _complete_in_head(body, wanted)
        if found is not None:
            return found
    model, names_of = _validator(wanted)
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        raise ValueError(exc.errors(include_url=False)[0]["msg"]) from None
    return {names_of[field]: getattr(parsed, field) for field in parsed.model_fields_set}


def _complete_in_head(body: bytes, wanted: frozenset[str]) -> dict[str, Any] | None:
    try:
        head = pydantic_core.from_json(body[:_HEAD_BYTES], allow_partial=True)
    except ValueError:
        return None
    if not isinstance(head, dict):
        return None
    # The last field of a partial object may be cut short (a number missing digits, an object
    # missing members): only the fields before it are certainly complete.
    complete = list(head)[:-1]
    found = {name: head[name] for name in complete if name in wanted}
    return found if len(found) == len(wanted) else None


@lru_cache(maxsize=64)
def _validator(wanted: frozenset[str]) -> tuple[type[BaseModel], dict[str, str]]:
    """A model of just the `wanted` fields (any value, the rest skipped unbuilt), and which
    name each of its fields stands for."""
    names = dict(enumerate(sorted(wanted)))
    fields: dict[str, Any] = {
        f"f{n}": (Any, Field(default=None, alias=name)) for n, name in names.items()
    }
    model = create_model("TopLevelFields", __config__=ConfigDict(extra="ignore"), **fields)
    return model, {f"f{n}": name for n, name in names.items()}
