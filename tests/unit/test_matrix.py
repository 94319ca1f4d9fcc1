"""The compatibility matrix and docs/compatibility.md."""
from __future__ import annotations

from pathlib import Path

from apiproxy import matrix
from apiproxy.versions import Version

REPO = Path(__file__).resolve().parents[2]


def test_docs_compatibility_md_is_current() -> None:
    written = (REPO / "docs/compatibility.md").read_text()
    assert written == matrix.markdown(matrix.MATRIX_TARGETS), \
        "docs/compatibility.md is out of date: run `apiproxy versions --markdown > docs/compatibility.md`"


def test_cells_say_how_each_endpoint_is_served() -> None:
    target = Version(1, 41)
    assert matrix.cell("POST /containers/{id}/start", Version(1, 3), target).kind == matrix.EMULATED
    assert matrix.cell("GET /images/json", Version(1, 4), target).kind == matrix.TRANSLATED
    assert matrix.cell("GET /containers/{id}/changes", Version(1, 9), target).kind == matrix.NATIVE
    unsupported = matrix.cell("POST /build", Version(1, 1), target)
    assert unsupported.kind == matrix.UNSUPPORTED and unsupported.reason
    assert "GET /images/viz" in matrix.text(target)
