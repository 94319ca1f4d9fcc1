"""A real daemon's streams and bodies through apiproxy, spliced in the kernel and copied ([streams] splice).

Export (chunked by the daemon), save and load (sent chunked, as the CLI sends them, and with a
Content-Length), exec and attach streams: the same bytes either way, and nothing left open after a
client that leaves mid-body. tests/process/test_splicing.py has the faults no daemon can be made to show.
"""
from __future__ import annotations

import hashlib
import io
import os
import socket
import struct
import tarfile
import threading
from collections.abc import Iterator

import pytest

from support import DIRECT_API, Apiproxy, UnixHTTPConnection, deadline_poll, request, start_apiproxy

MB = 1 << 20


@pytest.fixture(params=[True, False], ids=["spliced", "copied"])
def switched(request: pytest.FixtureRequest, docker_sock: str, tmp_path: object) -> Iterator[tuple[Apiproxy, bool]]:
    config = f"{tmp_path}/apiproxy.toml"
    with open(config, "w") as file:
        file.write(f"[streams]\nsplice = {str(request.param).lower()}\n")
    running = start_apiproxy(docker_sock, "--config", config)
    yield running, request.param
    assert running.stop() == 0, running.log
    assert "Traceback" not in running.log, running.log


def _pipes(proxy: Apiproxy) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{proxy.pid}/fd"):
        try:
            count += os.readlink(f"/proc/{proxy.pid}/fd/{fd}").startswith("pipe:")
        except FileNotFoundError:
            pass
    return count


def _get(sock: str, path: str) -> bytes:
    connection = UnixHTTPConnection(sock, 120)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        assert answer.status == 200, answer.read()[:300]
        return answer.read()  # http.client checks the framing: a cut body raises
    finally:
        connection.close()


def _save_contents(tar: bytes) -> list[tuple[str, int, int, float | None, str]]:
    """A save's members, whole, but for a directory's time: dockerd 28.5 stamps `blobs/sha256` with the
    time of the save (measured: two saves a second apart differ there alone)."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return [(member.name, member.mode, member.size, None if member.isdir() else member.mtime,
                 hashlib.sha256(archive.extractfile(member).read()).hexdigest()  # type: ignore[union-attr]
                 if member.isfile() else "")
                for member in archive.getmembers()]


def _members(tar: bytes) -> list[tuple[str, int]]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return sorted((member.name, member.size) for member in archive.getmembers())


def _create(docker_sock: str, image: str, cmd: list[str], stdin: bool = False) -> str:
    reply = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create", {
        "Image": image, "Cmd": cmd, "AttachStdout": True, "AttachStdin": stdin, "OpenStdin": stdin,
        "StdinOnce": stdin})
    assert reply.status == 201, reply
    return reply.json()["Id"]


def test_export_save_and_load_carry_the_same_bytes(switched: tuple[Apiproxy, bool], docker_sock: str,
                                                   image: str) -> None:
    proxy, _ = switched
    cid = _create(docker_sock, image, ["true"])
    try:
        direct = _get(docker_sock, f"/v{DIRECT_API}/containers/{cid}/export")
        through = _get(proxy.sock, f"/v{DIRECT_API}/containers/{cid}/export")  # type: ignore[arg-type]
        assert len(through) > MB and _members(through) == _members(direct)
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")
    saved = _get(docker_sock, f"/v{DIRECT_API}/images/{image}/get")
    through = _get(proxy.sock, f"/v{DIRECT_API}/images/{image}/get")  # type: ignore[arg-type]
    assert through == saved or _save_contents(through) == _save_contents(saved)
    for chunked in (True, False):
        connection = UnixHTTPConnection(proxy.sock, 120)  # type: ignore[arg-type]
        try:
            pieces = (saved[offset:offset + 32768] for offset in range(0, len(saved), 32768))
            connection.request("POST", f"/v{DIRECT_API}/images/load?quiet=1", body=pieces if chunked else saved,
                               headers={"Content-Type": "application/x-tar"}, encode_chunked=chunked)
            answer = connection.getresponse()
            body = answer.read()
            assert answer.status == 200 and b"Loaded image" in body, body
        finally:
            connection.close()


def _demultiplex(data: bytes) -> bytes:
    out, offset = [], 0
    while offset < len(data):
        _, size = struct.unpack(">BxxxL", data[offset:offset + 8])
        out.append(data[offset + 8:offset + 8 + size])
        offset += 8 + size
    assert offset == len(data), "a frame was cut"
    return b"".join(out)


def _hijack(sock: str, head: bytes) -> tuple[socket.socket, bytes]:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(120)
    conn.connect(sock)
    conn.sendall(head)
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        assert more, data
        data += more
    answer, _, rest = data.partition(b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 101") or answer.startswith(b"HTTP/1.1 200"), answer
    return conn, rest


def test_exec_stream_both_ways(switched: tuple[Apiproxy, bool], docker_sock: str, image: str) -> None:
    proxy, spliced = switched
    cid = _create(docker_sock, image, ["sleep", "60"])
    pipes = _pipes(proxy)
    try:
        assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start").status == 204
        exec_id = request(proxy.sock, "POST", f"/v{DIRECT_API}/containers/{cid}/exec", {  # type: ignore[arg-type]
            "Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True}).json()["Id"]
        body = b'{"Detach": false, "Tty": false}'
        conn, rest = _hijack(proxy.sock, b"POST /v%s/exec/%s/start HTTP/1.1\r\nHost: docker\r\n"  # type: ignore[arg-type]
                             b"Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (DIRECT_API.encode(), exec_id.encode(), len(body), body))
        with conn:
            # One pipe each way (two descriptors each) when spliced, none when copied.
            deadline_poll(lambda: _pipes(proxy) - pipes == (4 if spliced else 0))
            payload = bytes(range(256)) * (16 * 1024)  # 4 MiB

            def send() -> None:
                conn.sendall(payload)
                conn.shutdown(socket.SHUT_WR)  # cat's stdin ends, and so does the stream
            sender = threading.Thread(target=send)
            sender.start()
            received = bytearray(rest)
            while more := conn.recv(MB):
                received += more
            sender.join()
        assert _demultiplex(bytes(received)) == payload
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


def test_attach_output_arrives_whole(switched: tuple[Apiproxy, bool], docker_sock: str, image: str) -> None:
    proxy, _ = switched
    size = 30 * MB + 5
    cid = _create(docker_sock, image, ["head", "-c", str(size), "/dev/zero"])
    try:
        conn, rest = _hijack(proxy.sock, b"POST /v%s/containers/%s/attach?stream=1&stdout=1 HTTP/1.1\r\n"  # type: ignore[arg-type]
                             b"Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                             % (DIRECT_API.encode(), cid.encode()))
        assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start").status == 204
        with conn:
            received = bytearray(rest)
            while more := conn.recv(MB):
                received += more
        assert _demultiplex(bytes(received)) == bytes(size)
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


def test_a_client_gone_mid_save_leaves_nothing_open(switched: tuple[Apiproxy, bool], image: str) -> None:
    proxy, _ = switched
    assert request(proxy.sock, "GET", "/v1.41/_ping", validate=False).status == 200  # type: ignore[arg-type]
    deadline_poll(lambda: proxy.socket_count() == 1)
    start = proxy.fd_count()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(60)
    conn.connect(proxy.sock)  # type: ignore[arg-type]
    conn.sendall(b"GET /v%s/images/%s/get HTTP/1.1\r\nHost: docker\r\n\r\n" % (DIRECT_API.encode(), image.encode()))
    conn.recv(65536)
    conn.close()  # gone mid-answer, without a word
    deadline_poll(lambda: proxy.socket_count() == 1 and proxy.fd_count() == start)
    assert request(proxy.sock, "GET", "/v1.41/_ping", validate=False).status == 200  # type: ignore[arg-type]


# A v1.5 client's attach (before API 1.6: one raw stream, the daemon's frames demultiplexed; their
# headers read in Python, their payloads spliced). As a 2013 client does it: create, attach, start. ----

def _legacy_attach(proxy: Apiproxy, image: str, cmd: list[str], tty: bool = False,
                   stdin: bytes | None = None) -> tuple[bytes, int]:
    """Through apiproxy at v1.5: what the attach gave, and apiproxy's pipes once the stream ran."""
    sock = proxy.sock
    assert sock is not None
    created = request(sock, "POST", "/v1.5/containers/create", {
        "Image": image, "Cmd": cmd, "Tty": tty, "AttachStdout": True, "AttachStderr": True,
        "AttachStdin": stdin is not None, "OpenStdin": stdin is not None, "StdinOnce": stdin is not None})
    assert created.status == 201, created
    cid = created.json()["Id"]
    try:
        conn, rest = _hijack(sock, b"POST /v1.5/containers/%s/attach?stream=1&stdout=1&stderr=1%s HTTP/1.1\r\n"
                             b"Host: docker\r\nContent-Length: 0\r\n\r\n"
                             % (cid.encode(), b"&stdin=1" if stdin is not None else b""))
        with conn:
            assert request(sock, "POST", f"/v1.5/containers/{cid}/start", {}).status == 204
            sender = None
            if stdin is not None:
                def send() -> None:
                    conn.sendall(stdin)
                    conn.shutdown(socket.SHUT_WR)  # cat's stdin ends, and so does the stream
                sender = threading.Thread(target=send)
                sender.start()
            received = bytearray(rest)
            pipes = 0
            while more := conn.recv(MB):
                received += more
                pipes = max(pipes, _pipes(proxy))
            if sender is not None:
                sender.join()
        return bytes(received), pipes
    finally:
        request(sock, "DELETE", f"/v1.5/containers/{cid}?force=1", validate=False)


def test_legacy_attach_gets_the_output_byte_for_byte(switched: tuple[Apiproxy, bool], image: str) -> None:
    proxy, spliced = switched
    lines = 3_000_000  # about 21 MB, in frames of the daemon's sizes
    before = _pipes(proxy)
    output, pipes = _legacy_attach(proxy, image, ["seq", "1", str(lines)])
    assert output == "".join(f"{n}\n" for n in range(1, lines + 1)).encode()
    assert (pipes - before == 4) if spliced else pipes == before


def test_legacy_attach_with_stdin_both_ways(switched: tuple[Apiproxy, bool], image: str) -> None:
    proxy, spliced = switched
    payload = bytes(range(256)) * (16 * 1024)  # 4 MiB
    before = _pipes(proxy)
    output, pipes = _legacy_attach(proxy, image, ["cat"], stdin=payload)
    assert output == payload
    assert (pipes - before == 4) if spliced else pipes == before  # one pipe each way (two descriptors each)
    deadline_poll(lambda: _pipes(proxy) == before)


def test_legacy_attach_to_a_tty_passes_the_raw_stream(switched: tuple[Apiproxy, bool], image: str) -> None:
    proxy, _ = switched
    output, _ = _legacy_attach(proxy, image, ["sh", "-c", "seq 1 200000"], tty=True)
    assert output.replace(b"\r\n", b"\n") == "".join(f"{n}\n" for n in range(1, 200001)).encode()
