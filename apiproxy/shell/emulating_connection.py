"""Running an emulation for a client connection: its upstream calls, downloads and results."""
from __future__ import annotations

import os
from typing import Any
from typing import Protocol as Interface
from urllib.parse import parse_qsl

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from apiproxy.shell.client_side import ClientConnection
from apiproxy.shell.client_state import EMULATING, PARKED, Listening
from apiproxy.shell.daemon import describe_failure
from apiproxy.shell.fetch import fetch_to_tar
from apiproxy.shell.sending import FromWebSocket
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.emulations import outcome
from apiproxy.translation.emulations.commands import (Answer, Emulation, EmulationFailed, Fetch, LegacyRequest, Park,
                                                      Pass, Reply, Unpark, WebSocket)
from apiproxy.translation.steps.streams import demultiplex_stream
from apiproxy.translation.transforms import Chained, TranslationError
from apiproxy.wire import http1
from apiproxy.wire.websocket import ToClientFrames, WebSocketBridge, WebSocketError


class ParkingListener(Listening, Interface):
    """A listener that also holds attaches awaiting their container's start, shared by every listener."""

    parked: dict[str, list[EmulatingConnection]]

    def unpark(self, legacy_id: str, real_id: str) -> Deferred[Any]: ...


class EmulatingConnection(ClientConnection):
    """A client connection that also serves requests with an emulation (translation/emulations/)."""

    factory: ParkingListener

    def _collect_body(self) -> None:
        assert self.body is not None
        for data in self._take_body():
            self.collected += data
            if len(self.collected) > self.factory.limits.max_json_body:
                raise TranslationError(f"request body larger than {self.factory.limits.max_json_body} bytes", 413)
        if not self.body.done:
            return
        assert isinstance(self.exchange, ChainExchange) and self.request is not None
        exchange = self.exchange
        body = exchange.legacy_body(bytes(self.collected))
        query = self.upstream_target.partition("?")[2]  # after the chain's query steps
        legacy = LegacyRequest(self.request.method, exchange.real_params,
                               dict(parse_qsl(query, keep_blank_values=True)), body, exchange.context,
                               http1.text_headers(self.request.headers))
        self.state = EMULATING
        self._emulation_step(self.emulate(legacy), None)

    def _emulation_step(self, emulation: Emulation, answer: Answer | None) -> None:
        if self.state != EMULATING:
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
            self.count_translation_error()
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
        known = unpark.known_id or unpark.legacy_id
        if known != unpark.real_id:
            self.daemon.memory.ids.record(known, unpark.real_id)

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
            # as routing built the first exchange, so the same profile applies
            self.exchange = outcome.forwarding_exchange(result, self.exchange, self.daemon.info, self.daemon.memory)
            self.request.method = result.method
            self.answer_as_attach = result.as_attach
            self.upstream_target = f"/v{self.exchange.target}{result.path}"
            self.fixed_body = outcome.forwarded_body(result, self.exchange, bytes(self.collected), self.request.headers)
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
        assert self.exchange is not None
        answer = outcome.reply(reply, self.exchange)
        if isinstance(answer, outcome.Refused):
            self._refuse(answer.status, answer.message)
            return
        self._answered(answer.status)
        if answer.pieces is not None and self.request is not None and self.request.minor == 1:
            # Each item its own chunk, as the 2013 daemons flushed them.
            headers = http1.without(answer.headers, {b"content-length"}) + [(b"Transfer-Encoding", b"chunked")]
            body = b"".join(map(http1.encode_chunk, answer.pieces)) + http1.LAST_CHUNK
            self._send(http1.format_response_head(answer.status, b"", headers) + body)
        else:
            self._send(http1.format_response_head(answer.status, b"", answer.headers) + answer.body)
        self._next_request()

    def _websocket(self, path: str) -> None:
        """Answer the websocket handshake here, then attach upstream with a plain hijack."""
        assert self.exchange is not None and isinstance(self.exchange, ChainExchange)
        try:
            bridge = WebSocketBridge(self.raw_head)
        except WebSocketError as error:
            self._refuse(error.status, str(error))
            return
        self._answered(101)
        self._send(bridge.accept())
        self.head_sent = True
        self.websocket = (Chained(demultiplex_stream(self.exchange.context), ToClientFrames(bridge)),
                          FromWebSocket(bridge, self.transport))
        self.upstream_target = f"/v{self.exchange.target}{path}"
        self.upgrade = b"tcp"
        assert self.request is not None  # a websocket emulation answers a request it has read
        self.request.method = "POST"
        self.fixed_body = b""
        self.hijack_candidate = True
        self._connect()

    def _park(self, legacy_id: str) -> None:
        """Tell the client its attach is open; connect it once apiproxy starts the container."""
        self._answered(101 if self.upgrade else 200)
        if self.upgrade:
            head = [(b"Content-Type", b"application/vnd.docker.raw-stream"), (b"Connection", b"Upgrade"),
                    (b"Upgrade", self.upgrade)]
            self._send(http1.format_response_head(101, b"UPGRADED", head))
        else:
            self._send(http1.format_response_head(
                200, b"", [(b"Content-Type", b"application/vnd.docker.raw-stream")]))
        self.state = PARKED
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
