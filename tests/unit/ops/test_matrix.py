"""The compatibility matrix and docs/compatibility.md."""
from __future__ import annotations

from pathlib import Path

import pytest

from apiproxy.translation import changes
from apiproxy.ops import matrix
from apiproxy.api.versions import Version

REPO = Path(__file__).resolve().parents[3]


def test_docs_compatibility_md_is_current() -> None:
    written = (REPO / "docs/compatibility.md").read_text()
    assert written == matrix.markdown(matrix.MATRIX_TARGETS), \
        "docs/compatibility.md is out of date: run `apiproxy versions --markdown > docs/compatibility.md`"


def test_cells_say_how_each_endpoint_is_served() -> None:
    target = Version(1, 41)
    assert matrix.cell("POST /containers/{id}/start", Version(1, 3), target).kind == matrix.EMULATED
    assert matrix.cell("GET /images/json", Version(1, 4), target).kind == matrix.TRANSLATED
    assert matrix.cell("GET /containers/{id}/changes", Version(1, 9), target).kind == matrix.NATIVE
    assert matrix.cell("POST /build", Version(1, 1), target).kind == matrix.TRANSLATED
    assert "GET /images/viz" in matrix.text(target)


def test_nothing_of_the_2013_api_is_unsupported() -> None:
    for _, target, kind in matrix.MATRIX_TARGETS:
        assert all(cell.kind != matrix.UNSUPPORTED for _, cells in matrix.rows(target, kind) for cell in cells)


def test_a_change_declared_unsupported_shows_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = changes.EndpointChange("GET /info", "gone", {s: [] for s in changes.SECTIONS}, [], None, None,
                                     "no way to do it", None)
    monkeypatch.setattr(changes, "profile", lambda kind, endpoint, target: [refused] if endpoint == "GET /info" else [])
    assert matrix.cell("GET /info", Version(1, 9), Version(1, 41)) == matrix.Cell(matrix.UNSUPPORTED, "no way to do it")
    assert "U GET /info: no way to do it" in matrix.text(Version(1, 41))
