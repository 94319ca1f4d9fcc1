"""Every cell of the compatibility matrix: each legacy endpoint at each version it exists in.

Each endpoint has a scenario that uses it the way a client of that version
did; `request` checks every answer against the version's schema.
"""
from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pytest

from apiproxy.api.routes import legacy_routes
from apiproxy.api.upstream_info import known_versions
from support import DIRECT_API, Apiproxy, Reply, one_file_tar, request
from test_streams import _open_attach, _read_to_end

LEGACY = known_versions()[0]


@dataclass
class World:
    """What the scenarios work on: made once, removed at the end."""

    proxy: str
    daemon: str
    image: str
    running: str = ""
    exited: str = ""
    tags: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)

    def container(self, version: str, cmd: list[str], **extra: object) -> str:
        cid = request(self.proxy, "POST", f"/v{version}/containers/create",
                      {"Image": self.image, "Cmd": cmd, **extra}).json()["Id"]
        self.containers.append(cid)
        return cid

    def tag(self) -> str:
        repo = f"apiproxy-matrix-{uuid.uuid4().hex[:8]}"
        assert request(self.daemon, "POST", f"/v{DIRECT_API}/images/{self.image}/tag?repo={repo}&tag=t").status == 201
        self.tags.append(f"{repo}:t")
        return f"{repo}:t"


@pytest.fixture(scope="module")
def world(proxy: Apiproxy, docker_sock: str, image: str) -> Iterator[World]:
    assert proxy.sock is not None
    made = World(proxy.sock, docker_sock, image)
    made.running = made.container("1.9", ["sleep", "600"])
    assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{made.running}/start").status == 204
    made.exited = made.container("1.9", ["sh", "-c", "echo done"])
    request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{made.exited}/start")
    request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{made.exited}/wait")
    yield made
    for cid in made.containers:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")
    for tag in made.tags:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{tag}?force=1")


def _attach(w: World, v: str) -> Reply:
    cid = w.container(v, ["echo", "attached"], AttachStdout=True)
    conn, head, rest = _open_attach(w.proxy, f"/v{v}/containers/{cid}/attach?stream=1&stdout=1", upgrade=False)
    assert request(w.proxy, "POST", f"/v{v}/containers/{cid}/start").status == 204
    with conn:
        conn.shutdown(socket.SHUT_WR)
        output = _read_to_end(conn, rest)
    assert b"attached" in output
    return Reply(int(head.split()[1]), [], output)


def _websocket(w: World, v: str) -> Reply:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(30)
        conn.connect(w.proxy)
        conn.sendall(f"GET /v{v}/containers/{w.running}/attach/ws?stream=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
        head = conn.recv(4096)
    return Reply(int(head.split()[1]), [], b"")


def _build(w: World, v: str) -> Reply:
    tag = f"apiproxy-matrix-build-{uuid.uuid4().hex[:8]}"
    w.tags.append(tag)
    dockerfile = f"FROM {w.image}\nRUN true\n".encode()
    if v in ("1.1", "1.2"):  # 0.4 clients uploaded multipart
        body = (b"--b\r\nContent-Disposition: form-data; name=\"Dockerfile\"; filename=\"Dockerfile\"\r\n\r\n"
                + dockerfile + b"\r\n--b--\r\n")
        return request(w.proxy, "POST", f"/v{v}/build?t={tag}", body=body,
                       headers={"Content-Type": "multipart/form-data; boundary=b"})
    return request(w.proxy, "POST", f"/v{v}/build?t={tag}&rm=1", body=one_file_tar("Dockerfile", dockerfile),
                   headers={"Content-Type": "application/tar"})


def _remove_link(w: World, v: str) -> Reply:
    """A started container's link removed by its name, as 0.6.5-0.8.1 clients did (link=1)."""
    target, parent = (f"apiproxy-matrix-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for name in (target, parent):
        created = request(w.proxy, "POST", f"/v{v}/containers/create?name={name}",
                          {"Image": w.image, "Cmd": ["sleep", "60"]})
        w.containers.append(created.json()["Id"])
    assert request(w.proxy, "POST", f"/v{v}/containers/{target}/start").status == 204
    started = request(w.proxy, "POST", f"/v{v}/containers/{parent}/start", {"Links": [f"{target}:db"]})
    assert started.status == 204, started
    # Started by name with host settings (recreated where the daemon takes them at create only): the
    # container keeps the id its create gave.
    inspected = request(w.proxy, "GET", f"/v{v}/containers/{parent}/json").json()
    assert inspected.get("Id", inspected.get("ID")) == created.json()["Id"], inspected
    return request(w.proxy, "DELETE", f"/v{v}/containers/{parent}/db?link=1")


OK = {200, 201, 204}
Scenario = Callable[[World, str], Reply]

SCENARIOS: dict[str, tuple[Scenario, set[int]]] = {
    "GET /containers/ps": (lambda w, v: request(w.proxy, "GET", f"/v{v}/containers/ps?all=1"), OK),
    "GET /containers/json": (lambda w, v: request(w.proxy, "GET", f"/v{v}/containers/json?all=1&limit=5"), OK),
    "POST /containers/create": (lambda w, v: Reply(201, [], w.container(v, ["true"], Memory=8 << 20).encode()), OK),
    "GET /containers/{id}/json": (lambda w, v: request(w.proxy, "GET", f"/v{v}/containers/{w.running}/json"), OK),
    "GET /containers/{id}/top": (lambda w, v: request(w.proxy, "GET", f"/v{v}/containers/{w.running}/top"), OK),
    "GET /containers/{id}/changes": (lambda w, v: request(w.proxy, "GET", f"/v{v}/containers/{w.exited}/changes"), OK),
    "GET /containers/{id}/export": (lambda w, v: request(w.proxy, "GET", f"/v{v}/containers/{w.exited}/export"), OK),
    "POST /containers/{id}/start": (lambda w, v: request(w.proxy, "POST", f"/v{v}/containers/{w.container(v, ['true'])}/start"), OK),
    "POST /containers/{id}/stop": (lambda w, v: request(w.proxy, "POST", f"/v{v}/containers/{w.exited}/stop?t=1"), OK),
    "POST /containers/{id}/restart": (lambda w, v: request(w.proxy, "POST", f"/v{v}/containers/{w.exited}/restart?t=1"), OK),
    "POST /containers/{id}/kill": (lambda w, v: request(w.proxy, "POST", f"/v{v}/containers/{w.exited}/kill"), OK),
    "POST /containers/{id}/attach": (_attach, OK),
    "GET /containers/{id}/attach/ws": (_websocket, {101}),
    "POST /containers/{id}/resize": (lambda w, v: request(w.proxy, "POST", f"/v{v}/containers/{w.running}/resize?h=24&w=80"), OK | {500}),
    "POST /containers/{id}/wait": (lambda w, v: request(w.proxy, "POST", f"/v{v}/containers/{w.exited}/wait"), OK),
    "DELETE /containers/{id}": (lambda w, v: request(w.proxy, "DELETE", f"/v{v}/containers/{w.container(v, ['true'])}"), OK),
    "DELETE /containers/{parent}/{alias}": (_remove_link, OK),
    "POST /containers/{id}/copy": (lambda w, v: request(w.proxy, "POST", f"/v{v}/containers/{w.exited}/copy", {"Resource": "/etc/passwd"}), OK),
    "GET /images/json": (lambda w, v: request(w.proxy, "GET", f"/v{v}/images/json"), OK),
    "GET /images/viz": (lambda w, v: request(w.proxy, "GET", f"/v{v}/images/viz"), OK),
    "GET /images/search": (lambda w, v: request(w.proxy, "GET", f"/v{v}/images/search?term=busybox"), {500, 503, 404}),
    "POST /images/create": (lambda w, v: request(w.proxy, "POST", f"/v{v}/images/create?fromSrc=-&repo={w.tag().split(':')[0]}&tag=t",
                                                 body=one_file_tar("hello", b"hi\n"), headers={"Content-Type": "application/tar"}), OK),
    "POST /images/load": (lambda w, v: request(w.proxy, "POST", f"/v{v}/images/load",
                                               body=request(w.daemon, "GET", f"/v{DIRECT_API}/images/{w.tag()}/get").body,
                                               headers={"Content-Type": "application/x-tar"}), OK),
    "POST /images/getCache": (lambda w, v: request(w.proxy, "POST", f"/v{v}/images/getCache", {"Id": "x", "Config": {}}), {404}),
    "POST /images/{name}/insert": (lambda w, v: request(w.proxy, "POST", f"/v{v}/images/{w.tag()}/insert?url=http://127.0.0.1:9/x&path=/x"), OK),
    "GET /images/{name}/json": (lambda w, v: request(w.proxy, "GET", f"/v{v}/images/{w.image}/json"), OK),
    "GET /images/{name}/history": (lambda w, v: request(w.proxy, "GET", f"/v{v}/images/{w.image}/history"), OK),
    "POST /images/{name}/push": (lambda w, v: request(w.proxy, "POST", f"/v{v}/images/127.0.0.1:9/nowhere/push"), OK | {404, 500}),
    "POST /images/{name}/tag": (lambda w, v: request(w.proxy, "POST", f"/v{v}/images/{w.image}/tag?repo={w.tag().split(':')[0]}&tag=u&force=1"), OK),
    "GET /images/{name}/get": (lambda w, v: request(w.proxy, "GET", f"/v{v}/images/{w.image}/get"), OK),
    "DELETE /images/{name}": (lambda w, v: request(w.proxy, "DELETE", f"/v{v}/images/{w.tag()}"), OK),
    "POST /build": (_build, OK),
    "GET /auth": (lambda w, v: request(w.proxy, "GET", f"/v{v}/auth"), OK),
    "POST /auth": (lambda w, v: request(w.proxy, "POST", f"/v{v}/auth",
                                        {"username": "u", "password": "p", "email": "e@x", "serveraddress": "http://127.0.0.1:9/v1/"}),
                   {401, 500}),
    "GET /info": (lambda w, v: request(w.proxy, "GET", f"/v{v}/info"), OK),
    "GET /version": (lambda w, v: request(w.proxy, "GET", f"/v{v}/version"), OK),
    "POST /commit": (lambda w, v: request(w.proxy, "POST", f"/v{v}/commit?container={w.exited}&repo={w.tag().split(':')[0]}&tag=c&comment=m"), OK),
    "GET /events": (lambda w, v: request(w.proxy, "GET", f"/v{v}/events?since=1&until=2"), OK),
}

CELLS = [(route.key, str(version)) for route in legacy_routes() for version in LEGACY if route.exists_in(version)]


def test_every_endpoint_has_a_scenario() -> None:
    assert {route.key for route in legacy_routes()} == set(SCENARIOS)


@pytest.mark.parametrize(("endpoint", "version"), CELLS, ids=[f"{e} @{v}" for e, v in CELLS])
def test_cell(world: World, endpoint: str, version: str) -> None:
    scenario, expected = SCENARIOS[endpoint]
    reply = scenario(world, version)
    assert reply.status in expected, reply
    assert b"Traceback" not in reply.body
