"""The floor of any Twisted proxy: bytes spliced between two unix sockets, no HTTP parsing.

    python splice.py LISTEN_SOCKET UPSTREAM_SOCKET

apiproxy's pass-through is judged against this: what it costs beyond it is
its own HTTP handling, not Twisted's.
"""
from __future__ import annotations

import sys

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import reactor  # noqa: E402  (after the reactor is chosen)
from twisted.internet.protocol import ClientFactory, Factory, Protocol  # noqa: E402


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


if __name__ == "__main__":
    LISTEN, UPSTREAM = sys.argv[1], sys.argv[2]
    reactor.listenUNIX(LISTEN, Factory.forProtocol(Client))  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
