"""Hijacked raw streams (attach, exec, 101 upgrades): spliced both ways, half-closes passed on."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

# A connected socket's transport is a consumer and a push producer; ITransport says neither.
from twisted.internet.interfaces import IConsumer

from apiproxy.ops.metrics import HIJACKED_STREAMS, SPLICED_TO_CLIENT, SPLICED_TO_DAEMON
from apiproxy.shell.client_base import ClientBase, log
from apiproxy.shell.client_state import BODY, CLOSED, CONNECTING, PARKED, ROUTING, SPLICE, WAITING
from apiproxy.shell.sending import close_when_written, one_send_per_turn, send_held, unread_by_peer, write
from apiproxy.shell.splicing import LOOK_FRAMES, PEEK
from apiproxy.translation.steps.streams import Demultiplex
from apiproxy.wire import http1
from apiproxy.wire.http1 import ResponseHead


class HijackedStreams(ClientBase):
    """A raw stream both ways once the daemon hijacked the connection."""

    def _start_splice(self, head: ResponseHead) -> None:
        assert self.exchange is not None and self.upstream is not None
        self.state = SPLICE
        self.to_client, self.to_upstream = self.websocket or self.exchange.hijacked_streams()
        self.spliced = True
        HIJACKED_STREAMS.inc()
        if self.head_sent:
            pass  # the client was answered already (a websocket)
        elif self.parked_ready is None:
            self._answered(head.status)
            self._send(http1.format_response_head(head.status, head.reason,
                                                  self.exchange.response_headers(head.headers)))
            self._head_alone()
        else:
            ready, self.parked_ready = self.parked_ready, None
            ready.callback(None)
        self._release()
        early, self.buffer = bytes(self.buffer), bytearray()
        if early:
            self._to_upstream(early)
        if self.client_half_closed:
            close_when_written(self.upstream.transport, write_side_only=True)

    def _to_upstream(self, data: bytes) -> None:
        if self.to_upstream is not None:
            data = self.to_upstream.feed(data)
        if data and self.upstream is not None:
            SPLICED_TO_DAEMON.inc(len(data))
            if self.record is not None:
                self.record.bytes_in += len(data)
            write(self.upstream.transport, data)

    HEAD_READ_POLL = 0.001  # seconds between two looks at whether the client read the head
    HEAD_READ_WAIT = 0.25  # at most, then the stream goes on as if it had

    def _head_alone(self) -> None:
        """Send a hijacked stream's head now, alone, and hold the stream's first bytes until the client has
        read it. The daemon writes its head, then the stream; a client that reads the head through a
        buffered reader and the stream from the raw socket (docker-py's attach, every release) loses what
        arrived with the head, and apiproxy, reading both from the daemon at once, would send them together:
        `attach(logs=True, stream=False)` of a finished container then got nothing."""
        send_held(self.transport)
        if unread_by_peer(self.transport) == 0:
            return
        self.head_unread = []
        self._look_for_head_read(self.factory.clock.seconds() + self.HEAD_READ_WAIT)

    def _look_for_head_read(self, deadline: float) -> None:
        if self.head_unread is None:
            return
        if self.state == CLOSED:  # the client went: nothing to send it (its end closed the daemon's side)
            self.head_unread = None
            return
        if unread_by_peer(self.transport) > 0 and self.factory.clock.seconds() < deadline:
            self.factory.clock.callLater(self.HEAD_READ_POLL, self._look_for_head_read, deadline)
            return
        held, self.head_unread = self.head_unread, None
        # The splice begins after every byte read meanwhile has gone the copying way: begun in its
        # place, it would send what the socket holds now before the bytes of the events after it.
        held.sort(key=lambda event: event == self.raw_stream_begun)
        with one_send_per_turn():
            for event in held:
                event()

    def _after_head(self, event: Callable[[], None]) -> bool:
        """True when `event` is held until the client has read the head (it runs then)."""
        if self.head_unread is None:
            return False
        self.head_unread.append(event)
        return True

    def spliced_from_upstream(self, data: bytes) -> None:
        if self._after_head(lambda: self.spliced_from_upstream(data)):
            return
        if self.to_client is not None:
            data = self.to_client.feed(data)
        if data:
            SPLICED_TO_CLIENT.inc(len(data))
            self._send(data)
        if self.demux_pending:
            self.raw_stream_begun()

    def raw_stream_begun(self) -> None:
        """The daemon's side of a hijacked stream is spliced now: both directions move in the kernel
        when nothing needs changing (no websocket). A legacy client's demultiplexed stream too: its
        frame headers are read in Python, their payloads spliced; once its first bytes have told."""
        if self._after_head(self.raw_stream_begun):
            return
        upstream = self.upstream
        self.demux_pending = False
        if self.state != SPLICE or upstream is None or self.to_upstream is not None \
                or self.splices or not self._may_splice():
            return
        demux = self.to_client if isinstance(self.to_client, Demultiplex) else None
        if self.to_client is not None and demux is None:
            return  # bytes Python changes
        if demux is not None and demux.framed is None:
            self.demux_pending = not self.upstream_ended  # tried again as its bytes come
            return
        if demux is not None and not demux.framed:
            self.to_client = demux = None  # a TTY's raw stream: the client takes it as it is
        for consumer in (self.transport, upstream.transport):
            if cast(Any, consumer).producer is not None:
                cast(IConsumer, consumer).unregisterProducer()
        self._upstream_switch = self._client_switch = None
        self._release()
        if not self.upstream_ended:
            self._new_splice(upstream.transport, self.transport, self._stream_to_client, self.upstream_half_closed,
                             self._stream_failed, decoder=demux, until_eof=True, look=LOOK_FRAMES if demux else PEEK)
        if not self.client_half_closed:
            self._new_splice(self.transport, upstream.transport, self._stream_to_daemon, self._client_stream_ended,
                             self._stream_failed)
        for splice in self.splices:
            splice.start()

    def _stream_to_client(self, count: int) -> None:
        SPLICED_TO_CLIENT.inc(count)
        if self.record is not None:
            self.record.bytes_out += count

    def _stream_to_daemon(self, count: int) -> None:
        SPLICED_TO_DAEMON.inc(count)
        if self.record is not None:
            self.record.bytes_in += count

    def _client_stream_ended(self) -> None:
        with one_send_per_turn():
            self.readConnectionLost()

    def _stream_failed(self, reason: str, at_source: bool) -> None:
        """Either side went mid-stream: the stream ends for both."""
        log.debug("a spliced stream ended: {reason}", reason=reason)
        with one_send_per_turn():
            self._stop_splices()
            self._end_splice()

    def upstream_half_closed(self) -> None:
        """The container's output ended: so does the client's stream, whose stdin may go on."""
        if self._after_head(self.upstream_half_closed):
            return
        self.upstream_ended = True
        self.demux_pending = False
        if self.to_client is not None:
            self._send(self.to_client.close())
            self.to_client = None
        if self.client_half_closed:
            self._end_splice()
        else:
            close_when_written(self.transport, write_side_only=True)

    def _end_splice(self) -> None:
        """Both directions ended: half-closed sockets stay open until closed, so close both."""
        close_when_written(self.transport)
        if self.upstream is not None:
            close_when_written(self.upstream.transport)

    def readConnectionLost(self) -> None:
        self.client_half_closed = True
        if self.state == SPLICE and self.upstream_ended:
            self._end_splice()
        elif self.state == SPLICE and self.upstream is not None:
            # stdin EOF: the container's process sees it too.
            if self.to_upstream is not None:
                write(self.upstream.transport, self.to_upstream.close())
            close_when_written(self.upstream.transport, write_side_only=True)
        elif self.hijack_candidate and self.state in (ROUTING, CONNECTING, BODY,
                                                       WAITING):
            pass  # stdin ended before the daemon answered: passed on once spliced
        elif self.state == PARKED:
            pass  # an attach awaiting its start whose client sends no stdin (the 20.10 CLI): passed on once spliced
        else:
            close_when_written(self.transport)

    def writeConnectionLost(self) -> None:
        pass
