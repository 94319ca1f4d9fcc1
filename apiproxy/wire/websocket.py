"""The server end of the 0.6-era websocket attach (`/containers/{id}/attach/ws`). Pure.

Docker 0.6-0.8 served it with golang's websocket package: the container's
output (stdout and stderr merged) went out as text frames, and every data
frame from the client went to stdin.  apiproxy ends the websocket itself and
attaches upstream with a plain hijacked attach, so this module turns bytes on
one side into websocket frames on the other; wsproto does the protocol.

Golang wrote raw bytes into text frames, which browsers refuse as soon as
they are not UTF-8.  Here output is decoded incrementally: a character cut
by a chunk boundary waits for the next chunk, and only bytes that can never
be UTF-8 become U+FFFD, so every frame sent is valid and no text is garbled.
"""
from __future__ import annotations

import base64
import binascii
import codecs

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, RejectConnection, Request, TextMessage
from wsproto.utilities import RemoteProtocolError

from apiproxy.wire.http1 import (Headers, ProtocolError, find_head_end, format_request_head, header, parse_request_head,
                                 parse_response_head)


class WebSocketError(Exception):
    """A handshake apiproxy refuses: `status`, `headers` and the message go to the client."""

    def __init__(self, message: str, status: int = 400, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers: Headers = headers or []


class WebSocketBridge:
    """One websocket attach, built from the client's request head (exactly the head).

    Bytes the client sent after the head are frames: pass them to
    `from_client` once `accept()` has been sent.  Each method returns whole
    frames, so writing its results in call order keeps the stream valid.
    """

    def __init__(self, head: bytes) -> None:
        if find_head_end(head) != len(head):
            raise ValueError("expected exactly one request head")
        try:
            minor = parse_request_head(head).minor
        except ProtocolError as error:
            raise WebSocketError(str(error), error.status) from None
        if minor < 1:  # RFC 6455 4.1: the upgrade is an HTTP/1.1 request
            raise WebSocketError("a websocket handshake needs HTTP/1.1")
        self._ws = WSConnection(ConnectionType.SERVER)
        try:
            self._ws.receive_data(head)
        except RemoteProtocolError as error:
            # wsproto says only "Bad HTTP message" for what h11 refused; h11 says why.
            message = f"{error}: {error.__context__}" if error.__context__ else str(error)
            hint = error.event_hint
            if isinstance(hint, RejectConnection):
                raise WebSocketError(message, hint.status_code, list(hint.headers)) from None
            raise WebSocketError(message) from None
        request = next((e for e in self._ws.events() if isinstance(e, Request)), None)
        if request is None:
            raise WebSocketError("not a websocket handshake")
        # wsproto only checks that the key is there; RFC 6455 4.2.1 wants 16 bytes of base64.
        key = header(request.extra_headers, b"sec-websocket-key") or b""
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except binascii.Error:
            valid_key = False
        if not valid_key:
            raise WebSocketError("Sec-WebSocket-Key is not 16 bytes in base64")
        self.target = request.target
        self.client_closed = False
        # Golang sent raw bytes; see the module docstring for why they are decoded.
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def accept(self) -> bytes:
        """The 101 response.  No extension or subprotocol is agreed, as in 2013."""
        return self._ws.send(AcceptConnection())

    def from_client(self, data: bytes) -> tuple[bytes, bytes, bool]:
        """(bytes for the container's stdin, bytes to send back, whether the client closed).

        Message pieces go to stdin as they arrive, so a long message streams.
        A protocol error is answered with its close code and ends the
        client's side like a close.
        """
        self._require_open_handshake()
        if self.client_closed:
            return b"", b"", True  # RFC 6455 1.4: nothing after a close counts
        self._ws.receive_data(data)
        stdin: list[bytes] = []
        replies: list[bytes] = []
        for event in self._ws.events():
            if isinstance(event, TextMessage):
                stdin.append(event.data.encode("utf-8"))  # wsproto already checked it is UTF-8
            elif isinstance(event, BytesMessage):
                stdin.append(bytes(event.data))  # golang's Conn.Read took binary frames too
            elif isinstance(event, Ping):
                if self._ws.state is ConnectionState.OPEN:  # no pong after our close
                    replies.append(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                replies.append(self._close_reply(event))
                self.client_closed = True
                break
        return b"".join(stdin), b"".join(replies), self.client_closed

    def _close_reply(self, event: CloseConnection) -> bytes:
        state = self._ws.state
        if state is ConnectionState.REMOTE_CLOSING:  # the client's close: echo it
            return self._ws.send(event.response())
        if state is ConnectionState.OPEN:  # a protocol error wsproto found: close with its code
            return self._ws.send(CloseConnection(code=event.code, reason=event.reason))
        return b""  # the reply to our own close, or an error after it: nothing left to say

    def to_client(self, data: bytes) -> bytes:
        """Container output as one text frame; b"" while a character is incomplete."""
        self._require_open_handshake()
        text = self._decoder.decode(data)
        if not text or self._ws.state is not ConnectionState.OPEN:
            return b""  # no empty frames; no data after a close (RFC 6455 5.5.1)
        return self._ws.send(TextMessage(data=text))

    def close(self, code: int = 1000, reason: str | None = None) -> bytes:
        """The end of the container's stream: what remains of its output, then a close frame."""
        self._require_open_handshake()
        if self._ws.state is not ConnectionState.OPEN:
            return b""
        tail = self._decoder.decode(b"", final=True)  # a cut character becomes U+FFFD
        out = self._ws.send(TextMessage(data=tail)) if tail else b""
        return out + self._ws.send(CloseConnection(code=code, reason=reason))

    def _require_open_handshake(self) -> None:
        if self._ws.connection is None:
            raise RuntimeError("accept() the websocket first")


class ToClientFrames:
    """A `Transform` of demultiplexed container output into the bridge's frames."""

    def __init__(self, bridge: WebSocketBridge) -> None:
        self.bridge = bridge

    def feed(self, data: bytes) -> bytes:
        return self.bridge.to_client(data)

    def close(self) -> bytes:
        return self.bridge.close()


def handshake(method: str, headers: Headers) -> tuple[int, Headers]:
    """(101, response headers) for an upgrade request already parsed; raises WebSocketError.

    The same checks as `WebSocketBridge`, for a caller that only has the parsed head.
    """
    bridge = WebSocketBridge(format_request_head(method, "/", headers))
    response = parse_response_head(bridge.accept())
    return response.status, response.headers
