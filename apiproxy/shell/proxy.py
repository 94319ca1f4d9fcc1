"""A listener's factory of client connections, and the attaches they hold across listeners."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from apiproxy.api.policy import Policy
from apiproxy.ops.config import Limits
from apiproxy.ops.metrics import OVER_MAX_CONNECTIONS
from apiproxy.shell.client_state import PARKED
from apiproxy.shell.daemon import Daemon
from apiproxy.shell.emulating_connection import EmulatingConnection
from apiproxy.translation.routing import Settings

log = Logger(namespace="apiproxy.listeners")


def refusal(limit: int) -> bytes:
    """The whole answer to a connection over its listener's max_connections."""
    body = json.dumps({"message": f"apiproxy: this listener has its {limit} connections (max_connections) open; "
                                  "try again later"}).encode()
    return b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n" \
           b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)


class Refused(Protocol):
    """A connection over the limit: answered 503 and closed at once, its request never read, so
    that it holds its descriptor no longer than the answer takes to write."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.answer)
        self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        pass  # never read: the answer does not depend on it


class ProxyFactory(Factory[Any]):
    """One listener's: its policy is its own; the daemon and the attaches awaiting a start are shared."""

    def __init__(self, daemon: Daemon, settings: Settings, policy: Policy | None = None,
                 parked: dict[str, list[EmulatingConnection]] | None = None, limits: Limits | None = None,
                 clock: IReactorTime | None = None, max_connections: int | None = None, name: str = "",
                 on_accept: Callable[[], None] | None = None, splice: bool = True) -> None:
        self.daemon = daemon
        self.name = name  # the listener's endpoint, for the log
        self.max_connections = max_connections  # None: no limit
        self.full = False  # refusing since the limit was reached: warned once until it is not
        self.on_accept = on_accept  # told of every accepted connection (accepting works again)
        self.settings = settings
        self.policy = policy or Policy()
        self.limits = limits or Limits()
        self.splice = splice  # [streams] splice
        self.connections: set[EmulatingConnection] = set()  # open, for an orderly stop
        if clock is None:
            from twisted.internet import reactor
            clock = cast(IReactorTime, reactor)  # the global reactor module is typed as a module, not as what it is
        self.clock: IReactorTime = clock
        # Attaches awaiting their container's start, which may come through another listener.
        self.parked: dict[str, list[EmulatingConnection]] = {} if parked is None else parked

    def unpark(self, legacy_id: str, real_id: str) -> Deferred[Any]:
        """Connect every attach held for `legacy_id` to `real_id`; fires once all are spliced."""
        waiting = [client for client in self.parked.pop(legacy_id, []) if client.state == PARKED]
        return DeferredList([client.unpark(real_id) for client in waiting], consumeErrors=True)

    def buildProtocol(self, addr: Any) -> EmulatingConnection | Refused:
        if self.on_accept is not None:
            self.on_accept()
        if self.max_connections is None:
            return EmulatingConnection(self)
        if len(self.connections) >= self.max_connections:
            if not self.full:
                self.full = True
                log.warn("{endpoint} has {limit} connections open (max_connections): new ones are answered 503 "
                         "until some close", endpoint=self.name, limit=self.max_connections)
            OVER_MAX_CONNECTIONS.inc()
            return Refused(refusal(self.max_connections))
        if self.full and len(self.connections) <= self.max_connections * 3 // 4:
            # A burst ends well below the limit: one clients keep at the edge of it is one burst.
            self.full = False
            log.info("{endpoint} has room again ({count} connections open)", endpoint=self.name,
                     count=len(self.connections))
        return EmulatingConnection(self)
