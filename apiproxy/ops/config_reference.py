"""The configuration reference in README.md, written from schemas/config.schema.json. Pure.

Each key's row names its APIPROXY_* variable too (apiproxy.ops.config_env).

The schema is what apiproxy checks a file against, so a reference drawn from it cannot
drift from what apiproxy accepts; `apiproxy config-reference` prints it.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from apiproxy.ops.config_env import variable

BEGIN = "<!-- config-reference: `apiproxy config-reference` writes this table; a test keeps it current -->"
END = "<!-- end of config-reference -->"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, str) else str(value)


def _kind(spec: dict[str, Any]) -> str:
    """What a value may be, in a few words."""
    if "enum" in spec:
        return " or ".join(f"`{_toml(value)}`" for value in spec["enum"])
    kind = spec.get("type", "any")
    if kind == "array":
        return f"array of {_kind(spec.get('items', {}))}s"
    if "minimum" in spec:
        kind += f" ≥ {spec['minimum']}"
    if "exclusiveMinimum" in spec:
        kind += f" > {spec['exclusiveMinimum']}"
    return kind


def _rows(properties: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted key, spec) for every leaf, depth first, in the schema's order."""
    for name, spec in properties.items():
        key = f"{prefix}{name}"
        if spec.get("type") == "object" and "properties" in spec:
            yield from _rows(spec["properties"], f"{key}.")
        elif spec.get("type") == "array" and spec.get("items", {}).get("type") == "object":
            yield from _rows(spec["items"]["properties"], f"{key}[].")
        else:
            yield key, spec


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def reference(schema: dict[str, Any]) -> str:
    """A markdown table of every key: its environment variable, type, default, meaning; between the
    markers README keeps it in."""
    lines = [BEGIN, "", "| key | environment variable | value | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for key, spec in _rows(schema["properties"], ""):
        default = f"`{_toml(spec['default'])}`" if "default" in spec else "—"
        meaning = spec.get("description", "")
        if "description" in spec.get("items", {}):
            meaning += f" Each is {spec['items']['description'][0].lower()}{spec['items']['description'][1:]}"
        lines.append(f"| `{key}` | `{variable(key)}` | {_cell(_kind(spec))} | {default} | {_cell(meaning)} |")
    return "\n".join([*lines, "", END]) + "\n"


def section_in(document: str) -> str | None:
    """The reference as it stands in `document` (README.md), markers included; None without them."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        return None
    return document[start:end + len(END)] + "\n"
