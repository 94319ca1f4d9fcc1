"""apiproxy.websocket: the 0.6-era websocket attach, played against wsproto's client side."""
from __future__ import annotations

import base64

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection, BytesMessage, CloseConnection, Event, Ping, Pong, Request, TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from apiproxy.wire.http1 import Headers, format_request_head
from apiproxy.translation.transforms import FRAME_HEADER, Transform
from apiproxy.translation.steps.streams import Demultiplex
from apiproxy.wire.websocket import ToClientFrames, WebSocketBridge, WebSocketError, handshake

TARGET = "/v1.9/containers/abc/attach/ws?stream=1&stdin=1&stdout=1&stderr=1&logs=0"
RFC_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 1.3's example, accepted as below
RFC_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
GOOD: Headers = [
    (b"Host", b"docker"), (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Key", RFC_KEY), (b"Sec-WebSocket-Version", b"13"),
]


def connect() -> tuple[WSConnection, WebSocketBridge]:
    """A wsproto client and the bridge it reached, past the handshake."""
    client = WSConnection(ConnectionType.CLIENT)
    bridge = WebSocketBridge(client.send(Request(host="docker", target=TARGET)))
    assert isinstance(received(client, bridge.accept())[0], AcceptConnection)
    return client, bridge


def received(client: WSConnection, data: bytes) -> list[Event]:
    client.receive_data(data)
    return list(client.events())


def text(events: list[Event]) -> str:
    return "".join(event.data for event in events if isinstance(event, TextMessage))


def frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True) -> bytes:
    """A small client frame wsproto's client cannot make (a cut character, no mask)."""
    assert len(payload) < 126
    mask = b"\x01\x02\x03\x04"
    first = bytes([(0x80 if fin else 0) | opcode, (0x80 if masked else 0) | len(payload)])
    if not masked:
        return first + payload
    return first + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def with_headers(changes: dict[bytes, bytes | None]) -> Headers:
    """GOOD with headers replaced (a value) or removed (None)."""
    kept = [(name, value) for name, value in GOOD if name not in changes]
    return kept + [(name, value) for name, value in changes.items() if value is not None]


# Handshake ------------------------------------------------------------------

def test_a_real_client_handshake_is_accepted() -> None:
    client, bridge = connect()
    assert bridge.target == TARGET
    assert client.state is ConnectionState.OPEN


def test_accept_is_a_101_with_the_rfc_accept_token() -> None:
    accept = WebSocketBridge(format_request_head("GET", TARGET, GOOD)).accept()
    assert accept.startswith(b"HTTP/1.1 101 ")
    assert handshake("GET", GOOD) == (101, [
        (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Accept", RFC_ACCEPT)])


@pytest.mark.parametrize("changes", [
    {b"Connection": b"keep-alive, Upgrade"},
    {b"Upgrade": b"WebSocket", b"Connection": b"upgrade"},
    {b"Origin": b"http://localhost"},
])
def test_handshake_accepts_tokens_and_any_case(changes: dict[bytes, bytes | None]) -> None:
    assert handshake("GET", with_headers(changes))[0] == 101


@pytest.mark.parametrize(("method", "changes", "status", "words"), [
    ("POST", {}, 400, "GET"),
    ("GET", {b"Upgrade": None}, 400, "Upgrade"),
    ("GET", {b"Upgrade": b"h2c"}, 400, "Upgrade"),
    ("GET", {b"Connection": None}, 400, "Connection"),
    ("GET", {b"Connection": b"keep-alive"}, 400, "Connection"),
    ("GET", {b"Sec-WebSocket-Key": None}, 400, "Key"),
    ("GET", {b"Sec-WebSocket-Key": b"not base64!"}, 400, "16 bytes"),
    ("GET", {b"Sec-WebSocket-Key": base64.b64encode(b"x" * 15)}, 400, "16 bytes"),
    ("GET", {b"Host": None}, 400, "Host"),
])
def test_bad_handshakes_are_refused(method: str, changes: dict[bytes, bytes | None],
                                    status: int, words: str) -> None:
    with pytest.raises(WebSocketError, match=words) as refused:
        handshake(method, with_headers(changes))
    assert (refused.value.status, refused.value.headers) == (status, [])


@pytest.mark.parametrize(("version", "status"), [(b"8", 426), (None, 400)])
def test_another_version_is_told_the_one_spoken(version: bytes | None, status: int) -> None:
    with pytest.raises(WebSocketError, match="Version") as refused:
        handshake("GET", with_headers({b"Sec-WebSocket-Version": version}))
    assert refused.value.status == status
    assert refused.value.headers == [(b"Sec-WebSocket-Version", b"13")]


@pytest.mark.parametrize("head", [
    format_request_head("GET", TARGET, GOOD).replace(b"HTTP/1.1", b"HTTP/1.0"),
    format_request_head("GET", TARGET, GOOD).replace(b"\r\nHost", b"\nHost"),
])
def test_heads_that_are_not_http_1_1_are_refused(head: bytes) -> None:
    with pytest.raises(WebSocketError) as refused:
        WebSocketBridge(head)
    assert refused.value.status == 400


def test_the_bridge_wants_exactly_a_head_and_an_accept_before_frames() -> None:
    head = format_request_head("GET", TARGET, GOOD)
    with pytest.raises(ValueError):
        WebSocketBridge(head + frame(0x1, b"early"))
    with pytest.raises(ValueError):
        WebSocketBridge(head[:-2])
    with pytest.raises(RuntimeError):
        WebSocketBridge(head).from_client(frame(0x1, b"x"))


def test_offered_compression_is_not_agreed() -> None:
    client = WSConnection(ConnectionType.CLIENT)
    head = client.send(Request(host="docker", target=TARGET, extensions=[PerMessageDeflate()]))
    bridge = WebSocketBridge(head)
    (accepted,) = received(client, bridge.accept())
    assert isinstance(accepted, AcceptConnection) and accepted.extensions == []
    assert bridge.from_client(client.send(TextMessage(data="ls\n")))[0] == b"ls\n"


# From the client --------------------------------------------------------------

def test_text_and_binary_messages_go_to_stdin() -> None:
    client, bridge = connect()
    data = client.send(TextMessage(data="echo hé\n")) + client.send(BytesMessage(data=b"\x00\xff"))
    assert bridge.from_client(data) == ("echo hé\n".encode() + b"\x00\xff", b"", False)


def _wire() -> tuple[bytes, bytes]:
    """Client frames of every kind back to back, and the stdin they make."""
    client, _ = connect()
    wire = b"".join((
        client.send(TextMessage(data="hé", message_finished=False)),
        client.send(TextMessage(data="llo €\n", message_finished=True)),
        frame(0x1, "€".encode()[:2], fin=False),  # a character cut between fragments
        frame(0x0, "€".encode()[2:] + b"!"),
        client.send(Ping(payload=b"ping1")),
        client.send(BytesMessage(data=b"\x00\x01")),
        client.send(Pong(payload=b"unasked")),  # ignored
        frame(0x2, b"ab", fin=False), frame(0x9, b"p"), frame(0x0, b"cd"),  # a ping inside
        client.send(CloseConnection(code=1000, reason="bye")),
        frame(0x1, b"after the close"),
    ))
    return wire, "hé".encode() + "llo €\n".encode() + "€!".encode() + b"\x00\x01abcd"


def _replies(client: WSConnection, data: bytes) -> list[tuple[str, object]]:
    summary: list[tuple[str, object]] = []
    for event in received(client, data):
        if isinstance(event, Pong):
            summary.append(("pong", event.payload))
        elif isinstance(event, CloseConnection):
            summary.append(("close", (event.code, event.reason)))
        else:
            summary.append(("other", event))
    return summary


EXPECTED_REPLIES = [("pong", b"ping1"), ("pong", b"p"), ("close", (1000, "bye"))]


def test_frames_split_at_every_byte_boundary() -> None:
    wire, stdin = _wire()
    for split in range(len(wire) + 1):
        client, bridge = connect()
        first = bridge.from_client(wire[:split])
        second = bridge.from_client(wire[split:])
        assert first[0] + second[0] == stdin, split
        assert _replies(client, first[1] + second[1]) == EXPECTED_REPLIES, split
        assert second[2] is True, split


def test_frames_fed_one_byte_at_a_time() -> None:
    wire, stdin = _wire()
    client, bridge = connect()
    results = [bridge.from_client(wire[i:i + 1]) for i in range(len(wire))]
    assert b"".join(result[0] for result in results) == stdin
    assert _replies(client, b"".join(result[1] for result in results)) == EXPECTED_REPLIES
    closed_at = next(i for i, result in enumerate(results) if result[2])
    assert all(result[2] for result in results[closed_at:])


def test_ping_is_answered_with_a_pong() -> None:
    client, bridge = connect()
    stdin, reply, closed = bridge.from_client(client.send(Ping(payload=b"are you there")))
    assert (stdin, closed) == (b"", False)
    assert _replies(client, reply) == [("pong", b"are you there")]


def test_client_close_is_answered_and_ends_the_output() -> None:
    client, bridge = connect()
    stdin, reply, closed = bridge.from_client(client.send(CloseConnection(code=1001)))
    assert (stdin, closed) == (b"", True)
    assert _replies(client, reply) == [("close", (1001, ""))]
    assert client.state is ConnectionState.CLOSED
    assert bridge.to_client(b"late output") == b""
    assert bridge.close() == b""
    assert bridge.from_client(b"anything") == (b"", b"", True)


def test_close_without_a_code_is_answered_without_one() -> None:
    client, bridge = connect()
    _, reply, closed = bridge.from_client(frame(0x8, b""))
    assert closed and reply == b"\x88\x00"


@pytest.mark.parametrize(("data", "code"), [
    (frame(0x1, b"unmasked", masked=False), 1002),
    (frame(0x1, b"\xff not utf-8"), 1007),
    (frame(0x9, b"ping", fin=False), 1002),  # control frames are never fragmented
])
def test_a_protocol_error_closes_with_its_code(data: bytes, code: int) -> None:
    client, bridge = connect()
    stdin, reply, closed = bridge.from_client(data)
    assert (stdin, closed) == (b"", True)
    (closing,) = received(client, reply)
    assert isinstance(closing, CloseConnection) and closing.code == code
    assert bridge.from_client(frame(0x1, b"more")) == (b"", b"", True)


def test_large_client_messages_reach_stdin() -> None:
    client, bridge = connect()
    payload = bytes(range(256)) * 4096  # 1 MiB
    wire = client.send(BytesMessage(data=payload))
    stdin = b"".join(bridge.from_client(wire[i:i + 65521])[0] for i in range(0, len(wire), 65521))
    assert stdin == payload


# To the client ----------------------------------------------------------------

def test_output_goes_out_as_text_frames() -> None:
    client, bridge = connect()
    events = received(client, bridge.to_client(b"hello\n"))
    assert events == [TextMessage(data="hello\n")]
    assert bridge.to_client(b"") == b""


def test_a_character_split_between_calls_is_decoded_whole() -> None:
    client, bridge = connect()
    raw = "aé€𝄞z".encode()
    sent: list[Event] = []
    for split in range(len(raw) + 1):
        sent += received(client, bridge.to_client(raw[:split]) + bridge.to_client(raw[split:]))
    assert text(sent) == "aé€𝄞z" * (len(raw) + 1)


@pytest.mark.parametrize(("chunks", "expected"), [
    ([b"a\xffb"], "a\ufffdb"),  # never UTF-8
    ([b"a\xe2\x82", b"b"], "a\ufffdb"),  # a cut character that is not continued
    ([b"a\xe2\x82"], "a\ufffd"),  # cut by the end of the stream
])
def test_invalid_output_is_replaced_not_sent_raw(chunks: list[bytes], expected: str) -> None:
    client, bridge = connect()
    events = received(client, b"".join(bridge.to_client(chunk) for chunk in chunks) + bridge.close())
    assert text(events) == expected
    assert isinstance(events[-1], CloseConnection) and events[-1].code == 1000


def test_close_when_the_container_stream_ends() -> None:
    client, bridge = connect()
    crossing = client.send(TextMessage(data="q"))  # sent before the client saw the close
    (closing,) = received(client, bridge.close(1011, "upstream gone"))
    assert isinstance(closing, CloseConnection)
    assert (closing.code, closing.reason) == (1011, "upstream gone")
    assert bridge.to_client(b"late") == b"" and bridge.close() == b""
    # Input crossing our close still counts; the client's close reply needs no answer.
    assert bridge.from_client(crossing + client.send(closing.response())) == (b"q", b"", True)


def test_large_output_arrives_intact() -> None:
    client, bridge = connect()
    raw = ("output € " * (1 << 17)).encode()
    raw = raw[: raw.index(b"\xe2", 1 << 20) + 1]  # just over 1 MiB, ending inside a character
    out = b"".join(bridge.to_client(raw[i:i + 65537]) for i in range(0, len(raw), 65537))
    events = received(client, out + bridge.close())
    assert text(events) == raw[:-1].decode() + "\ufffd"


def test_to_client_frames_follows_the_demultiplexer() -> None:
    client, bridge = connect()
    demux = Demultiplex()  # stdout and stderr merged, as in 2013
    frames: Transform = ToClientFrames(bridge)
    upstream = b"".join(FRAME_HEADER.pack(kind, len(data)) + data
                        for kind, data in ((1, "out é".encode()), (2, b"err\n")))
    out = b"".join(frames.feed(demux.feed(upstream[i:i + 3])) for i in range(0, len(upstream), 3))
    events = received(client, out + frames.feed(demux.close()) + frames.close())
    assert text(events) == "out éerr\n"
    assert isinstance(events[-1], CloseConnection) and events[-1].code == 1000
