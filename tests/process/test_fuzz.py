"""HTTP-level fuzz of request heads and chunked bodies against a running apiproxy (bounded).

Whatever arrives, apiproxy answers with a 4xx of its own (or 501 for a transfer coding it does not
implement, as RFC 9112 and Docker's own server say), passes the request on, or closes: it never
answers 500, never hangs, never dies. APXTEST_FUZZ_EXAMPLES raises the count (default 150).
"""
from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from echo_upstream import EchoUpstream
from support import Apiproxy, request, start_apiproxy

EXAMPLES = int(os.environ.get("APXTEST_FUZZ_EXAMPLES", "150"))
ANSWER_TIMEOUT = 10.0  # far above any answer; reaching it is a hang

METHODS = [b"GET", b"POST", b"DELETE", b"HEAD", b"PUT", b"G\x00T", b"", b"get", b"POST /x"]
# No attach: a 2013 attach to a container not yet started waits for its start, as the 2013 daemon
# did, so silence there is the daemon's to end, not a hang (the fake daemon never starts it).
TARGETS = [b"/_ping", b"/v1.9/containers/json", b"/v1.41/containers/create", b"/v1.41/containers/abc/attach/ws",
           b"//v1.9/../x", b"/%2e%2e/x", b"/v1.9/a%2Fb", b"*", b"http://x/y", b"/\xff", b"", b"/v1.9/events"]
HEADER_NAMES = [b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"Upgrade", b"X-Registry-Auth",
                b"Content-Type", b"Host ", b" Host", b"", b"X\x00Y", b"Expect"]
HEADER_VALUES = [b"docker", b"0", b"5", b"-1", b"chunked", b"chunked, chunked", b"gzip", b"close",
                 b"keep-alive", b"tcp", b"\xff\xfe", b"a\rb", b"100-continue", b"99999999999999999999"]
EOLS = [b"\r\n", b"\n", b"\r"]


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    eol = draw(st.sampled_from(EOLS)) if draw(st.booleans()) else b"\r\n"
    line = b" ".join([draw(st.sampled_from(METHODS)), draw(st.sampled_from(TARGETS)),
                      draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 x", b""]))])
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), st.sampled_from(HEADER_VALUES)), max_size=6))
    head = line + eol + b"".join(name + b": " + value + eol for name, value in headers) + eol
    if draw(st.booleans()):  # and some raw damage
        position = draw(st.integers(0, len(head)))
        head = head[:position] + draw(st.binary(max_size=8)) + head[position:]
    return head


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        data = draw(st.binary(max_size=20))
        size = draw(st.sampled_from([b"%x" % len(data), b"%x" % (len(data) + 3), b"-1", b"zz", b"", b"0x1",
                                     b"%x;ext=1" % len(data), b"f" * 20]))
        parts.append(size + b"\r\n" + data + draw(st.sampled_from([b"\r\n", b"", b"\n", b"xx"])))
    parts.append(draw(st.sampled_from([b"0\r\n\r\n", b"0\r\nTrailer: x\r\n\r\n", b"", b"0\r\n"])))
    return b"".join(parts)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apiproxy]:
    workdir = str(tmp_path_factory.mktemp("fuzz"))
    echo = EchoUpstream(f"{workdir}/echo.sock")
    proxy = start_apiproxy(echo.path, workdir=workdir)
    yield proxy
    assert proxy.process.poll() is None, "apiproxy died under fuzzing:\n" + proxy.log
    assert request(proxy.sock, "GET", "/v1.41/version", validate=False).status == 200  # type: ignore[arg-type]
    assert proxy.stop() == 0
    assert "Traceback" not in proxy.log, proxy.log
    echo.close()


def exchange(sock: str, data: bytes) -> bytes:
    """Send, half-close, and read what comes back until apiproxy closes; a timeout is a hang."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(ANSWER_TIMEOUT)
        client.connect(sock)
        try:
            client.sendall(data)
            client.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # apiproxy refused early and closed: what it said is still to be read
        answer = bytearray()
        try:
            while chunk := client.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError(f"no answer and no close within {ANSWER_TIMEOUT} s for {data[:200]!r}") from None
        return bytes(answer)


def statuses(answer: bytes) -> list[int]:
    return [int(line.split(b" ")[1]) for line in answer.split(b"\r\n")
            if line.startswith(b"HTTP/1.") and len(line.split(b" ")) > 1 and line.split(b" ")[1].isdigit()]


def check(answer: bytes, sent: bytes) -> None:
    for status in statuses(answer):
        assert status < 500 or status == 501, f"apiproxy answered {status} to {sent[:300]!r}:\n{answer[:500]!r}"


FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(head=heads(), body=st.binary(max_size=64))
def test_any_head_gets_an_answer_or_a_close(fuzzed: Apiproxy, head: bytes, body: bytes) -> None:
    data = head + body
    check(exchange(fuzzed.sock, data), data)  # type: ignore[arg-type]


@FUZZ
@given(body=chunked_bodies(), pipelined=st.booleans())
def test_any_chunked_body_gets_an_answer_or_a_close(fuzzed: Apiproxy, body: bytes, pipelined: bool) -> None:
    data = (b"POST /v1.41/build HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n\r\n" + body
            + (b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n" if pipelined else b""))
    check(exchange(fuzzed.sock, data), data)  # type: ignore[arg-type]
