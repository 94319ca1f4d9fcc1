"""Logins, pushes and pulls of legacy clients against the loopback registry tests/run starts."""
from __future__ import annotations

import base64
import http.client
import json
import os
import uuid
from typing import Iterator

import pytest

from support import DIRECT_API, json_stream_items, request

REGISTRY = os.environ.get("APXTEST_REGISTRY", "")
USER = os.environ.get("APXTEST_REGISTRY_USER", "")
PASSWORD = os.environ.get("APXTEST_REGISTRY_PASSWORD", "")

pytestmark = pytest.mark.skipif(not (REGISTRY and USER and PASSWORD),
                                reason="no registry: run via tests/run, which starts one")


def _login(version: str) -> dict[str, str]:
    # serveraddress came with 1.4; older clients logged into the index only, which is
    # out of reach here, so they name the loopback registry too (the daemons ignored
    # fields they did not know, and so does the schema).
    return {"username": USER, "password": PASSWORD, "email": "legacy@example.invalid",
            "serveraddress": f"http://{REGISTRY}/v1/"}


@pytest.fixture
def pushed_ref(docker_sock: str, image: str) -> Iterator[str]:
    repo = f"{REGISTRY}/apiproxy-legacy/{uuid.uuid4().hex[:10]}"
    assert request(docker_sock, "POST", f"/v{DIRECT_API}/images/{image}/tag?repo={repo}&tag=v1").status == 201
    yield repo
    request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{repo}:v1?force=1")


@pytest.mark.parametrize("version", ["1.2", "1.9"])
def test_login_succeeds_and_fails_as_it_should(proxy_sock: str, version: str) -> None:
    good = request(proxy_sock, "POST", f"/v{version}/auth", {**_login("1.9")})
    assert good.status == 200 and "Succeeded" in good.json()["Status"]
    bad = request(proxy_sock, "POST", f"/v{version}/auth", {**_login("1.9"), "password": "wrong"})
    assert bad.status in (401, 500) and bad.header("Content-Type").startswith("text/plain")


def _push(sock: str, version: str, repo: str, body: dict | None = None,
          headers: dict[str, str] | None = None) -> list[dict]:
    reply = request(sock, "POST", f"/v{version}/images/{repo}/push?tag=v1", body=body,
                    headers=headers or {"Content-Type": "plain/text"})
    assert reply.status == 200, reply
    return json_stream_items(reply.body)


def _assert_pushed(items: list[dict]) -> None:
    assert not any("error" in item for item in items), items
    assert any("digest" in json.dumps(item) or "Pushed" in json.dumps(item) or "exists" in json.dumps(item)
               for item in items), items


def test_push_with_x_registry_auth_then_pull(proxy_sock: str, docker_sock: str, pushed_ref: str) -> None:
    auth = base64.urlsafe_b64encode(json.dumps(_login("1.9")).encode()).decode()
    _assert_pushed(_push(proxy_sock, "1.9", pushed_ref, headers={"X-Registry-Auth": auth}))
    request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{pushed_ref}:v1")
    pulled = request(proxy_sock, "POST", f"/v1.9/images/create?fromImage={pushed_ref}&tag=v1",
                     headers={"X-Registry-Auth": auth})
    assert pulled.status == 200 and b'"error"' not in pulled.body, pulled
    assert request(docker_sock, "GET", f"/v{DIRECT_API}/images/{pushed_ref}:v1/json").status == 200


def test_push_with_credentials_in_the_body_of_1_3(proxy_sock: str, pushed_ref: str) -> None:
    _assert_pushed(_push(proxy_sock, "1.3", pushed_ref, body=_login("1.3")))


def test_push_with_the_login_a_1_1_client_gave_before(proxy_sock: str, pushed_ref: str) -> None:
    assert request(proxy_sock, "POST", "/v1.1/auth", _login("1.1")).status == 200
    assert request(proxy_sock, "GET", "/v1.1/auth").json()["username"] == USER
    reply = request(proxy_sock, "POST", f"/v1.1/images/{pushed_ref}/push?tag=v1",
                    headers={"Content-Type": "plain/text"})
    assert reply.status == 200 and b'"error"' not in reply.body, reply


def _registry_tags(repo: str) -> list[str]:
    path = repo.split("/", 1)[1]
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    connection = http.client.HTTPConnection(REGISTRY, timeout=30)
    try:
        connection.request("GET", f"/v2/{path}/tags/list", headers={"Authorization": f"Basic {token}"})
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    return sorted(json.loads(body).get("tags") or []) if answer.status == 200 else []


def test_a_push_without_a_tag_pushes_every_tag_with_the_clients_credentials(proxy_sock: str, docker_sock: str,
                                                                              pushed_ref: str) -> None:
    tagged = request(docker_sock, "POST", f"/v{DIRECT_API}/images/{pushed_ref}:v1/tag?repo={pushed_ref}&tag=v2")
    assert tagged.status == 201
    try:
        auth = base64.urlsafe_b64encode(json.dumps(_login("1.9")).encode()).decode()
        reply = request(proxy_sock, "POST", f"/v1.9/images/{pushed_ref}/push", headers={"X-Registry-Auth": auth})
        assert reply.status == 200 and b'"error"' not in reply.body, reply
        assert _registry_tags(pushed_ref) == ["v1", "v2"]
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{pushed_ref}:v2")
