"""Each answer delta of v1.0-v1.9: today's untranslated answer breaks the legacy schema, apiproxy's meets it."""
from __future__ import annotations

import time
import uuid
from typing import Iterator

import pytest

from support import DIRECT_API, ON_PODMAN, events_until, legacy_problem, request


@pytest.fixture(scope="module")
def container(docker_sock: str, image: str) -> Iterator[str]:
    cid = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create?name=apiproxy-delta-{uuid.uuid4().hex[:8]}",
                  {"Image": image, "Cmd": ["sleep", "300"], "ExposedPorts": {"80/tcp": {}}}).json()["Id"]
    request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start")
    yield cid
    request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


# (legacy path, what changed) — the container id is filled in.
DELTAS = [
    ("/v1.4/containers/json", "Ports a display string (1.5)"),
    ("/v1.7/containers/json", "SizeRw and SizeRootFs always sent (1.8)"),
    ("/v1.6/images/json", "one entry per repository:tag (1.7)"),
    ("/v1.9/images/{image}/json", "raw snake_case image JSON (1.12)"),
    ("/v1.9/images/json", "bare hex ids (Docker 1.10)"),
    ("/v1.9/containers/{id}/json", "ID, Volumes, Config.Memory, PortSpecs (1.12, 1.18, 1.20)"),
    ("/v1.5/containers/{id}/json", "NetworkSettings.PortMapping, Config.Privileged (1.6, 1.10)"),
    ("/v1.3/containers/{id}/top", "top as [{PID, Tty, Time, Cmd}] (1.4)"),
    ("/v1.0/info", "Version and GoVersion in /info (1.2)"),
    ("/v1.9/info", "ExecutionDriver and LXCVersion (1.24)"),
    ("/v1.0/version", "MemoryLimit and SwapLimit in /version (1.2)"),
]


@pytest.mark.parametrize(("path", "change"), DELTAS, ids=[change for _, change in DELTAS])
def test_untranslated_fails_translated_passes(proxy_sock: str, docker_sock: str, image: str, container: str,
                                              path: str, change: str) -> None:
    path = path.format(id=container, image=image)
    rest = path.split("/", 2)[2]  # the path after its version prefix
    modern = request(docker_sock, "GET", f"/v{DIRECT_API}/{rest}", validate=False)
    assert modern.status == 200, modern
    assert legacy_problem("GET", path, 200, modern.body) is not None, f"today's answer already fits: {change}"
    translated = request(proxy_sock, "GET", path, validate=False)
    assert translated.status == 200
    assert legacy_problem("GET", path, 200, translated.body) is None


@pytest.mark.parametrize("version", ["1.3", "1.9"])
def test_untranslated_events_fail_translated_pass(proxy_sock: str, docker_sock: str, image: str,
                                                  version: str) -> None:
    """Legacy event objects (§3): today's image events carry sha256: ids and Type/Action/Actor."""
    if ON_PODMAN:
        pytest.skip("Podman's image events carry bare ids already, and its until is unreliable")
    since = int(time.time()) - 1
    repo = f"apiproxy-delta-{uuid.uuid4().hex[:8]}"
    assert request(docker_sock, "POST", f"/v{DIRECT_API}/images/{image}/tag?repo={repo}&tag=t").status == 201
    assert request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{repo}:t").status == 200
    window = f"events?since={since}&until={events_until()}"
    modern = request(docker_sock, "GET", f"/v{DIRECT_API}/{window}", validate=False)
    assert modern.status == 200 and repo.encode() in modern.body, modern
    assert legacy_problem("GET", f"/v{version}/{window}", 200, modern.body) is not None
    translated = request(proxy_sock, "GET", f"/v{version}/{window}", validate=False)
    assert translated.status == 200 and b'"untag"' in translated.body, translated
    assert legacy_problem("GET", f"/v{version}/{window}", 200, translated.body) is None


@pytest.mark.parametrize(("version", "body", "field"), [
    ("1.3", {"Image": "busybox", "Memory": "lots"}, "Memory"),
    ("1.0", {"Image": "busybox", "VolumesFrom": ["a"]}, "VolumesFrom"),
    ("1.9", {"Image": "busybox", "Cmd": "not a list"}, "Cmd"),
])
def test_an_invalid_legacy_body_gets_a_400_naming_the_field(proxy_sock: str, version: str, body: dict,
                                                            field: str) -> None:
    reply = request(proxy_sock, "POST", f"/v{version}/containers/create", body)
    assert reply.status == 400 and reply.header("Content-Type").startswith("text/plain")
    assert field in reply.text and f"API {version}" in reply.text and reply.text.endswith("\n")
