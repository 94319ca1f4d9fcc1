"""Small pieces the connections share: back-pressure, closing, body framing, stream chaining."""
from __future__ import annotations

import array
import fcntl
import termios
from collections.abc import Iterator
from contextlib import contextmanager
from types import MethodType
from typing import Any

from twisted.internet import tcp, unix
from twisted.internet.abstract import FileDescriptor
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from apiproxy.wire.websocket import WebSocketBridge


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


READ_SIZE = 256 * 1024  # per read, and a transport's write buffer before it pauses its producer


def tune_transport(transport: Any) -> None:
    """Read a unix socket with recv, as Twisted reads TCP, rather than recvmsg, and in bigger reads.

    Twisted's unix transports read with recvmsg in case file descriptors
    arrive, which apiproxy never takes; recvmsg through Twisted's wrapper
    costs about a tenth of the CPU time of a small proxied request. Twisted
    reads 64 KiB at a time; a stream (attach, export, a large list) costs one
    Python call per read, so reads are four times larger.
    """
    if isinstance(transport, (unix.Server, unix.Client)):
        transport.doRead = MethodType(tcp.Connection.doRead, transport)  # type: ignore[method-assign]  # per instance, on purpose
    if isinstance(transport, FileDescriptor):
        transport.bufferSize = READ_SIZE


# Transports written to during the current reactor turn, and what they were given.
_turn: dict[Any, list[bytes]] | None = None


@contextmanager
def one_send_per_turn() -> Iterator[None]:
    """Hold what is written to any transport until the end of this reactor turn, then send it.

    Twisted queues each write until a later turn finds the socket writable,
    which on a small request and its answer costs more than the send; and an
    answer's head and body, written apart, would leave in two segments. So
    every data event of the proxy runs inside this, and each transport gets
    one send, straight to its socket, when the event is handled.
    """
    global _turn
    if _turn is not None:  # nested: the outermost sends
        yield
        return
    _turn = {}
    try:
        yield
    finally:
        held, _turn = _turn, None
        for transport, parts in held.items():
            _send(transport, b"".join(parts))


def write(transport: Any, data: bytes) -> None:
    """`transport.write`, sent at the end of the turn when inside `one_send_per_turn`."""
    if not data:
        return
    if _turn is None:
        _send(transport, data)
    else:
        _turn.setdefault(transport, []).append(data)


def send_held(transport: Any) -> None:
    """Send now what this turn holds for `transport` (before its socket is handed to a splice)."""
    parts = _turn.pop(transport, None) if _turn is not None else None
    if parts:
        _send(transport, b"".join(parts))


def _send(transport: Any, data: bytes) -> None:
    """Straight to the socket when Twisted holds nothing for it yet, else behind what it holds."""
    # Only a socket's own transport: a wrapper (TLS) passes unknown attributes on to the socket
    # beneath it, and writing there would skip the encryption.
    if isinstance(transport, FileDescriptor) and transport._tempDataLen == 0 \
            and transport.offset == len(transport.dataBuffer) and transport.connected \
            and not transport.disconnecting and not transport._writeDisconnecting:
        sent = transport.writeSomeData(data)
        if isinstance(sent, int):  # else an error: transport.write queues it and the reactor reports it
            data = data[sent:]
    if data:
        transport.write(data)


def unread_by_peer(transport: Any) -> int:
    """Bytes written to `transport` that its peer has not read yet: those Twisted holds, and those in
    the kernel (TIOCOUTQ: on a unix socket, not yet read by the peer; on TCP, not yet acknowledged).
    0 where the kernel cannot say (TLS, a platform without the ioctl)."""
    held = len(transport.dataBuffer) - transport.offset + transport._tempDataLen \
        if isinstance(transport, FileDescriptor) else 0
    try:
        queued = array.array("i", [0])
        fcntl.ioctl(transport.getHandle().fileno(), termios.TIOCOUTQ, queued)
        return held + queued[0]
    except (AttributeError, OSError, ValueError):
        return held


def close_when_written(transport: Any, write_side_only: bool = False) -> None:
    """Close once buffered bytes are out.

    Twisted never closes a transport that still has a producer registered,
    so the producer goes first (and the side it paused reads again).
    """
    send_held(transport)
    producer = getattr(transport, "producer", None)
    if producer is not None:
        transport.unregisterProducer()
    if isinstance(producer, ReadingSwitch):
        producer.stopProducing()
    if write_side_only and hasattr(transport, "loseWriteConnection"):  # TLS cannot half-close
        transport.loseWriteConnection()
    else:
        transport.loseConnection()


class FromWebSocket:
    """Client frames → the container's stdin; pongs and close replies go straight back."""

    def __init__(self, bridge: WebSocketBridge, client: Any) -> None:
        self.bridge, self.client = bridge, client

    def feed(self, data: bytes) -> bytes:
        stdin, replies, _ = self.bridge.from_client(data)
        if replies:
            write(self.client, replies)
        return stdin

    def close(self) -> bytes:
        return b""
