"""tests/data/dockerpy-suites/untranslatable.json: each docker-py test apiproxy cannot make pass says why,
citing its FLOOR-DELTAS.md row, or, for a daemon change without a version gate, the moby commit (which
README's Compatibility section lists too)."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ENTRIES = json.loads((ROOT / "tests/data/dockerpy-suites/untranslatable.json").read_text())["untranslatable"]


def test_every_entry_cites_a_row_and_says_why() -> None:
    assert ENTRIES
    for entry in ENTRIES:
        assert entry["suite"] and entry["test"] and entry["reason"], entry
        assert entry["floor_deltas"], f"{entry['test']}: cite its FLOOR-DELTAS.md row"


def test_a_change_without_a_version_gate_cites_its_moby_commit_and_readme_lists_it() -> None:
    readme = (ROOT / "README.md").read_text()
    compatibility = readme[readme.index("\n## Compatibility\n"):readme.index("\n## How it is built\n")]
    for entry in ENTRIES:
        if not entry["floor_deltas"].startswith("no row"):
            continue
        commit = re.search(r"moby ([0-9a-f]{10,40})\b", entry["floor_deltas"])
        assert commit, f"{entry['test']}: no FLOOR-DELTAS row, so name the moby commit"
        assert "any client version on the daemon's own socket" in entry["floor_deltas"], entry["test"]
        assert f"moby {commit.group(1)}" in compatibility, f"README's Compatibility does not list {commit.group(1)}"


def test_every_race_with_the_test_daemons_says_what_their_own_socket_answers() -> None:
    races = json.loads((ROOT / "tests/data/dockerpy-suites/environment.json").read_text())["environment"]
    untranslatable = {entry["test"] for entry in ENTRIES}
    for entry in races:
        assert entry["suites"] and entry["upstreams"] and entry["reason"], entry
        assert re.fullmatch(r"\d{3} .+", entry["daemon_answer"]), entry["test"]
        assert entry["test"] not in untranslatable, f"{entry['test']}: in both lists"
