"""A splice's watchers take the events the reactor hands out by descriptor number: one that ends
and one that begins in the same poll may share a number, so the new watcher can get the old one's
write event or hang-up. Neither may end a stream that is fine (under load, 3 in 10,000 attaches did)."""
from __future__ import annotations

import socket
from typing import Any

import pytest
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure

from apiproxy.shell import splice_parts
from apiproxy.shell.splicing import Splice

pytestmark = pytest.mark.skipif(not splice_parts.AVAILABLE, reason="splice(2) is Linux's")


class Transport:
    """What a splice reads of a transport: its descriptor, what it holds, pausing."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._tempDataLen, self.dataBuffer, self.offset, self.producer = 0, b"", 0, None

    def fileno(self) -> int:
        return self.sock.fileno()

    def pauseProducing(self) -> None:
        pass


class Reactor:
    def __init__(self) -> None:
        self.readers: set[Any] = set()
        self.writers: set[Any] = set()

    def addReader(self, reader: Any) -> None:
        self.readers.add(reader)

    def removeReader(self, reader: Any) -> None:
        self.readers.discard(reader)

    def addWriter(self, writer: Any) -> None:
        self.writers.add(writer)

    def removeWriter(self, writer: Any) -> None:
        self.writers.discard(writer)

    def lose(self, selectable: Any) -> None:
        """As Twisted's reactor does when it sees a hang-up: both watches go, then connectionLost."""
        self.readers.discard(selectable)
        self.writers.discard(selectable)
        selectable.connectionLost(Failure(ConnectionLost()))


def test_another_watchers_events_leave_the_stream_going() -> None:
    daemon, source_end = socket.socketpair()
    sink_end, client = socket.socketpair()
    for sock in (daemon, source_end, sink_end, client):
        sock.setblocking(False)
    reactor, outcome = Reactor(), []
    splice = Splice(reactor, Transport(source_end), Transport(sink_end), moved=lambda n: None,  # type: ignore[arg-type]
                    ended=lambda: outcome.append("ended"), failed=lambda why, at: outcome.append(why))
    splice.start()
    try:
        daemon.sendall(b"first ")
        splice.source_ready()
        source, sink = splice._source, splice._sink
        source.doWrite()  # a write event of a sink that had this number
        sink.doRead()
        reactor.lose(source)  # a hang-up that was not its own
        reactor.lose(sink)
        assert not outcome and source in reactor.readers  # watched again
        daemon.sendall(b"second")
        splice.source_ready()
        daemon.close()
        splice.source_ready()
        assert outcome == ["ended"]
        assert client.recv(100) == b"first second"
    finally:
        splice.stop()
        for sock in (source_end, sink_end, client):
            sock.close()


def test_a_real_hang_up_of_the_sink_fails_the_splice() -> None:
    daemon, source_end = socket.socketpair()
    sink_end, client = socket.socketpair()
    reactor, outcome = Reactor(), []
    splice = Splice(reactor, Transport(source_end), Transport(sink_end), moved=lambda n: None,  # type: ignore[arg-type]
                    ended=lambda: outcome.append("ended"), failed=lambda why, at: outcome.append(f"failed {at}"))
    splice.start()
    try:
        client.close()
        reactor.lose(splice._sink)
        assert outcome == ["failed False"]
    finally:
        splice.stop()
        for sock in (daemon, source_end, sink_end):
            sock.close()
