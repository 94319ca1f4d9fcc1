"""Where translation plugs into the request path. Pure.

An `Exchange` is what apiproxy does to one request and its answer: the
request upgraded up the version chain, the response downgraded back.  Bodies
travel through `Transform`s, which see bytes as they arrive and may hold
back what they cannot decide yet, so streams stay streams.
"""
from __future__ import annotations

import codecs
import json
import math
import re
import struct
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import orjson

from .http1 import Headers
from .routes import Route
from .versions import Version


class TranslationError(Exception):
    """A request apiproxy cannot translate; `status` and message go to the client."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Transform(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def close(self) -> bytes: ...


@dataclass
class Exchange:
    """The identity exchange: a request at `target` needs no translation.

    The version chain replaces these methods per endpoint; each returns None
    where it leaves the body or stream as it is, so pass-through costs nothing.
    """

    route: Route | None
    client_version: Version | None
    target: Version | None

    @property
    def translated(self) -> bool:
        return self.client_version is not None and self.client_version != self.target

    def warnings(self) -> list[str]:
        """What the translation had to leave out, for the log."""
        return []

    def changes_crossed(self) -> list[str]:
        """The version changes this exchange crosses, for the access log: none, passed through."""
        return []

    def emulation(self) -> Callable[..., Any] | None:
        """A function (emulations.py) that serves the request instead of forwarding it."""
        return None

    def request_target(self, path: str, query: str) -> str:
        """Path and query (after the version prefix) sent upstream."""
        return f"{path}?{query}" if query else path

    def request_headers(self, headers: Headers) -> Headers:
        return headers

    def request_body(self, headers: Headers) -> Transform | None:
        """A transform for the request body: whole (its output sent with a Content-Length)
        unless it says `streaming = True` (its output sent chunked as it comes)."""
        return None

    def status_depends_on_message(self, status: int) -> bool:
        """Whether an answer with this status must be read whole before its head is translated."""
        return False

    def response_head(self, status: int, headers: Headers, message: bytes | None = None) -> tuple[int, Headers]:
        return status, headers

    def response_body(self, status: int, headers: Headers) -> Transform | None:
        return None

    def hijacked_streams(self) -> tuple[Transform | None, Transform | None]:
        """(transform of bytes to the client, transform of bytes to the upstream)."""
        return None, None


def exchange_for(route: Route | None, client_version: Version | None, target: Version | None,
                 *, path: str = "", upstream_kind: str = "docker", memory: Any = None,
                 upstream_version: str = "", upstream_api: Version | None = None) -> Exchange:
    """The exchange for a request: identity unless a version change lies between."""
    if route is None or client_version is None or target is None or client_version == target:
        return Exchange(route, client_version, target)
    from .chain import ChainExchange

    return ChainExchange.build(route, client_version, target, path, upstream_kind, memory, upstream_version,
                               upstream_api)


# Building blocks for the version chain's transforms ------------------------

MAX_JSON_BODY = 16 << 20  # a JSON body apiproxy decodes whole; streams are not limited


def decode_json(raw: bytes | str) -> Any:
    """orjson, several times faster than the standard library on a large list; the standard
    library for what orjson refuses but JSON allows: escaped lone surrogates, which become
    U+FFFD as Go's decoder makes them.  A ValueError for what is not JSON (NaN, Infinity), a
    number beyond a double (as Go's), or nesting deeper than the standard library goes."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return _without_surrogates(json.loads(raw, parse_constant=_not_json, parse_float=_finite))
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(key): _without_surrogates(item) for key, item in value.items()}
    return value


def encode_json(value: Any) -> bytes:
    """Compact JSON; the standard library for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


class WholeJson:
    """Collects a whole JSON body and rewrites it once complete."""

    def __init__(self, rewrite: Callable[[Any], Any], limit: int = MAX_JSON_BODY,
                 lenient: bool = False) -> None:
        self.rewrite = rewrite
        self.limit = limit
        self.lenient = lenient  # a body that is not JSON passes unchanged
        self.parts: list[bytes] = []
        self.size = 0

    def feed(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self.limit:
            raise TranslationError(f"JSON body larger than {self.limit} bytes", 413)
        self.parts.append(data)
        return b""

    def close(self) -> bytes:
        """The rewritten body: JSON, or the bytes or text `rewrite` returned; None is no body."""
        raw = b"".join(self.parts)
        try:
            document = decode_json(raw) if raw.strip() else None
        except ValueError as error:
            if self.lenient:
                return raw
            raise TranslationError(f"invalid JSON body: {error}") from None
        result = self.rewrite(document)
        if result is None:
            return b""
        if isinstance(result, bytes):
            return result
        if isinstance(result, str):
            return result.encode("utf-8")
        return encode_json(result)


class JsonStream:
    """Rewrites a stream of JSON values one value at a time.

    2013 daemons wrote values back to back with no separator, today's end
    each with CRLF; both are read.  `rewrite` returns the value to send (None
    drops it), each followed by `separator`, or text (a str) sent as it is.
    """

    def __init__(self, rewrite: Callable[[Any], Any], separator: bytes = b"\r\n") -> None:
        self.rewrite = rewrite
        self.separator = separator
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""
        self._json = json.JSONDecoder()

    def feed(self, data: bytes) -> bytes:
        self.pending += self.decoder.decode(data)
        out: list[bytes] = []
        index, text = 0, self.pending
        while True:
            while index < len(text) and text[index] in " \t\r\n":
                index += 1
            if index == len(text):
                break
            try:
                value, end = self._json.raw_decode(text, index)
            except ValueError:
                break  # an incomplete value: wait for more
            index = end
            rewritten = self.rewrite(value)
            if isinstance(rewritten, str):  # an item rendered as text for a text stream
                out.append(rewritten.encode("utf-8"))
            elif rewritten is not None:
                out.append(encode_json(rewritten) + self.separator)
        self.pending = text[index:]
        return b"".join(out)

    def close(self) -> bytes:
        tail = self.feed(b"") if self.pending.strip() else b""
        if self.pending.strip():
            raise TranslationError("the stream ended inside a JSON value", 502)
        return tail


def json_values(body: bytes) -> list[Any] | None:
    """The JSON values of a whole body holding one or more (a progress stream), read as JsonStream
    reads a daemon's stream; None if it holds anything else."""
    values: list[Any] = []
    stream = JsonStream(values.append)
    try:
        stream.feed(body)
        stream.close()
    except TranslationError:
        return None
    return values or None


FRAME_HEADER = struct.Struct(">BxxxL")


class FrameStream:
    """Rewrites Docker's multiplexed attach stream one frame at a time.

    Each frame is an 8-byte header (stream type, payload size) and its
    payload; `rewrite(kind, payload)` returns the bytes to send instead.
    """

    def __init__(self, rewrite: Callable[[int, bytes], bytes]) -> None:
        self.rewrite = rewrite
        self.buffer = bytearray()

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        out: list[bytes] = []
        while len(self.buffer) >= FRAME_HEADER.size:
            kind, size = FRAME_HEADER.unpack_from(self.buffer)
            end = FRAME_HEADER.size + size
            if len(self.buffer) < end:
                break
            out.append(self.rewrite(kind, bytes(self.buffer[FRAME_HEADER.size:end])))
            del self.buffer[:end]
        return b"".join(out)

    def close(self) -> bytes:
        self.buffer.clear()  # a frame cut by the end of the stream is lost upstream too
        return b""
