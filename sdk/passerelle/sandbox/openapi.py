"""The back end's OpenAPI document, generated from the sandbox app (whose bodies are the contract
models). ``python -m passerelle.sandbox.openapi > docs/openapi.json`` regenerates the checked-in
copy."""

from __future__ import annotations

import json
import sys
from typing import Any

from passerelle.sandbox.app import create_app, sandbox_of

__all__ = ["REGENERATE", "openapi_document", "render_openapi"]

REGENERATE = "python -m passerelle.sandbox.openapi > docs/openapi.json"
"""The command that rewrites the checked-in document."""


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the back-end API, as a JSON-ready dict."""
    app = create_app()
    try:
        return app.openapi()
    finally:
        sandbox_of(app).close()


def render_openapi() -> str:
    """The document as the checked-in file holds it: indented JSON with a final newline."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    sys.stdout.write(render_openapi())


if __name__ == "__main__":
    main()
