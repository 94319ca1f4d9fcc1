"""Where a client connection is, and what it needs of the listener that accepted it."""
from __future__ import annotations

from enum import StrEnum
from typing import Any
from typing import Protocol as Interface

from twisted.internet.interfaces import IReactorTime

from apiproxy.api.policy import Policy
from apiproxy.ops.config import Limits
from apiproxy.shell.daemon import Daemon
from apiproxy.translation.routing import Settings


class ClientState(StrEnum):
    """Where a client connection is: head -> routing -> connecting -> body -> waiting -> head again,
    or from waiting on to splice; collecting -> emulating for a request an emulation serves."""

    HEAD = "head"  # reading a request head
    ROUTING = "routing"  # waiting for the daemon's version to choose the target
    CONNECTING = "connecting"  # waiting for an upstream connection
    COLLECTING = "collecting"  # reading a body an emulation needs whole
    EMULATING = "emulating"  # an emulation is making its calls
    BODY = "body"  # passing the request body on
    WAITING = "waiting"  # the request is sent; the answer is coming
    SKIPPING = "skipping"  # reading and dropping the body of a refused request
    SPLICE = "splice"  # a raw stream both ways (a hijack, a 101)
    PARKED = "parked"  # an attach answered at once, held until apiproxy starts its container
    CLOSING = "closing"  # closing once what is written has gone out
    CLOSED = "closed"


# The states by name: Python 3.11 finds an enum member through its class on each access (about
# 100 ns), and a connection looks at its state several times a request.
(HEAD, ROUTING, CONNECTING, COLLECTING, EMULATING, BODY, WAITING, SKIPPING, SPLICE, PARKED, CLOSING, CLOSED) = ClientState


class Listening(Interface):
    """What a client connection needs of the listener that accepted it (ProxyFactory, proxy.py)."""

    daemon: Daemon
    settings: Settings
    policy: Policy
    limits: Limits
    clock: IReactorTime
    splice: bool  # [streams] splice: unchanged bytes move with splice(2) where the sockets allow
    connections: set[Any]  # open, for an orderly stop
