"""The proxy's plumbing for translated bodies and streams, on in-memory transports.

The version chain (a later step) plugs its transforms into `Exchange`; these
tests plug in small ones to show each path through the shell carries them:
a whole JSON request body, a streamed JSON response, a demultiplexed hijack.
"""
from __future__ import annotations

import json
import struct
from typing import Any, Iterator

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import StringTransport

from apiproxy.translation.memory import Memory
from apiproxy.wire.http1 import LAST_CHUNK, Headers, encode_chunk
from twisted.internet.task import Clock

from apiproxy.ops.config import Limits
from apiproxy.api.policy import Policy
from apiproxy.shell.client_side import ClientConnection
from apiproxy.shell.proxy import ProxyFactory
from apiproxy.shell.upstream_side import UpstreamConnection
from apiproxy.translation.routing import Settings
from apiproxy.translation.exchange import Exchange
from apiproxy.translation.transforms import JsonStream, Transform, WholeJson
from apiproxy.translation.steps.streams import Demultiplex
from apiproxy.api.upstream_info import choose_target, parse_upstream_info
from apiproxy.api.versions import Version

INFO = parse_upstream_info({"Version": "20.10", "ApiVersion": "1.41", "MinAPIVersion": "1.12"})


class HalfCloseableTransport(StringTransport):
    write_closed = False

    def loseWriteConnection(self) -> None:
        self.write_closed = True


class FakeDaemon:
    """Connects every upstream protocol to a fresh in-memory transport."""

    description = "unix:/fake.sock"

    def __init__(self) -> None:
        self.info = INFO
        self.memory = Memory()
        self.choice = choose_target(INFO, None)
        self.upstreams: list[UpstreamConnection] = []

    def current_info(self) -> Deferred[Any]:
        return succeed(self.info)

    def connect(self, protocol: UpstreamConnection) -> Deferred[Any]:
        protocol.makeConnection(HalfCloseableTransport())
        self.upstreams.append(protocol)
        return succeed(protocol)

    def connection_failed(self) -> None:
        pass

    def unreachable_message(self, reason: str) -> str:
        return f"unreachable: {reason}"


class Translating(Exchange):
    def request_body(self, headers: Headers) -> Transform | None:
        if self.route is None or self.route.method != "POST":
            return None
        return WholeJson(lambda body: {**body, "Upgraded": True})

    def response_body(self, status: int, headers: Headers) -> Transform | None:
        return JsonStream(lambda item: {"legacy": item["modern"]}, separator=b"")

    def hijacked_streams(self) -> tuple[Transform | None, Transform | None]:
        return Demultiplex(), None


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ClientConnection, HalfCloseableTransport, FakeDaemon]]:
    monkeypatch.setattr("apiproxy.translation.routing.exchange_for", lambda route, client, target, **_: Translating(route, client, target))
    daemon = FakeDaemon()
    factory = ProxyFactory(daemon, Settings(unversioned_version=Version(1, 9)))  # type: ignore[arg-type]
    client = factory.buildProtocol(None)
    transport = HalfCloseableTransport()
    client.makeConnection(transport)
    yield client, transport, daemon


def test_whole_json_request_body_is_rewritten_with_a_content_length(connected: Any) -> None:
    client, transport, daemon = connected
    body = b'{"Image": "busybox"}'
    client.dataReceived(b"POST /v1.3/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body[:5])
    upstream = daemon.upstreams[0]
    assert upstream.transport.value() == b""  # the head waits for the rewritten body
    client.dataReceived(body[5:])
    sent = upstream.transport.value()
    head, _, forwarded = sent.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1.41/containers/create HTTP/1.1")
    assert json.loads(forwarded) == {"Image": "busybox", "Upgraded": True}
    assert b"Content-Length: %d" % len(forwarded) in head


def test_streamed_json_response_is_rewritten_item_by_item(connected: Any) -> None:
    client, transport, daemon = connected
    client.dataReceived(b"GET /v1.3/events HTTP/1.1\r\nHost: x\r\n\r\n")
    upstream = daemon.upstreams[0]
    upstream.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n")
    upstream.dataReceived(encode_chunk(b'{"modern": 1}\r\n') + encode_chunk(b'{"mod'))
    head, _, body = transport.value().partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b'c\r\n{"legacy":1}\r\n'  # the second item is not complete yet
    upstream.dataReceived(encode_chunk(b'ern": 2}\r\n') + LAST_CHUNK)
    assert transport.value().endswith(b'c\r\n{"legacy":2}\r\n0\r\n\r\n')
    assert client.state == "head"  # ready for the next request on the same connection


def test_each_json_item_is_one_chunk_however_the_daemon_cut_its_chunks(connected: Any) -> None:
    """2013 daemons flushed each progress item bare as its own HTTP chunk, and docker-py 0.2.3-0.3.0 read
    one item per chunk: items the daemon sent in one chunk go apart, one cut across chunks goes whole."""
    client, transport, daemon = connected
    client.dataReceived(b"GET /v1.8/events HTTP/1.1\r\nHost: x\r\n\r\n")
    upstream = daemon.upstreams[0]
    upstream.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n")
    upstream.dataReceived(encode_chunk(b'{"modern": 1}\r\n{"modern": 2}\r\n{"modern": "thr'))
    upstream.dataReceived(encode_chunk(b'ee"}\r\n{"modern": 4}') + LAST_CHUNK)
    body = transport.value().partition(b"\r\n\r\n")[2]
    assert body == (encode_chunk(b'{"legacy":1}') + encode_chunk(b'{"legacy":2}') + encode_chunk(b'{"legacy":"three"}')
                    + encode_chunk(b'{"legacy":4}') + LAST_CHUNK)


def test_hijacked_stream_is_demultiplexed_and_stdin_eof_passed_on(connected: Any) -> None:
    client, transport, daemon = connected
    client.dataReceived(b"POST /v1.5/containers/abc/attach?stream=1 HTTP/1.1\r\nHost: x\r\n\r\nearly")
    upstream = daemon.upstreams[0]
    assert b"early" not in upstream.transport.value()  # held until the daemon switched
    frames = b"".join(struct.pack(">BxxxL", kind, len(p)) + p for kind, p in ((1, b"out"), (2, b"err")))
    upstream.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"
                          + frames[:10])
    assert upstream.transport.value().endswith(b"early")
    upstream.dataReceived(frames[10:])
    assert transport.value().endswith(b"\r\n\r\nouterr")
    client.readConnectionLost()
    assert upstream.transport.write_closed


def test_response_before_the_request_body_ends_closes_after_the_answer(connected: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("apiproxy.translation.routing.exchange_for", lambda route, client, target, **_: Exchange(route, client, target))
    client, transport, daemon = connected
    client.dataReceived(b"POST /v1.41/build HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
    upstream = daemon.upstreams[0]
    upstream.dataReceived(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nno\n")
    assert b"Connection: close" in transport.value()
    assert transport.disconnecting


class MessageDependent(Exchange):
    """A 500 that means "already stopped" becomes 204, as the Podman profile's kill rule does."""

    def status_depends_on_message(self, status: int) -> bool:
        return status == 500

    def response_head(self, status: int, headers: Headers, message: bytes | None = None) -> tuple[int, Headers]:
        return (204, []) if message is not None and b"improper" in message else (status, headers)


def test_an_error_is_held_whole_when_its_message_decides_the_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("apiproxy.translation.routing.exchange_for",
                        lambda route, client, target, **_: MessageDependent(route, client, target))
    daemon = FakeDaemon()
    client = ProxyFactory(daemon, Settings(unversioned_version=Version(1, 9))).buildProtocol(None)  # type: ignore[arg-type]
    transport = HalfCloseableTransport()
    client.makeConnection(transport)
    for message, expected in ((b'{"message":"state improper"}', b"HTTP/1.1 204 No Content\r\n"),
                              (b'{"message":"runtime failed"}', b"HTTP/1.1 500 Internal Server Error\r\n")):
        transport.clear()
        client.dataReceived(b"POST /v1.9/containers/abc/kill HTTP/1.1\r\nHost: x\r\n\r\n")
        upstream = daemon.upstreams[-1]
        upstream.dataReceived(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(message) + message[:5])
        assert transport.value() == b""  # nothing is said before the whole message is known
        upstream.dataReceived(message[5:])
        assert transport.value().startswith(expected)
        assert transport.value().endswith(b"" if expected.startswith(b"HTTP/1.1 204") else message)


def test_an_attach_served_from_the_logs_endpoint_is_a_raw_stream_until_close(connected: Any) -> None:
    client, transport, daemon = connected
    client.dataReceived(b"POST /v1.5/containers/abc/attach?logs=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: 2\r\n\r\n{}")  # (this test's exchange rewrites POST bodies)
    client.answer_as_attach = True  # what the emulation's Pass(as_attach=True) sets
    upstream = daemon.upstreams[0]
    frames = b"".join(struct.pack(">BxxxL", kind, len(p)) + p for kind, p in ((1, b"out"), (2, b"err")))
    upstream.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n" + encode_chunk(frames) + LAST_CHUNK)
    head, _, body = transport.value().partition(b"\r\n\r\n")
    assert b"Content-Type: application/vnd.docker.raw-stream" in head and b"Connection: close" in head
    assert b"chunked" not in head and body == b"outerr"  # demultiplexed for a 1.5 client
    assert transport.disconnecting


# Timeouts: only while apiproxy waits for the client --------------------------------

@pytest.fixture
def timed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ClientConnection, HalfCloseableTransport, FakeDaemon, Clock]]:
    monkeypatch.setattr("apiproxy.translation.routing.exchange_for", lambda route, client, target, **_: Exchange(route, client, target))
    daemon, clock = FakeDaemon(), Clock()
    limits = Limits(head_timeout=5, body_timeout=7, idle_timeout=30)
    factory = ProxyFactory(daemon, Settings(unversioned_version=Version(1, 9)), limits=limits,  # type: ignore[arg-type]
                           clock=clock)
    client = factory.buildProtocol(None)
    transport = HalfCloseableTransport()
    client.makeConnection(transport)
    yield client, transport, daemon, clock


def test_a_head_begun_and_not_finished_in_time_gets_408(timed: Any) -> None:
    client, transport, daemon, clock = timed
    client.dataReceived(b"GET /v1.41/info HTTP/1.1\r\n")
    clock.advance(3)
    client.dataReceived(b"Host: x\r\n")  # more bytes do not restart the head's clock
    clock.advance(2.5)
    assert transport.value().startswith(b"HTTP/1.1 408 ") and b"request head for 5 s" in transport.value()
    assert transport.disconnecting and not daemon.upstreams


def test_a_body_that_stops_coming_gets_408_but_the_daemons_answer_is_waited_for(timed: Any) -> None:
    client, transport, daemon, clock = timed
    client.dataReceived(b"POST /v1.41/build HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
    clock.advance(6)
    client.dataReceived(b"678")  # each piece restarts the body's clock
    clock.advance(6)
    client.dataReceived(b"90")  # the whole body: now apiproxy waits for the daemon, untimed
    clock.advance(3600)
    assert not transport.disconnecting
    upstream = daemon.upstreams[0]
    upstream.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert transport.value().startswith(b"HTTP/1.1 200 OK")
    transport.clear()
    client.dataReceived(b"POST /v1.41/build HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12")
    clock.advance(7.5)
    assert transport.value().startswith(b"HTTP/1.1 408 ") and transport.disconnecting


def test_an_idle_kept_alive_connection_is_closed_quietly(timed: Any) -> None:
    client, transport, daemon, clock = timed
    client.dataReceived(b"GET /v1.41/info HTTP/1.1\r\nHost: x\r\n\r\n")
    clock.advance(3600)  # the daemon takes its time: never timed
    daemon.upstreams[0].dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    transport.clear()
    clock.advance(29)
    assert not transport.disconnecting
    clock.advance(2)
    assert transport.disconnecting and transport.value() == b""


def test_the_upstream_gets_the_canonical_target_the_proxy_routed(connected: Any) -> None:
    client, transport, daemon = connected
    client.dataReceived(b"GET /v1.9/../v1.41//%63ontainers/./x/../json/?all=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert daemon.upstreams[0].transport.value().startswith(b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\n")
    assert client.exchange is not None and client.exchange.client_version == Version(1, 41)


@pytest.mark.parametrize(("wire", "body"), [
    (b"GET /v1.41/containers/a%2Fb/json HTTP/1.1\r\nHost: x\r\n\r\n", b'{"message":"encoded / in request path"}\n'),
    (b"GET /v1.9/containers/a%2Fb/json HTTP/1.1\r\nHost: x\r\n\r\n", b"encoded / in request path\n"),
    (b"GET /../_ping HTTP/1.1\r\nHost: x\r\n\r\n", b'{"message":"request path climbs above the root"}\n'),
    (b"GET /_ping HTTP/1.1\nHost: x\n\n", b'{"message":"bare LF or CR in message head"}\n'),
    (b"POST /v1.41/build HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\nDELETE /v1.41/containers/x HTTP/1.1\r\nHost: x\r\n\r\n",
     b'{"message":"both Content-Length and Transfer-Encoding are set"}\n'),
])
def test_an_ambiguous_request_is_refused_in_the_clients_style_and_closes(connected: Any, wire: bytes, body: bytes) -> None:
    client, transport, daemon = connected
    client.dataReceived(wire)
    head, _, sent = transport.value().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in head
    assert sent == body
    assert transport.disconnecting and not daemon.upstreams  # nothing reached the daemon


def test_a_request_refused_before_its_body_keeps_the_connection_once_the_body_is_dropped(connected: Any) -> None:
    client, transport, daemon = connected
    client.factory.policy = Policy.parse({"deny": ["exec"]})
    client.dataReceived(b"POST /v1.41/containers/x/exec HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 403 ") and not transport.disconnecting
    client.dataReceived(b"0123456789GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")  # the body, dropped; the next request
    assert not transport.disconnecting
    assert daemon.upstreams[0].transport.value().startswith(b"GET /_ping HTTP/1.1")
