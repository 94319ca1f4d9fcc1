"""What modern and unversioned clients are told of versions, and how bare paths are read.

/version and /_ping advertise the daemon's ApiVersion capped at the newest version apiproxy knows
the changes of, and MinAPIVersion 1.0; a bare path is read at that version (unversioned_version =
"auto"), so dockerode, which sends no version, gets today's answers, and the docker CLI, which
negotiates, settles on a version apiproxy serves.
"""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from apiproxy.api.upstream_info import newest_known
from apiproxy.api.versions import parse_version
from support import (ON_PODMAN, Apiproxy, access_lines, deadline_poll, docker, events_until, request,
                     start_apiproxy)


@pytest.fixture(scope="module")
def daemon_version(docker_sock: str) -> dict[str, Any]:
    """The daemon's own /version (a bare path: the daemon answers at its newest version)."""
    reply = request(docker_sock, "GET", "/version")
    assert reply.status == 200, reply
    return reply.json()


@pytest.fixture(scope="module")
def advertised(daemon_version: dict[str, Any]) -> str:
    return str(min(parse_version(daemon_version["ApiVersion"]), newest_known()))


@pytest.fixture
def container(docker_sock: str, image: str) -> Iterator[str]:
    """A created container, so that lists and events have one to show."""
    name = f"apiproxy-e2e-advertised-{uuid.uuid4().hex[:12]}"
    created = request(docker_sock, "POST", f"/containers/create?name={name}", {"Image": image, "Cmd": ["true"]})
    assert created.status == 201, created
    yield name
    request(docker_sock, "DELETE", f"/containers/{name}?force=1")


def test_version_advertises_what_apiproxy_serves(proxy_sock: str, daemon_version: dict[str, Any],
                                                 advertised: str) -> None:
    for path in ("/version", f"/v{advertised}/version", "/v1.24/version"):
        reply = request(proxy_sock, "GET", path)
        assert reply.status == 200, (path, reply)
        # Only the two versions change: Podman's Components and all else stay the daemon's.
        assert reply.json() == {**daemon_version, "ApiVersion": advertised, "MinAPIVersion": "1.0"}, path


def test_ping_advertises_what_apiproxy_serves(proxy_sock: str, docker_sock: str, advertised: str) -> None:
    for method in ("GET", "HEAD"):
        for path in ("/_ping", f"/v{advertised}/_ping"):
            through, direct = request(proxy_sock, method, path), request(docker_sock, method, "/_ping")
            assert through.status == direct.status == 200, (method, path)
            assert through.header("API-Version") == advertised, (method, path, through.headers)
            assert through.body == direct.body


def test_legacy_clients_keep_the_daemons_version(proxy_sock: str, daemon_version: dict[str, Any]) -> None:
    reply = request(proxy_sock, "GET", "/v1.9/version").json()
    assert reply["ApiVersion"] == daemon_version["ApiVersion"]
    assert reply.get("MinAPIVersion") == daemon_version.get("MinAPIVersion")


def test_dockerodes_bare_requests_get_todays_answers(proxy: Apiproxy, container: str, advertised: str) -> None:
    assert proxy.sock is not None
    since = int(time.time()) - 1
    listed = request(proxy.sock, "GET", "/containers/json?all=1")
    assert listed.status == 200, listed
    mine = [item for item in listed.json() if f"/{container}" in item["Names"]]
    assert len(mine) == 1, listed.json()
    assert mine[0]["State"] == "created" and isinstance(mine[0]["Ports"], list)
    version = request(proxy.sock, "GET", "/version").json()
    assert (version["ApiVersion"], version["MinAPIVersion"]) == (advertised, "1.0")
    # A bounded stream: the daemon ends it at `until`, a second from now.
    events = request(proxy.sock, "GET", f"/events?since={since - 60}&until={events_until()}")
    assert events.status == 200, events
    items = [json.loads(line) for line in events.text.splitlines() if line.strip()]
    assert all("Type" in item and "Action" in item and "Actor" in item for item in items), items
    if not ON_PODMAN:  # Podman's until is unreliable (see test_deltas)
        assert any(item["Actor"]["Attributes"].get("name") == container for item in items), items
    deadline_poll(lambda: _logged(proxy, f"{advertised} -> ", " GET /containers/json 200 "))


def test_the_modern_cli_negotiates_a_version_apiproxy_serves(proxy: Apiproxy, image: str, advertised: str,
                                                            tmp_path: Path) -> None:
    """The 28.x CLI (support.MODERN_CLI, /usr/local/bin/docker) negotiates from /_ping's API-Version."""
    assert proxy.sock is not None
    # With no daemon to ask, the CLI shows its own newest version (28.2: 1.50).
    alone = docker(str(tmp_path / "nobody.sock"), "version", "--format", "{{.Client.APIVersion}}", check=False)
    own = parse_version(alone.stdout.decode().split()[0])
    shown = docker(proxy.sock, "version", "--format",
                   "{{.Client.APIVersion}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}}")
    client, server, minimum = shown.stdout.decode().split()
    assert (server, minimum) == (advertised, "1.0")
    assert client == str(min(own, parse_version(advertised)))
    docker(proxy.sock, "ps", "-a")
    docker(proxy.sock, "run", "--rm", image, "true")
    # What the CLI sent went at the version it settled on, which apiproxy forwarded or climbed.
    deadline_poll(lambda: _logged(proxy, f"{client} -> ", " POST /containers/create 201 "))


def test_unversioned_version_19_serves_bare_2013_paths(docker_sock: str, tmp_path: Path) -> None:
    config = tmp_path / "apiproxy.toml"
    config.write_text('unversioned_version = "1.9"\n')
    proxy = start_apiproxy(docker_sock, "--config", str(config))
    try:
        assert proxy.sock is not None
        listed = request(proxy.sock, "GET", "/images/json")
        assert listed.status == 200, listed
        ids = [item["Id"] for item in listed.json()]
        assert ids and not any(id.startswith("sha256:") for id in ids), ids  # bare hex, as before Docker 1.10
    finally:
        assert proxy.stop() == 0, proxy.log
    assert _logged(proxy, "1.9 -> ", " GET /images/json 200 "), proxy.log


def _logged(proxy: Apiproxy, start: str, part: str) -> bool:
    return any(line.startswith(start) and part in line for line in access_lines(proxy.log))
