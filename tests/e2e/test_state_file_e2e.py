"""`state_file`: what apiproxy remembers for legacy clients outlives its restart, killed or stopped.

The echo of a 1.3 create's PortSpecs (Docker 0.6.1 kept what a create gave, and inspect showed it) is
what apiproxy alone knows: without the file a new apiproxy shows the daemon's value instead."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from support import Apiproxy, deadline_poll, request, start_apiproxy

GIVEN = ["1111", "2222/udp"]


def _started(docker_sock: str, state: Path | None) -> Apiproxy:
    return start_apiproxy(docker_sock, *(("--config", str(state.with_suffix(".toml"))) if state else ()))


def _create(proxy: Apiproxy, image: str, made: list[str]) -> str:
    assert proxy.sock is not None
    reply = request(proxy.sock, "POST", "/v1.3/containers/create", {"Image": image, "Cmd": ["true"],
                                                                     "PortSpecs": GIVEN})
    assert reply.status in (200, 201), reply
    made.append(reply.json()["Id"])
    return str(reply.json()["Id"])


def _port_specs(proxy: Apiproxy, ident: str) -> object:
    assert proxy.sock is not None
    return request(proxy.sock, "GET", f"/v1.3/containers/{ident}/json").json()["Config"]["PortSpecs"]


def test_echoes_outlive_a_kill_and_a_stop(docker_sock: str, image: str, made: list[str], tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.with_suffix(".toml").write_text(f'state_file = "{state}"\n')
    first = _started(docker_sock, state)
    try:
        killed = _create(first, image, made)
        assert _port_specs(first, killed) == GIVEN
        # Written within a few seconds of the change, so that even a killed apiproxy leaves it.
        deadline_poll(lambda: state.exists() and killed.encode() in state.read_bytes(), timeout=20)
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    finally:
        first.process.kill()
        first.stop()
    second = _started(docker_sock, state)
    try:
        assert _port_specs(second, killed) == GIVEN, second.log
        assert "remembered entries read" in second.log
        stopped = _create(second, image, made)  # then stopped at once: only the stop writes it
    finally:
        assert second.stop() == 0, second.log
    third = _started(docker_sock, state)
    forgetful = _started(docker_sock, None)
    try:
        assert (_port_specs(third, killed), _port_specs(third, stopped)) == (GIVEN, GIVEN), third.log
        assert _port_specs(forgetful, stopped) != GIVEN
    finally:
        third.stop()
        forgetful.stop()
