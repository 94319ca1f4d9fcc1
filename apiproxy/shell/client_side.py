"""The proxy's connections: a client's HTTP/1.1 connection and its upstream one.

Each client connection gets its own upstream connection, reused while both
sides keep it alive, so keep-alive, back-pressure and hijacks map one to one.
Bodies flow through as they arrive; each side's socket is paused while the
other cannot take more (Twisted producer/consumer), so memory stays flat.
"""
from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, cast
from typing import Protocol as Interface

from twisted.internet.defer import Deferred
# A connected socket's transport is a consumer and a push producer; ITransport says neither.
from twisted.internet.interfaces import IConsumer, IDelayedCall, IHalfCloseableProtocol, IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from apiproxy.api.errors import error_reply
from apiproxy.api.policy import Policy
from apiproxy.api.redaction import redact_target
from apiproxy.api.routes import is_hijack_endpoint
from apiproxy.api.upstream_info import UpstreamInfo
from apiproxy.api.versions import Version, split_version_prefix
from apiproxy.ops.access import ACCESS_FORMAT, ACCESS_NAMESPACE, OTHER, AccessRecord, endpoint_template
from apiproxy.ops.config import Limits
from apiproxy.ops.metrics import (HIJACKED_STREAMS, SPLICED_TO_CLIENT, SPLICED_TO_DAEMON, TRANSLATION_ERRORS,
                                  count_request)
from apiproxy.shell.daemon import Daemon, describe_failure
from apiproxy.shell.sending import (ReadingSwitch, close_when_written, one_send_per_turn, send_held, tune_transport,
                                   unread_by_peer, write)
from apiproxy.shell.splicing import LOOK_FRAMES, MALFORMED, PEEK, Splice, can_splice
from apiproxy.shell.upstream_side import UpstreamConnection, UpstreamState
from apiproxy.translation.exchange import Exchange
from apiproxy.translation.routing import Addressed, Forward, Refuse, Settings, address, plan
from apiproxy.translation.steps.streams import Demultiplex
from apiproxy.translation.transforms import Transform, TranslationError, WholeJson, close_pieces, feed_pieces
from apiproxy.wire import http1
from apiproxy.wire.http1 import (CHUNKED, NO_BODY, SPLICED, UNTIL_CLOSE, BodyLength, BodyReader, Headers, ProtocolError,
                                 RequestHead, ResponseHead, valid_host)
from apiproxy.wire.json import encode_json
from apiproxy.wire.paths import normalize_target

log = Logger(namespace="apiproxy.proxy")  # the name its log lines have always carried
access_log = Logger(namespace=ACCESS_NAMESPACE)  # logs.py routes it: stderr, a file, or nowhere

# Bytes a client may send ahead while its request waits (for the daemon or a hijack).
READ_AHEAD_LIMIT = 1 << 20
RAW_STREAM_TYPES = (b"application/vnd.docker.raw-stream", b"application/vnd.docker.multiplexed-stream")
HELD_ERROR_LIMIT = 64 * 1024
SKIPPED_BODY_LIMIT = 1 << 20  # the body of a request refused before it was read, read and dropped
SPLICED_BODY_MIN = 64 * 1024  # a body of known length spliced when this much of it is still to come


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


@implementer(IHalfCloseableProtocol)
class ClientConnection(Protocol):
    """One client: reads its requests, forwards them, relays the answers.

    Serving a request with an emulation is its subclass's part (EmulatingConnection).
    """

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
        self._on_close: list[Callable[[ClientConnection], None]] = []
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

    def when_closed(self, callback: Callable[[ClientConnection], None]) -> None:
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

    # Timeouts: only while apiproxy waits for the client --------------------

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

    def _read_head(self) -> None:
        end = http1.find_head_end(self.buffer, self.scanned)
        limit = self.factory.limits.max_head_bytes
        if (end < 0 and len(self.buffer) > limit) or end > limit:
            raise ProtocolError(f"request head larger than {limit} bytes", 431)
        if end < 0:
            http1.check_partial_head(self.buffer, self.scanned)
            self.scanned = len(self.buffer)
            return
        self.scanned = 0
        self.raw_head = bytes(self.buffer[:end])
        head = http1.parse_request_head(self.raw_head, self.factory.limits.max_headers)
        try:
            # Everything after this (routing, versions, the upstream request line) reads the canonical target.
            head.target = normalize_target(head.target)
        except ProtocolError:
            # Refused in the error style of the version the client's path names, if any.
            self.client_version = split_version_prefix(head.target.partition("?")[0]).version
            raise
        del self.buffer[:end]
        length = http1.request_body_length(head)
        self.request = head
        self.body = BodyReader(length)
        self.request_done = self.response_done = self.response_started = False
        self.held_error = None
        self.answer_as_attach = False
        path = head.target.partition("?")[0]
        # Known before routing, so that even "daemon unreachable" speaks the client's style; routing
        # reads it again only if the daemon's version was not known yet.
        self.addressed = (address(head.method, path, self.factory.settings, self.daemon.info), self.daemon.info)
        self.client_version = self.addressed[0].version
        self.record = AccessRecord(head.method, endpoint_template(head.method, path), self.client_version,
                                   self.factory.clock.seconds(), bytes_in=len(self.raw_head))
        connection = http1.tokens(head.headers, b"connection")
        self.close_after = self.finishing or b"close" in connection or \
            (head.minor == 0 and b"keep-alive" not in connection)
        self.upgrade = http1.header(head.headers, b"upgrade") if b"upgrade" in connection else None
        self.hijack_candidate = self.upgrade is not None or is_hijack_endpoint(head.method, path)
        self.state = ROUTING
        refusal = self.factory.policy.refusal(head.method, path, upgrade=self.upgrade is not None)
        if refusal is not None:
            self._refuse(403, refusal)
            return
        if self.daemon.info is not None:
            self._route(self.daemon.info)
        else:
            d = self.daemon.current_info()
            d.addCallbacks(self._route, self._daemon_unreachable)
            d.addErrback(self._internal_error)

    def _route(self, info: UpstreamInfo) -> None:
        if self.state != ROUTING:
            return
        assert self.request is not None
        try:
            addressed, known = self.addressed
            decision = plan(self.request.method, self.request.target, info, self.daemon.choice,
                            self.factory.settings, self.daemon.memory, addressed if known is info else None)
            if isinstance(decision, Refuse):
                self.client_version = decision.client_version
                self._refuse(decision.status, decision.message)
                return
            self._forward(decision)
        except TranslationError as error:
            self.count_translation_error()
            self._refuse(error.status, str(error))

    def _forward(self, decision: Forward) -> None:
        head = self.request
        assert head is not None and self.body is not None
        self.exchange = decision.exchange
        self.client_version = decision.exchange.client_version
        self.upstream_target = decision.target
        if self.record is not None:
            self.record.forwarded(decision.exchange)
        emulate = self.exchange.emulation()
        if emulate is not None:
            self.emulate = emulate
            self.collected = bytearray()
            self.state = COLLECTING
            self._advance()
            return
        self.body_transform = self.exchange.request_body(self.request.headers if self.request else [])
        if isinstance(self.body_transform, WholeJson):
            self.body_transform.limit = self.factory.limits.max_json_body
        self._connect()

    def _connect(self) -> None:
        self.state = CONNECTING
        if self.upstream is not None and self.upstream.state == UpstreamState.IDLE:
            self._upstream_ready(self.upstream)  # the connection of the previous request
            return
        d = self.daemon.connect(UpstreamConnection(self))
        d.addCallbacks(self._upstream_ready, self._connect_failed)
        d.addErrback(self._internal_error)

    def _upstream_ready(self, upstream: UpstreamConnection) -> None:
        with one_send_per_turn():  # called back from a new connection, outside dataReceived
            self._start_request(upstream)

    def _start_request(self, upstream: UpstreamConnection) -> None:
        if self.state != CONNECTING:
            close_when_written(upstream.transport)
            return
        if upstream is not self.upstream:
            self._attach_upstream(upstream)
        upstream.expect_response(self.request.method if self.request else "GET")
        self.state = BODY
        if self.fixed_body is not None:
            body, self.fixed_body = self.fixed_body, None
            self._send_head([(b"Content-Length", str(len(body)).encode())] if body else [])
            write(upstream.transport, body)
            self.request_done = True
            self.state = WAITING
        elif self.body_transform is None:
            self._send_head(self._request_framing())
        elif getattr(self.body_transform, "streaming", False):
            self._send_head([(b"Transfer-Encoding", b"chunked")])
        self._release()
        self._advance()

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

    def _request_framing(self) -> Headers:
        assert self.body is not None
        if self.body.decoder is not None:
            return [(b"Transfer-Encoding", b"chunked")]
        if self.body.remaining or self.request and http1.header(self.request.headers, b"content-length"):
            return [(b"Content-Length", str(self.body.remaining).encode())]
        return []

    def _send_head(self, framing: Headers) -> None:
        head = self.request
        assert head is not None and self.exchange is not None and self.upstream is not None
        headers = self.exchange.request_headers(http1.passed_on(head.headers))
        headers.insert(0, (b"Host", valid_host(http1.header(head.headers, b"host"))))
        if self.upgrade:
            headers += [(b"Connection", b"Upgrade"), (b"Upgrade", self.upgrade)]
        write(self.upstream.transport, http1.format_request_head(head.method, self.upstream_target,
                                                                headers + framing))

    def _read_body(self) -> None:
        assert self.body is not None and self.upstream is not None
        chunked = self.body.decoder is not None
        streaming = getattr(self.body_transform, "streaming", False)
        for data in self._take_body():
            if self.body_transform is not None:
                data = self.body_transform.feed(data)
                if streaming:
                    write(self.upstream.transport, http1.encode_chunk(data))
            else:
                write(self.upstream.transport, http1.encode_chunk(data) if chunked else data)
        if not self.body.done:
            if self.body_transform is None:
                self._splice_request_body()
            return
        self._request_body_read(streaming, chunked)

    def _request_body_read(self, streaming: bool, chunked: bool) -> None:
        assert self.upstream is not None
        if streaming:
            assert self.body_transform is not None
            write(self.upstream.transport, http1.encode_chunk(self.body_transform.close()) + http1.LAST_CHUNK)
        elif self.body_transform is not None:
            data = self.body_transform.close()
            for warning in self.exchange.warnings() if self.exchange else ():
                log.warn("{target}: {warning}", target=redact_target(self.upstream_target), warning=warning)
            self._send_head([(b"Content-Length", str(len(data)).encode())])
            write(self.upstream.transport, data)
        elif chunked:
            write(self.upstream.transport, http1.LAST_CHUNK)
        self.request_done = True
        self.state = WAITING
        if self.response_done:
            self._next_request()

    # Bodies moved by splice(2) ---------------------------------------------

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

    def _splice_request_body(self) -> None:
        """The rest of a pass-through body, client socket to daemon socket in the kernel."""
        body, upstream = self.body, self.upstream
        assert body is not None and upstream is not None
        if self.body_splice is not None or not self._may_splice() or \
                (body.decoder is None and body.remaining < SPLICED_BODY_MIN):
            return
        if self._client_switch is not None:  # the splice's pipe is the back-pressure now
            cast(IConsumer, upstream.transport).unregisterProducer()
        framing = {"decoder": body.decoder, "chunked_out": True} if body.decoder else {"length": body.remaining}
        self.body_splice = self._new_splice(self.transport, upstream.transport, self._request_body_moved,
                                            self._request_body_spliced, self._request_body_failed, **framing)
        self.body_splice.start()

    def _request_body_moved(self, count: int) -> None:
        SPLICED_TO_DAEMON.inc(count)
        if self.record is not None:
            self.record.bytes_in += count
        self._watch()  # a body's silence is timed from its last piece

    def _request_body_spliced(self) -> None:
        with one_send_per_turn():
            self._end_body_splice()
            assert self.body is not None
            chunked = self.body.decoder is not None
            if not chunked:
                self.body.remaining = 0
            self.state = WAITING  # the splice wrote the body's end, LAST_CHUNK included
            self.request_done = True
            self._watch()
            if self.response_done:
                self._next_request()

    def _end_body_splice(self) -> None:
        splice, self.body_splice = self.body_splice, None
        if splice in self.splices:
            self.splices.remove(splice)
        if self.upstream is not None and self._client_switch is not None:
            self._client_switch.paused = False
            cast(IConsumer, self.upstream.transport).registerProducer(self._client_switch, True)
        if not self.held and self.state not in (CLOSING, CLOSED):
            cast(IPushProducer, self.transport).resumeProducing()

    def _request_body_failed(self, reason: str, at_source: bool) -> None:
        with one_send_per_turn():
            self._end_body_splice()
            if at_source:  # the client went, cut its body short or framed it wrong
                log.info("a request body ended early: {reason}", reason=reason)
                self._refuse_and_close(400, f"the request body ended early: {reason}")
            else:
                self.upstream_failed(f"the upstream failed while taking the request body: {reason}")

    def splice_answer(self, upstream: UpstreamConnection, length: int | None,
                      decoder: http1.ChunkedDecoder | None) -> bool:
        """The rest of a pass-through answer, daemon socket to client socket in the kernel: True if so.
        Neither `length` nor `decoder`: an answer read until the daemon closes, passed on as it is or
        (to an HTTP/1.1 client) in chunks of what the socket holds."""
        framed_by_eof = decoder is None and length is None
        if upstream is not self.upstream or self.response_transform is not None or self.held_error is not None \
                or self.response_framing == NO_BODY or not self._may_splice() \
                or (decoder is None and length is not None and length < SPLICED_BODY_MIN) \
                or ((decoder is not None or framed_by_eof) and self.response_framing not in (CHUNKED, UNTIL_CLOSE)):
            return False
        if self._upstream_switch is not None:
            cast(IConsumer, self.transport).unregisterProducer()
        framing: dict[str, Any] = {"decoder": decoder, "chunked_out": self.response_framing == CHUNKED} \
            if decoder or framed_by_eof else {"length": length}
        splice = self._new_splice(upstream.transport, self.transport, self._answer_moved,
                                  lambda: self._answer_spliced(upstream),
                                  lambda reason, at_source: self._answer_failed(upstream, splice, reason, at_source),
                                  **framing)
        splice.start()
        return True

    def _answer_moved(self, count: int) -> None:
        SPLICED_TO_CLIENT.inc(count)
        if self.record is not None:
            self.record.bytes_out += count

    def _end_answer_splice(self, upstream: UpstreamConnection) -> None:
        self.splices = [splice for splice in self.splices if splice.source is not upstream.transport]
        if upstream is self.upstream and self._upstream_switch is not None:
            self._upstream_switch.paused = False
            cast(IConsumer, self.transport).registerProducer(self._upstream_switch, True)

    def _answer_spliced(self, upstream: UpstreamConnection) -> None:
        with one_send_per_turn():
            self._end_answer_splice(upstream)
            self.response_framing = NO_BODY  # the splice sent all of it, the last chunk too
            upstream.answer_spliced()

    def _answer_failed(self, upstream: UpstreamConnection, splice: Splice, reason: str, at_source: bool) -> None:
        with one_send_per_turn():
            self._end_answer_splice(upstream)
            if not at_source:  # the client went
                close_when_written(self.transport)
                return
            if not splice.at_boundary:
                self.response_framing = NO_BODY  # cut in a chunk: only the close can say it
            self.daemon.connection_failed()
            self.upstream_failed(f"the upstream sent a malformed answer: {reason}" if reason.startswith(MALFORMED)
                                 else "the upstream closed the connection in the middle of its answer")

    # Upstream answers -----------------------------------------------------

    def interim_response(self, head: ResponseHead) -> None:
        self._send(http1.format_response_head(head.status, head.reason, head.headers))

    def response_head(self, head: ResponseHead, method: str) -> BodyLength:
        """Send the answer's head to the client; say how its body is framed."""
        assert self.exchange is not None
        if self.answer_as_attach and head.status == 200:
            self._answer_as_attach()
            return http1.response_body_length(head, method)
        content_type = (http1.header(head.headers, b"content-type") or b"").split(b";")[0].strip().lower()
        if head.status == 101 or (self.hijack_candidate and head.status == 200
                                  and content_type in RAW_STREAM_TYPES):
            self._start_splice(head)
            return SPLICED
        if self.state != WAITING:
            # The daemon answered before the whole request arrived: the
            # connection cannot be resynchronised after this answer.
            self.close_after = True
        if self.hijack_candidate and self.buffer:
            self.close_after = True  # what the client sent ahead was meant for a stream
        upstream_framing = http1.response_body_length(head, method)
        if method != "HEAD" and self.exchange.status_depends_on_message(head.status):
            self.held_error = (head, method, upstream_framing, bytearray())
            return upstream_framing
        self._send_response_head(head, method, upstream_framing)
        return upstream_framing

    def _send_response_head(self, head: ResponseHead, method: str, upstream_framing: BodyLength,
                            message: bytes | None = None) -> None:
        assert self.exchange is not None
        status, headers = self.exchange.response_head(head.status, http1.end_to_end(head.headers), message)
        self.response_transform = self.exchange.response_body(status, headers)
        framing: Headers = []
        if method == "HEAD" or status < 200 or status in (204, 304):
            self.response_framing = NO_BODY
            self.response_transform = None
            if status != head.status:  # a translated "nothing to say": drop the body's headers
                headers = http1.without(headers, {b"content-length", b"content-type"})
        elif isinstance(upstream_framing, int) and self.response_transform is None:
            self.response_framing = upstream_framing
            headers = http1.without(headers, {b"content-length"})
            framing = [(b"Content-Length", str(upstream_framing).encode())]
        else:
            headers = http1.without(headers, {b"content-length"})
            if self.request is not None and self.request.minor == 0:
                self.response_framing = UNTIL_CLOSE
                self.close_after = True
            else:
                self.response_framing = CHUNKED
                framing = [(b"Transfer-Encoding", b"chunked")]
        if self.close_after:
            framing.append((b"Connection", b"close"))
        self.response_started = True
        self._answered(status)
        self.response_content_type = (http1.header(headers, b"content-type") or b"").split(b";")[0].strip().lower()
        reason = head.reason if status == head.status else b""  # b"": the new status's own phrase
        self._send(http1.format_response_head(status, reason, headers + framing))

    def _answer_as_attach(self) -> None:
        """The body as a 2013 attach answered: a raw stream, demultiplexed for old clients, ended by closing."""
        assert self.exchange is not None
        self.response_transform = self.exchange.hijacked_streams()[0]
        self.response_framing = UNTIL_CLOSE
        self.close_after = True
        self.response_started = True
        self._answered(200)
        self._send(http1.format_response_head(200, b"", [
            (b"Content-Type", RAW_STREAM_TYPES[0]), (b"Connection", b"close")]))

    def response_data(self, data: bytes) -> None:
        if self.held_error is not None:
            held = self.held_error[3]
            held += data
            if len(held) > HELD_ERROR_LIMIT:  # no daemon's error is this long: decide without it
                self._release_held_error(None)
            return
        if self.response_framing == NO_BODY:
            return
        if self.response_transform is not None:
            self._send_pieces(feed_pieces(self.response_transform, data))
        elif data:
            self._send(http1.encode_chunk(data) if self.response_framing == CHUNKED else data)

    def _send_pieces(self, pieces: list[bytes]) -> None:
        """A transform's output, each piece (a JSON stream's item) its own chunk, in one write."""
        if pieces:
            self._send(b"".join(map(http1.encode_chunk, pieces)) if self.response_framing == CHUNKED
                       else b"".join(pieces))

    def _release_held_error(self, message: bytes | None) -> None:
        assert self.held_error is not None
        head, method, upstream_framing, held = self.held_error
        self.held_error = None
        self._send_response_head(head, method, upstream_framing, message)
        self.response_data(bytes(held))

    def response_end(self, reusable: bool) -> None:
        if self.held_error is not None:
            self._release_held_error(bytes(self.held_error[3]))
        if self.response_transform is not None:
            self._send_pieces(close_pieces(self.response_transform))
        if self.response_framing == CHUNKED:
            self._send(http1.LAST_CHUNK)
        if not reusable:
            self._detach_upstream()
        self.response_done = True
        self.response_started = False
        if self.close_after:
            self.state = CLOSING
            close_when_written(self.transport)
        elif self.request_done:
            self._next_request()

    def _next_request(self) -> None:
        self._finish_record()
        self.state = HEAD
        self.request = None
        self.exchange = None
        if self.buffer:
            self._advance()
        else:
            self._watch()

    # Hijacked streams -----------------------------------------------------

    def _send(self, data: bytes) -> None:
        """Everything the client is sent goes through here, to be counted for the access log."""
        if self.record is not None:
            self.record.bytes_out += len(data)
        write(self.transport, data)

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

    # Failures -------------------------------------------------------------

    def upstream_lost(self, upstream: UpstreamConnection, state: UpstreamState) -> None:
        if upstream is not self.upstream:
            return
        self._stop_splices()
        self._detach_upstream()
        if self.state == SPLICE:
            if self.to_client is not None:
                self._send(self.to_client.close())
                self.to_client = None
            close_when_written(self.transport)
        elif state in (UpstreamState.HEAD, UpstreamState.BODY) or (
                self.state in (BODY, WAITING) and not self.response_done):
            self.daemon.connection_failed()  # it may come back another version: read it again
            self.upstream_failed("the upstream closed the connection in the middle of its answer"
                                 if self.response_started else "the upstream closed the connection before it answered")

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

    def _end_cut_answer(self, message: str) -> None:
        """A JSON progress stream ends with an error item, as the daemon ends a failed pull, and
        a proper end of body: the client reads why. Any other answer is cut by the close alone."""
        if self.response_framing not in (CHUNKED, UNTIL_CLOSE) or self.response_content_type != b"application/json" \
                or self.request is None or self.request.target.partition("?")[0].endswith("/events"):
            return
        item = encode_json({"errorDetail": {"message": message}, "error": message}) + b"\r\n"
        try:
            pieces = feed_pieces(self.response_transform, item) if self.response_transform is not None else [item]
        except TranslationError:
            pieces = []
        self._send_pieces(pieces)
        if self.response_framing == CHUNKED:
            self._send(http1.LAST_CHUNK)

    def _daemon_unreachable(self, failure: Failure) -> None:
        if self.state == ROUTING:
            self._refuse(502, self.daemon.unreachable_message(describe_failure(failure)))

    def _connect_failed(self, failure: Failure) -> None:
        self.daemon.connection_failed()
        if self.state == CONNECTING:
            self._refuse(502, self.daemon.unreachable_message(describe_failure(failure)))

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

    # Access log and metrics ------------------------------------------------

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

    def _collect_body(self) -> None:
        """Reads the body of a request an emulation serves, then runs the emulation: the subclass's part."""
        raise NotImplementedError("an emulated request needs an EmulatingConnection")
