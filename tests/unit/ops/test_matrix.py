"""The compatibility matrix and docs/compatibility.md."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from apiproxy import cli
from apiproxy.api.routes import match_modern
from apiproxy.translation import chain, changes
from apiproxy.ops import matrix
from apiproxy.api.versions import Version

REPO = Path(__file__).resolve().parents[3]


def test_docs_compatibility_md_is_current() -> None:
    written = (REPO / "docs/compatibility.md").read_text()
    assert written == matrix.markdown(), \
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
    assert matrix.cell("GET /info", Version(1, 9), Version(1, 41)) == matrix.Cell(matrix.UNSUPPORTED, ("no way to do it",))
    assert "U GET /info: no way to do it" in matrix.text(Version(1, 41))


# Clients of 1.10-1.51, per daemon floor -------------------------------------------------------

V1_44 = Version(1, 44)


def modern(key: str, version: str, floor: Version = V1_44) -> matrix.Cell:
    method, template = key.split(" ", 1)
    route = match_modern(method, template)
    assert route is not None and route.key == key
    return matrix.modern_cell(route, Version(*map(int, version.split("."))), floor)


def test_a_client_at_or_above_the_floor_is_the_daemons_own() -> None:
    for version in ("1.44", "1.47", "1.51"):
        assert modern("GET /images/json", version).kind == matrix.NATIVE
    assert modern("GET /images/json", "1.30", Version(1, 24)).kind == matrix.NATIVE


def test_a_client_below_the_floor_is_translated_emulated_or_untranslatable_as_the_changes_say() -> None:
    assert modern("GET /images/json", "1.41").kind == matrix.TRANSLATED  # VirtualSize, <none>:<none>
    assert modern("POST /containers/{id}/start", "1.20").kind == matrix.EMULATED  # a start body: recreated
    assert modern("POST /containers/{id}/start", "1.30").kind == matrix.NATIVE
    create = modern("POST /containers/create", "1.30")
    assert create.kind == matrix.UNTRANSLATABLE and any("KernelMemory" in reason for reason in create.reasons)
    # KernelMemory came with 1.21: an older client cannot have asked it.
    assert not any("KernelMemory" in reason for reason in modern("POST /containers/create", "1.20").reasons)


def test_an_endpoint_not_in_the_clients_version_is_marked() -> None:
    assert modern("PUT /volumes/{name}", "1.30").kind == matrix.ABSENT
    assert modern("POST /containers/{id}/copy", "1.30").kind == matrix.ABSENT
    assert modern("POST /containers/{id}/copy", "1.20").kind == matrix.EMULATED
    assert "GET /containers/{id}/stats (1.17 on)" in matrix.modern_text(V1_44)


@pytest.fixture
def fresh_crossings() -> Iterator[None]:
    """What requests cross is cached per endpoint and versions: a test that fakes a change starts and
    ends with none remembered."""
    chain.crossing.cache_clear()
    yield
    chain.crossing.cache_clear()


def test_the_matrix_is_what_the_change_files_say(monkeypatch: pytest.MonkeyPatch, fresh_crossings: None) -> None:
    """Computed from the changes crossed, never written down: a new entry shows at once."""
    lost = changes.EndpointChange("GET /containers/{id}/top", "ps options are ignored", {s: [] for s in changes.SECTIONS},
                                  [], None, None, None, None, untranslatable="ps options are not passed on")
    fake = changes.VersionChange(Version(1, 43), "", [lost], "changes/1.43.json")
    real = changes.between
    monkeypatch.setattr(changes, "between", lambda client, target, endpoint: real(client, target, endpoint) + (
        ((fake, lost),) if endpoint == lost.endpoint and client < fake.version <= target else ()))
    assert modern("GET /containers/{id}/top", "1.42") == matrix.Cell(matrix.UNTRANSLATABLE,
                                                                     ("ps options are not passed on",))
    assert modern("GET /containers/{id}/top", "1.43").kind == matrix.NATIVE
    assert "U GET /containers/{id}/top (1.10–1.42): ps options are not passed on" in matrix.modern_text(V1_44)


@pytest.mark.parametrize("floor", [floor for _, floor in matrix.FLOORS])
def test_columns_cover_every_client_version_once_and_cells_agree_within_them(floor: Version) -> None:
    spans, table = matrix.modern_table(floor)
    assert spans[0].first == Version(1, 10) and spans[-1].last == matrix.NEWEST_CLIENT
    assert all(later.first.minor == earlier.last.minor + 1 for earlier, later in zip(spans, spans[1:]))
    for route, cells in table:
        for span, cell in zip(spans, cells):
            each = {matrix.modern_cell(route, Version(1, minor), floor) for minor in
                    range(span.first.minor, span.last.minor + 1)} - {matrix.Cell(matrix.ABSENT)}
            assert each == ({cell} if cell.kind != matrix.ABSENT else set()), (route.key, span)


def test_swarm_endpoints_are_marked_not_testable_here() -> None:
    shown = matrix.modern_text(V1_44)
    assert "GET /swarm (1.24 on) *" in shown and "POST /services/create (1.24 on) *" in shown
    assert "* swarm: not testable here" in shown and "GET /containers/json *" not in shown


def test_the_docs_answer_the_question_users_ask() -> None:
    """Will my 1.30 client's docker build work on Docker 29? The first table's first lines say how to read it."""
    spans, table = matrix.modern_table(V1_44)
    column = next(i for i, span in enumerate(spans) if span.first <= Version(1, 30) <= span.last)
    build = next(cells[column] for route, cells in table if route.key == "POST /build")
    assert f"column `{spans[column]}`: **{matrix._SHORT[build.kind]}**" in matrix.markdown()


def test_the_command_prints_both_halves(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["versions", "--floor", "1.40"]) == 0
    assert capsys.readouterr().out == matrix.text(Version(1, 41)) + "\n" + matrix.modern_text(Version(1, 40))
