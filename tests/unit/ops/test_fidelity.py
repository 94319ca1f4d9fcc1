"""The fidelity audit (schemas/fidelity/*.json) and docs/fidelity.md."""
from __future__ import annotations

import ast
import json
from functools import lru_cache
from pathlib import Path

import pytest

from apiproxy import cli
from apiproxy.ops import fidelity

REPO = Path(__file__).resolve().parents[3]
FOLDER = REPO / "schemas/fidelity"
# Fields whose rows the fix helpers of issue 14 write in their own fixes-*.json: until those files are
# merged here, these alone may lack a row. Once any fixes-*.json exists, every field needs its row.
FIX_OWNED = {
    ("GET /containers/json", "Status"), ("GET /containers/json", "SizeRw"), ("GET /containers/json", "SizeRootFs"),
    ("GET /containers/ps", "Status"), ("GET /containers/ps", "SizeRw"), ("GET /containers/ps", "SizeRootFs"),
    ("GET /containers/json", "Ports/*/IP"), ("GET /containers/json", "Ports/*/PublicPort"),
    ("GET /containers/ps", "Ports/*/IP"), ("GET /containers/ps", "Ports/*/PublicPort"),
    ("GET /containers/{id}/json", "Config/PortSpecs"), ("GET /containers/{id}/json", "Config/Image"),
    ("GET /containers/{id}/json", "HostConfig/Links"),
    ("GET /events", "status"), ("GET /events", "id"), ("GET /events", "from"), ("GET /events", "time"),
}


@lru_cache(maxsize=1)
def rows() -> list[fidelity.Row]:
    return fidelity.load(FOLDER)


def test_docs_fidelity_md_is_current() -> None:
    written = (REPO / "docs/fidelity.md").read_text()
    assert written == fidelity.markdown(rows(), fidelity.disagreements(FOLDER)), \
        "docs/fidelity.md is out of date: run `apiproxy fidelity --markdown > docs/fidelity.md`"


def test_every_field_of_a_legacy_answer_or_stream_item_has_a_row() -> None:
    missing = fidelity.uncovered(rows())
    if not list(FOLDER.glob("fixes-*.json")):  # before the fix helpers' rows are merged
        missing = [gap for gap in missing if (gap[0], gap[2]) not in FIX_OWNED]
    assert missing == [], "fields of schemas/legacy with no row in schemas/fidelity:\n" + \
        "\n".join(fidelity.uncovered_text(gap) for gap in missing)


def test_the_schema_fields_are_found() -> None:
    fields = fidelity.schema_fields()
    assert ("GET /containers/{id}/json", "response", "Config/PortSpecs") in fields
    assert ("POST /images/{name}/insert", "stream_item", "progressDetail/current") in fields
    assert fields[("GET /containers/json", "response", "Names")][0].minor == 6


def test_rows_are_well_formed() -> None:
    assert fidelity.problems(rows()) == []
    assert {row.action for row in rows()} <= set(fidelity.ACTIONS)
    for row in rows():
        if row.action == "untranslatable":
            assert len(row.how.strip()) > 20, f"{row.answer} {row.field}: say why it is untranslatable"


def test_a_bad_row_is_reported() -> None:
    bad = fidelity.Row("t", "GET /info", "response", "Debug", "1.9-1.0", "", "", "", "kept", "", None)
    found = fidelity.problems([bad])
    assert any("action 'kept'" in problem for problem in found)
    assert any("backwards" in problem for problem in found)
    assert any("only a `same` row may name no test" in problem for problem in found)


@lru_cache(maxsize=None)
def _functions(path: str) -> set[str]:
    tree = ast.parse((REPO / path).read_text(), filename=path)
    return {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name.startswith("test_")}


def test_every_test_a_row_names_exists() -> None:
    missing = []
    for name in sorted(fidelity.test_names(rows())):
        path, function = fidelity.split_test(name)
        if not (REPO / path).is_file() or function not in _functions(path):
            missing.append(name)
    assert missing == [], "rows name tests that do not exist:\n" + "\n".join(missing)


def test_the_docs_disagreements_say_why() -> None:
    listed = json.loads((FOLDER / "behaviour.json").read_text())["docs_disagree"]
    assert listed
    for entry in listed:
        assert {"answer", "field", "versions", "docs", "daemons", "why"} <= set(entry) and entry["why"].strip(), entry


def test_the_command_prints_the_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fidelity", "--markdown"]) == 0
    assert capsys.readouterr().out == fidelity.markdown()
