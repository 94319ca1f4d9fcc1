"""Socket activation in front of the real daemon: legacy clients through the socket systemd passes."""
from __future__ import annotations

import grp
import os
from pathlib import Path

import pytest

from support import SOCKET_ACTIVATE, request, socket_identity, start_socket_activated

pytestmark = pytest.mark.skipif(SOCKET_ACTIVATE is None, reason="systemd-socket-activate not installed")


def docker_gid() -> int:
    try:
        return grp.getgrnam("docker").gr_gid
    except KeyError:
        return 0


def test_legacy_and_modern_clients_through_the_socket_systemd_passes(docker_sock: str, tmp_path: Path) -> None:
    sock = str(tmp_path / "docker-legacy.sock")
    proxy = start_socket_activated(docker_sock, sock, str(tmp_path))
    try:
        os.chown(sock, 0, docker_gid())  # what conf/apiproxy.socket asks of systemd: root:docker 0660
        os.chmod(sock, 0o660)
        before = socket_identity(sock)
        version = request(sock, "GET", "/v1.9/version")  # the first client: apiproxy starts now
        assert version.status == 200 and version.json()["Version"]
        containers = request(sock, "GET", "/v1.3/containers/json?all=1")
        assert containers.status == 200 and isinstance(containers.json(), list)
        modern = request(sock, "GET", "/v1.41/version")  # passed through untouched
        assert modern.status == 200 and modern.json()["ApiVersion"]
        assert socket_identity(sock) == before, "file, owner and mode are systemd's"
        assert "the socket systemd passed" in proxy.log
    finally:
        assert proxy.stop() == 0, proxy.log
    assert socket_identity(sock) == before, "the socket outlives apiproxy: systemd removes it, with its unit"
    assert "Traceback" not in proxy.log, proxy.log
