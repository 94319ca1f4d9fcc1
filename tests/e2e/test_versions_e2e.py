"""Version routing against the real daemon."""
from __future__ import annotations

from support import request


def test_legacy_version_answers_through_apiproxy(proxy_sock: str, docker_sock: str) -> None:
    direct = request(docker_sock, "GET", "/v1.9/version")
    assert direct.status == 400 and "too old" in direct.text
    reply = request(proxy_sock, "GET", "/v1.9/version")
    assert reply.status == 200, reply
    assert "ApiVersion" in reply.json()


def test_legacy_container_list(proxy_sock: str) -> None:
    reply = request(proxy_sock, "GET", "/v1.9/containers/json?all=1")
    assert reply.status == 200, reply
    assert isinstance(reply.json(), list)
