"""Value steps of query parameters that carry filters: the JSON `filters` map old daemons filled in. Pure."""
from __future__ import annotations

import json
from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step


def _filters(text: Any) -> dict[str, Any]:
    """A `filters` parameter as a map of lists; both forms daemons read ({"k": ["v"]} and {"k": {"v": true}})."""
    try:
        parsed = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {key: list(value) if isinstance(value, (dict, list)) else [value] for key, value in parsed.items()}


def _adding(query: dict[str, Any], name: str, values: list[str]) -> dict[str, Any]:
    """`query` whose filters also give `values` for `name`."""
    filters = _filters(query.get("filters"))
    filters.setdefault(name, []).extend(values)
    query["filters"] = json.dumps(filters)
    return query


@value_step
def add_filter(query: Any, context: Context, name: str, value: str) -> Any:
    """`name=value` among the query's filters, unless the client gave that filter itself."""
    if not isinstance(query, dict) or name in _filters(query.get("filters")):
        return query
    return _adding(query, name, [value])


@value_step
def filter_as_reference(query: Any, context: Context) -> Any:
    """images/json's `filter` (a name glob) as the `reference` filter that replaced it."""
    if not isinstance(query, dict) or not query.get("filter"):
        return query
    return _adding(query, "reference", [query.pop("filter")])
