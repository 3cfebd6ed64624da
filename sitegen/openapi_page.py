"""The back-end contract's reference page, from ``docs/openapi.json`` (itself generated from the
models and checked by a test): every operation, then every schema, as plain Markdown."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sitegen.markdown import cell, code, prose, table

PATH = "reference/backend-api.md"
SOURCE = Path(__file__).parents[1] / "docs" / "openapi.json"
_METHODS = ("get", "post", "put", "patch", "delete")


def page(source: Path = SOURCE) -> str:
    """The page's Markdown."""
    spec = json.loads(source.read_text(encoding="utf-8"))
    info = spec["info"]
    out = [
        "# Back-end API",
        f"{prose(info['title'])}, version {info['version']} (OpenAPI {spec['openapi']}). This "
        "page is generated at each build from `docs/openapi.json`, which a test keeps equal to "
        "the models the client and the sandbox share; the same file loads in any OpenAPI tool.",
        prose(info.get("description", "")),
        "## Operations",
    ]
    for path, item in spec["paths"].items():
        for method in _METHODS:
            if method in item:
                out += _operation(method, path, item[method])
    out.append("## Schemas")
    for name, schema in spec["components"]["schemas"].items():
        out += _schema(name, schema)
    return "\n\n".join(part for part in out if part) + "\n"


def _operation(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    out = [f"### {method.upper()} `{path}`"]
    if operation.get("summary"):
        out.append(f"**{prose(operation['summary'])}**")
    if operation.get("description"):
        out.append(prose(operation["description"]))
    parameters = operation.get("parameters", [])
    if parameters:
        rows = [
            (
                code(parameter["name"]),
                str(parameter["in"]),
                "yes" if parameter.get("required") else "no",
                cell(_type(parameter.get("schema", {}))),
                cell(parameter.get("description", "")),
            )
            for parameter in parameters
        ]
        out.append(table(("Parameter", "In", "Required", "Type", "Meaning"), rows))
    body = operation.get("requestBody")
    if body:
        kinds = ", ".join(
            f"{code(media)}: {_type(content.get('schema', {}))}"
            for media, content in body.get("content", {}).items()
        )
        out.append(f"Request body ({'required' if body.get('required') else 'optional'}): {kinds}")
    responses: list[tuple[str, ...]] = []
    for status, response in operation.get("responses", {}).items():
        kinds = ", ".join(
            _type(content["schema"]) if "schema" in content else code(media)
            for media, content in response.get("content", {}).items()
        )
        responses.append((code(status), cell(response.get("description", "")), cell(kinds)))
    if responses:
        out.append(table(("Status", "Meaning", "Body"), responses))
    return out


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f"### {name}"]
    if schema.get("description"):
        out.append(prose(schema["description"]))
    properties = schema.get("properties", {})
    if properties:
        required = set(schema.get("required", ()))
        rows = [
            (
                code(field),
                cell(_type(value)),
                "yes" if field in required else "no",
                cell(value.get("description", "")),
            )
            for field, value in properties.items()
        ]
        out.append(table(("Field", "Type", "Required", "Meaning"), rows))
    elif schema.get("enum"):
        out.append("One of " + ", ".join(code(json.dumps(v)) for v in schema["enum"]) + ".")
    else:
        out.append(f"Type: {_type(schema)}.")
    return out


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    for combinator, word in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if combinator in schema:
            return word.join(_type(member) for member in schema[combinator])
    if "const" in schema:
        return code(json.dumps(schema["const"]))
    if "enum" in schema:
        return "one of " + ", ".join(code(json.dumps(value)) for value in schema["enum"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(_type({**schema, "type": k}) for k in kind)
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_type(schema['additionalProperties'])}"
    details = [
        f"{label} {schema[key]}"
        for key, label in (
            ("format", "format"),
            ("pattern", "pattern"),
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("minimum", "min"),
            ("maximum", "max"),
            ("exclusiveMinimum", "above"),
        )
        if key in schema
    ]
    return f"{kind} ({', '.join(details)})" if details else str(kind)


def _anchor(name: str) -> str:
    # The heading id Python-Markdown's toc gives "### Name".
    return re.sub(r"[^\w-]", "", name.lower())
