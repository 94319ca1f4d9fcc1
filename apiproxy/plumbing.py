"""Small pieces the connections share: back-pressure, closing, body framing, stream chaining."""
from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from . import http1
from .http1 import CHUNKED
from .translate import Transform
from .websocket import WebSocketBridge

SPLICE = "splice"


@implementer(IPushProducer)
class ReadingSwitch:
    """Pauses a transport's reading while its peer cannot write more.

    Registered as the producer of the peer's transport; unlike the transport
    itself it does not close the connection when the peer goes away.
    """

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.paused = False

    def pauseProducing(self) -> None:
        self.paused = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self.paused = False
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        if self.paused:
            self.resumeProducing()


def close_when_written(transport: Any, write_side_only: bool = False) -> None:
    """Close once buffered bytes are out.

    Twisted never closes a transport that still has a producer registered,
    so the producer goes first (and the side it paused reads again).
    """
    producer = getattr(transport, "producer", None)
    if producer is not None:
        transport.unregisterProducer()
    if isinstance(producer, ReadingSwitch):
        producer.stopProducing()
    if write_side_only:
        transport.loseWriteConnection()
    else:
        transport.loseConnection()


class BodyReader:
    """Frames a request body: Content-Length or chunked, as it arrives."""

    def __init__(self, length: int | str) -> None:
        self.remaining = 0 if length == CHUNKED else int(length)
        self.decoder = http1.ChunkedDecoder() if length == CHUNKED else None

    @property
    def done(self) -> bool:
        return self.decoder.done if self.decoder else self.remaining == 0

    def take(self, buffer: bytearray) -> list[bytes]:
        """Consume what belongs to the body from `buffer`; return its data."""
        if self.decoder:
            data = bytes(buffer)
            buffer.clear()
            chunks = self.decoder.feed(data)
            buffer += self.decoder.leftover
            self.decoder.leftover = b""
            return chunks
        take = min(self.remaining, len(buffer))
        data = bytes(buffer[:take])
        del buffer[:take]
        self.remaining -= take
        return [data] if data else []


class Chained:
    """One transform after another."""

    def __init__(self, first: Transform, second: Transform) -> None:
        self.first, self.second = first, second

    def feed(self, data: bytes) -> bytes:
        return self.second.feed(self.first.feed(data))

    def close(self) -> bytes:
        return self.second.feed(self.first.close()) + self.second.close()


class FromWebSocket:
    """Client frames → the container's stdin; pongs and close replies go straight back."""

    def __init__(self, bridge: WebSocketBridge, client: Any) -> None:
        self.bridge, self.client = bridge, client

    def feed(self, data: bytes) -> bytes:
        stdin, replies, _ = self.bridge.from_client(data)
        if replies:
            self.client.write(replies)
        return stdin

    def close(self) -> bytes:
        return b""


def valid_host(value: bytes | None) -> bytes:
    """2013 clients send `Host: /var/run/docker.sock`, which Go servers refuse."""
    if value and b"/" not in value and b" " not in value and b"\t" not in value:
        return value
    return b"docker"
