"""A listener's factory of client connections, and the attaches they hold across listeners."""
from __future__ import annotations

from typing import Any, cast

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory

from apiproxy.api.policy import Policy
from apiproxy.ops.config import Limits
from apiproxy.shell.client_side import PARKED
from apiproxy.shell.daemon import Daemon
from apiproxy.shell.emulating_connection import EmulatingConnection
from apiproxy.translation.routing import Settings


class ProxyFactory(Factory[Any]):
    """One listener's: its policy is its own; the daemon and the attaches awaiting a start are shared."""

    def __init__(self, daemon: Daemon, settings: Settings, policy: Policy | None = None,
                 parked: dict[str, list[EmulatingConnection]] | None = None, limits: Limits | None = None,
                 clock: IReactorTime | None = None, splice: bool = True) -> None:
        self.daemon = daemon
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

    def buildProtocol(self, addr: Any) -> EmulatingConnection:
        return EmulatingConnection(self)
