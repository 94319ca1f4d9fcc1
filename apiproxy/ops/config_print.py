"""The effective configuration as TOML, for `apiproxy check-config --print`. Pure.

What is set (by the file or the environment) is written as a config file would say it, a value
from the environment with its variable in a comment; a default not overridden is a commented-out
line, so the text read back as a file is what was set, and shows what was not.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

HEADER = "# apiproxy's effective configuration: defaults < file < APIPROXY_* environment (command-line options\n" \
         "# not included). A default that nothing overrides is commented out.\n"


def value(item: Any) -> str:
    """A TOML value: string, boolean, number, or a list of them."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        return repr(item)
    if isinstance(item, list):
        return "[" + ", ".join(value(element) for element in item) + "]"
    # JSON's escapes are TOML's, but for DEL, which TOML wants escaped too.
    return json.dumps(str(item), ensure_ascii=False).replace("\x7f", "\\u007f")


def _is_table(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") == "object" and "properties" in spec


def _is_table_list(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") == "array" and _is_table(spec.get("items", {}))


def _table(data: Mapping[str, Any], spec: Mapping[str, Any], key: str, origins: Mapping[str, str]) -> list[str]:
    """The lines of one table's own keys, then of its sub-tables, each under its header."""
    lines: list[str] = []
    properties = spec["properties"]
    for name, child in properties.items():
        if _is_table(child) or _is_table_list(child):
            continue
        dotted = f"{key}.{name}" if key else name
        if name in data:
            origin = origins.get(dotted)
            lines.append(f"{name} = {value(data[name])}" + (f"  # {origin}" if origin else ""))
        elif "default" in child:
            lines.append(f"# {name} = {value(child['default'])}")
    for name, child in properties.items():
        dotted = f"{key}.{name}" if key else name
        if _is_table(child):
            body = _table(data.get(name, {}), child, dotted, origins)
            if body:  # a table nothing sets is all comments, its header too: it reads back as no table
                lines += ["", f"[{dotted}]" if name in data else f"# [{dotted}]", *body]
        elif _is_table_list(child):
            for index, entry in enumerate(data.get(name, [])):
                # Headers name the list, not the index: [[listeners]] starts the next listener.
                body = _table(entry, child["items"], f"{dotted}.{index}", origins)
                lines += ["", f"[[{dotted}]]", *[_unindexed(line, dotted, index) for line in body]]
    return lines


def _unindexed(line: str, list_key: str, index: int) -> str:
    """`[listeners.0.policy]` as TOML writes it under its [[listeners]]: `[listeners.policy]`."""
    for comment in ("", "# "):
        prefix = f"{comment}[{list_key}.{index}."
        if line.startswith(prefix):
            return f"{comment}[{list_key}.{line[len(prefix):]}"
    return line


def toml(data: Mapping[str, Any], schema: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    """`data` (valid against `schema`) as TOML, defaults shown, the environment's values marked."""
    return HEADER + "\n".join(_table(data, schema, "", origins)).lstrip("\n") + "\n"
