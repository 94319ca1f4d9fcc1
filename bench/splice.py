"""The floor of any Twisted proxy: bytes spliced between two unix sockets, no HTTP parsing.

    python splice.py LISTEN_SOCKET UPSTREAM_SOCKET
    python splice.py --kernel LISTEN_SOCKET UPSTREAM_SOCKET

apiproxy's pass-through is judged against this: what it costs beyond it is
its own HTTP handling, not Twisted's. With --kernel, the kernel's own floor:
each direction a thread moving bytes socket -> pipe -> socket with splice(2),
never through Python (the `kernel` target).
"""
from __future__ import annotations

import fcntl
import os
import socket
import sys
import threading

if "--kernel" not in sys.argv:
    from twisted.internet import epollreactor

    epollreactor.install()

from twisted.internet import reactor  # noqa: E402  (after the reactor is chosen)
from twisted.internet.protocol import ClientFactory, Factory, Protocol  # noqa: E402

PIPE_SIZE = 1 << 20


def kernel_pump(source: socket.socket, sink: socket.socket, done: threading.Semaphore) -> None:
    """One direction, in the kernel; its end is passed on as a half-close; the last one closes both."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    try:
        while moved := os.splice(source.fileno(), write_end, PIPE_SIZE):
            while moved:
                moved -= os.splice(read_end, sink.fileno(), moved)
    except OSError:
        pass
    finally:
        os.close(read_end)
        os.close(write_end)
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if not done.acquire(blocking=False):  # the other direction ended first
            source.close()
            sink.close()


def kernel_relay(listen: str, upstream: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listen)
    server.listen(128)
    while True:
        client, _ = server.accept()
        daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            daemon.connect(upstream)
        except OSError:
            client.close()
            continue
        done = threading.Semaphore(1)
        for source, sink in ((client, daemon), (daemon, client)):
            threading.Thread(target=kernel_pump, args=(source, sink, done), daemon=True).start()


class Upstream(Protocol):
    def __init__(self, client: Client) -> None:
        self.client = client

    def connectionMade(self) -> None:
        self.client.upstream = self
        # Back-pressure both ways: each side stops reading while the other's buffer is full.
        self.transport.registerProducer(self.client.transport, True)
        self.client.transport.registerProducer(self.transport, True)
        self.transport.write(bytes(self.client.early))
        self.client.transport.resumeProducing()

    def dataReceived(self, data: bytes) -> None:
        self.client.transport.write(data)

    def connectionLost(self, reason: object = None) -> None:
        self.client.transport.loseConnection()


class Client(Protocol):
    upstream: Upstream | None = None

    def connectionMade(self) -> None:
        self.early = bytearray()
        self.transport.pauseProducing()  # until the upstream is there
        factory = ClientFactory.forProtocol(lambda: Upstream(self))
        factory.clientConnectionFailed = lambda connector, reason: self.transport.loseConnection()
        reactor.connectUNIX(UPSTREAM, factory)  # type: ignore[attr-defined]

    def dataReceived(self, data: bytes) -> None:
        if self.upstream is None:
            self.early += data
        else:
            self.upstream.transport.write(data)

    def connectionLost(self, reason: object = None) -> None:
        if self.upstream is not None:
            self.upstream.transport.loseConnection()


if __name__ == "__main__" and sys.argv[1] == "--kernel":
    kernel_relay(sys.argv[2], sys.argv[3])
elif __name__ == "__main__":
    LISTEN, UPSTREAM = sys.argv[1], sys.argv[2]
    reactor.listenUNIX(LISTEN, Factory.forProtocol(Client))  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
