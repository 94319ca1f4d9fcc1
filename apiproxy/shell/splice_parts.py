"""What a Splice (splicing.py) is made of: its pipe, the reactor's watchers of its two descriptors,
the transports it can work on, and the framing it reads between payloads."""
from __future__ import annotations

import fcntl
import os
import sys
from typing import Any, Protocol

from twisted.internet import tcp
from twisted.internet.interfaces import IPullProducer, IReadDescriptor, IWriteDescriptor
from twisted.python.failure import Failure
from zope.interface import implementer

AVAILABLE = sys.platform.startswith("linux") and hasattr(os, "splice")
PIPE_SIZE = 1 << 20  # asked for; the kernel may give less (fs.pipe-max-size)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


class SpliceOwner(Protocol):
    """What the watchers below call back (Splice)."""

    sink: Any

    def source_ready(self) -> None: ...

    def sink_ready(self) -> None: ...

    def source_lost(self, reason: Failure) -> None: ...

    def sink_lost(self, reason: Failure) -> None: ...

    def begin(self) -> None: ...


class PayloadFraming(Protocol):
    """Framing read in Python between payloads moved in the kernel: http1.ChunkedDecoder, or
    steps/streams.Demultiplex (a legacy attach's frame headers)."""

    @property
    def done(self) -> bool: ...

    @property
    def payload_left(self) -> int: ...

    def take_framing(self, data: bytes) -> int: ...

    def payload_moved(self, count: int) -> None: ...


class SinkError(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


def describe_error(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else str(error)


def can_splice(*transports: Any) -> bool:
    """Plain sockets on Linux only: a TLS transport's bytes must pass through Python."""
    return AVAILABLE and all(isinstance(t, tcp.Connection) and not getattr(t, "TLS", False)
                             and t.connected and not t.disconnecting for t in transports)


def holds_bytes(transport: Any) -> bool:
    return bool(transport._tempDataLen or len(transport.dataBuffer) > transport.offset)


def new_pipe() -> tuple[int, int, int]:
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.fcntl(write_end, _F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # unprivileged and above fs.pipe-max-size: the default size works too
    return read_end, write_end, fcntl.fcntl(write_end, _F_GETPIPE_SZ)


# The reactor finds a descriptor's watcher by its number when it hands out the events of one poll:
# a splice that ends and one that begins while it does so may use the same number, and the new
# watcher gets the old one's events (a write event to a reader, a hang-up that is not its own).
# So each takes both kinds of event, and a hang-up is believed only when the socket confirms it.

@implementer(IReadDescriptor, IWriteDescriptor)
class SourceWatcher:
    def __init__(self, owner: SpliceOwner, fd: int) -> None:
        self.owner, self.fd = owner, fd

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "splice-source"

    def doRead(self) -> None:
        self.owner.source_ready()

    def doWrite(self) -> None:
        pass  # another watcher's event, once of this number

    def connectionLost(self, reason: Failure) -> None:
        self.owner.source_lost(reason)


@implementer(IReadDescriptor, IWriteDescriptor)
class SinkWatcher:
    def __init__(self, owner: SpliceOwner, fd: int) -> None:
        self.owner, self.fd = owner, fd

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "splice-sink"

    def doRead(self) -> None:
        pass  # another watcher's event, once of this number

    def doWrite(self) -> None:
        self.owner.sink_ready()

    def connectionLost(self, reason: Failure) -> None:
        self.owner.sink_lost(reason)


@implementer(IPullProducer)
class WhenWritten:
    """Registered on the sink's transport while it holds bytes: Twisted calls it when they are out."""

    def __init__(self, owner: SpliceOwner) -> None:
        self.owner = owner

    def resumeProducing(self) -> None:
        transport = self.owner.sink
        if not holds_bytes(transport) and transport.producer is self:
            transport.unregisterProducer()
            self.owner.begin()

    def stopProducing(self) -> None:
        pass  # the sink's transport is closing: its connectionLost stops the splice
