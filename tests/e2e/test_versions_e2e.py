"""Version routing and upstream failures against the real daemon."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from support import ON_PODMAN, Apiproxy, deadline_poll, direct_path, request, start_apiproxy


def test_legacy_version_answers_through_apiproxy(proxy_sock: str, docker_sock: str) -> None:
    direct = request(docker_sock, "GET", "/v1.9/version")
    if ON_PODMAN:  # Podman ignores the path's version and answers in today's shape
        assert direct.status == 200 and "Components" in direct.json()
    else:
        assert direct.status == 400 and "too old" in direct.text
    reply = request(proxy_sock, "GET", "/v1.9/version")
    assert reply.status == 200, reply
    assert "ApiVersion" in reply.json()


@pytest.mark.parametrize("path", ["/v1.9/containers/json?all=1", "/v1.0/containers/json",
                                  "/v1.000000/containers/json", "/v1.5/images/json"])
def test_legacy_requests_reach_the_daemon(proxy_sock: str, path: str) -> None:
    reply = request(proxy_sock, "GET", path)
    assert reply.status == 200, reply
    assert isinstance(reply.json(), list)


def test_modern_and_unversioned_non_legacy_paths_pass_through(proxy_sock: str, docker_sock: str) -> None:
    for path in ("/_ping", "/v1.41/_ping", "/networks", "/v1.24/info"):
        # The daemon's own answer where apiproxy sends the request: below the daemon's floor, at the floor.
        through, direct = request(proxy_sock, "GET", path), request(docker_sock, "GET", direct_path(path))
        assert (through.status, type(through.body)) == (direct.status, type(direct.body)), path
    assert request(proxy_sock, "HEAD", "/_ping").status == 200


def test_a_client_below_the_daemons_floor_climbs_to_it(proxy_sock: str, docker_sock: str) -> None:
    """1.11 is below every daemon's floor here (Docker 20.10's is 1.12): alone, the daemon refuses it."""
    through, direct = request(proxy_sock, "GET", "/v1.11/version"), request(docker_sock, "GET", "/v1.11/version")
    assert through.status == 200 and through.json()["ApiVersion"]
    assert ON_PODMAN or (direct.status == 400 and "too old" in direct.text)


def test_too_new_and_malformed_versions(proxy_sock: str, docker_sock: str) -> None:
    too_new = request(proxy_sock, "GET", "/v9.99/version")
    assert too_new.status == 400
    assert too_new.json()["message"].startswith("client version 9.99 is too new. Maximum supported API version is")
    through, direct = request(proxy_sock, "GET", "/vfoo/version"), request(docker_sock, "GET", "/vfoo/version")
    assert (through.status, through.body) == (direct.status, direct.body)
    assert through.status == 404


def test_a_configured_target_outside_the_range_gets_502(docker_sock: str) -> None:
    proxy = start_apiproxy(docker_sock, "--target-version", "1.9")
    try:
        reply = request(proxy.sock, "GET", "/v1.9/version")
        daemon = request(docker_sock, "GET", "/version").json()
        assert reply.status == 502
        assert "1.9" in reply.text and f"{daemon['MinAPIVersion']}–{daemon['ApiVersion']}" in reply.text
        assert request(proxy.sock, "GET", "/v1.41/version").status == 200  # modern clients unaffected
    finally:
        assert proxy.stop() == 0


@pytest.fixture
def relay(docker_sock: str, tmp_path: Path) -> Iterator["Relay"]:
    relay = Relay(docker_sock, str(tmp_path / "relay.sock"))
    yield relay
    relay.stop()


class Relay:
    """socat between apiproxy and the daemon: a daemon that can go away and come back."""

    def __init__(self, target: str, path: str) -> None:
        if not shutil.which("socat"):
            pytest.skip("socat is not installed")
        self.target, self.path = target, path
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(["socat", f"UNIX-LISTEN:{self.path},fork,unlink-early",
                                         f"UNIX-CONNECT:{self.target}"])
        deadline_poll(lambda: Path(self.path).exists())

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None
        Path(self.path).unlink(missing_ok=True)


def test_apiproxy_serves_again_as_soon_as_the_daemon_is_back(relay: Relay) -> None:
    proxy: Apiproxy = start_apiproxy(relay.path)
    try:
        assert request(proxy.sock, "GET", "/v1.9/version").status == 200
        relay.stop()
        down = request(proxy.sock, "GET", "/v1.9/version")
        assert down.status == 502 and f"unix:{relay.path}" in down.text and down.text.endswith("\n")
        relay.start()
        deadline_poll(lambda: request(proxy.sock, "GET", "/v1.9/containers/json").status == 200)
        assert proxy.log.count("legacy requests go at API") == 2, proxy.log  # /version read again
    finally:
        assert proxy.stop() == 0
