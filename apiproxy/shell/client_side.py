"""The proxy's client connection: the parts a connection is made of, put together.

Each part builds on ClientBase (client_base.py): RequestReading reads requests and passes their
bodies on, Answering relays the daemon's answers, HijackedStreams splices raw streams both ways.
Bodies flow through as they arrive; each side's socket is paused while the other cannot take more
(Twisted producer/consumer), so memory stays flat.
"""
from __future__ import annotations

from twisted.internet.interfaces import IHalfCloseableProtocol
from zope.interface import implementer

from apiproxy.shell.answering import Answering
from apiproxy.shell.hijacked_streams import HijackedStreams
from apiproxy.shell.request_reading import RequestReading


@implementer(IHalfCloseableProtocol)
class ClientConnection(HijackedStreams, Answering, RequestReading):
    """One client: reads its requests, forwards them, relays the answers.

    Serving a request with an emulation is its subclass's part (EmulatingConnection).
    """
