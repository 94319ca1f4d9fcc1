"""Streams through apiproxy against the real daemon: uploads, downloads, hijacks."""
from __future__ import annotations

import socket
import struct
import tarfile
import uuid
from typing import Iterator

import pytest

from support import DIRECT_API, ON_PODMAN, Apiproxy, UnixHTTPConnection, deadline_poll, request, start_apiproxy

MB = 1 << 20


@pytest.fixture
def own_proxy(docker_sock: str) -> Iterator[Apiproxy]:
    """A fresh apiproxy, so that its memory figures are this test's alone."""
    running = start_apiproxy(docker_sock)
    yield running
    assert running.stop() == 0, running.log


def _context_stream(image: str, filler: int) -> Iterator[bytes]:
    """A build context tar: a Dockerfile and `filler` zero bytes, made on the fly."""
    dockerfile = f"FROM {image}\nLABEL apiproxy.test=big-context\n".encode()
    yield _tar_member(b"Dockerfile", dockerfile)
    yield _tar_header(b"filler", filler)
    block = bytes(MB)
    for _ in range(filler // MB):
        yield block
    yield bytes(filler % MB) + bytes(-filler % 512)
    yield bytes(1024)  # end of archive


def _tar_header(name: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name.decode())
    info.size = size
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _tar_member(name: bytes, data: bytes) -> bytes:
    return _tar_header(name, len(data)) + data + bytes(-len(data) % 512)


def test_one_gigabyte_build_context_streams_with_flat_memory(own_proxy: Apiproxy, image: str) -> None:
    before = own_proxy.rss_kb()
    tag = f"apiproxy-test-big-{uuid.uuid4().hex[:8]}"
    conn = UnixHTTPConnection(own_proxy.sock, timeout=600)
    conn.request("POST", f"/v1.41/build?t={tag}&rm=1", body=_context_stream(image, 1024 * MB),
                 headers={"Content-Type": "application/x-tar"}, encode_chunked=True)
    response = conn.getresponse()
    output = response.read().decode()
    conn.close()
    assert response.status == 200 and "Successfully built" in output, output
    growth = own_proxy.peak_rss_kb() - before
    assert growth < 32 * 1024, f"apiproxy's peak RSS grew by {growth} kB over a 1 GB upload"
    assert request(own_proxy.sock, "DELETE", f"/v1.41/images/{tag}").status == 200


def test_large_download_streams_with_flat_memory(own_proxy: Apiproxy, docker_sock: str, image: str) -> None:
    created = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create",
                      {"Image": image, "Cmd": ["sh", "-c", "head -c 200000000 /dev/zero > /big"]})
    cid = created.json()["Id"]
    try:
        assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start").status == 204
        assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/wait").json()["StatusCode"] == 0
        before = own_proxy.rss_kb()
        conn = UnixHTTPConnection(own_proxy.sock, timeout=300)
        conn.request("GET", f"/v1.9/containers/{cid}/export")
        response = conn.getresponse()
        total = 0
        while chunk := response.read(MB):
            total += len(chunk)
        conn.close()
        assert response.status == 200 and total > 200_000_000
        growth = own_proxy.peak_rss_kb() - before
        assert growth < 32 * 1024, f"apiproxy's peak RSS grew by {growth} kB over a {total} B export"
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


# Hijacked streams -----------------------------------------------------------

def _create(sock: str, image: str, cmd: list[str], stdin: bool) -> str:
    body = {"Image": image, "Cmd": cmd, "AttachStdout": True, "AttachStderr": True,
            "AttachStdin": stdin, "OpenStdin": stdin, "StdinOnce": stdin}
    reply = request(sock, "POST", f"/v{DIRECT_API}/containers/create", body)
    assert reply.status == 201, reply
    return reply.json()["Id"]


def _open_attach(sock: str, path: str, upgrade: bool, early: bytes = b"") -> tuple[socket.socket, bytes, bytes]:
    """Send an attach request; return the socket, the response head and bytes read past it."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(120)
    conn.connect(sock)
    extra = b"Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else b""
    conn.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: docker\r\n"
                 b"Content-Type: plain/text\r\n" + extra + b"\r\n" + early)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"closed before the head: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return conn, head, rest


def _demultiplex(data: bytes) -> dict[int, int]:
    """Payload bytes per stream in Docker's 8-byte-header framing; checks the framing is whole."""
    counts: dict[int, int] = {}
    offset = 0
    while offset < len(data):
        kind, size = struct.unpack(">BxxxL", data[offset:offset + 8])
        counts[kind] = counts.get(kind, 0) + size
        offset += 8 + size
    assert offset == len(data), "a frame was cut"
    return counts


def _frames_payload(data: bytes) -> bytes:
    out, offset = [], 0
    while offset < len(data):
        _, size = struct.unpack(">BxxxL", data[offset:offset + 8])
        out.append(data[offset + 8: offset + 8 + size])
        offset += 8 + size
    return b"".join(out)


def _read_to_end(conn: socket.socket, first: bytes) -> bytes:
    parts = [first]
    while chunk := conn.recv(1 << 18):
        parts.append(chunk)
    return b"".join(parts)


@pytest.mark.parametrize("upgrade", [False, True], ids=["legacy-200", "upgrade-101"])
def test_hundred_megabytes_from_the_container(proxy_sock: str, docker_sock: str, image: str,
                                              upgrade: bool) -> None:
    size = 100 * MB + 7
    cid = _create(docker_sock, image, ["head", "-c", str(size), "/dev/zero"], stdin=False)
    try:
        conn, head, rest = _open_attach(proxy_sock, f"/v1.9/containers/{cid}/attach?stream=1&stdout=1&stderr=1",
                                        upgrade)
        assert head.startswith(b"HTTP/1.1 101" if upgrade else b"HTTP/1.1 200"), head
        assert request(proxy_sock, "POST", f"/v1.9/containers/{cid}/start").status == 204
        with conn:
            counts = _demultiplex(_read_to_end(conn, rest))
        assert counts == {1: size}
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


@pytest.mark.parametrize("upgrade", [False, True], ids=["legacy-200", "upgrade-101"])
def test_hundred_megabytes_into_the_container_then_stdin_eof(proxy_sock: str, docker_sock: str, image: str,
                                                             upgrade: bool) -> None:
    size = 100 * MB + 3
    cid = _create(docker_sock, image, ["wc", "-c"], stdin=True)
    try:
        conn, head, rest = _open_attach(
            proxy_sock, f"/v1.9/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1", upgrade)
        assert request(proxy_sock, "POST", f"/v1.9/containers/{cid}/start").status == 204
        with conn:
            block = bytes(MB)
            for _ in range(size // MB):
                conn.sendall(block)
            conn.sendall(bytes(size % MB))
            conn.shutdown(socket.SHUT_WR)  # stdin EOF ends wc
            output = _frames_payload(_read_to_end(conn, rest))
        assert output.strip() == str(size).encode()
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


def test_bytes_sent_right_after_the_attach_head_are_not_lost(proxy_sock: str, docker_sock: str,
                                                             image: str) -> None:
    cid = _create(docker_sock, image, ["cat"], stdin=True)
    try:
        assert request(proxy_sock, "POST", f"/v1.9/containers/{cid}/start").status == 204
        conn, head, rest = _open_attach(
            proxy_sock, f"/v1.9/containers/{cid}/attach?stream=1&stdin=1&stdout=1",
            upgrade=False, early=b"sent-with-the-head\n")
        with conn:
            conn.shutdown(socket.SHUT_WR)
            output = _frames_payload(_read_to_end(conn, rest))
        assert output == b"sent-with-the-head\n"
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


def test_client_leaving_an_endless_stream_closes_the_upstream(own_proxy: Apiproxy) -> None:
    request(own_proxy.sock, "GET", "/_ping")
    deadline_poll(lambda: own_proxy.socket_count() == 1)  # only the listener is left
    idle_fds = own_proxy.fd_count()
    conn = UnixHTTPConnection(own_proxy.sock, timeout=30)
    conn.request("GET", "/v1.9/events")
    response = conn.getresponse()
    assert response.status == 200
    assert own_proxy.socket_count() == 3  # the listener, the client, its upstream connection
    conn.close()
    response.close()
    deadline_poll(lambda: own_proxy.socket_count() == 1)
    assert own_proxy.fd_count() == idle_fds


@pytest.mark.parametrize("version", ["1.9", "1.41", DIRECT_API])
def test_a_finished_containers_logs_come_after_the_head_alone(proxy_sock: str, docker_sock: str, image: str,
                                                              version: str) -> None:
    """docker-py (every release) reads an attach's head through a buffered reader and the stream from the raw
    socket: what comes in the head's read is lost. The daemon writes its head, then the stream; apiproxy,
    reading both from the daemon at once, holds the stream until the client has read the head."""
    if ON_PODMAN and version == "1.9":
        pytest.skip("on Podman a 1.9 attach to a stopped container is emulated: the logs in a 200 answer, no hijack")
    cid = _create(docker_sock, image, ["echo", "hello"], stdin=False)
    try:
        assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start").status == 204
        assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/wait").status == 200
        conn, head, rest = _open_attach(proxy_sock, f"/v{version}/containers/{cid}/attach?logs=1&stream=0&stdout=1"
                                        "&stderr=1", upgrade=True)
        with conn:
            assert head.startswith(b"HTTP/1.1 101" if not ON_PODMAN else b"HTTP/1.1 "), head
            assert rest == b"", "the stream came with the head"
            output = _read_to_end(conn, b"")
        if not ON_PODMAN:  # Podman frames a stopped container's logs in its own way
            assert _frames_payload(output) == b"hello\n"
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")
