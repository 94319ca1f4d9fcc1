"""Streams and pass-through bodies through apiproxy, spliced in the kernel and copied ([streams] splice).

A real daemon cannot vanish at a chosen byte, send a body shorter than its Content-Length, or
answer a stream's head and a megabyte in one write; this one can. Every test runs both ways and
ends with apiproxy's descriptors back where they were (no socket, no pipe left).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from echo_upstream import VERSION
from support import Apiproxy, deadline_poll, start_apiproxy


def pattern(size: int, seed: int = 0) -> bytes:
    """Bytes whose order shows: a block's counter in every 4 bytes."""
    block = b"".join((i + seed).to_bytes(4, "big") for i in range(16384))
    return (block * (size // len(block) + 1))[:size]


FRAME_SIZES = [1, 0, 7, 4096, 8, 65536, 100000, 3]


def frames(data: bytes, offset: int = 0) -> Iterator[tuple[bytes, bytes]]:
    """`data` cut into frames of varied sizes (empty ones too), stdout and stderr by turns: (header, payload)."""
    index, turn = 0, offset
    while index < len(data):
        size = FRAME_SIZES[turn % len(FRAME_SIZES)]
        payload = data[index:index + size]
        yield struct.pack(">BxxxL", 1 + turn % 2, len(payload)), payload
        index, turn = index + len(payload), turn + 1


class _Daemon(socketserver.StreamRequestHandler):
    """/version; POST …/attach: a raw stream echoing stdin (after `first` bytes of its own, and cut
    after `vanish` bytes; `framed`: in frames as for a container without a TTY, their headers sent
    in two writes); GET …/export: `size` bytes, chunked, until close (`close`) or with a length, cut
    after `short`; POST …/load: the body's length and digest."""

    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method, target, _ = line.decode().split(" ", 2)
            headers = {}
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            path, query = urlsplit(target).path, {k: int(v[0]) for k, v in parse_qs(urlsplit(target).query).items()
                                                  if v[0].isdigit()}
            if path.endswith("/version"):
                self._answer(json.dumps(VERSION).encode())
            elif path.endswith("/attach"):
                self._attach(query)
                return
            elif path.endswith("/export"):
                if not self._export(query):
                    return
            elif path.endswith("/containers/c/json"):  # a legacy attach looks first: running, so attached at once
                self._answer(json.dumps({"Id": "c" * 64, "State": {"Running": True}}).encode())
            elif path.endswith("/load"):
                body = self._body(headers)
                if body is None:
                    return
                self._answer(json.dumps({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}).encode())
            else:
                self._answer(b"[]")  # apiproxy's own look at the containers at its start

    def _answer(self, payload: bytes) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(payload), payload))
        self.wfile.flush()

    def _attach(self, query: dict[str, int]) -> None:
        out, framed, turn = pattern(query.get("first", 0), 7), query.get("framed"), 0
        self.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                         b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        self.wfile.flush()
        vanish, echoed = query.get("vanish"), 0
        data = out
        while True:
            if not framed:
                self.connection.sendall(data)
            for header, payload in (frames(data, turn) if framed else ()):
                turn += 1
                self.connection.sendall(header[:3])  # a header split across two reads, now and then
                if turn % 16 == 0:
                    time.sleep(0.002)
                self.connection.sendall(header[3:])
                if vanish is not None and echoed + len(payload) >= vanish and payload:
                    self.connection.sendall(payload[:len(payload) // 2 + 1])  # gone in the middle of a payload
                    echoed = vanish
                    break
                self.connection.sendall(payload)
            echoed += len(data) if data is not out else 0
            if vanish is not None and echoed >= vanish:
                reset(self.connection)  # gone as a killed daemon goes
                return
            data = self.connection.recv(65536)
            if not data:
                break
        self.connection.shutdown(socket.SHUT_WR)

    def _export(self, query: dict[str, int]) -> bool:
        size, piece = query["size"], query.get("piece", 1 << 20)
        data = pattern(size)[:query.get("short", size)]
        chunked, until_close = query.get("chunked", 0), "close" in query
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n" + (
            b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"\r\n" if until_close
            else b"Content-Length: %d\r\n\r\n" % size)
        try:
            self.connection.sendall(head + (b"" if chunked else data[:piece]))
            offset = 0 if chunked else piece
            while offset < len(data):
                part = data[offset:offset + piece]
                if chunked and query.get("split"):  # each chunk's line in two writes, apart in time
                    line = b"%x;ext=1\r\n" % len(part)
                    self.connection.sendall(line[:2])
                    time.sleep(0.002)
                    self.connection.sendall(line[2:] + part + b"\r\n")
                else:
                    self.connection.sendall(b"%x;ext=1\r\n%s\r\n" % (len(part), part) if chunked else part)
                offset += piece
                if query.get("pause"):
                    time.sleep(0.001)  # the source runs dry now and then: EAGAIN on apiproxy's side
            if "bad" in query:
                self.connection.sendall(b"zz\r\n")  # not a chunk size
                self.connection.recv(1)  # until apiproxy gives up on this answer
                return False
            if "short" in query or until_close:
                self.connection.shutdown(socket.SHUT_RDWR)
                return False
            if chunked:
                self.connection.sendall(b"0\r\nX-Trailer: yes\r\n\r\n")
        except OSError:
            return False  # the client went (through apiproxy)
        return True

    def _body(self, headers: dict[str, str]) -> bytes | None:
        if headers.get("transfer-encoding", "").lower() != "chunked":
            length = int(headers.get("content-length", "0"))
            body = self.rfile.read(length)
            return body if len(body) == length else None
        body = bytearray()
        while line := self.rfile.readline():
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline()
        return None


class Daemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str) -> None:
        super().__init__(path, _Daemon)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def _descriptors(proxy: Apiproxy) -> list[str]:
    found = []
    for fd in os.listdir(f"/proc/{proxy.pid}/fd"):
        try:
            found.append(os.readlink(f"/proc/{proxy.pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return found


def _pipes(proxy: Apiproxy) -> int:
    return sum(link.startswith("pipe:") for link in _descriptors(proxy))


@pytest.fixture(params=[True, False], ids=["spliced", "copied"])
def proxy(request: pytest.FixtureRequest, workdir: str) -> Iterator[tuple[Apiproxy, bool]]:
    daemon = Daemon(f"{workdir}/d.sock")
    config = f"{workdir}/apiproxy.toml"
    with open(config, "w") as file:
        file.write(f"[streams]\nsplice = {str(request.param).lower()}\n")
    running = start_apiproxy(f"{workdir}/d.sock", "--config", config, workdir=workdir)
    connect(running.sock).close()  # the /version probe's connection, made and reused
    time.sleep(0.2)
    running.baseline = len(_descriptors(running))  # type: ignore[attr-defined]
    running.pipes = _pipes(running)  # type: ignore[attr-defined]
    yield running, request.param
    # No descriptor left: every socket and pipe of the test's streams is closed.
    try:
        if running.process.poll() is None:
            deadline_poll(lambda: len(_descriptors(running)) <= running.baseline)  # type: ignore[attr-defined]
    finally:
        daemon.close()
        assert running.stop() == 0, running.log
    assert "Traceback" not in running.log, running.log


def connect(path: str | None) -> socket.socket:
    assert path is not None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(path)
    return sock


def reset(sock: socket.socket) -> None:
    """Gone as a killed process goes: a reset (RST), not an orderly end."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    sock.close()


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, data
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_all(sock: socket.socket, rest: bytes = b"") -> bytes:
    data = bytearray(rest)
    try:
        while more := sock.recv(1 << 20):
            data += more
    except ConnectionResetError:
        pass
    return bytes(data)


def attach(path: str | None, query: str = "") -> tuple[socket.socket, bytes]:
    sock = connect(path)
    sock.sendall(b"POST /v1.41/containers/c/attach?stream=1&stdin=1&stdout=1%s HTTP/1.1\r\nHost: d\r\n"
                 b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" % query.encode())
    head, rest = read_head(sock)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock, rest


def echo_through(sock: socket.socket, data: bytes, rest: bytes = b"") -> bytes:
    """Send `data` while reading what comes back, then half-close and read to the end."""
    def send() -> None:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the stream ended first (the daemon vanished)
    sender = threading.Thread(target=send)
    sender.start()
    received = read_all(sock, rest)
    sender.join()
    return received


def dechunk(body: bytes, whole: bool = True) -> bytes:
    """A chunked body's payload; `whole=False`: of the chunks that arrived whole, the body being cut."""
    out, offset = bytearray(), 0
    while True:
        end = body.find(b"\r\n", offset)
        if end < 0 or (not whole and end + 4 + int(body[offset:end].split(b";")[0], 16) > len(body)):
            assert not whole, "the body was cut"
            return bytes(out)
        size = int(body[offset:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2:end + 2 + size]
        assert body[end + 2 + size:end + 4 + size] == b"\r\n"
        offset = end + 4 + size


def test_attach_echoes_both_ways_and_half_closes(proxy: tuple[Apiproxy, bool]) -> None:
    running, spliced = proxy
    sock, rest = attach(running.sock)
    with sock:
        payload = pattern(8 << 20)
        # One pipe per direction (two descriptors each), and none on the copying path.
        deadline_poll(lambda: _pipes(running) - running.pipes == (4 if spliced else 0))  # type: ignore[attr-defined]
        assert echo_through(sock, payload, rest) == payload


def test_slow_reader_gets_a_buffered_head_before_the_spliced_bytes(proxy: tuple[Apiproxy, bool]) -> None:
    """The daemon sends the stream's head and 4 MiB at once; the client reads nothing for a while,
    so apiproxy holds part of what it read with the head when the splice begins."""
    running, _ = proxy
    sock = connect(running.sock)
    with sock:
        sock.sendall(b"GET /v1.41/containers/c/export?size=%d&piece=%d HTTP/1.1\r\nHost: d\r\n\r\n" % (4 << 20, 4 << 20))
        time.sleep(0.5)  # not an assertion: the client is slow, the bytes wait in apiproxy
        head, rest = read_head(sock)
        assert b"Content-Length: 4194304" in head, head
        body = bytearray(rest)
        while len(body) < 4 << 20:
            more = sock.recv(1 << 20)
            assert more
            body += more
        assert bytes(body) == pattern(4 << 20)
    stream, rest = attach(running.sock, "&first=%d" % (3 << 20))
    with stream:
        time.sleep(0.5)
        assert echo_through(stream, b"stdin", rest) == pattern(3 << 20, 7) + b"stdin"


@pytest.mark.parametrize("chunked", [0, 1], ids=["length", "chunked"])
def test_export_through_a_full_pipe_and_a_dry_source(proxy: tuple[Apiproxy, bool], chunked: int) -> None:
    """The daemon sends in small pieces with pauses (apiproxy reads EAGAIN), the client reads slowly
    in small pieces (the pipe fills, writes are short), on a kept-alive connection used twice."""
    running, _ = proxy
    size = 6 << 20
    sock = connect(running.sock)
    with sock:
        for _ in range(2):
            sock.sendall(b"GET /v1.41/containers/c/export?size=%d&piece=%d&pause=1&chunked=%d HTTP/1.1\r\n"
                         b"Host: d\r\n\r\n" % (size, 65536 + 7, chunked))
            head, rest = read_head(sock)
            body = bytearray(rest)
            end = b"0\r\n\r\n" if chunked else None
            while (end is not None and not body.endswith(end)) or (end is None and len(body) < size):
                more = sock.recv(4096)
                assert more
                body += more
                if len(body) % (1 << 20) < 4096:
                    time.sleep(0.05)  # a slow reader, now and then
            assert (dechunk(bytes(body)) if chunked else bytes(body)) == pattern(size)
            assert (b"Transfer-Encoding: chunked" in head) == bool(chunked), head


def test_chunk_lines_cut_across_reads_pass_whole(proxy: tuple[Apiproxy, bool]) -> None:
    """The daemon writes each chunk-size line in two pieces: apiproxy reads the line in several
    looks and still gives the client each chunk whole, then the last chunk without the trailer."""
    running, _ = proxy
    size = 2 << 20
    sock = connect(running.sock)
    with sock:
        for _ in range(2):  # kept alive: the second answer starts where the first ended
            sock.sendall(b"GET /v1.41/containers/c/export?size=%d&piece=%d&split=1&chunked=1 HTTP/1.1\r\n"
                         b"Host: d\r\n\r\n" % (size, 100000))
            head, rest = read_head(sock)
            body = bytearray(rest)
            while not body.endswith(b"\r\n0\r\n\r\n"):
                more = sock.recv(1 << 16)
                assert more
                body += more
            assert dechunk(bytes(body)) == pattern(size)


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_load_bodies_pass_whole(proxy: tuple[Apiproxy, bool], chunked: bool) -> None:
    running, _ = proxy
    body = pattern(5 << 20, 3)
    sock = connect(running.sock)
    with sock:
        for _ in range(2):  # the connection goes on after a spliced body
            if chunked:
                pieces, offset, sizes = [], 0, [1, 32768, 100000, 7, 1 << 20]
                while offset < len(body):
                    part = body[offset:offset + sizes[len(pieces) % len(sizes)]]
                    pieces.append(b"%x;name=v\r\n%s\r\n" % (len(part), part))
                    offset += len(part)
                framing, data = b"Transfer-Encoding: chunked", b"".join(pieces) + b"0\r\n\r\n"
            else:
                framing, data = b"Content-Length: %d" % len(body), body
            sock.sendall(b"POST /v1.41/images/load HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\n%s\r\n\r\n"
                         % framing + data)
            head, rest = read_head(sock)
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += sock.recv(65536)
            assert json.loads(rest) == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_daemon_vanishing_mid_stream_ends_that_stream_only(proxy: tuple[Apiproxy, bool]) -> None:
    running, _ = proxy
    other, other_rest = attach(running.sock)
    doomed, rest = attach(running.sock, "&vanish=%d" % (1 << 20))
    with doomed, other:
        received = echo_through(doomed, pattern(4 << 20), rest)
        assert len(received) < 4 << 20 and pattern(4 << 20).startswith(received)
        assert echo_through(other, pattern(2 << 20), other_rest) == pattern(2 << 20)


@pytest.mark.parametrize("chunked", [0, 1], ids=["length", "chunked"])
def test_client_vanishing_mid_body_ends_that_answer_only(proxy: tuple[Apiproxy, bool], chunked: int) -> None:
    running, _ = proxy
    other, other_rest = attach(running.sock)
    with other:
        sock = connect(running.sock)
        sock.sendall(b"GET /v1.41/containers/c/export?size=%d&chunked=%d HTTP/1.1\r\nHost: d\r\n\r\n"
                     % (64 << 20, chunked))
        read_head(sock)
        sock.recv(1 << 20)
        reset(sock)
        assert echo_through(other, pattern(1 << 20), other_rest) == pattern(1 << 20)


@pytest.mark.parametrize("chunked", [0, 1], ids=["length", "chunked"])
def test_answer_shorter_than_announced_is_cut(proxy: tuple[Apiproxy, bool], chunked: int) -> None:
    """The client sees the answer end early: a close before its Content-Length, or no last chunk."""
    running, _ = proxy
    sock = connect(running.sock)
    with sock:
        sock.sendall(b"GET /v1.41/containers/c/export?size=%d&short=%d&chunked=%d HTTP/1.1\r\nHost: d\r\n\r\n"
                     % (8 << 20, 3 << 20, chunked))
        head, rest = read_head(sock)
        body = read_all(sock, rest)
        if chunked:
            assert not body.endswith(b"0\r\n\r\n")
        else:
            assert len(body) == 3 << 20 and body == pattern(3 << 20)


def test_request_body_shorter_than_its_length(proxy: tuple[Apiproxy, bool]) -> None:
    """The client half-closes 2 MiB into a 6 MiB body: that request ends, apiproxy serves the next."""
    running, _ = proxy
    sock = connect(running.sock)
    with sock:
        sock.sendall(b"POST /v1.41/images/load HTTP/1.1\r\nHost: d\r\nContent-Length: %d\r\n\r\n" % (6 << 20)
                     + pattern(2 << 20))
        sock.shutdown(socket.SHUT_WR)
        answer = read_all(sock)
        assert not answer or answer.startswith(b"HTTP/1.1 400"), answer[:200]
    with connect(running.sock) as fresh:
        fresh.sendall(b"POST /v1.41/images/load HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\n\r\nabc")
        head, rest = read_head(fresh)
        assert head.startswith(b"HTTP/1.1 200"), head


def test_sigterm_lets_a_running_stream_finish(proxy: tuple[Apiproxy, bool]) -> None:
    """SIGTERM's grace covers a stream in the middle of its bytes; apiproxy exits when it ends."""
    running, _ = proxy
    sock, rest = attach(running.sock)
    with sock:
        running.process.send_signal(signal.SIGTERM)
        deadline_poll(lambda: "stopping:" in running.log)
        assert echo_through(sock, pattern(2 << 20), rest) == pattern(2 << 20)
    assert running.process.wait(30) == 0


def test_malformed_chunk_framing_ends_that_body(proxy: tuple[Apiproxy, bool]) -> None:
    """A daemon's bad chunk line cuts the answer (no last chunk); a client's gets a 400 or a close."""
    running, _ = proxy
    with connect(running.sock) as sock:
        sock.sendall(b"GET /v1.41/containers/c/export?size=%d&chunked=1&bad=1 HTTP/1.1\r\nHost: d\r\n\r\n" % (2 << 20))
        head, rest = read_head(sock)
        body = read_all(sock, rest)
        assert not body.endswith(b"0\r\n\r\n")
        assert pattern(2 << 20).startswith(dechunk(body, whole=False))  # the chunks that came are right
    with connect(running.sock) as sock:
        part = pattern(1 << 20)
        sock.sendall(b"POST /v1.41/images/load HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"%x\r\n%s\r\n" % (len(part), part))
        time.sleep(0.2)  # the first chunk is on its way (spliced, when splicing) before the bad line
        sock.sendall(b"%x\r\n%s\r\nnot-a-size\r\n" % (len(part), part))
        answer = read_all(sock)
        assert not answer or answer.startswith(b"HTTP/1.1 400"), answer[:200]


# A v1.5 client's attach: the daemon's frames demultiplexed into one raw stream, their headers read
# in Python and their payloads spliced (or all copied). -------------------------------------------------

def legacy_attach(path: str | None, query: str = "") -> tuple[socket.socket, bytes]:
    """As a 2013 client attaches: no Upgrade header; the answer is a raw stream."""
    sock = connect(path)
    sock.sendall(b"POST /v1.5/containers/c/attach?stream=1&stdin=1&stdout=1&stderr=1%s HTTP/1.1\r\nHost: d\r\n"
                 b"Content-Length: 0\r\n\r\n" % query.encode())
    head, rest = read_head(sock)
    assert head.startswith((b"HTTP/1.1 101", b"HTTP/1.1 200")), head
    return sock, rest


def test_legacy_attach_gets_the_payloads_whole(proxy: tuple[Apiproxy, bool]) -> None:
    """Frames of every size (empty ones, headers split across reads) both ways of the switch; stdin spliced too."""
    running, spliced = proxy
    sock, rest = legacy_attach(running.sock, "&framed=1&first=%d" % (1 << 20))
    with sock:
        payload = pattern(8 << 20, 5)
        assert echo_through(sock, payload, rest) == pattern(1 << 20, 7) + payload
    # The splice began once the first header had told the stream is framed: a pipe each way.
    sock, rest = legacy_attach(running.sock, "&framed=1")
    with sock:
        sock.sendall(b"x")
        deadline_poll(lambda: _pipes(running) - running.pipes == (4 if spliced else 0))  # type: ignore[attr-defined]
        assert echo_through(sock, b"yz", rest) == b"xyz"


def test_legacy_attach_to_a_tty_stream_passes_it_as_it_is(proxy: tuple[Apiproxy, bool]) -> None:
    """A container with a TTY sends no frames: its bytes go on unchanged (spliced raw when splicing)."""
    running, spliced = proxy
    sock, rest = legacy_attach(running.sock)
    with sock:
        payload = b"$ ls\r\n" + pattern(4 << 20, 9)
        assert echo_through(sock, payload, rest) == payload


def test_legacy_attach_to_a_slow_reader(proxy: tuple[Apiproxy, bool]) -> None:
    """The daemon's frames come faster than the client reads in small pieces: the pipe fills, writes are
    short, and a head partly read is held while the stream begins."""
    running, _ = proxy
    sock, rest = legacy_attach(running.sock, "&framed=1&first=%d" % (6 << 20))
    with sock:
        time.sleep(0.5)  # not an assertion: the client is slow, bytes wait in apiproxy and the kernel
        received = bytearray(rest)
        while len(received) < 6 << 20:
            more = sock.recv(4096)
            assert more
            received += more
            if len(received) % (1 << 20) < 4096:
                time.sleep(0.05)
        assert bytes(received) == pattern(6 << 20, 7)
        assert echo_through(sock, b"end") == b"end"


def test_legacy_attach_daemon_vanishing_mid_payload(proxy: tuple[Apiproxy, bool]) -> None:
    """The daemon resets in the middle of a frame's payload: the client gets what came, then the end;
    another legacy stream goes on."""
    running, _ = proxy
    other, other_rest = legacy_attach(running.sock, "&framed=1")
    doomed, rest = legacy_attach(running.sock, "&framed=1&vanish=%d" % (1 << 20))
    with doomed, other:
        received = echo_through(doomed, pattern(4 << 20), rest)
        assert len(received) < 4 << 20 and pattern(4 << 20).startswith(received)
        assert echo_through(other, pattern(2 << 20), other_rest) == pattern(2 << 20)


def test_legacy_attach_client_vanishing_mid_stream(proxy: tuple[Apiproxy, bool]) -> None:
    running, _ = proxy
    other, other_rest = legacy_attach(running.sock, "&framed=1")
    with other:
        sock, rest = legacy_attach(running.sock, "&framed=1&first=%d" % (32 << 20))
        sock.recv(1 << 20)
        reset(sock)
        assert echo_through(other, pattern(1 << 20), other_rest) == pattern(1 << 20)


# Answers read until the daemon closes (no length, not chunked): spliced too, re-chunked for HTTP/1.1. -----

@pytest.mark.parametrize("minor", [1, 0], ids=["http1.1", "http1.0"])
def test_answer_until_close_passes_whole(proxy: tuple[Apiproxy, bool], minor: int) -> None:
    """The daemon sends in small pieces with pauses (EAGAIN) to a client that reads slowly (a full pipe):
    an HTTP/1.1 client gets it chunked and its connection goes on; an HTTP/1.0 one, until the close."""
    running, _ = proxy
    size = 6 << 20
    with connect(running.sock) as sock:
        for _ in range(2 if minor else 1):
            sock.sendall(b"GET /v1.41/containers/c/export?size=%d&piece=%d&pause=1&close=1 HTTP/1.%d\r\n"
                         b"Host: d\r\n\r\n" % (size, 65536 + 7, minor))
            head, rest = read_head(sock)
            assert (b"Transfer-Encoding: chunked" in head) == bool(minor), head
            body = bytearray(rest)
            while not (body.endswith(b"\r\n0\r\n\r\n") if minor else len(body) >= size):
                more = sock.recv(4096)
                assert more
                body += more
                if len(body) % (1 << 20) < 4096:
                    time.sleep(0.05)  # a slow reader, now and then
            assert (dechunk(bytes(body)) if minor else bytes(body)) == pattern(size)
        if not minor:
            assert sock.recv(1) == b""


@pytest.mark.parametrize("minor", [1, 0], ids=["http1.1", "http1.0"])
def test_answer_until_close_ended_early(proxy: tuple[Apiproxy, bool], minor: int) -> None:
    """A daemon gone mid-answer closes it as a finished one does (over a unix socket, nothing tells them
    apart): the client gets the bytes that came, well framed, and its HTTP/1.1 connection goes on."""
    running, _ = proxy
    with connect(running.sock) as sock:
        sock.sendall(b"GET /v1.41/containers/c/export?size=%d&short=%d&close=1 HTTP/1.%d\r\nHost: d\r\n\r\n"
                     % (8 << 20, 3 << 20, minor))
        head, rest = read_head(sock)
        body = bytearray(rest)
        while not (body.endswith(b"\r\n0\r\n\r\n") if minor else len(body) >= 3 << 20):
            more = sock.recv(1 << 20)
            assert more
            body += more
        assert (dechunk(bytes(body)) if minor else bytes(body)) == pattern(3 << 20)
        if minor:
            sock.sendall(b"POST /v1.41/images/load HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\n\r\nabc")
            head, rest = read_head(sock)
            assert head.startswith(b"HTTP/1.1 200"), head
        else:
            assert sock.recv(1) == b""


def test_answer_until_close_client_vanishing(proxy: tuple[Apiproxy, bool]) -> None:
    running, _ = proxy
    other, other_rest = attach(running.sock)
    with other:
        sock = connect(running.sock)
        sock.sendall(b"GET /v1.41/containers/c/export?size=%d&close=1 HTTP/1.1\r\nHost: d\r\n\r\n" % (64 << 20))
        read_head(sock)
        sock.recv(1 << 20)
        reset(sock)
        assert echo_through(other, pattern(1 << 20), other_rest) == pattern(1 << 20)
