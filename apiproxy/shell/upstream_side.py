"""The upstream side of a proxied exchange: reads the daemon's answers for the client connection."""
from __future__ import annotations

from enum import StrEnum
from typing import Protocol as Interface
from typing import cast

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from apiproxy.shell.sending import close_when_written, one_send_per_turn, tune_transport
from apiproxy.translation.transforms import TranslationError
from apiproxy.wire import http1
from apiproxy.wire.http1 import CHUNKED, SPLICED, UNTIL_CLOSE, BodyLength, ProtocolError, ResponseHead

log = Logger(namespace="apiproxy.upstream_connection")  # the name its log lines have always carried


class UpstreamState(StrEnum):
    """Where an upstream connection is: idle -> head -> body -> idle again, or from head on to splice."""

    IDLE = "idle"  # no request on it
    HEAD = "head"  # reading an answer's head
    BODY = "body"  # reading an answer's body
    SPLICE = "splice"  # a raw stream both ways
    CLOSED = "closed"


# By name: an enum member found through its class costs about 100 ns a time on Python 3.11.
IDLE, HEAD, BODY, SPLICE, CLOSED = UpstreamState


class ClientSide(Interface):
    """What the upstream side tells the client side (ClientConnection, client_side.py) of an answer."""

    def interim_response(self, head: ResponseHead) -> None: ...

    def response_head(self, head: ResponseHead, method: str) -> BodyLength: ...

    def response_data(self, data: bytes) -> None: ...

    def response_end(self, reusable: bool) -> None: ...

    def spliced_from_upstream(self, data: bytes) -> None: ...

    def upstream_half_closed(self) -> None: ...

    def raw_stream_begun(self) -> None: ...

    def splice_answer(self, upstream: UpstreamConnection, length: int | None,
                      decoder: http1.ChunkedDecoder | None) -> bool: ...

    def upstream_lost(self, upstream: UpstreamConnection, state: UpstreamState) -> None: ...

    def upstream_failed(self, message: str) -> None: ...

    def count_translation_error(self) -> None: ...


@implementer(IHalfCloseableProtocol)
class UpstreamConnection(Protocol):
    """Reads the daemon's answers and hands them to the client connection."""

    def __init__(self, client: ClientSide) -> None:
        self.client = client
        self.buffer = bytearray()
        self.method = "GET"
        self.framing: BodyLength = 0
        self.decoder: http1.ChunkedDecoder | None = None
        self.state: UpstreamState = IDLE
        self.keep_alive = True
        self.splicing = False  # the rest of the answer's body moves in the kernel (splicing.py)

    def connectionMade(self) -> None:
        tune_transport(self.transport)

    def expect_response(self, method: str) -> None:
        self.method = method
        self.state = HEAD

    def dataReceived(self, data: bytes) -> None:
        with one_send_per_turn():
            if self.state == SPLICE:
                self.client.spliced_from_upstream(data)
                return
            self.buffer += data
            try:
                self._process()
            except ProtocolError as error:
                self.client.upstream_failed(f"the upstream sent a malformed answer: {error}")
            except TranslationError as error:
                self.client.count_translation_error()
                self.client.upstream_failed(f"apiproxy cannot translate the upstream's answer: {error}")
            except Exception:
                log.failure("apiproxy failed on an answer")
                self.client.upstream_failed("apiproxy internal error (see its log)")

    def _process(self) -> None:
        while self.buffer:
            if self.state == HEAD:
                end = http1.find_head_end(self.buffer)
                if end < 0:
                    if len(self.buffer) > http1.MAX_HEAD_BYTES:
                        raise ProtocolError("response head too large", 502)
                    return
                head = http1.parse_response_head(bytes(self.buffer[:end]))
                del self.buffer[:end]
                if 100 <= head.status < 200 and head.status != 101:
                    self.client.interim_response(head)
                    continue
                self.keep_alive = head.minor == 1 and b"close" not in http1.tokens(head.headers, b"connection")
                framing = self.client.response_head(head, self.method)
                if framing == SPLICED:
                    self.state = SPLICE
                    data, self.buffer = bytes(self.buffer), bytearray()
                    if data:
                        self.client.spliced_from_upstream(data)
                    self.client.raw_stream_begun()
                    return
                self.framing = framing
                self.decoder = http1.ChunkedDecoder(502) if framing == CHUNKED else None
                self.state = BODY
                if framing == 0:
                    self._finish()
            elif self.state == BODY:
                self._read_body()
            else:
                # Bytes nobody asked for: the daemon does not pipeline; drop the connection.
                close_when_written(self.transport)
                self.buffer.clear()
        if self.state == BODY and not self.splicing:
            # Neither a length nor a decoder: an answer that ends when the daemon closes.
            length = self.framing if self.decoder is None and isinstance(self.framing, int) else None
            self.splicing = self.client.splice_answer(self, length, self.decoder)

    def answer_spliced(self) -> None:
        """The splice moved the rest of the body: the answer is over, this socket is read again
        (one read until close is at its end: closed)."""
        self.splicing = False
        if self.framing == UNTIL_CLOSE:
            self.keep_alive = False
        self.framing = 0
        cast(IPushProducer, self.transport).resumeProducing()
        self._finish()

    def _read_body(self) -> None:
        if self.framing == UNTIL_CLOSE:
            data, self.buffer = bytes(self.buffer), bytearray()
            self.client.response_data(data)
        elif self.decoder is not None:
            data, self.buffer = bytes(self.buffer), bytearray()
            for chunk in self.decoder.feed(data):
                self.client.response_data(chunk)
            if self.decoder.done:
                self.buffer += self.decoder.leftover
                self._finish()
        else:
            assert isinstance(self.framing, int)
            take = min(self.framing, len(self.buffer))
            self.client.response_data(bytes(self.buffer[:take]))
            del self.buffer[:take]
            self.framing -= take
            if not self.framing:
                self._finish()

    def _finish(self) -> None:
        self.state = IDLE
        if not self.keep_alive:
            close_when_written(self.transport)
        self.client.response_end(reusable=self.keep_alive)

    def readConnectionLost(self) -> None:
        if self.state == SPLICE:
            self.client.upstream_half_closed()
        elif self.state == BODY and self.framing == UNTIL_CLOSE and not self.splicing:
            self.keep_alive = False  # the daemon's end is the answer's
            self._finish()
        else:
            close_when_written(self.transport)

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        state, self.state = self.state, CLOSED
        if state == BODY and self.framing == UNTIL_CLOSE and reason.check(ConnectionDone):
            self.client.response_end(reusable=False)  # its end; a reset is no end (upstream_lost says it)
            state = IDLE
        self.client.upstream_lost(self, state)
