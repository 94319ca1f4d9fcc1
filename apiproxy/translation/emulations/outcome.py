"""What the client gets from an emulation's result: the one rendering the proxy sends and explain prints. Pure."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from apiproxy.api.routes import match_legacy, match_modern
from apiproxy.api.upstream_info import UpstreamInfo, is_legacy
from apiproxy.translation.chain import exchange_for
from apiproxy.translation.emulations.commands import Pass, Reply
from apiproxy.translation.exchange import Exchange
from apiproxy.translation.memory import Memory
from apiproxy.translation.transforms import close_pieces, feed_pieces
from apiproxy.wire.http1 import Headers


@dataclass
class Answered:
    """An answer made whole here: its head's status and headers (framing included), and its body."""

    status: int
    headers: Headers
    body: bytes
    # A made-up JSON stream's items, the body in the pieces a 2013 daemon flushed apart: the proxy
    # sends each as its own HTTP chunk (to an HTTP/1.1 client) in place of the Content-Length.
    pieces: list[bytes] | None = None


@dataclass
class Refused:
    """An error, worded by the shell as the client's version words errors."""

    status: int
    message: str


def _json(value: Any) -> bytes:
    # The standard library's compact form, as 2013 daemons' Go encoder wrote it: ASCII with \u escapes.
    return json.dumps(value, separators=(",", ":")).encode()


def reply(result: Reply, exchange: Exchange) -> Answered | Refused:
    """The client's answer to a `Reply`; a made-up stream goes down the chain like the daemon's own."""
    if result.items is not None:
        headers: Headers = [(b"Content-Type", b"application/json")]
        pieces = [_json(item) + b"\r\n" for item in result.items]
        transform = exchange.response_body(result.status, headers)
        if transform is not None:
            joined = b"".join(pieces)
            pieces = feed_pieces(transform, joined) + close_pieces(transform)
        body = b"".join(pieces)
        return Answered(result.status, [*headers, (b"Content-Length", str(len(body)).encode())], body, pieces)
    if result.status >= 400 or isinstance(result.body, str) and result.content_type is None:
        return Refused(result.status, str(result.body or ""))
    if isinstance(result.body, str):
        body, kind = result.body.encode("utf-8"), (result.content_type or "text/plain").encode()
    else:
        body, kind = (_json(result.body) if result.body is not None else b""), b"application/json"
    headers = [(b"Content-Type", kind)] if body else []
    if result.status not in (204, 304):
        headers.append((b"Content-Length", str(len(body)).encode()))
    return Answered(result.status, headers, body)


def forwarded_body(result: Pass, exchange: Exchange, client_body: bytes, headers: Headers) -> bytes:
    """The body a `Pass` forwards: the client's own, translated as a forwarded request's, or the one it gives."""
    if result.client_body:
        transform = exchange.request_body(headers)
        return transform.feed(client_body) + transform.close() if transform is not None else client_body
    return _json(result.body) if result.body is not None else b""


def forwarding_exchange(result: Pass, exchange: Exchange, info: UpstreamInfo | None,
                        memory: Memory | None = None) -> Exchange:
    """The exchange a `Pass` is forwarded with: the emulated request's own, or, when its answer is
    translated as another endpoint's (`as_endpoint`: copy's tar from archive), that endpoint's,
    built as routing built the first so the same upstream profile applies."""
    if result.as_endpoint is None or exchange.client_version is None:
        return exchange
    method, template = result.as_endpoint.split(" ", 1)
    match = match_legacy if is_legacy(exchange.client_version) else match_modern
    return exchange_for(match(method, template), exchange.client_version, exchange.target, memory=memory,
                        upstream_kind=info.kind if info else "docker", upstream_version=info.version if info else "",
                        upstream_api=info.api_version if info else None)
