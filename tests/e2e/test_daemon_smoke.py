"""Smoke test of the test harness itself: the daemon tests/run started answers
the Docker API on its unix socket and runs a container from the offline image.
Talks to the daemon directly, not through the proxy."""
import http.client
import json
import os
import socket
import subprocess

import pytest

SOCK = os.environ.get("APIPROXY_TEST_DOCKER_SOCK")
IMAGE = os.environ.get("APIPROXY_TEST_IMAGE", "apiproxy-test/busybox:latest")

pytestmark = pytest.mark.skipif(
    not SOCK, reason="APIPROXY_TEST_DOCKER_SOCK unset: run via tests/run, which starts the daemon"
)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        # "localhost" only fills the Host header.
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def docker_cli():
    # Prefer the modern CLI (what users run); docker.io's 20.10 one otherwise.
    for path in ("/usr/local/bin/docker", "/usr/bin/docker"):
        if os.access(path, os.X_OK):
            return path
    pytest.fail("no docker CLI at /usr/local/bin/docker or /usr/bin/docker")


def test_version_reports_api_versions():
    conn = UnixHTTPConnection(SOCK)
    try:
        conn.request("GET", "/version")
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, body
    version = json.loads(body)
    assert version.get("ApiVersion"), version
    assert version.get("MinAPIVersion"), version


def test_cli_runs_container_from_test_image():
    proc = subprocess.run(
        [docker_cli(), "-H", f"unix://{SOCK}", "run", "--rm", IMAGE, "echo", "hi"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi\n", (proc.stdout, proc.stderr)
