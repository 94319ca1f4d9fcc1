"""Relaying the daemon's answers to the client: heads, bodies translated or spliced, and cut answers."""
from __future__ import annotations

from typing import Any, cast

# A connected socket's transport is a consumer and a push producer; ITransport says neither.
from twisted.internet.interfaces import IConsumer

from apiproxy.ops.metrics import SPLICED_TO_CLIENT
from apiproxy.shell.client_base import SPLICED_BODY_MIN, ClientBase
from apiproxy.shell.client_state import BODY, CLOSING, SPLICE, WAITING
from apiproxy.shell.sending import close_when_written, one_send_per_turn
from apiproxy.shell.splicing import MALFORMED, Splice
from apiproxy.shell.upstream_side import UpstreamConnection, UpstreamState
from apiproxy.translation.transforms import TranslationError, close_pieces, feed_pieces
from apiproxy.wire import http1
from apiproxy.wire.http1 import CHUNKED, NO_BODY, SPLICED, UNTIL_CLOSE, BodyLength, Headers, ResponseHead
from apiproxy.wire.json import encode_json

RAW_STREAM_TYPES = (b"application/vnd.docker.raw-stream", b"application/vnd.docker.multiplexed-stream")
HELD_ERROR_LIMIT = 64 * 1024


class Answering(ClientBase):
    """The daemon's answer to the client: its head, its body translated, copied or spliced, its end."""

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
