"""HTTP/1.1 semantics, checked on what actually reaches the upstream."""
from __future__ import annotations

import json
import socket

from echo_upstream import EchoUpstream
from support import Apiproxy, raw_exchange, request


def _received(reply_body: bytes) -> dict:
    return json.loads(reply_body)


def test_repeated_headers_kept_in_order_both_ways(echo_proxy: Apiproxy) -> None:
    head = (b"GET /v1.41/info HTTP/1.1\r\nHost: docker\r\nX-Meta-A: 1\r\nX-Meta-A: 2\r\n"
            b"Connection: close\r\n\r\n")
    reply = raw_exchange(echo_proxy.sock, head)
    response_head, _, body = reply.partition(b"\r\n\r\n")
    assert b"X-Repeated: one\r\nX-Repeated: two" in response_head
    seen = [v for k, v in _received(body)["headers"] if k == "X-Meta-A"]
    assert seen == ["1", "2"]


def test_hop_by_hop_headers_are_not_forwarded(echo_proxy: Apiproxy) -> None:
    reply = request(echo_proxy.sock, "GET", "/v1.41/info", headers={
        "Connection": "keep-alive, X-Private", "X-Private": "secret", "Keep-Alive": "timeout=5",
        "Proxy-Connection": "keep-alive", "TE": "trailers", "X-End-To-End": "kept"})
    names = {k.lower() for k, _ in reply.json()["headers"]}
    assert "x-end-to-end" in names
    assert not names & {"connection", "x-private", "keep-alive", "proxy-connection", "te"}


def test_legacy_host_header_is_replaced(echo_proxy: Apiproxy) -> None:
    reply = request(echo_proxy.sock, "GET", "/v1.9/version", headers={"Host": "/var/run/docker.sock"})
    assert reply.status == 200
    echo_request = request(echo_proxy.sock, "GET", "/v1.9/info", headers={"Host": "/var/run/docker.sock"},
                           validate=False)  # the echo upstream answers with what it received, not /info
    hosts = [v for k, v in echo_request.json()["headers"] if k.lower() == "host"]
    assert hosts == ["docker"]
    assert echo_request.json()["target"] == "/v1.41/info"


def test_keep_alive_serves_several_requests_on_one_connection(echo_proxy: Apiproxy, echo: EchoUpstream) -> None:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(echo_proxy.sock)
        # Three requests written at once (pipelined), answered in order.
        conn.sendall(b"".join(b"GET /v1.41/r%d HTTP/1.1\r\nHost: docker\r\n\r\n" % i for i in range(3)))
        data = b""
        while data.count(b"HTTP/1.1 200") < 3 or not data.rstrip().endswith(b"}"):
            data += conn.recv(65536)
    targets = [json.loads(part.split(b"\r\n\r\n", 1)[1]) ["target"] for part in data.split(b"HTTP/1.1 ")[1:]]
    assert targets == ["/v1.41/r0", "/v1.41/r1", "/v1.41/r2"]


def test_head_response_has_no_body(echo_proxy: Apiproxy) -> None:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(echo_proxy.sock)
        conn.sendall(b"HEAD /v1.41/x HTTP/1.1\r\nHost: docker\r\n\r\nGET /v1.41/y HTTP/1.1\r\nHost: docker\r\n\r\n")
        data = b""
        while not data.rstrip().endswith(b"}"):
            data += conn.recv(65536)
    first, second = data.split(b"HTTP/1.1 ")[1:]
    assert first.endswith(b"\r\n\r\n") and b"Content-Length" in first  # the length of the GET body
    assert json.loads(second.split(b"\r\n\r\n", 1)[1])["target"] == "/v1.41/y"


def test_chunked_request_body_is_streamed(echo_proxy: Apiproxy) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (n, b"x" * n) for n in (1, 4096, 70000)) + b"0\r\n\r\n"
    reply = raw_exchange(echo_proxy.sock, b"POST /v1.41/build HTTP/1.1\r\nHost: docker\r\n"
                         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks)
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["body_length"] == 1 + 4096 + 70000


def test_malformed_request_gets_400_and_no_traceback(echo_proxy: Apiproxy) -> None:
    for bad in (b"GET /x HTTP/1.1\r\nBad Header: 1\r\n\r\n",
                b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"GET /x HTTP/1.1\nHost: a\n\n\r\n\r\n",
                b"NOT HTTP AT ALL\r\n\r\n"):
        reply = raw_exchange(echo_proxy.sock, bad)
        assert reply.startswith(b"HTTP/1.1 400 "), reply
        assert b"Traceback" not in reply


def test_http10_client_gets_an_unchunked_answer(echo_proxy: Apiproxy) -> None:
    reply = raw_exchange(echo_proxy.sock, b"GET /v1.41/info HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200")
    assert b"chunked" not in reply.split(b"\r\n\r\n")[0].lower()


def test_many_pipelined_refusals_then_close(echo_proxy: Apiproxy) -> None:
    # Answered locally one after another: this must loop, not recurse, and
    # the final "Connection: close" must close even after a large backlog.
    reply = raw_exchange(echo_proxy.sock, b"GET /v9.99/version HTTP/1.1\r\nHost: x\r\n\r\n" * 20000
                         + b"GET /v1.41/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.count(b"client version 9.99 is too new") == 20000
    assert json.loads(reply.rsplit(b"\r\n\r\n", 1)[1])["target"] == "/v1.41/last"
