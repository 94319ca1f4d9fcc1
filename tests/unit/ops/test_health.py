"""apiproxy.ops.health: which listener `apiproxy health` asks, where, and what counts as an answer."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import apiproxy
from apiproxy.ops.config import Config, Listener, TLSFiles
from apiproxy.ops.health import PING, Target, Unhealthy, status_line_complete, target, verdict

DOCKERFILE = Path(__file__).resolve().parents[3] / "Dockerfile"


def config_of(*endpoints: str, tls: TLSFiles | None = None) -> Config:
    return Config(tuple(Listener(endpoint, 0o660, None, tls) for endpoint in endpoints),
                  "unix:/var/run/docker.sock", None, None)


@pytest.mark.parametrize(("endpoint", "expected"), [
    ("unix:/run/apiproxy/docker.sock", Target("unix:/run/apiproxy/docker.sock", path="/run/apiproxy/docker.sock")),
    ("unix:address=/run/a.sock:mode=0600", Target("unix:address=/run/a.sock:mode=0600", path="/run/a.sock")),
    ("tcp:2375", Target("tcp:2375", host="127.0.0.1", port=2375)),
    ("tcp:port=2375:interface=0.0.0.0", Target("tcp:port=2375:interface=0.0.0.0", host="127.0.0.1", port=2375)),
    ("tcp:2375:interface=10.1.2.3", Target("tcp:2375:interface=10.1.2.3", host="10.1.2.3", port=2375)),
    ("tcp:2375:interface=\\:\\:", Target("tcp:2375:interface=\\:\\:", host="::1", port=2375)),
    ("tcp6:2376", Target("tcp6:2376", host="::1", port=2376)),
])
def test_the_first_listener_is_reached_where_a_local_client_would(endpoint: str, expected: Target) -> None:
    assert target(config_of(endpoint, "unix:/elsewhere.sock")) == expected


def test_a_tls_listener_is_checked_over_tls() -> None:
    files = TLSFiles("server.pem", "server-key.pem", "ca.pem")
    assert target(config_of("tcp:2376", tls=files)).tls == files


@pytest.mark.parametrize(("endpoints", "reason"), [
    ((), "no listener configured"),
    (("systemd:domain=UNIX:index=0",), "a socket systemd passes"),
    (("tcp:http",), "no port in tcp:http"),
    (("ssl:2376",), "cannot check a ssl: listener"),
])
def test_what_cannot_be_checked_says_why(endpoints: tuple[str, ...], reason: str) -> None:
    with pytest.raises(Unhealthy, match=re.escape(reason)):
        target(config_of(*endpoints))


UNIX = Target("unix:/run/a.sock", path="/run/a.sock")


@pytest.mark.parametrize(("received", "line"), [
    (b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\n\r\nOK", "healthy: unix:/run/a.sock answered GET /_ping with 200 OK"),
    # apiproxy's own answer while the daemon is down: apiproxy itself is up.
    (b"HTTP/1.1 502 Bad Gateway\r\n", "healthy: unix:/run/a.sock answered GET /_ping with 502 Bad Gateway"),
    (b"HTTP/1.0 403 \r\n", "healthy: unix:/run/a.sock answered GET /_ping with 403"),
])
def test_any_http_answer_is_healthy(received: bytes, line: str) -> None:
    assert verdict(received, UNIX) == line


@pytest.mark.parametrize(("received", "reason"), [
    (b"", "answered nothing, not HTTP"),
    (b"SSH-2.0-OpenSSH\r\n", "answered 'SSH-2.0-OpenSSH', not HTTP"),
    (b"HTTP/1.1 abc\r\n", "not HTTP"),
])
def test_anything_else_is_unhealthy(received: bytes, reason: str) -> None:
    with pytest.raises(Unhealthy, match=re.escape(reason)):
        verdict(received, UNIX)


def test_the_status_line_is_all_that_is_waited_for() -> None:
    assert not status_line_complete(b"HTTP/1.1 200")
    assert status_line_complete(b"HTTP/1.1 200 OK\r\n")
    assert status_line_complete(b"x" * 8192)


def test_the_request_is_one_ping_that_closes() -> None:
    assert PING.startswith(b"GET /_ping HTTP/1.1\r\n") and b"Connection: close\r\n" in PING
    assert PING.endswith(b"\r\n\r\n")


def test_the_images_version_label_is_the_packages_version() -> None:
    [default] = re.findall(r'org\.opencontainers\.image\.version="([^"]+)"', DOCKERFILE.read_text())
    assert default == apiproxy.__version__
