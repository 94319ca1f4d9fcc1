"""The proxy's connections: a client's HTTP/1.1 connection and its upstream one.

Each client connection gets its own upstream connection, reused while both
sides keep it alive, so keep-alive, back-pressure and hijacks map one to one.
Bodies flow through as they arrive; each side's socket is paused while the
other cannot take more (Twisted producer/consumer), so memory stays flat.
"""
from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qsl

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from . import http1
from .daemon import Daemon, describe_failure
from .errors import error_reply
from .http1 import CHUNKED, UNTIL_CLOSE, Headers, ProtocolError, RequestHead, ResponseHead
from .chain import ChainExchange
from .emulation import Answer, Emulation, EmulationFailed, Fetch, Pass, Park, Reply, Unpark, WebSocket
from .functions import demultiplex_stream
from .websocket import ToClientFrames, WebSocketBridge, WebSocketError
from .fetch import fetch_to_tar
from .emulations import LegacyRequest
from .routes import is_hijack_endpoint, match_legacy
from .routing import Forward, Refuse, Settings, address, plan
from .translate import MAX_JSON_BODY, Exchange, Transform, TranslationError, exchange_for
from .upstream import UpstreamInfo
from .versions import Version

log = Logger()

# Bytes a client may send ahead while its request waits (for the daemon or a hijack).
READ_AHEAD_LIMIT = 1 << 20
RAW_STREAM_TYPES = (b"application/vnd.docker.raw-stream", b"application/vnd.docker.multiplexed-stream")
SPLICE = "splice"
NO_BODY = "no-body"  # an answer that must not carry a body, whatever the upstream sent


@implementer(IPushProducer)
class _ReadingSwitch:
    """Pauses a transport's reading while its peer cannot write more.

    Registered as the producer of the peer's transport; unlike the transport
    itself it does not close the connection when the peer goes away.
    """

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.paused = False

    def pauseProducing(self) -> None:
        self.paused = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self.paused = False
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        if self.paused:
            self.resumeProducing()


def close_when_written(transport: Any, write_side_only: bool = False) -> None:
    """Close once buffered bytes are out.

    Twisted never closes a transport that still has a producer registered,
    so the producer goes first (and the side it paused reads again).
    """
    producer = getattr(transport, "producer", None)
    if producer is not None:
        transport.unregisterProducer()
    if isinstance(producer, _ReadingSwitch):
        producer.stopProducing()
    if write_side_only:
        transport.loseWriteConnection()
    else:
        transport.loseConnection()


class _BodyReader:
    """Frames a request body: Content-Length or chunked, as it arrives."""

    def __init__(self, length: int | str) -> None:
        self.remaining = 0 if length == CHUNKED else int(length)
        self.decoder = http1.ChunkedDecoder() if length == CHUNKED else None

    @property
    def done(self) -> bool:
        return self.decoder.done if self.decoder else self.remaining == 0

    def take(self, buffer: bytearray) -> list[bytes]:
        """Consume what belongs to the body from `buffer`; return its data."""
        if self.decoder:
            data = bytes(buffer)
            buffer.clear()
            chunks = self.decoder.feed(data)
            buffer += self.decoder.leftover
            self.decoder.leftover = b""
            return chunks
        take = min(self.remaining, len(buffer))
        data = bytes(buffer[:take])
        del buffer[:take]
        self.remaining -= take
        return [data] if data else []


@implementer(IHalfCloseableProtocol)
class UpstreamConnection(Protocol):
    """Reads the daemon's answers and hands them to the client connection."""

    def __init__(self, client: ClientConnection) -> None:
        self.client = client
        self.buffer = bytearray()
        self.method = "GET"
        self.framing: int | str = 0
        self.decoder: http1.ChunkedDecoder | None = None
        self.state = "idle"  # idle | head | body | splice
        self.keep_alive = True

    def expect_response(self, method: str) -> None:
        self.method = method
        self.state = "head"

    def dataReceived(self, data: bytes) -> None:
        if self.state == SPLICE:
            self.client.spliced_from_upstream(data)
            return
        self.buffer += data
        try:
            self._process()
        except ProtocolError as error:
            self.client.upstream_failed(f"the upstream sent a malformed answer: {error}")
        except TranslationError as error:
            self.client.upstream_failed(f"apiproxy cannot translate the upstream's answer: {error}")
        except Exception:
            log.failure("apiproxy failed on an answer")
            self.client.upstream_failed("apiproxy internal error (see its log)")

    def _process(self) -> None:
        while self.buffer:
            if self.state == "head":
                end = http1.find_head_end(self.buffer)
                if end < 0:
                    if len(self.buffer) > http1.MAX_HEAD_BYTES:
                        raise ProtocolError("response head too large", 502)
                    return
                head = http1.parse_response_head(bytes(self.buffer[:end]))
                del self.buffer[:end]
                if 100 <= head.status < 200 and head.status != 101:
                    self.client.interim_response(head)
                    continue
                self.keep_alive = head.minor == 1 and b"close" not in http1.tokens(head.headers, b"connection")
                framing = self.client.response_head(head, self.method)
                if framing == SPLICE:
                    self.state = SPLICE
                    data, self.buffer = bytes(self.buffer), bytearray()
                    if data:
                        self.client.spliced_from_upstream(data)
                    return
                self.framing = framing
                self.decoder = http1.ChunkedDecoder(502) if framing == CHUNKED else None
                self.state = "body"
                if framing == 0:
                    self._finish()
            elif self.state == "body":
                self._read_body()
            else:
                # Bytes nobody asked for: the daemon does not pipeline; drop the connection.
                close_when_written(self.transport)
                self.buffer.clear()

    def _read_body(self) -> None:
        if self.framing == UNTIL_CLOSE:
            data, self.buffer = bytes(self.buffer), bytearray()
            self.client.response_data(data)
        elif self.decoder is not None:
            data, self.buffer = bytes(self.buffer), bytearray()
            for chunk in self.decoder.feed(data):
                self.client.response_data(chunk)
            if self.decoder.done:
                self.buffer += self.decoder.leftover
                self._finish()
        else:
            assert isinstance(self.framing, int)
            take = min(self.framing, len(self.buffer))
            self.client.response_data(bytes(self.buffer[:take]))
            del self.buffer[:take]
            self.framing -= take
            if not self.framing:
                self._finish()

    def _finish(self) -> None:
        self.state = "idle"
        if not self.keep_alive:
            close_when_written(self.transport)
        self.client.response_end(reusable=self.keep_alive)

    def readConnectionLost(self) -> None:
        if self.state == SPLICE:
            self.client.upstream_half_closed()
        else:
            close_when_written(self.transport)

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        state, self.state = self.state, "closed"
        if state == "body" and self.framing == UNTIL_CLOSE:
            self.client.response_end(reusable=False)
        self.client.upstream_lost(self, state)


@implementer(IHalfCloseableProtocol)
class ClientConnection(Protocol):
    """One client: reads its requests, forwards them, relays the answers."""

    def __init__(self, factory: ProxyFactory) -> None:
        self.factory = factory
        self.daemon = factory.daemon
        self.buffer = bytearray()
        self.scanned = 0
        # head -> (routing | connecting) -> body -> waiting -> head, or -> splice
        self.state = "head"
        self.upstream: UpstreamConnection | None = None
        self._upstream_switch: _ReadingSwitch | None = None
        self._client_switch: _ReadingSwitch | None = None
        self.held = False
        self.request: RequestHead | None = None
        self.exchange: Exchange | None = None
        self.client_version: Version | None = None
        self.body: _BodyReader | None = None
        self.body_transform: Transform | None = None
        self.hijack_candidate = False
        self.close_after = False
        self.response_started = False
        self.response_framing: int | str = 0
        self.response_transform: Transform | None = None
        self.to_client: Transform | None = None
        self.to_upstream: Transform | None = None
        self.request_done = False
        self.response_done = False
        self.client_half_closed = False
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

    # Client bytes ---------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
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
            while self.state in ("head", "body", "collecting"):
                state, buffered = self.state, len(self.buffer)
                if state == "head":
                    self._read_head()
                elif state == "body":
                    self._read_body()
                else:
                    self._collect_body()
                if self.state == state and len(self.buffer) == buffered:
                    break  # waiting for more bytes
        except ProtocolError as error:
            self._refuse_and_close(error.status, str(error))
        except TranslationError as error:
            self._refuse_and_close(error.status, str(error))
        except Exception:
            log.failure("apiproxy failed on a request")
            self._refuse_and_close(500, "apiproxy internal error (see its log)")
        finally:
            self.advancing = False
        if len(self.buffer) > READ_AHEAD_LIMIT and not self.held and self.state != SPLICE:
            self.held = True
            self.transport.pauseProducing()

    def _release(self) -> None:
        if self.held:
            self.held = False
            self.transport.resumeProducing()

    def _read_head(self) -> None:
        end = http1.find_head_end(self.buffer, self.scanned)
        if end < 0:
            if len(self.buffer) > http1.MAX_HEAD_BYTES:
                raise ProtocolError("request head too large", 431)
            self.scanned = len(self.buffer)
            return
        self.scanned = 0
        self.raw_head = bytes(self.buffer[:end])
        head = http1.parse_request_head(self.raw_head)
        del self.buffer[:end]
        length = http1.request_body_length(head)
        self.request = head
        self.body = _BodyReader(length)
        self.request_done = self.response_done = self.response_started = False
        path = head.target.partition("?")[0]
        # Known before routing, so that even "daemon unreachable" speaks the client's style.
        self.client_version = address(head.method, path, self.factory.settings).version
        connection = http1.tokens(head.headers, b"connection")
        self.close_after = b"close" in connection or (head.minor == 0 and b"keep-alive" not in connection)
        self.upgrade = http1.header(head.headers, b"upgrade") if b"upgrade" in connection else None
        self.hijack_candidate = self.upgrade is not None or is_hijack_endpoint(head.method, path)
        self.state = "routing"
        if self.daemon.info is not None:
            self._route(self.daemon.info)
        else:
            d = self.daemon.current_info()
            d.addCallbacks(self._route, self._daemon_unreachable)
            d.addErrback(self._internal_error)

    def _route(self, info: UpstreamInfo) -> None:
        if self.state != "routing":
            return
        assert self.request is not None
        try:
            decision = plan(self.request.method, self.request.target, info, self.daemon.choice,
                            self.factory.settings, self.daemon.memory)
            if isinstance(decision, Refuse):
                self.client_version = decision.client_version
                self._refuse(decision.status, decision.message)
                return
            self._forward(decision)
        except TranslationError as error:
            self._refuse(error.status, str(error))

    def _forward(self, decision: Forward) -> None:
        head = self.request
        assert head is not None and self.body is not None
        self.exchange = decision.exchange
        self.client_version = decision.exchange.client_version
        self.upstream_target = decision.target
        emulate = self.exchange.emulation()
        if emulate is not None:
            self.emulate = emulate
            self.collected = bytearray()
            self.state = "collecting"
            self._advance()
            return
        self.body_transform = self.exchange.request_body(self.request.headers if self.request else [])
        self._connect()

    def _connect(self) -> None:
        if self.upstream is not None and self.upstream.state == "idle":
            self._upstream_ready(self.upstream)
            return
        self.state = "connecting"
        d = self.daemon.connect(UpstreamConnection(self))
        d.addCallbacks(self._upstream_ready, self._connect_failed)
        d.addErrback(self._internal_error)

    def _upstream_ready(self, upstream: UpstreamConnection) -> None:
        if self.state not in ("connecting", "routing"):
            close_when_written(upstream.transport)
            return
        if upstream is not self.upstream:
            self._attach_upstream(upstream)
        upstream.expect_response(self.request.method if self.request else "GET")
        self.state = "body"
        if self.fixed_body is not None:
            body, self.fixed_body = self.fixed_body, None
            self._send_head([(b"Content-Length", str(len(body)).encode())] if body else [])
            upstream.transport.write(body)
            self.request_done = True
            self.state = "waiting"
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
        self._client_switch = _ReadingSwitch(self.transport)
        upstream.transport.registerProducer(self._client_switch, True)
        self._upstream_switch = _ReadingSwitch(upstream.transport)
        self.transport.registerProducer(self._upstream_switch, True)

    def _detach_upstream(self) -> None:
        if self._upstream_switch is not None:
            self.transport.unregisterProducer()
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
        headers = http1.without(http1.end_to_end(head.headers), {b"content-length", b"host"})
        headers = self.exchange.request_headers(headers)
        headers.insert(0, (b"Host", _valid_host(http1.header(head.headers, b"host"))))
        if self.upgrade:
            headers += [(b"Connection", b"Upgrade"), (b"Upgrade", self.upgrade)]
        self.upstream.transport.write(http1.format_request_head(head.method, self.upstream_target,
                                                                headers + framing))

    def _read_body(self) -> None:
        assert self.body is not None and self.upstream is not None
        chunked = self.body.decoder is not None
        streaming = getattr(self.body_transform, "streaming", False)
        for data in self.body.take(self.buffer):
            if self.body_transform is not None:
                data = self.body_transform.feed(data)
                if streaming:
                    self.upstream.transport.write(http1.encode_chunk(data))
            else:
                self.upstream.transport.write(http1.encode_chunk(data) if chunked else data)
        if not self.body.done:
            return
        if streaming:
            assert self.body_transform is not None
            self.upstream.transport.write(http1.encode_chunk(self.body_transform.close()) + http1.LAST_CHUNK)
        elif self.body_transform is not None:
            data = self.body_transform.close()
            for warning in self.exchange.warnings() if self.exchange else ():
                log.warn("{target}: {warning}", target=self.upstream_target, warning=warning)
            self._send_head([(b"Content-Length", str(len(data)).encode())])
            self.upstream.transport.write(data)
        elif chunked:
            self.upstream.transport.write(http1.LAST_CHUNK)
        self.request_done = True
        self.state = "waiting"
        if self.response_done:
            self._next_request()

    # Emulations -----------------------------------------------------------

    def _collect_body(self) -> None:
        assert self.body is not None
        for data in self.body.take(self.buffer):
            self.collected += data
            if len(self.collected) > MAX_JSON_BODY:
                raise TranslationError(f"request body larger than {MAX_JSON_BODY} bytes", 413)
        if not self.body.done:
            return
        assert isinstance(self.exchange, ChainExchange) and self.request is not None
        exchange = self.exchange
        body = exchange.legacy_body(bytes(self.collected))
        query = self.upstream_target.partition("?")[2]  # after the chain's query steps
        legacy = LegacyRequest(self.request.method, exchange.real_params,
                               dict(parse_qsl(query, keep_blank_values=True)), body, exchange.context)
        self.state = "emulating"
        self._emulation_step(self.emulate(legacy), None)

    def _emulation_step(self, emulation: Emulation, answer: Answer | None) -> None:
        if self.state != "emulating":
            emulation.close()
            self._remove_downloads()
            return
        try:
            item = emulation.send(answer) if answer is not None else next(emulation)
            while isinstance(item, Unpark) and not self.factory.parked.get(item.legacy_id):
                self._record_recreated(item)
                item = next(emulation)
        except StopIteration as stop:
            self._remove_downloads()
            self._emulation_done(stop.value)
            return
        except EmulationFailed as failed:
            self._remove_downloads()
            self._reply_answer(failed.answer)
            return
        except TranslationError as error:
            self._refuse(error.status, str(error))
            return
        target = self.exchange.target if self.exchange else None
        if isinstance(item, Fetch):
            d = fetch_to_tar(item.url, item.member)
            d.addCallback(self._remember_download)
            d.addCallback(lambda answer: self._emulation_step(emulation, answer))
        elif isinstance(item, Unpark):
            self._record_recreated(item)
            d = self.factory.unpark(item.legacy_id, item.real_id)
            d.addCallback(lambda _: self._emulation_step(emulation, None))
        else:
            assert target is not None
            d = self.daemon.call(item, target)
            d.addCallback(lambda answer: self._emulation_step(emulation, answer))
            d.addErrback(self._emulation_unreachable)
        d.addErrback(self._internal_error)

    def _remember_download(self, answer: Answer) -> Answer:
        if answer.status == 200:
            self.downloads.append(answer.body)
        return answer

    def _remove_downloads(self) -> None:
        for path in self.downloads:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self.downloads.clear()

    def _record_recreated(self, unpark: Unpark) -> None:
        if unpark.legacy_id != unpark.real_id:
            self.daemon.memory.ids.record(unpark.legacy_id, unpark.real_id)

    def _emulation_unreachable(self, failure: Failure) -> None:
        self.daemon.connection_failed()
        self._refuse(502, self.daemon.unreachable_message(describe_failure(failure)))

    def _emulation_done(self, result: Reply | Pass | Park) -> None:
        if isinstance(result, Reply):
            self._reply_emulated(result)
        elif isinstance(result, Park):
            self._park(result.legacy_id)
        elif isinstance(result, WebSocket):
            self._websocket(result.path)
        else:
            assert self.request is not None and self.exchange is not None
            if result.as_endpoint is not None:
                method, template = result.as_endpoint.split(" ", 1)
                self.exchange = exchange_for(match_legacy(method, template), self.exchange.client_version,
                                             self.exchange.target, upstream_kind=self.daemon.info.kind
                                             if self.daemon.info else "docker", memory=self.daemon.memory)
            self.request.method = result.method
            self.upstream_target = f"/v{self.exchange.target}{result.path}"
            self.fixed_body = json.dumps(result.body).encode() if result.body is not None else b""
            self.body_transform = None
            self._connect()

    def _reply_answer(self, answer: Answer) -> None:
        """An upstream error an emulation stopped at, as the client's version words errors."""
        message = answer.body.get("message") if isinstance(answer.body, dict) else None
        if message is None:
            message = answer.body.decode(errors="replace").strip() if isinstance(answer.body, bytes) \
                else str(answer.body or "")
        self._refuse(answer.status, message)

    def _reply_emulated(self, reply: Reply) -> None:
        status, body = reply.status, reply.body
        if reply.items is not None:
            self._reply_stream(reply)
            return
        if status >= 400 or isinstance(body, str) and reply.content_type is None:
            self._refuse(status, str(body or ""))
            return
        if isinstance(body, str):
            payload, kind = body.encode("utf-8"), (reply.content_type or "text/plain").encode()
        else:
            payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
            kind = b"application/json"
        headers: Headers = [(b"Content-Type", kind)] if payload else []
        if status not in (204, 304):
            headers.append((b"Content-Length", str(len(payload)).encode()))
        self.transport.write(http1.format_response_head(status, b"", headers) + payload)
        self._next_request()

    def _websocket(self, path: str) -> None:
        """Answer the websocket handshake here, then attach upstream with a plain hijack."""
        assert self.exchange is not None and isinstance(self.exchange, ChainExchange)
        try:
            bridge = WebSocketBridge(self.raw_head)
        except WebSocketError as error:
            self._refuse(error.status, str(error))
            return
        self.transport.write(bridge.accept())
        self.head_sent = True
        self.websocket = (_Chained(demultiplex_stream(self.exchange.context), ToClientFrames(bridge)),
                          _FromWebSocket(bridge, self.transport))
        self.upstream_target = f"/v{self.exchange.target}{path}"
        self.upgrade = b"tcp"
        self.request.method = "POST"  # type: ignore[union-attr]
        self.fixed_body = b""
        self.hijack_candidate = True
        self._connect()

    def _reply_stream(self, reply: Reply) -> None:
        """A made-up JSON stream, sent down the chain like the daemon's own streams."""
        assert self.exchange is not None
        headers: Headers = [(b"Content-Type", b"application/json")]
        transform = self.exchange.response_body(reply.status, headers)
        payload = b"".join(json.dumps(item, separators=(",", ":")).encode() + b"\r\n" for item in reply.items or [])
        if transform is not None:
            payload = transform.feed(payload) + transform.close()
        headers.append((b"Content-Length", str(len(payload)).encode()))
        self.transport.write(http1.format_response_head(reply.status, b"", headers) + payload)
        self._next_request()

    def _park(self, legacy_id: str) -> None:
        """Tell the client its attach is open; connect it once apiproxy starts the container."""
        if self.upgrade:
            head = [(b"Content-Type", b"application/vnd.docker.raw-stream"), (b"Connection", b"Upgrade"),
                    (b"Upgrade", self.upgrade)]
            self.transport.write(http1.format_response_head(101, b"UPGRADED", head))
        else:
            self.transport.write(http1.format_response_head(
                200, b"", [(b"Content-Type", b"application/vnd.docker.raw-stream")]))
        self.state = "parked"
        self.parked_for = legacy_id
        self.parked_ready = Deferred()
        self.factory.parked.setdefault(legacy_id, []).append(self)

    def unpark(self, real_id: str) -> Deferred[None]:
        """Attach upstream to the container that now stands for the one the client named."""
        assert self.request is not None and self.exchange is not None and self.parked_ready is not None
        ready = self.parked_ready
        query = self.request.target.partition("?")[2]
        self.upstream_target = f"/v{self.exchange.target}/containers/{real_id}/attach" + (f"?{query}" if query else "")
        self.fixed_body = b""
        self.hijack_candidate = True
        self._connect()
        return ready

    # Upstream answers -----------------------------------------------------

    def interim_response(self, head: ResponseHead) -> None:
        self.transport.write(http1.format_response_head(head.status, head.reason, head.headers))

    def response_head(self, head: ResponseHead, method: str) -> int | str:
        """Send the answer's head to the client; say how its body is framed."""
        assert self.exchange is not None
        content_type = (http1.header(head.headers, b"content-type") or b"").split(b";")[0].strip().lower()
        if head.status == 101 or (self.hijack_candidate and head.status == 200
                                  and content_type in RAW_STREAM_TYPES):
            self._start_splice(head)
            return SPLICE
        if self.state != "waiting":
            # The daemon answered before the whole request arrived: the
            # connection cannot be resynchronised after this answer.
            self.close_after = True
        if self.hijack_candidate and self.buffer:
            self.close_after = True  # what the client sent ahead was meant for a stream
        upstream_framing = http1.response_body_length(head, method)
        status, headers = self.exchange.response_head(head.status, http1.end_to_end(head.headers))
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
        reason = head.reason if status == head.status else b""  # b"": the new status's own phrase
        self.transport.write(http1.format_response_head(status, reason, headers + framing))
        return upstream_framing

    def response_data(self, data: bytes) -> None:
        if self.response_framing == NO_BODY:
            return
        if self.response_transform is not None:
            data = self.response_transform.feed(data)
        if data:
            self.transport.write(http1.encode_chunk(data) if self.response_framing == CHUNKED else data)

    def response_end(self, reusable: bool) -> None:
        if self.response_transform is not None:
            self.response_data_tail(self.response_transform.close())
        if self.response_framing == CHUNKED:
            self.transport.write(http1.LAST_CHUNK)
        if not reusable:
            self._detach_upstream()
        self.response_done = True
        self.response_started = False
        if self.close_after:
            self.state = "closing"
            close_when_written(self.transport)
        elif self.request_done:
            self._next_request()

    def response_data_tail(self, data: bytes) -> None:
        if data:
            self.transport.write(http1.encode_chunk(data) if self.response_framing == CHUNKED else data)

    def _next_request(self) -> None:
        self.state = "head"
        self.request = None
        self.exchange = None
        if self.buffer:
            self._advance()

    # Hijacked streams -----------------------------------------------------

    def _start_splice(self, head: ResponseHead) -> None:
        assert self.exchange is not None and self.upstream is not None
        self.state = SPLICE
        self.to_client, self.to_upstream = self.websocket or self.exchange.hijacked_streams()
        if self.head_sent:
            pass  # the client was answered already (a websocket)
        elif self.parked_ready is None:
            self.transport.write(http1.format_response_head(head.status, head.reason, head.headers))
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
            self.upstream.transport.write(data)

    def spliced_from_upstream(self, data: bytes) -> None:
        if self.to_client is not None:
            data = self.to_client.feed(data)
        if data:
            self.transport.write(data)

    def upstream_half_closed(self) -> None:
        if self.to_client is not None:
            self.transport.write(self.to_client.close())
            self.to_client = None
        if self.client_half_closed:
            close_when_written(self.transport)
        else:
            close_when_written(self.transport, write_side_only=True)

    def readConnectionLost(self) -> None:
        self.client_half_closed = True
        if self.state == SPLICE and self.upstream is not None:
            # stdin EOF: the container's process sees it too.
            if self.to_upstream is not None:
                self.upstream.transport.write(self.to_upstream.close())
            close_when_written(self.upstream.transport, write_side_only=True)
        elif self.hijack_candidate and self.state in ("routing", "connecting", "body", "waiting"):
            pass  # stdin ended before the daemon answered: passed on once spliced
        else:
            close_when_written(self.transport)

    def writeConnectionLost(self) -> None:
        pass

    # Failures -------------------------------------------------------------

    def upstream_lost(self, upstream: UpstreamConnection, state: str) -> None:
        if upstream is not self.upstream:
            return
        self._detach_upstream()
        if self.state == SPLICE:
            if self.to_client is not None:
                self.transport.write(self.to_client.close())
                self.to_client = None
            close_when_written(self.transport)
        elif state in ("head", "body") or (self.state in ("body", "waiting") and not self.response_done):
            self.upstream_failed("the upstream closed the connection before it answered")

    def upstream_failed(self, message: str) -> None:
        if self.upstream is not None:
            close_when_written(self.upstream.transport)
            self._detach_upstream()
        if self.response_started or self.state in ("closing", "closed"):
            # Part of the answer is out: only closing tells the client it is cut.
            close_when_written(self.transport)
            self.state = "closing"
        else:
            log.warn("{message}", message=message)
            self._refuse_and_close(502, message)

    def _daemon_unreachable(self, failure: Failure) -> None:
        if self.state == "routing":
            self._refuse(502, self.daemon.unreachable_message(describe_failure(failure)))

    def _connect_failed(self, failure: Failure) -> None:
        self.daemon.connection_failed()
        if self.state == "connecting":
            self._refuse(502, self.daemon.unreachable_message(describe_failure(failure)))

    def _internal_error(self, failure: Failure) -> None:
        log.failure("apiproxy failed on a request", failure)
        self._refuse_and_close(500, "apiproxy internal error (see its log)")

    def _refuse(self, status: int, message: str) -> None:
        """Answer an error; keep the connection if the request had no body to skip."""
        if self.body is not None and not (self.body.decoder is None and self.body.remaining == 0):
            self.close_after = True
        self._reply(status, message)
        if self.close_after:
            self.state = "closing"
            close_when_written(self.transport)
        else:
            self._next_request()

    def _refuse_and_close(self, status: int, message: str) -> None:
        self.close_after = True
        if not self.response_started and self.state not in ("closing", "closed", SPLICE):
            self._reply(status, message)
        self.state = "closing"
        close_when_written(self.transport)

    def _reply(self, status: int, message: str) -> None:
        status, headers, body = error_reply(self.client_version, status, message)
        if self.close_after:
            headers.append((b"Connection", b"close"))
        self.transport.write(http1.format_response_head(status, b"", headers) + body)

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:
        self.state = "closed"
        self.buffer.clear()
        if self.upstream is not None:
            upstream = self.upstream
            self._detach_upstream()
            close_when_written(upstream.transport)


class _Chained:
    """One transform after another."""

    def __init__(self, first: Transform, second: Transform) -> None:
        self.first, self.second = first, second

    def feed(self, data: bytes) -> bytes:
        return self.second.feed(self.first.feed(data))

    def close(self) -> bytes:
        return self.second.feed(self.first.close()) + self.second.close()


class _FromWebSocket:
    """Client frames → the container's stdin; pongs and close replies go straight back."""

    def __init__(self, bridge: WebSocketBridge, client: Any) -> None:
        self.bridge, self.client = bridge, client

    def feed(self, data: bytes) -> bytes:
        stdin, replies, _ = self.bridge.from_client(data)
        if replies:
            self.client.write(replies)
        return stdin

    def close(self) -> bytes:
        return b""


def _valid_host(value: bytes | None) -> bytes:
    """2013 clients send `Host: /var/run/docker.sock`, which Go servers refuse."""
    if value and b"/" not in value and b" " not in value and b"\t" not in value:
        return value
    return b"docker"


class ProxyFactory(Factory):
    def __init__(self, daemon: Daemon, settings: Settings) -> None:
        self.daemon = daemon
        self.settings = settings
        self.parked: dict[str, list[ClientConnection]] = {}  # attaches awaiting their start

    def unpark(self, legacy_id: str, real_id: str) -> Deferred[Any]:
        """Connect every attach held for `legacy_id` to `real_id`; fires once all are spliced."""
        waiting = [client for client in self.parked.pop(legacy_id, []) if client.state == "parked"]
        return DeferredList([client.unpark(real_id) for client in waiting], consumeErrors=True)

    def buildProtocol(self, addr: Any) -> ClientConnection:
        return ClientConnection(self)
