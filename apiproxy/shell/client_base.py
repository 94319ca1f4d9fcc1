"""A client connection's ground: its state, its lifecycle and timeouts, its refusals and its access log.

A connection is this class and three parts built on it: reading requests and passing their bodies
on (request_reading.py), relaying the daemon's answers (answering.py) and hijacked raw streams
(hijacked_streams.py); client_side.py puts them together. Each connection gets its own upstream
connection, reused while both sides keep it alive, so keep-alive, back-pressure and hijacks map
one to one. A part reaches another's work through the stubs at the end of this class.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from twisted.internet.defer import Deferred
# A connected socket's transport is a consumer and a push producer; ITransport says neither.
from twisted.internet.interfaces import IConsumer, IDelayedCall, IPushProducer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from apiproxy.api.errors import error_reply
from apiproxy.api.redaction import redact_target
from apiproxy.api.upstream_info import UpstreamInfo
from apiproxy.api.versions import Version
from apiproxy.ops.access import ACCESS_FORMAT, ACCESS_NAMESPACE, OTHER, AccessRecord
from apiproxy.ops.metrics import HIJACKED_STREAMS, TRANSLATION_ERRORS, count_request
from apiproxy.shell.client_state import (BODY, CLOSED, CLOSING, COLLECTING, HEAD, SKIPPING, SPLICE, ClientState,
                                         Listening)
from apiproxy.shell.sending import ReadingSwitch, close_when_written, one_send_per_turn, tune_transport, write
from apiproxy.shell.splice_parts import can_splice
from apiproxy.shell.splicing import Splice
from apiproxy.shell.upstream_side import UpstreamConnection
from apiproxy.translation.exchange import Exchange
from apiproxy.translation.routing import Addressed
from apiproxy.translation.transforms import Transform, TranslationError
from apiproxy.wire import http1
from apiproxy.wire.http1 import BodyLength, BodyReader, ProtocolError, RequestHead, ResponseHead

log = Logger(namespace="apiproxy.proxy")  # the name its log lines have always carried
access_log = Logger(namespace=ACCESS_NAMESPACE)  # logs.py routes it: stderr, a file, or nowhere

# Bytes a client may send ahead while its request waits (for the daemon or a hijack).
READ_AHEAD_LIMIT = 1 << 20
SKIPPED_BODY_LIMIT = 1 << 20  # the body of a request refused before it was read, read and dropped
SPLICED_BODY_MIN = 64 * 1024  # a body of known length spliced when this much of it is still to come


class ClientBase(Protocol):
    """One client connection's state and what every part of it uses."""

    def __init__(self, factory: Listening) -> None:
        self.factory = factory
        self.daemon = factory.daemon
        self.buffer = bytearray()
        self.scanned = 0
        # head -> (routing | connecting) -> body -> waiting -> head, or -> splice
        self.state: ClientState = HEAD
        self.upstream: UpstreamConnection | None = None
        self._upstream_switch: ReadingSwitch | None = None
        self._client_switch: ReadingSwitch | None = None
        self.held = False
        self.request: RequestHead | None = None
        self.exchange: Exchange | None = None
        self.client_version: Version | None = None
        self.body: BodyReader | None = None
        self.body_transform: Transform | None = None
        self.hijack_candidate = False
        self.close_after = False
        self.response_started = False
        self.response_framing: BodyLength = 0
        self.response_content_type = b""
        self.response_transform: Transform | None = None
        # An error answer whose translated status depends on its message: held until whole.
        self.held_error: tuple[ResponseHead, str, BodyLength, bytearray] | None = None
        self.answer_as_attach = False  # an emulation serves an attach from another endpoint
        self.to_client: Transform | None = None
        self.to_upstream: Transform | None = None
        self.request_done = False
        self.response_done = False
        self.client_half_closed = False
        self.upstream_ended = False  # a spliced stream's upstream sent its end
        self.upgrade: bytes | None = None
        self.upstream_target = ""
        self.advancing = False
        self.fixed_body: bytes | None = None  # a body an emulation decided, sent as is
        self.collected = bytearray()
        self.emulate: Any = None
        self.parked_for: str | None = None  # the legacy id whose start this attach awaits
        self.parked_ready: Deferred[None] | None = None
        self.downloads: list[str] = []  # files an emulation fetched, removed when it ends
        self.raw_head = b""
        self.head_sent = False  # the client's answer head went out before the upstream's came
        self.websocket: tuple[Transform, Transform] | None = None
        self.timer: IDelayedCall | None = None
        self.timer_kind: str | None = None  # head | body | idle
        self.finishing = False  # apiproxy is stopping: close once the running request is answered
        self._on_close: list[Callable[[ClientBase], None]] = []
        self.record: AccessRecord | None = None  # the access log's record of the running request
        self.spliced = False  # counted in apiproxy_hijacked_streams
        self.addressed: tuple[Addressed | None, UpstreamInfo | None] = (None, None)  # address() and the info it read
        self.splices: list[Splice] = []  # moving bytes in the kernel now (splicing.py)
        # The stream's first events for the client, held until it has read the 101/hijack head (see _head_alone).
        self.head_unread: list[Callable[[], None]] | None = None
        self.body_splice: Splice | None = None  # of the request body
        self.demux_pending = False  # a legacy stream spliced once its first bytes say whether it is framed

    # Client bytes ---------------------------------------------------------

    def connectionMade(self) -> None:
        tune_transport(self.transport)
        self.factory.connections.add(self)
        self._watch()

    def when_closed(self, callback: Callable[[ClientBase], None]) -> None:
        self._on_close.append(callback)

    def finish_then_close(self) -> None:
        """apiproxy stops: an idle connection closes now, a busy one once its answer is out."""
        self.finishing = True
        if self.state == HEAD and not self.buffer:
            self.state = CLOSING
            close_when_written(self.transport)
        else:
            self.close_after = True

    def dataReceived(self, data: bytes) -> None:
        with one_send_per_turn():
            if self.state == SPLICE:
                self._to_upstream(data)
                return
            self.buffer += data
            self._advance()

    def _advance(self) -> None:
        """Read as far as the buffered bytes go; a loop, not recursion, for pipelined requests."""
        if self.advancing:
            return  # called back from inside the loop below: the loop goes on
        self.advancing = True
        try:
            while self.state in (HEAD, BODY, COLLECTING, SKIPPING):
                state, buffered = self.state, len(self.buffer)
                if state == HEAD:
                    self._read_head()
                elif state == BODY:
                    self._read_body()
                elif state == SKIPPING:
                    self._skip_body()
                else:
                    self._collect_body()
                if self.state == state and len(self.buffer) == buffered:
                    break  # waiting for more bytes
        except ProtocolError as error:
            self._refuse_and_close(error.status, str(error))
        except TranslationError as error:
            self.count_translation_error()
            self._refuse_and_close(error.status, str(error))
        except Exception:
            log.failure("apiproxy failed on a request")
            self._refuse_and_close(500, "apiproxy internal error (see its log)")
        finally:
            self.advancing = False
        if len(self.buffer) > READ_AHEAD_LIMIT and not self.held and self.state != SPLICE:
            self.held = True
            cast(IPushProducer, self.transport).pauseProducing()
        self._watch()

    # Timeouts: only while apiproxy waits for the client -------------------

    def _watch(self) -> None:
        """Time what the client owes: the rest of a head it began, the next piece of a body, or
        (kept alive) its next request. Never the daemon's answer, nor a stream once spliced."""
        kind = None
        if self.state == HEAD:
            kind = "head" if self.buffer else "idle"
        elif self.state in (BODY, COLLECTING, SKIPPING):
            kind = "body"
        if kind == self.timer_kind and self.timer is not None and self.timer.active():
            if kind == "body":  # a body's silence is timed from its last piece: the same call, later
                self.timer.reset(self.factory.limits.body_timeout)
            return  # a head is timed from its first byte on, an idle wait from its start
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer, self.timer_kind = None, kind
        seconds = getattr(self.factory.limits, f"{kind}_timeout") if kind else 0
        if seconds > 0:
            self.timer = self.factory.clock.callLater(seconds, self._timed_out, kind, seconds)

    def _timed_out(self, kind: str, seconds: float) -> None:
        self.timer = None
        with one_send_per_turn():
            if kind == "body" and (self.held or (self._client_switch is not None and self._client_switch.paused)
                                   or (self.body_splice is not None and self.body_splice.sink_slow)):
                self.timer_kind = None
                self._watch()  # the client is not being read: it waits for the daemon, not we for it
            elif kind == "idle":
                self.state = CLOSING
                close_when_written(self.transport)
            else:
                what = "request head" if kind == "head" else "request body"
                self._refuse_and_close(408, f"the client sent no more of its {what} for {seconds:g} s")

    def _release(self) -> None:
        if self.held:
            self.held = False
            cast(IPushProducer, self.transport).resumeProducing()

    # The upstream connection ----------------------------------------------

    def _attach_upstream(self, upstream: UpstreamConnection) -> None:
        self._detach_upstream()
        self.upstream = upstream
        # Each side's reading pauses while the other's write buffer is full.
        self._client_switch = ReadingSwitch(self.transport)
        cast(IConsumer, upstream.transport).registerProducer(self._client_switch, True)
        self._upstream_switch = ReadingSwitch(upstream.transport)
        cast(IConsumer, self.transport).registerProducer(self._upstream_switch, True)

    def _detach_upstream(self) -> None:
        if self._upstream_switch is not None:
            cast(IConsumer, self.transport).unregisterProducer()
            self._upstream_switch = None
        if self._client_switch is not None:
            self._client_switch.stopProducing()
            self._client_switch = None
        self.upstream = None

    def _next_request(self) -> None:
        self._finish_record()
        self.state = HEAD
        self.request = None
        self.exchange = None
        if self.buffer:
            self._advance()
        else:
            self._watch()

    # Bytes moved by splice(2) ---------------------------------------------

    def _may_splice(self) -> bool:
        return self.factory.splice and self.upstream is not None and \
            can_splice(self.transport, self.upstream.transport)

    def _new_splice(self, source: Any, sink: Any, moved: Callable[[int], None], ended: Callable[[], None],
                    failed: Callable[[str, bool], None], **framing: Any) -> Splice:
        from twisted.internet import reactor
        splice = Splice(cast(Any, reactor), source, sink, moved=moved, ended=ended, failed=failed, **framing)
        self.splices.append(splice)
        return splice

    def _stop_splices(self) -> None:
        splices, self.splices = self.splices, []
        self.body_splice = None
        for splice in splices:
            splice.stop()

    # Failures and refusals ------------------------------------------------

    def upstream_failed(self, message: str) -> None:
        self.held_error = None
        if self.upstream is not None:
            close_when_written(self.upstream.transport)
            self._detach_upstream()
        if self.response_started or self.state in (CLOSING, CLOSED):
            log.warn("{target}: {message}", target=redact_target(self.upstream_target), message=message)
            if self.response_started and self.state not in (CLOSING, CLOSED):
                self._end_cut_answer(message)
            close_when_written(self.transport)
            self.state = CLOSING
        else:
            log.warn("{message}", message=message)
            self._refuse_and_close(502, message)

    def _internal_error(self, failure: Failure) -> None:
        log.failure("apiproxy failed on a request", failure)
        self._refuse_and_close(500, "apiproxy internal error (see its log)")

    def _refuse(self, status: int, message: str) -> None:
        """Answer an error before the request's body was read. A body of reasonable size is then
        read and dropped, and the connection goes on: closed at once, a client still sending
        it would get a broken pipe instead of the answer (Go's server does the same)."""
        body = self.body
        unread = body is not None and not (body.decoder is None and body.remaining == 0)
        if unread and body is not None and body.decoder is None and body.remaining > SKIPPED_BODY_LIMIT:
            self.close_after = True
        self._reply(status, message)
        if self.close_after:
            self.state = CLOSING
            close_when_written(self.transport)
        elif unread:
            self.state = SKIPPING
            self._advance()
        else:
            self._next_request()

    def _skip_body(self) -> None:
        assert self.body is not None
        self._take_body()  # dropped: the request was answered
        if self.body.done:
            self._next_request()

    def _refuse_and_close(self, status: int, message: str) -> None:
        self.close_after = True
        if not self.response_started and self.state not in (CLOSING, CLOSED, SPLICE,
                                                             SKIPPING):
            self._reply(status, message)
        self.state = CLOSING
        close_when_written(self.transport)

    def _reply(self, status: int, message: str) -> None:
        if self.record is None:  # a request refused before its head could be read
            self.record = AccessRecord(self.request.method if self.request else "-", OTHER, self.client_version,
                                       self.factory.clock.seconds(), bytes_in=len(self.raw_head))
        self._answered(status)
        status, headers, body = error_reply(self.client_version, status, message)
        if self.close_after:
            headers.append((b"Connection", b"close"))
        self._send(http1.format_response_head(status, b"", headers) + body)

    # Access log and metrics -----------------------------------------------

    def _send(self, data: bytes) -> None:
        """Everything the client is sent goes through here, to be counted for the access log."""
        if self.record is not None:
            self.record.bytes_out += len(data)
        write(self.transport, data)

    def _answered(self, status: int) -> None:
        if self.record is not None:
            self.record.status = status

    def _take_body(self) -> list[bytes]:
        """The request body's pieces from the buffer, counted for the access log."""
        assert self.body is not None
        pieces = self.body.take(self.buffer)
        if self.record is not None:
            self.record.bytes_in += sum(map(len, pieces))
        return pieces

    def count_translation_error(self) -> None:
        TRANSLATION_ERRORS.labels(self.record.endpoint if self.record else OTHER).inc()

    def _finish_record(self) -> None:
        """The request's access line and count: once its answer is out, or its connection gone."""
        record, self.record = self.record, None
        if record is None:
            return
        record.client_version = self.client_version or record.client_version
        count_request(record.client_version, record.endpoint, record.status)
        access_log.info(ACCESS_FORMAT, **record.fields(self.factory.clock.seconds()))

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        self.state = CLOSED
        self._stop_splices()
        self._finish_record()
        if self.spliced:
            self.spliced = False
            HIJACKED_STREAMS.dec()
        self.buffer.clear()
        self._watch()
        self.factory.connections.discard(self)
        for callback in self._on_close:
            callback(self)
        if self.upstream is not None:
            upstream = self.upstream
            self._detach_upstream()
            close_when_written(upstream.transport)

    # What the other parts do (client_side.py puts them together) ---------

    def _read_head(self) -> None:
        raise NotImplementedError("RequestReading's")

    def _read_body(self) -> None:
        raise NotImplementedError("RequestReading's")

    def _to_upstream(self, data: bytes) -> None:
        raise NotImplementedError("HijackedStreams'")

    def _start_splice(self, head: ResponseHead) -> None:
        raise NotImplementedError("HijackedStreams'")

    def _end_cut_answer(self, message: str) -> None:
        raise NotImplementedError("Answering's")

    def _collect_body(self) -> None:
        """Reads the body of a request an emulation serves, then runs the emulation: the subclass's part."""
        raise NotImplementedError("an emulated request needs an EmulatingConnection")
