"""Settings from the environment: APIPROXY_ + a config key in capitals, `__` between levels. Pure.

`APIPROXY_LOG__FORMAT=json` is `[log] format = "json"`; the i-th listener's keys are
`APIPROXY_LISTENERS__<i>__<KEY>` (i = 0, 1, ... without gaps); a list is comma-separated
values, a boolean `true` or `false`, a number as the schema types it. A container is
configured this way (compose's `environment:`), so every key of the schema has its variable,
and a name that is none, or a value that does not parse, is an error naming the variable.
"""
from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

PREFIX = "APIPROXY_"
# Read by apiproxy but no setting: where the schemas are (apiproxy.api.datafiles).
NOT_SETTINGS = frozenset({"APIPROXY_SCHEMAS"})
INDEX = "<i>"  # a listener's number, in names written for people


class VariableError(Exception):
    """Problems, each as (variable name, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))
        self.problems = problems


def variable(key: str) -> str:
    """The variable of a dotted key: listeners.0.mode, or listeners[].mode for any listener."""
    parts = [INDEX if part == "[]" else part for part in re.split(r"\.|(\[\])\.?", key) if part]
    return PREFIX + "__".join(part if part == INDEX or part.isdigit() else part.upper() for part in parts)


def _leaves(spec: dict[str, Any], key: str) -> Iterator[str]:
    if spec.get("type") == "object" and "properties" in spec:
        for name, child in spec["properties"].items():
            yield from _leaves(child, f"{key}.{name}" if key else name)
    elif spec.get("type") == "array" and spec.get("items", {}).get("type") == "object":
        yield from _leaves(spec["items"], f"{key}[]")
    else:
        yield key


def all_variables(schema: dict[str, Any]) -> list[str]:
    """Every setting's variable, listeners' with <i>: what an unknown name is compared with."""
    return [variable(key) for key in _leaves(schema, "")]


def _leaf(schema: dict[str, Any], parts: list[str]) -> tuple[list[str | int], dict[str, Any]] | None:
    """The path (keys and listener indices) and spec of the setting `parts` name; None if none."""
    spec, path = schema, list[str | int]()
    for part in parts:
        if spec.get("type") == "object" and "properties" in spec and part.lower() in spec["properties"]:
            spec = spec["properties"][part.lower()]
            path.append(part.lower())
        elif spec.get("type") == "array" and spec.get("items", {}).get("type") == "object" \
                and re.fullmatch(r"0|[1-9][0-9]{0,5}", part):
            spec = spec["items"]
            path.append(int(part))
        else:
            return None
    if not path or spec.get("type") == "object" or \
            (spec.get("type") == "array" and spec.get("items", {}).get("type") == "object"):
        return None  # a table, or the list of listeners: set its keys one by one
    return path, spec


def parse_value(text: str, spec: dict[str, Any]) -> Any:
    """`text` as the schema's type wants it; ValueError saying what was expected."""
    kind = spec.get("type", "string")
    if kind == "boolean":
        if text.strip().lower() not in ("true", "false"):
            raise ValueError(f"{text!r} is no boolean: give true or false")
        return text.strip().lower() == "true"
    if kind == "integer":
        if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):
            raise ValueError(f"{text!r} is no integer")
        return int(text)
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is no number") from None
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is no finite number")
        return int(number) if number.is_integer() and re.fullmatch(r"\s*[+-]?[0-9]+\s*", text) else number
    if kind == "array":
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def _suggestion(name: str, schema: dict[str, Any]) -> str:
    generic = re.sub(r"__[0-9]+__", f"__{INDEX}__", name)
    close = difflib.get_close_matches(generic, all_variables(schema), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def read(environ: Mapping[str, str], schema: dict[str, Any],
         listeners_in_file: int = 0) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings `environ` gives, as a config file's data but for the listeners (by their
    number: `merged` puts them over the file's), and which variable set each dotted key.
    VariableError for a name that is no setting, a value that does not parse, or a listener
    numbered past the next one (neither the file's nor the environment's)."""
    data: dict[str, Any] = {}
    origins: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    listeners: dict[int, dict[str, Any]] = {}
    listener_names: dict[int, list[str]] = {}
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in NOT_SETTINGS:
            continue
        found = _leaf(schema, name[len(PREFIX):].split("__"))
        if found is None:
            problems.append((name, "no such setting: APIPROXY_ variables are apiproxy's configuration"
                                   + _suggestion(name, schema)))
            continue
        path, spec = found
        try:
            value = parse_value(environ[name], spec)
        except ValueError as error:
            problems.append((name, str(error)))
            continue
        origins[".".join(map(str, path))] = name
        index = path[1] if len(path) > 2 else None
        if isinstance(index, int):  # listeners.<i>.<key>...
            table, rest = listeners.setdefault(index, {}), path[2:]
            listener_names.setdefault(index, []).append(name)
        else:
            table, rest = data, path
        for part in rest[:-1]:
            table = table.setdefault(str(part), {})
        table[str(rest[-1])] = value
    count = listeners_in_file
    for index in sorted(listeners):
        if index > count:
            problems += [(name, f"listener {index} without listener {count}: number them 0, 1, ... "
                                "without gaps") for name in listener_names[index]]
        count = max(count, index + 1)
    if problems:
        raise VariableError(problems)
    if listeners:
        data["listeners"] = listeners
    return data, origins


def merged(file: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
    """The file's data with the environment's on top, table by table; listener i's keys over the
    file's listener i (a listener past the file's is added)."""
    result = dict(file)
    for key, value in environment.items():
        old = result.get(key)
        if key == "listeners":
            listeners = list(old) if isinstance(old, list) else []
            for index, entry in sorted(value.items()):
                if index < len(listeners) and isinstance(listeners[index], dict):
                    listeners[index] = merged(listeners[index], entry)
                else:
                    listeners.append(entry)
            result[key] = listeners
        elif isinstance(value, dict) and isinstance(old, dict):
            result[key] = merged(old, value)
        else:
            result[key] = value
    return result


def name_variables(key: str, origins: Mapping[str, str]) -> str:
    """A problem's dotted key, with the variables it came from: the key's own, those under it
    (a listener the environment made), or the one above it (an item of a list)."""
    names = [name for origin, name in origins.items()
             if origin == key or origin.startswith(key + ".") or key.startswith(origin + ".")]
    return f"{', '.join(sorted(set(names)))} ({key})" if names and key else key
