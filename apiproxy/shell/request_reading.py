"""Reading a client's requests: the head, the route to an upstream, and the body passed on."""
from __future__ import annotations

from typing import cast

# A connected socket's transport is a consumer and a push producer; ITransport says neither.
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.python.failure import Failure

from apiproxy.api.redaction import redact_target
from apiproxy.api.routes import is_hijack_endpoint
from apiproxy.api.upstream_info import UpstreamInfo
from apiproxy.api.versions import split_version_prefix
from apiproxy.ops.access import AccessRecord, endpoint_template
from apiproxy.ops.metrics import SPLICED_TO_DAEMON
from apiproxy.shell.client_base import SPLICED_BODY_MIN, ClientBase, log
from apiproxy.shell.client_state import BODY, CLOSED, CLOSING, COLLECTING, CONNECTING, ROUTING, WAITING
from apiproxy.shell.daemon import describe_failure
from apiproxy.shell.sending import close_when_written, one_send_per_turn, write
from apiproxy.shell.upstream_side import ClientSide, UpstreamConnection, UpstreamState
from apiproxy.translation.routing import Forward, Refuse, address, plan
from apiproxy.translation.transforms import TranslationError, WholeJson
from apiproxy.wire import http1
from apiproxy.wire.http1 import BodyReader, Headers, ProtocolError, valid_host
from apiproxy.wire.paths import normalize_target


class RequestReading(ClientBase):
    """A request from its head to its body's end: routed, forwarded, its body copied or spliced."""

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
        # The whole connection (client_side.py) is the upstream's client side: this part alone is not.
        d = self.daemon.connect(UpstreamConnection(cast(ClientSide, self)))
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

    def _daemon_unreachable(self, failure: Failure) -> None:
        if self.state == ROUTING:
            self._refuse(502, self.daemon.unreachable_message(describe_failure(failure)))

    def _connect_failed(self, failure: Failure) -> None:
        self.daemon.connection_failed()
        if self.state == CONNECTING:
            self._refuse(502, self.daemon.unreachable_message(describe_failure(failure)))

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
