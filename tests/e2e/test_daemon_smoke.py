"""Smoke test of the test harness itself: the daemon tests/run started answers
the Docker API on its unix socket and runs a container from the offline image.
Talks to the daemon directly, not through the proxy."""
from __future__ import annotations

from support import docker, request


def test_version_reports_api_versions(docker_sock: str) -> None:
    reply = request(docker_sock, "GET", "/version")
    assert reply.status == 200, reply
    assert reply.json().get("ApiVersion") and reply.json().get("MinAPIVersion"), reply


def test_cli_runs_container_from_test_image(docker_sock: str, image: str) -> None:
    assert docker(docker_sock, "run", "--rm", image, "echo", "hi", timeout=120).stdout == b"hi\n"
