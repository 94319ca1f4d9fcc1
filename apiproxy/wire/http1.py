"""Strict HTTP/1.1 message framing over bytes: heads, bodies, chunks. Pure.

apiproxy parses HTTP itself because it must stop exactly at the end of a
request head to hand the connection over to a raw splice (2013 attach has
no Upgrade header), must be told that a response answers HEAD, and must be
fast: h11 costs about 60 µs per event here and httptools/llhttp can neither
stop at a message boundary nor skip a HEAD response's body.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus

Headers = list[tuple[bytes, bytes]]

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADER_COUNT = 200

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(rb"[\x21-\x7e]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# An LF without its CR, or a CR followed by anything but LF (a CR last may yet get its LF).
_BARE_LINE_END = re.compile(rb"(?<!\r)\n|\r[^\n]")
# A whole block of valid header lines, and one line's name and value (RFC 9110 5.5).
_HEADER_BLOCK = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
_HEADER_FIELD = re.compile(rb"([^:]+):[ \t]*([^\r]*)\r\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: (.*))?")
_HTTP_VERSION = re.compile(rb"HTTP/1\.([01])")

# Headers that describe one connection, never forwarded (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
     b"transfer-encoding", b"upgrade", b"proxy-authenticate", b"proxy-authorization")
)


class ProtocolError(Exception):
    """A message apiproxy refuses; `status` is what the client is told."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RequestHead:
    method: str
    target: str
    minor: int  # HTTP/1.<minor>
    headers: Headers = field(default_factory=list)


@dataclass
class ResponseHead:
    status: int
    reason: bytes
    minor: int
    headers: Headers = field(default_factory=list)


def find_head_end(buffer: bytes | bytearray, start: int = 0) -> int:
    """Index just past the blank line ending a head, or -1 if not there yet."""
    index = buffer.find(b"\r\n\r\n", max(0, start - 3))
    return -1 if index < 0 else index + 4


def check_partial_head(buffer: bytes | bytearray, start: int = 0) -> None:
    """Refuse a head not complete yet whose line endings are already wrong.

    A head of bare LFs never shows the CRLF CRLF that ends it: without this,
    its sender would wait for an answer until the head grew too large.
    """
    if _BARE_LINE_END.search(buffer, max(0, start - 1)):
        raise ProtocolError("bare LF or CR in message head")


def _parse_header_block(block: bytes, max_headers: int = MAX_HEADER_COUNT) -> Headers:
    """Headers of a head's header lines, each ending in CRLF: one regular expression
    checks them all; only a block it refuses is gone through line by line, to say why."""
    if _HEADER_BLOCK.fullmatch(block):
        headers = _HEADER_FIELD.findall(block)
        if len(headers) <= max_headers:
            return [(name, value.rstrip(b" \t")) for name, value in headers]
    if b"\n" in block.replace(b"\r\n", b"") or b"\r" in block.replace(b"\r\n", b""):
        raise ProtocolError("bare LF or CR in message head")
    return _parse_header_lines(block.split(b"\r\n")[:-1], max_headers)


def _parse_header_lines(lines: list[bytes], max_headers: int = MAX_HEADER_COUNT) -> Headers:
    if len(lines) > max_headers:
        raise ProtocolError(f"too many header lines (more than {max_headers})", 431)
    headers: Headers = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProtocolError("malformed header line: no colon")
        if not _TOKEN.fullmatch(name):
            if name[:1] in (b" ", b"\t"):
                raise ProtocolError("obsolete header line folding is not accepted")
            raise ProtocolError(f"invalid header name {name[:40]!r}")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise ProtocolError(f"invalid character in header {name.decode()}")
        headers.append((name, value))
    return headers


def _split_head(head: bytes) -> tuple[bytes, bytes]:
    """The first line and the header lines (each ending in CRLF) of a complete head."""
    if not head.endswith(b"\r\n\r\n"):
        raise ProtocolError("incomplete message head")
    first, _, block = head[:-2].partition(b"\r\n")
    if b"\n" in first or b"\r" in first:
        raise ProtocolError("bare LF or CR in message head")
    return first, block


def parse_request_head(head: bytes, max_headers: int = MAX_HEADER_COUNT) -> RequestHead:
    first, block = _split_head(head)
    parts = first.split(b" ")
    if len(parts) != 3:
        raise ProtocolError("malformed request line")
    method, target, version = parts
    http = _HTTP_VERSION.fullmatch(version)
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target) or not http:
        raise ProtocolError("malformed request line")
    return RequestHead(method.decode("ascii"), target.decode("ascii"), int(http.group(1)),
                       _parse_header_block(block, max_headers))


def parse_response_head(head: bytes) -> ResponseHead:
    try:
        first, block = _split_head(head)
        match = _STATUS_LINE.fullmatch(first)
        if not match:
            raise ProtocolError("malformed status line")
        headers = _parse_header_block(block)
    except ProtocolError as error:
        raise ProtocolError(str(error), 502) from None
    return ResponseHead(int(match.group(2)), match.group(3) or b"", int(match.group(1)), headers)


def header(headers: Headers, name: bytes) -> bytes | None:
    """The last value of a header (names are compared lowercased)."""
    found = None
    for key, value in headers:
        if key.lower() == name:
            found = value
    return found


def text_headers(headers: Headers) -> dict[str, str]:
    """Headers as {lowercased name: text value}, for steps and emulations (a repeated name keeps its last)."""
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}


def header_values(headers: Headers, name: bytes) -> list[bytes]:
    return [value for key, value in headers if key.lower() == name]


def tokens(headers: Headers, name: bytes) -> set[bytes]:
    """Lowercased comma-separated tokens of a header (Connection, TE)."""
    return {token.strip().lower() for value in header_values(headers, name)
            for token in value.split(b",") if token.strip()}


def without(headers: Headers, names: frozenset[bytes] | set[bytes]) -> Headers:
    return [(key, value) for key, value in headers if key.lower() not in names]


def end_to_end(headers: Headers) -> Headers:
    """Drop hop-by-hop headers, including those the Connection header names."""
    return without(headers, HOP_BY_HOP | tokens(headers, b"connection"))


_PROXY_WRITES = frozenset({b"content-length", b"host"})


def passed_on(headers: Headers) -> Headers:
    """A request's headers as its exchange gets them: end to end, and without the framing and Host
    the proxy writes itself."""
    return without(headers, HOP_BY_HOP | _PROXY_WRITES | tokens(headers, b"connection"))


# Body framing -------------------------------------------------------------

class Framing(StrEnum):
    """How a body's end is known where no Content-Length gives its size (RFC 9112 §6)."""

    CHUNKED = "chunked"
    UNTIL_CLOSE = "until-close"  # an answer read until its connection closes
    NO_BODY = "no-body"  # an answer that must not carry a body, whatever the upstream sent
    SPLICED = "spliced"  # no body: the connection goes on as a raw stream both ways (a hijack, a 101)


BodyLength = int | Framing  # a Content-Length, or how else the body ends
CHUNKED, UNTIL_CLOSE, NO_BODY, SPLICED = Framing.CHUNKED, Framing.UNTIL_CLOSE, Framing.NO_BODY, Framing.SPLICED


def request_body_length(head: RequestHead) -> BodyLength:
    """Bytes of request body, or CHUNKED.  Refuses ambiguous framing (smuggling)."""
    encodings = header_values(head.headers, b"transfer-encoding")
    lengths = header_values(head.headers, b"content-length")
    if encodings:
        if lengths:
            raise ProtocolError("both Content-Length and Transfer-Encoding are set")
        if head.minor == 0:  # RFC 9112 6.1: an HTTP/1.0 Transfer-Encoding means faulty framing
            raise ProtocolError("Transfer-Encoding in an HTTP/1.0 request")
        codings = [coding.strip(b" \t").lower() for value in encodings for coding in value.split(b",")]
        # RFC 9112 6.3: a request whose last coding is not chunked (or that is
        # chunked twice) has no reliable length: 400.  A coding before chunked
        # is well framed, only not one apiproxy decodes: 501 (RFC 9112 6.1).
        if codings[-1] != b"chunked" or codings.count(b"chunked") != 1 or b"" in codings:
            raise ProtocolError("invalid Transfer-Encoding: the request body's length is unknown")
        if len(codings) != 1:
            raise ProtocolError("unsupported Transfer-Encoding", 501)
        return CHUNKED
    if not lengths:
        return 0
    if len(lengths) != 1:
        raise ProtocolError("more than one Content-Length")
    return parse_content_length(lengths[0])


def parse_content_length(value: bytes) -> int:
    if not value.isdigit() or len(value) > 18:
        raise ProtocolError(f"invalid Content-Length {value[:20]!r}")
    return int(value)


def response_body_length(head: ResponseHead, request_method: str) -> BodyLength:
    """Bytes of response body, CHUNKED, or UNTIL_CLOSE (RFC 9112 6.3)."""
    if request_method == "HEAD" or head.status < 200 or head.status in (204, 304):
        return 0
    encodings = header_values(head.headers, b"transfer-encoding")
    if encodings:
        if encodings[-1].split(b",")[-1].strip().lower() == b"chunked":
            return CHUNKED
        return UNTIL_CLOSE
    lengths = header_values(head.headers, b"content-length")
    if not lengths:
        return UNTIL_CLOSE
    if len(set(lengths)) != 1:
        raise ProtocolError("upstream sent conflicting Content-Length", 502)
    try:
        return parse_content_length(lengths[0])
    except ProtocolError as error:
        raise ProtocolError(str(error), 502) from None


class ChunkedDecoder:
    """Incremental strict decoder of a chunked body.

    `feed` returns the decoded data it could take; once `done`, `leftover`
    holds the bytes that followed the body (a pipelined next message).
    """

    _MAX_LINE = 4096

    def __init__(self, error_status: int = 400) -> None:
        self._buffer = bytearray()
        self._remaining = 0  # data bytes left in the current chunk
        self._state = "size"  # size | data | data-crlf | trailer
        self._error_status = error_status
        self.done = False
        self.leftover = b""

    def _fail(self, message: str) -> ProtocolError:
        return ProtocolError(message, self._error_status)

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        buffer = self._buffer
        buffer += data
        while buffer and not self.done:
            if self._state == "data":
                take = min(self._remaining, len(buffer))
                out.append(bytes(buffer[:take]))
                del buffer[:take]
                self._remaining -= take
                if not self._remaining:
                    self._state = "data-crlf"
                continue
            end = buffer.find(b"\r\n")
            if end > self._MAX_LINE:
                raise self._fail("chunk line too long")
            if end < 0:
                # The buffer may end in the CR of a line of _MAX_LINE bytes.
                if len(buffer) > self._MAX_LINE + 1 or (self._state == "data-crlf" and len(buffer) >= 2):
                    raise self._fail("invalid chunk framing")
                break
            line = bytes(buffer[:end])
            del buffer[: end + 2]
            if _BAD_VALUE.search(line):  # a bare LF or CR, NUL...: lines other parsers would split
                raise self._fail("control character in a chunk line")
            if self._state == "data-crlf":
                if line:
                    raise self._fail("chunk data is longer than its size")
                self._state = "size"
            elif self._state == "size":
                size = line.split(b";", 1)[0]
                if not size or len(size) > 15 or size.strip(b"0123456789abcdefABCDEF"):
                    raise self._fail(f"invalid chunk size {size[:20]!r}")
                self._remaining = int(size, 16)
                self._state = "data" if self._remaining else "trailer"
            elif not line:  # the blank line after the (ignored) trailers
                self.done = True
                self.leftover = bytes(buffer)
                buffer.clear()
            elif not _TOKEN.fullmatch(line.partition(b":")[0]) or b":" not in line:
                raise self._fail("malformed chunk trailer")
        return out

    # Framing only: the payloads are moved by someone else (splice(2)), the lines read here.

    @property
    def payload_left(self) -> int:
        """Payload bytes of the current chunk not yet taken (0 between chunks)."""
        return self._remaining if self._state == "data" else 0

    @property
    def between_chunks(self) -> bool:
        """What was taken ends where a chunk-size line may begin (or the body ended)."""
        return self.done or (self._state == "size" and not self._buffer)

    def take_framing(self, data: bytes) -> int:
        """Take the framing at the start of `data` (a payload's CRLF, a size line, trailers) up to
        the next payload or the body's end; return how many bytes of `data` that was. Never takes
        payload: `payload_left` says how much follows, `payload_moved` counts it off."""
        used = 0
        while used < len(data) and not self.done and self._state != "data":
            end = data.find(b"\n", used)
            take = len(data) if end < 0 else end + 1
            self.feed(data[used:take])  # a line or its beginning: yields no payload
            used = take
        return used

    def payload_moved(self, count: int) -> None:
        self._remaining -= count
        if not self._remaining:
            self._state = "data-crlf"


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


LAST_CHUNK = b"0\r\n\r\n"


def format_request_head(method: str, target: str, headers: Headers) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode("ascii")]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b"Unknown"


def format_response_head(status: int, reason: bytes, headers: Headers) -> bytes:
    lines = [b"HTTP/1.1 %d %s" % (status, reason or reason_phrase(status))]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class BodyReader:
    """Frames a request body: Content-Length or chunked, as it arrives."""

    def __init__(self, length: BodyLength) -> None:
        self.remaining = 0 if isinstance(length, Framing) else length
        self.decoder = ChunkedDecoder() if length == CHUNKED else None

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


def valid_host(value: bytes | None) -> bytes:
    """2013 clients send `Host: /var/run/docker.sock`, which Go servers refuse."""
    if value and b"/" not in value and b" " not in value and b"\t" not in value:
        return value
    return b"docker"
