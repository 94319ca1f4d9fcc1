"""The JSON Schemas of each version's endpoints (schemas/legacy, schemas/targets). Pure.

A legacy endpoint lists schema entries by `since` version; an entry's parts
hold until a later entry gives them anew.  Each validator is built once and
refers into its file with a JSON pointer, so relative `$ref`s resolve.

Every check asks jsonschema-rs first, which answers valid or not in about a
microsecond; only an invalid value goes to jsonschema, whose best_match words
the error.  A unit test holds the two to the same verdicts.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import quote

import jsonschema
import jsonschema_rs
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from apiproxy.api.datafiles import load_json, schemas_dir
from apiproxy.api.versions import Version, parse_version

PARTS = ("query", "request", "response", "stream_item")
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@lru_cache(maxsize=1)
def _files() -> dict[str, dict[str, Any]]:
    """Every schema file under legacy/ and targets/, by relative path."""
    root = schemas_dir()
    found = {}
    for folder in ("legacy", "targets"):
        for path in sorted((root / folder).glob("*.json")):
            found[f"{folder}/{path.name}"] = load_json(f"{folder}/{path.name}")
    return found


@lru_cache(maxsize=1)
def registry() -> Registry:
    return Registry().with_resources(
        (data["$id"], DRAFT202012.create_resource(data)) for data in _files().values())


@lru_cache(maxsize=1)
def _legacy_index() -> dict[str, list[tuple[Version, str, dict[str, Any]]]]:
    """endpoint → [(since, pointer of the entry, entry)] in version order."""
    index: dict[str, list[tuple[Version, str, dict[str, Any]]]] = {}
    for name, data in _files().items():
        if not name.startswith("legacy/"):
            continue
        for endpoint, entries in data.get("endpoints", {}).items():
            for position, entry in enumerate(entries):
                pointer = f"{data['$id']}#/endpoints/{_escape(endpoint)}/{position}"
                index.setdefault(endpoint, []).append((parse_version(entry["since"]), pointer, entry))
    for entries in index.values():
        entries.sort(key=lambda item: item[0])
    return index


@lru_cache(maxsize=4096)
def legacy_pointer(endpoint: str, version: Version, part: str) -> str | None:
    """Where the schema of `part` of `endpoint` at `version` is, or None if it has none."""
    found = None
    for since, pointer, entry in _legacy_index().get(endpoint, []):
        if since > version:
            break
        if part in entry:
            found = f"{pointer}/{part}"
    return found


@lru_cache(maxsize=1)
def _target_index() -> dict[Version, tuple[str, dict[str, Any]]]:
    return {parse_version(data["version"]): (data["$id"], data) for name, data in _files().items()
            if name.startswith("targets/")}


def target_pointer(endpoint: str, version: Version, part: str = "request") -> str | None:
    found = _target_index().get(version)
    if found is None or part not in found[1].get("endpoints", {}).get(endpoint, {}):
        return None
    return f"{found[0]}#/endpoints/{_escape(endpoint)}/{part}"


@lru_cache(maxsize=None)
def _validator(pointer: str) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator({"$ref": pointer}, registry=registry())


@lru_cache(maxsize=1)
def _fast_registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(data["$id"], data) for data in _files().values()])


@lru_cache(maxsize=None)
def fast_validator(pointer: str) -> Any:
    """The jsonschema-rs validator of `pointer` (its fragment percent-encoded, as a URI needs)."""
    base, _, fragment = pointer.partition("#")
    reference = f"{base}#{quote(fragment, safe='/~')}"
    return jsonschema_rs.validator_for({"$schema": _DIALECT, "$ref": reference}, registry=_fast_registry())


def problem(pointer: str | None, value: Any) -> str | None:
    """The first way `value` breaks the schema at `pointer`, as 'field: message'."""
    if pointer is None or fast_validator(pointer).is_valid(value):
        return None
    error = jsonschema.exceptions.best_match(_validator(pointer).iter_errors(value))
    if error is None:
        return None
    where = ".".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def compile_all() -> int:
    """Build every validator now, at start, rather than on a request. Returns how many."""
    pointers = {legacy_pointer(endpoint, since, part)
                for endpoint, entries in _legacy_index().items()
                for since, _, _ in entries for part in PARTS}
    pointers |= {f"{identifier}#/endpoints/{_escape(endpoint)}/{part}"
                 for identifier, data in _target_index().values()
                 for endpoint, parts in data.get("endpoints", {}).items() for part in parts
                 if isinstance(parts.get(part), (dict, bool))}
    for pointer in pointers:
        if pointer is not None:
            jsonschema.Draft202012Validator.check_schema(
                registry().resolver().lookup(pointer).contents)
            _validator(pointer)
            fast_validator(pointer)
    return len(pointers)
