"""Ports of a container that is not running, as 2013 daemons showed them: inspect's NetworkSettings.Ports
and PortMapping null (releaseNetwork reset NetworkSettings), the list's Ports empty: null at 1.5-1.8 (v0.7.6,
a nil []APIPort), [] at 1.9 (v0.8.1 engine.Table), "" at 1.0-1.4."""
from __future__ import annotations

import json
from typing import Any

import pytest

from apiproxy.api.routes import match_legacy
from apiproxy.api.versions import Version
from apiproxy.translation.chain import ChainExchange


def _answer(path: str, client: Version, body: Any, kind: str = "docker") -> Any:
    route = match_legacy("GET", path)
    assert route is not None
    transform = ChainExchange.build(route, client, Version(1, 41), path, kind, upstream_api=Version(1, 41)) \
        .response_body(200, [])
    assert transform is not None
    return json.loads(transform.feed(json.dumps(body).encode()) + transform.close())


def _inspect(state: dict[str, Any], ports: Any) -> dict[str, Any]:
    return {"Id": "a" * 64, "Name": "/x", "State": state, "Config": {}, "HostConfig": {},
            "NetworkSettings": {"IPAddress": "", "Ports": ports}}


@pytest.mark.parametrize("kind", ["docker", "podman"])
def test_inspect_ports_are_null_unless_running(kind: str) -> None:
    for ports in ({}, {"80/tcp": None}):  # dockerd's, Podman's for a container never started
        answer = _answer("/containers/x/json", Version(1, 9), _inspect({"Running": False}, ports), kind)
        assert answer["NetworkSettings"]["Ports"] is None
    running = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    for state in ({"Running": True}, {"Running": False, "Paused": True}):
        answer = _answer("/containers/x/json", Version(1, 9), _inspect(state, dict(running)), kind)
        assert answer["NetworkSettings"]["Ports"] == running


@pytest.mark.parametrize(("client", "running_mapping"), [(Version(1, 2), {"80": "8080"}),
                                                         (Version(1, 5), {"Tcp": {"80": "8080"}, "Udp": {}})])
def test_inspect_port_mapping_is_null_unless_running(client: Version, running_mapping: Any) -> None:
    """v0.3.4-v0.6.3 (API 1.0-1.5): PortMapping set at a start, NetworkSettings reset at a stop."""
    running = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    stopped = _answer("/containers/x/json", client, _inspect({"Running": False}, {"80/tcp": None}))
    assert stopped["NetworkSettings"]["PortMapping"] is None
    started = _answer("/containers/x/json", client, _inspect({"Running": True}, running))
    assert started["NetworkSettings"]["PortMapping"] == running_mapping


@pytest.mark.parametrize(("client", "empty"), [(Version(1, 4), ""), (Version(1, 5), None), (Version(1, 8), None),
                                               (Version(1, 9), [])])
def test_a_list_without_ports_says_so_in_each_versions_form(client: Version, empty: Any) -> None:
    row = {"Id": "a" * 64, "Image": "b", "Command": "true", "Created": 1, "Status": "Exited (0) 1 second ago",
           "State": "exited", "Names": ["/x"], "Ports": []}
    assert _answer("/containers/json", client, [row])[0]["Ports"] == empty


def test_podman_lists_no_port_for_a_container_not_running() -> None:
    port = {"PrivatePort": 80, "PublicPort": 39285, "Type": "tcp", "IP": ""}
    rows = [{"Id": "a" * 64, "Image": "b", "Command": "true", "Created": 1, "Status": "Created", "State": state,
             "Names": [f"/{state}"], "Ports": [dict(port)]} for state in ("created", "exited", "running")]
    listed = _answer("/containers/json", Version(1, 9), rows, "podman")
    assert [row["Ports"] for row in listed] == [[], [], [port]]
