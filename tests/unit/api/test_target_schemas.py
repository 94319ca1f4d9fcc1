"""Every translated request body meets the schema of the version it is sent at."""
from __future__ import annotations

import json
from typing import Any

import pytest

from apiproxy.api import validation
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.memory import Memory
from apiproxy.api.routes import match_legacy
from apiproxy.api.upstream_info import known_versions
from apiproxy.api.versions import Version, parse_version

TARGETS = [Version(1, 12), Version(1, 24), Version(1, 41), Version(1, 45)]
LEGACY = known_versions()[0]

# What a client of each version put in a create body (the fields of its time).
CREATE: dict[str, dict[str, Any]] = {
    "1.0": {"Hostname": "h", "User": "", "Memory": 67108864, "MemorySwap": -1, "AttachStdin": False,
            "AttachStdout": True, "AttachStderr": True, "PortSpecs": ["80", "8080:81/udp"], "Tty": False,
            "OpenStdin": False, "StdinOnce": False, "Env": ["A=1"], "Cmd": ["date"], "Dns": ["10.0.0.1"],
            "Image": "busybox", "Volumes": {"/v": {}}, "VolumesFrom": "other,third"},
    "1.3": {"Entrypoint": ["sh"], "NetworkDisabled": False},
    "1.4": {"WorkingDir": "/tmp", "Privileged": True,
            "LxcConf": [{"Key": "lxc.utsname", "Value": "legacy"}]},
    "1.5": {"Domainname": "example.invalid"},
    "1.6": {"ExposedPorts": {"22/tcp": {}}, "CpuShares": 512},
}


def _create_body(version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for since, fields in CREATE.items():
        if parse_version(since) <= version:
            body.update(fields)
    return body


START = {"Binds": ["/tmp:/tmp:ro"], "LxcConf": [{"Key": "lxc.utsname", "Value": "docker"}],
         "Privileged": False, "PortBindings": {"22/tcp": [{"HostIp": "", "HostPort": "11022"}]},
         "Links": ["db:db"], "PublishAllPorts": True}


def _translate(method: str, path: str, client: Version, target: Version, body: Any,
               memory: Memory) -> Any:
    route = match_legacy(method, path)
    assert route is not None
    exchange = ChainExchange.build(route, client, target, path, "docker", memory)
    transform = exchange.request_body([(b"Content-Type", b"application/json")])
    if transform is None:
        return body
    raw = transform.feed(json.dumps(body).encode() if body is not None else b"") + transform.close()
    return json.loads(raw) if raw else None


def _check(endpoint: str, target: Version, body: Any) -> None:
    pointer = validation.target_pointer(endpoint, target)
    assert pointer is not None, f"no schema for {endpoint} at {target}"
    problem = validation.problem(pointer, body)
    assert problem is None, f"{endpoint} at {target}: {problem}\n{json.dumps(body, indent=1)}"


@pytest.mark.parametrize("target", TARGETS, ids=str)
@pytest.mark.parametrize("client", LEGACY, ids=str)
def test_create_meets_the_target_schema(client: Version, target: Version) -> None:
    _check("POST /containers/create", target,
           _translate("POST", "/containers/create", client, target, _create_body(client), Memory()))


@pytest.mark.parametrize("client", LEGACY, ids=str)
def test_at_1_12_host_settings_of_create_travel_with_start(client: Version) -> None:
    """At API 1.10-1.14 create took no host settings: they wait for the container's start."""
    memory, target = Memory(), Version(1, 12)
    route = match_legacy("POST", "/containers/create")
    assert route is not None
    create = ChainExchange.build(route, client, target, "/containers/create", "docker", memory)
    transform = create.request_body([])
    assert transform is not None
    sent = json.loads(transform.feed(json.dumps(_create_body(client)).encode()) + transform.close())
    _check("POST /containers/create", target, sent)
    answer = create.response_body(201, [])
    assert answer is not None
    answer.feed(b'{"Id":"abc123","Warnings":null}')
    answer.close()
    start_body = START if client >= Version(1, 3) else None
    start = _translate("POST", "/containers/abc123/start", client, target, start_body, memory)
    _check("POST /containers/{id}/start", target, start)
    assert start["Dns"] == ["10.0.0.1"] and start["VolumesFrom"] == ["other", "third"]
    # A start that gives port bindings overrides those PortSpecs asked for, as in 0.6.5+ daemons.
    expected = START["PortBindings"] if start_body else {"80/tcp": [{"HostIp": "", "HostPort": ""}],
                                                         "81/udp": [{"HostIp": "", "HostPort": "8080"}]}
    assert start["PortBindings"] == expected


@pytest.mark.parametrize("target", [t for t in TARGETS if t < Version(1, 24)], ids=str)
@pytest.mark.parametrize("client", [v for v in LEGACY if v >= Version(1, 3)], ids=str)
def test_start_bodies_meet_the_target_schema(client: Version, target: Version) -> None:
    _check("POST /containers/{id}/start", target,
           _translate("POST", "/containers/abc/start", client, target, START, Memory()))


@pytest.mark.parametrize("target", TARGETS, ids=str)
@pytest.mark.parametrize("client", LEGACY, ids=str)
def test_commit_and_auth_meet_the_target_schema(client: Version, target: Version) -> None:
    _check("POST /commit", target, _translate("POST", "/commit", client, target, _create_body(client), Memory()))
    login = {"username": "u", "password": "p", "email": "e@x"}
    _check("POST /auth", target, _translate("POST", "/auth", client, target, login, Memory()))
