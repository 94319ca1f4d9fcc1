"""What README.md shows that is generated: it must say what apiproxy does now."""
from __future__ import annotations

from pathlib import Path

import pytest

from apiproxy import cli
from apiproxy.ops import matrix
from apiproxy.ops.config_reference import BEGIN, END, reference, section_in
from apiproxy.api.datafiles import load_json
from apiproxy.api.versions import Version

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def test_the_configuration_reference_is_current() -> None:
    assert section_in(README) == reference(load_json("config.schema.json")), \
        "README.md's configuration reference is out of date: paste `apiproxy config-reference` over it"


def test_the_reference_names_every_key_of_the_schema() -> None:
    table = reference(load_json("config.schema.json"))
    for key in ("unversioned_version", "upstream.endpoint", "listeners[].policy.deny", "limits.idle_timeout",
                "log.access", "log.format", "metrics.listen", "grace_period"):
        assert f"| `{key}` |" in table
    assert table.startswith(BEGIN) and table.rstrip().endswith(END)


def test_the_compatibility_matrix_is_current() -> None:
    assert f"```\n{matrix.text(Version(1, 41))}```" in README, \
        "README.md's compatibility matrix is out of date: paste `apiproxy versions --target 1.41` over it"


def test_the_command_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config-reference"]) == 0
    assert capsys.readouterr().out == reference(load_json("config.schema.json"))
