"""A client that vanishes mid-attach or mid-build: apiproxy closes the daemon's side and leaks nothing."""
from __future__ import annotations

import io
import os
import socket
import tarfile
from collections.abc import Iterator

import pytest

from support import DIRECT_API, Apiproxy, deadline_poll, request, start_apiproxy


@pytest.fixture
def own_proxy(docker_sock: str) -> Iterator[Apiproxy]:
    """An apiproxy of this test's own, so that its file descriptors are this test's alone."""
    proxy = start_apiproxy(docker_sock)
    request(proxy.sock, "GET", "/v1.41/version")  # the upstream's version read, its caches warm
    yield proxy
    assert proxy.stop() == 0, proxy.log


def _settled_fds(proxy: Apiproxy) -> int:
    try:
        deadline_poll(lambda: proxy.socket_count() == 1, 10)  # the listening socket alone
    except Exception:
        raise AssertionError(f"{proxy.socket_count()} sockets open: {os.popen(f'ss -xp | grep pid={proxy.pid},').read()}")
    return proxy.fd_count()


def _hijack(sock: str, head: bytes) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(30)
    client.connect(sock)
    client.sendall(head)
    return client


@pytest.mark.parametrize("version", ["1.41", "1.9", "1.5"])
def test_a_client_gone_mid_attach_leaves_nothing_open(own_proxy: Apiproxy, docker_sock: str, image: str,
                                                      version: str) -> None:
    start = _settled_fds(own_proxy)
    cid = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create", {
        "Image": image, "Cmd": ["sh", "-c", "while true; do echo tick; sleep 0.05; done"],
        "AttachStdout": True, "AttachStdin": True, "OpenStdin": True}).json()["Id"]
    try:
        request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start")
        client = _hijack(own_proxy.sock, f"POST /v{version}/containers/{cid}/attach?stream=1&stdout=1&stdin=1 "
                                         f"HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n".encode())
        seen = b""
        while b"tick" not in seen:
            seen += client.recv(65536)
        assert own_proxy.socket_count() == 3  # listening, the client's, the daemon's
        client.close()  # gone, without a word
        assert _settled_fds(own_proxy) == start
        # The container never noticed: it still runs, and apiproxy still serves.
        assert request(own_proxy.sock, "GET", f"/v1.41/containers/{cid}/json").json()["State"]["Running"]
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


def test_a_client_gone_mid_build_leaves_nothing_open(own_proxy: Apiproxy) -> None:
    start = _settled_fds(own_proxy)
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = b"FROM scratch\nCOPY big /big\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        big = tarfile.TarInfo("big")
        big.size = 50 << 20
        tar.addfile(big, io.BytesIO(bytes(big.size)))
    payload = context.getvalue()
    client = _hijack(own_proxy.sock, b"POST /v1.9/build?t=vanishing HTTP/1.1\r\nHost: docker\r\n"
                                     b"Content-Type: application/x-tar\r\n"
                                     b"Content-Length: %d\r\n\r\n" % len(payload))
    client.sendall(payload[:len(payload) // 3])  # a third of the context, then gone
    deadline_poll(lambda: own_proxy.socket_count() == 3, 10)
    client.close()
    assert _settled_fds(own_proxy) == start
    assert request(own_proxy.sock, "GET", "/v1.41/_ping", validate=False).status == 200


@pytest.mark.parametrize("version", ["1.41", "1.9", "1.5"])
def test_an_attach_that_ends_leaves_nothing_open(own_proxy: Apiproxy, docker_sock: str, image: str,
                                                 version: str) -> None:
    start = _settled_fds(own_proxy)
    for _ in range(3):
        cid = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create", {
            "Image": image, "Cmd": ["seq", "1", "1000"], "AttachStdout": True}).json()["Id"]
        try:
            client = _hijack(own_proxy.sock, f"POST /v{version}/containers/{cid}/attach?stream=1&stdout=1 "
                                             f"HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n".encode())
            seen = client.recv(65536)
            assert seen.startswith(b"HTTP/1.1 200")
            request(own_proxy.sock, "POST", f"/v{version}/containers/{cid}/start", {} if version != "1.41" else None,
                    validate=False)
            while client.recv(65536):
                pass
            client.close()
        finally:
            request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")
    assert _settled_fds(own_proxy) == start
