"""Does `verify` compare in constant time? Count the calls to `hmac.compare_digest`, however the
plugin reached it: through the kit's `HmacSignature`, ``hmac.compare_digest``, or a name bound by
``from hmac import compare_digest`` (``secrets.compare_digest`` is the same function)."""

from __future__ import annotations

import contextlib
import hmac
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

__all__ = ["counted_compare_digest"]


@contextlib.contextmanager
def counted_compare_digest(calls: list[int]) -> Iterator[None]:
    """Count in ``calls[0]`` each call of `hmac.compare_digest` made inside, under any name a
    loaded module bound it to."""
    original = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls[0] += 1
        return original(a, b)

    bound = list(_bindings(original))
    for module, name in bound:
        setattr(module, name, counting)
    try:
        yield
    finally:
        for module, name in bound:
            setattr(module, name, original)


def _bindings(function: object) -> Iterator[tuple[ModuleType, str]]:
    """Each (module, global name) bound to `function`, `hmac`'s own included."""
    for module in list(sys.modules.values()):
        try:
            names = [name for name, value in list(vars(module).items()) if value is function]
        except TypeError:  # a stand-in placed in sys.modules without a __dict__
            continue
        for name in names:
            yield module, name
