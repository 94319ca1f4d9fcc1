"""Smoke test of whichever upstream tests/run started (dockerd 20.10, dockerd 26.1,
podman 4.3, dockerd 28.5) and of the run's registry. Talks to them directly, never
through the proxy: when these fail, the harness is broken, not apiproxy."""
from __future__ import annotations

import base64
import fnmatch
import http.client
import json
import os
import struct
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from support import DEBIAN_CLI, docker, one_file_tar, request

SOCK = os.environ.get("APXTEST_DOCKER_SOCK")
IMAGE = os.environ.get("APXTEST_IMAGE")
UPSTREAM = os.environ.get("APXTEST_UPSTREAM_NAME", "")
REGISTRY = os.environ.get("APXTEST_REGISTRY")
REGISTRY_USER = os.environ.get("APXTEST_REGISTRY_USER")
REGISTRY_PASSWORD = os.environ.get("APXTEST_REGISTRY_PASSWORD")

# What each upstream's GET /version must say, as patterns (fnmatch): (Version, ApiVersion, MinAPIVersion).
EXPECTED = {
    "dockerd-20.10": ("20.10.*", "1.41", "1.12"),
    "dockerd-26.1": ("26.1.*", "1.45", "1.24"),
    # Podman's compat API: the Docker API versions it claims, not its own 4.x ones.
    "podman-4.3": ("4.3.*", "1.41", "1.24"),
    # Whatever sid has, fetched fresh by CI: 28.5 (API 1.51) when added, Docker 29 (API 1.52 on) to come.
    # The floor is the one tests/run starts it with, not its own.
    "dockerd-28.5": ("2[89].*", "1.5[1-9]", "1.44"),
    "dockerd-28.5-floor1.40": ("2[89].*", "1.5[1-9]", "1.40"),
}

# Upstreams whose compat `POST /auth` cannot log in to this registry, and what
# they say. Podman 4.3 tries HTTPS on 127.0.0.1:5000 although its registries.conf
# marks it insecure (its push and pull do honour that; and "localhost:5000" logs
# in), so only the login step is replaced there, by the credentials it would store.
LOGIN_FAILS = {"podman-4.3": "server gave HTTP response to HTTPS client"}

needs_daemon = pytest.mark.skipif(
    not SOCK or not IMAGE,
    reason="APXTEST_DOCKER_SOCK or APXTEST_IMAGE unset: run via tests/run, "
    "which starts the upstream and imports the test image",
)
needs_registry = pytest.mark.skipif(
    not (REGISTRY and REGISTRY_USER and REGISTRY_PASSWORD),
    reason="APXTEST_REGISTRY(_USER, _PASSWORD) unset: run via tests/run, which starts the registry",
)


def version() -> dict:
    reply = request(SOCK, "GET", "/version", timeout=30)
    assert reply.status == 200, reply
    return reply.json()


def demux(stream: bytes) -> tuple[bytes, bytes]:
    """Split a non-TTY attach/logs stream into stdout and stderr: frames of
    [stream id, 0, 0, 0, big-endian length] then the payload."""
    out = {1: b"", 2: b""}
    while stream:
        assert len(stream) >= 8, f"truncated frame header: {stream!r}"
        kind, size = struct.unpack(">BxxxL", stream[:8])
        assert kind in out, f"unexpected stream id {kind} in {stream[:40]!r}"
        out[kind] += stream[8:8 + size]
        stream = stream[8 + size:]
    return out[1], out[2]


@needs_daemon
def test_version_answers() -> None:
    info = version()
    for key in ("Version", "ApiVersion", "MinAPIVersion"):
        assert info.get(key), info
    if UPSTREAM not in EXPECTED:
        pytest.skip(f"no expectations recorded for upstream {UPSTREAM!r}")
    shown = (info["Version"], info["ApiVersion"], info["MinAPIVersion"])
    assert all(map(fnmatch.fnmatchcase, shown, EXPECTED[UPSTREAM])), (shown, EXPECTED[UPSTREAM])


@needs_daemon
def test_echo_hi_via_raw_api() -> None:
    # At the upstream's own newest version: what a current client would send.
    v = f"/v{version()['ApiVersion']}"
    reply = request(SOCK, "POST", f"{v}/containers/create",
                    {"Image": IMAGE, "Cmd": ["echo", "hi"]})
    assert reply.status == 201, reply
    cid = reply.json()["Id"]
    try:
        reply = request(SOCK, "POST", f"{v}/containers/{cid}/start")
        assert reply.status == 204, reply
        reply = request(SOCK, "POST", f"{v}/containers/{cid}/wait", timeout=120)
        assert reply.status == 200, reply
        assert reply.json()["StatusCode"] == 0, reply
        reply = request(SOCK, "GET", f"{v}/containers/{cid}/logs?stdout=1&stderr=1")
        assert reply.status == 200, reply
        assert demux(reply.body) == (b"hi\n", b""), reply
    finally:
        request(SOCK, "DELETE", f"{v}/containers/{cid}?force=1")


def registry_get_v2(authorization: str | None) -> int:
    host, _, port = REGISTRY.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", "/v2/", headers={"Authorization": authorization} if authorization else {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@needs_registry
def test_registry_needs_credentials() -> None:
    assert registry_get_v2(None) == 401
    wrong = base64.b64encode(f"{REGISTRY_USER}:not-{REGISTRY_PASSWORD}".encode()).decode()
    assert registry_get_v2(f"Basic {wrong}") == 401


@needs_registry
def test_registry_accepts_credentials() -> None:
    token = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
    assert registry_get_v2(f"Basic {token}") == 200


@needs_daemon
@needs_registry
def test_registry_round_trip_with_debian_cli(tmp_path: Path) -> None:
    """login, push, remove, pull with docker.io's 20.10 CLI, the daemon doing the
    registry work. The image is a fresh one-layer import, so removing it really
    removes it and the pull has to fetch the layer back."""
    if not os.access(DEBIAN_CLI, os.X_OK):
        pytest.skip(f"{DEBIAN_CLI} missing")
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}  # this test's login only
    ref = f"{REGISTRY}/apiproxy-smoke/{UPSTREAM or 'upstream'}:{uuid.uuid4().hex[:12]}"

    def cli(*args: str, **kwargs: Any) -> str:
        return docker(SOCK, *args, cli=DEBIAN_CLI, env=env, timeout=120, **kwargs).stdout.decode()

    def login(password: str) -> subprocess.CompletedProcess[bytes]:
        return docker(SOCK, "login", "-u", REGISTRY_USER, "--password-stdin", REGISTRY, cli=DEBIAN_CLI,
                      env=env, input=password.encode(), check=False, timeout=60)

    assert login(f"not-{REGISTRY_PASSWORD}").returncode != 0
    result = login(REGISTRY_PASSWORD)
    if result.returncode != 0:
        known = LOGIN_FAILS.get(UPSTREAM)
        assert known and known in result.stderr.decode(errors="replace"), result
        # Store what a successful login would have: push and pull send it along.
        token = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
        config = Path(env["DOCKER_CONFIG"])
        config.mkdir(exist_ok=True)
        (config / "config.json").write_text(json.dumps({"auths": {REGISTRY: {"auth": token}}}))
    cli("import", "-", ref, input=one_file_tar("hello.txt", f"{ref}\n".encode()))
    try:
        layers = json.loads(cli("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref))
        cli("push", ref)
        cli("rmi", ref)
        assert docker(SOCK, "image", "inspect", ref, cli=DEBIAN_CLI, env=env, check=False).returncode != 0
        cli("pull", ref)
        # Same content back: the uncompressed layer digests survive the trip.
        assert json.loads(cli("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref)) == layers
    finally:
        docker(SOCK, "rmi", "-f", ref, cli=DEBIAN_CLI, env=env, check=False)
        docker(SOCK, "logout", REGISTRY, cli=DEBIAN_CLI, env=env, check=False)
