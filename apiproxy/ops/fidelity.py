"""The fidelity audit (issue 14): how each field a 2013 client parses reads today. Pure.

The rows are data (schemas/fidelity/*.json, one file per topic): for a field of a legacy answer or
stream item, or a behaviour, its 2013 form and source, what apiproxy answers today, what apiproxy
does about it (same, translated, untranslatable with the reason) and the test that proves it.
This module loads and checks them, lists the fields of schemas/legacy that need a row, and writes
docs/fidelity.md (`apiproxy fidelity --markdown`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from apiproxy.api.datafiles import schemas_dir
from apiproxy.api.routes import legacy_routes
from apiproxy.api.upstream_info import known_versions
from apiproxy.api.validation import legacy_pointer, registry
from apiproxy.api.versions import Version, parse_version

ACTIONS = ("same", "translated", "untranslatable")
PARTS = ("response", "stream_item", "header", "status", "behaviour")
SCHEMA_PARTS = ("response", "stream_item")
BODY = "(body)"  # the field of an answer that is a bare value (a string, a list of strings)
KEYS = ("answer", "part", "field", "versions", "form_2013", "source", "today", "action", "how", "test")


@dataclass(frozen=True)
class Row:
    topic: str
    answer: str
    part: str
    field: str
    versions: str
    form_2013: str
    source: str
    today: str
    action: str
    how: str
    test: str | None

    def covers(self, version: Version) -> bool:
        first, last = version_range(self.versions)
        return first <= version <= last


def version_range(text: str) -> tuple[Version, Version]:
    """"1.0-1.9" (or one version "1.7") as its first and last version."""
    first, _, last = text.partition("-")
    return parse_version(first.strip()), parse_version((last or first).strip())


def load(folder: Path | None = None) -> list[Row]:
    """Every row of every topic file, in file and row order."""
    root = folder if folder is not None else schemas_dir() / "fidelity"
    rows = []
    for path in sorted(root.glob("*.json")):
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
        rows += [Row(path.stem, **{key: raw.get(key) for key in KEYS}) for raw in data["rows"]]
    return rows


def disagreements(folder: Path | None = None) -> list[dict[str, str]]:
    """The `docs_disagree` lists: where the v1.x docs' examples are not what the daemons shipped."""
    root = folder if folder is not None else schemas_dir() / "fidelity"
    found: list[dict[str, str]] = []
    for path in sorted(root.glob("*.json")):
        with open(path, encoding="utf-8") as file:
            found += json.load(file).get("docs_disagree", [])
    return found


def problems(rows: list[Row]) -> list[str]:
    """What is wrong with rows in themselves (not whether their tests exist)."""
    found = []
    for row in rows:
        name = f"{row.topic}: {row.answer} {row.field} ({row.versions})"
        if row.action not in ACTIONS:
            found.append(f"{name}: action {row.action!r} is not one of {', '.join(ACTIONS)}")
        if row.part not in PARTS:
            found.append(f"{name}: part {row.part!r} is not one of {', '.join(PARTS)}")
        if row.action in ("translated", "untranslatable") and not (row.how or "").strip():
            found.append(f"{name}: {row.action} needs `how` (the step, or the reason)")
        if row.action != "same" and not row.test:
            found.append(f"{name}: only a `same` row may name no test")
        try:
            first, last = version_range(row.versions)
        except ValueError:
            found.append(f"{name}: versions {row.versions!r} is not a range like 1.0-1.9")
            continue
        if first > last:
            found.append(f"{name}: versions run backwards")
    return found


# The fields schemas/legacy gives each answer ---------------------------------------------------

def _fields(schema: Any, resolver: Any, prefix: str) -> Iterator[str]:
    """The paths of the named fields of `schema` ("Config/PortSpecs"; "*" is any item or key)."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        yield from _fields(resolved.contents, resolved.resolver, prefix)
    for combined in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(combined, ()):
            yield from _fields(branch, resolver, prefix)
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}/{name}" if prefix else name
        yield path
        yield from _fields(sub, resolver, path)
    for conditional in ("then", "else"):
        yield from _fields(schema.get(conditional), resolver, prefix)
    for inner in ("items", "additionalProperties"):
        if isinstance(schema.get(inner), dict):
            yield from _fields(schema[inner], resolver, f"{prefix}/*" if prefix else "")


@lru_cache(maxsize=1)
def schema_fields() -> dict[tuple[str, str, str], tuple[Version, ...]]:
    """(endpoint, part, field) → the legacy versions whose schema of that part has the field.

    A part whose schema names no field (a bare string, a list of strings) has the field "(body)".
    """
    resolver = registry().resolver()
    found: dict[tuple[str, str, str], list[Version]] = {}
    for route in legacy_routes():
        for version in known_versions()[0]:
            if not route.exists_in(version):
                continue
            for part in SCHEMA_PARTS:
                pointer = legacy_pointer(route.key, version, part)
                if pointer is None:
                    continue
                resolved = resolver.lookup(pointer)
                names = set(_fields(resolved.contents, resolved.resolver, "")) or {BODY}
                for name in names:
                    found.setdefault((route.key, part, name), []).append(version)
    return {key: tuple(versions) for key, versions in sorted(found.items())}


def uncovered(rows: list[Row]) -> list[tuple[str, str, str, tuple[Version, ...]]]:
    """(endpoint, part, field, versions) of each field of a legacy response or stream item, with the
    versions no row covers."""
    missing = []
    for (answer, part, name), versions in schema_fields().items():
        mine = [row for row in rows if (row.answer, row.part, row.field) == (answer, part, name)]
        lacking = tuple(v for v in versions if not any(row.covers(v) for row in mine))
        if lacking:
            missing.append((answer, part, name, lacking))
    return missing


def uncovered_text(missing: tuple[str, str, str, tuple[Version, ...]]) -> str:
    answer, part, name, versions = missing
    return f"{answer} {part} {name}: {', '.join(str(v) for v in versions)}"

# Tests the rows name ----------------------------------------------------------------------------

def test_names(rows: list[Row]) -> set[str]:
    return {row.test for row in rows if row.test}


def split_test(name: str) -> tuple[str, str]:
    """"tests/e2e/test_x.py::test_y" (a [param] suffix dropped) as the file and the function."""
    path, _, function = name.partition("::")
    return path, function.split("[", 1)[0]


# docs/fidelity.md ----------------------------------------------------------------------------

TOPICS = {
    "containers": "Containers", "images": "Images", "misc": "Build, auth, info, version, commit",
    "streams": "Streams: progress, events, order and last lines", "behaviour": "Behaviour",
}
INTRO = """\
# Fidelity: how each field a 2013 client parses reads through apiproxy

<!-- generated by `apiproxy fidelity --markdown` from schemas/fidelity/*.json; a test keeps it current -->

Every field of every legacy answer and stream item (schemas/legacy), with the strings, ids, times,
sizes, messages, stream orders and behaviours 2013 clients parsed: how the 2013 daemons (0.3-0.8.1,
API 1.0-1.9) wrote it, what apiproxy answers today after translation, what apiproxy does about it
(**same**: nothing to do; **translated**: a version change or named step writes the 2013 form;
**untranslatable**: served as closely as the daemon allows, with the reason) and the test that
proves it. Sources: the daemons' source (moby tags v0.3.x-v0.8.1), the v1.x docs' examples, and
`FORMATS-2013.md` of the reference notes.
"""


def _cell(text: Any) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", " ")


def counts(rows: list[Row]) -> str:
    tally = {action: sum(1 for row in rows if row.action == action) for action in ACTIONS}
    return ", ".join(f"{tally[action]} {action}" for action in ACTIONS)


def markdown(rows: list[Row] | None = None, disagree: list[dict[str, str]] | None = None) -> str:
    rows = load() if rows is None else rows
    disagree = disagreements() if disagree is None else disagree
    lines = [INTRO, f"{len(rows)} rows: {counts(rows)}.", ""]
    for topic in sorted({row.topic for row in rows}, key=lambda t: (t not in TOPICS, list(TOPICS).index(t)
                                                                      if t in TOPICS else 0, t)):
        mine = [row for row in rows if row.topic == topic]
        lines += [f"## {TOPICS.get(topic, topic)} (`{topic}.json`: {counts(mine)})", "",
                  "| answer | part | field | versions | 2013 | today | action | how | source | test |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(_cell(value) for value in (
            f"`{row.answer}`", row.part, f"`{row.field}`", row.versions, row.form_2013, row.today,
            f"**{row.action}**", row.how, row.source, f"`{row.test}`" if row.test else "")) + " |"
            for row in mine]
        lines.append("")
    lines += ["## Where the v1.x docs' examples disagree with the daemons", "",
              "tests/e2e/test_fidelity_docs.py compares each example with apiproxy's answer; these differences pass, "
              "and why (fields as the test names them, a regular expression).", "",
              "| answer | field | versions | the docs | the daemons | why |", "| --- | --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(_cell(value) for value in (
        f"`{entry['answer']}`", f"`{entry['field']}`", entry["versions"], entry["docs"], entry["daemons"], entry["why"]))
        + " |" for entry in disagree]
    return "\n".join(lines) + "\n"
