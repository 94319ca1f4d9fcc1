"""apiproxy.ops.state_file: the memory for legacy clients kept across a restart, never a credential."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from apiproxy.ops import config
from apiproxy.ops.config import ConfigError, validate
from apiproxy.ops.state_file import KEPT, StateError, load, restore, save, snapshot, writable
from apiproxy.translation.memory import REMEMBERED, Memory

LISTENER = {"endpoint": "unix:/tmp/legacy.sock"}


def remembering() -> Memory:
    memory = Memory()
    memory.echoes["c1"] = {"Config": {"PortSpecs": ["80"], "Env": ["TOKEN=x"]}}
    memory.host_settings["c2"] = {"Binds": ["/srv:/srv"]}
    memory.commits["i1"] = {"container": "c1", "container_config": {"Cmd": ["true"]}}
    memory.links["c3"] = {"db": "c4"}
    memory.credentials["https://index.docker.io/v1/"] = {"username": "joe", "password": "pw-secret"}
    return memory


def test_a_snapshot_comes_back_whole_without_credentials() -> None:
    given = remembering()
    data = snapshot(given)
    assert b"pw-secret" not in data and b"joe" not in data
    restored = Memory()
    assert restore(restored, data) == 4
    for part in KEPT:
        assert getattr(restored, part) == getattr(given, part)
    assert restored.credentials == {}


def test_what_was_learned_since_start_wins_over_the_file() -> None:
    memory = Memory()
    memory.echoes["c1"] = {"Config": {"PortSpecs": ["443"]}}
    restore(memory, snapshot(remembering()))
    assert memory.echoes["c1"] == {"Config": {"PortSpecs": ["443"]}}
    assert list(memory.echoes) == ["c1"]


def test_a_file_longer_than_memory_keeps_its_newest() -> None:
    memory = Memory()
    for number in range(REMEMBERED + 3):
        memory.commits[f"i{number}"] = {"container": f"c{number}"}
    restored = Memory()
    restore(restored, snapshot(memory))
    assert len(restored.commits) == REMEMBERED and next(iter(restored.commits)) == "i3"


@pytest.mark.parametrize("data, problem", [
    (b"{not json", "not JSON"),
    (b"[]", "not an apiproxy state file"),
    (json.dumps({"format": 99}).encode(), "not an apiproxy state file"),
    (json.dumps({"format": 1, "echoes": []}).encode(), "echoes is not an object of objects"),
    (json.dumps({"format": 1, "links": {"c": "d"}}).encode(), "links is not an object of objects"),
])
def test_what_is_no_state_file_is_refused(data: bytes, problem: str) -> None:
    memory = Memory()
    with pytest.raises(StateError, match=problem):
        restore(memory, data)
    assert all(getattr(memory, part) == {} for part in KEPT)


def test_save_then_load(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    assert load(path, Memory()) == 0  # no file yet: nothing to read, no problem
    save(path, snapshot(remembering()))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["state.json"]
    memory = Memory()
    assert load(path, memory) == 4 and memory.echoes == remembering().echoes


def test_a_leftover_of_a_crash_is_written_over_at_0600(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    leftover = tmp_path / "state.json.new"
    leftover.write_text("half")
    leftover.chmod(0o644)
    save(str(path), snapshot(remembering()))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not leftover.exists()


def test_an_unreadable_file_is_set_aside_for_a_person(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"garbage")
    with pytest.raises(StateError, match=r"not JSON.*moved to .*state\.json\.unreadable"):
        load(str(path), Memory())
    assert not path.exists() and (tmp_path / "state.json.unreadable").read_bytes() == b"garbage"


def test_a_save_that_cannot_write_says_where(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="cannot write .*/missing/state.json"):
        save(str(tmp_path / "missing" / "state.json"), b"{}")


def test_the_configuration_refuses_a_file_it_cannot_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_group_exists", lambda name: name == "docker")
    assert writable(str(tmp_path / "state.json"))
    assert not writable(str(tmp_path))  # a directory is no file
    assert not writable(str(tmp_path / "missing" / "state.json"))
    assert validate({"listeners": [LISTENER], "state_file": str(tmp_path / "state.json")}).state_file == \
        str(tmp_path / "state.json")
    with pytest.raises(ConfigError) as refused:
        validate({"listeners": [LISTENER], "state_file": str(tmp_path / "missing" / "state.json")})
    assert ("state_file", f"cannot write {tmp_path}/missing/state.json (its directory must be writable)") \
        in refused.value.problems
