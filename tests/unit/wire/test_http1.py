"""apiproxy.http1: strict HTTP/1.1 heads, body framing and chunked coding."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from apiproxy.wire import http1
from apiproxy.wire.http1 import (CHUNKED, LAST_CHUNK, UNTIL_CLOSE, ChunkedDecoder, Headers, ProtocolError,
                                 RequestHead, ResponseHead, encode_chunk, end_to_end, find_head_end,
                                 format_request_head, format_response_head, parse_request_head,
                                 parse_response_head, request_body_length, response_body_length)


def request(*header_lines: bytes, line: bytes = b"GET /v1.9/info HTTP/1.1") -> bytes:
    return b"\r\n".join((line, *header_lines)) + b"\r\n\r\n"


def response(*header_lines: bytes, line: bytes = b"HTTP/1.1 200 OK") -> bytes:
    return request(*header_lines, line=line)


def request_with(headers: Headers) -> RequestHead:
    return RequestHead("POST", "/build", 1, headers)


def response_with(status: int, headers: Headers) -> ResponseHead:
    return ResponseHead(status, b"", 1, headers)


# Heads ----------------------------------------------------------------------

def test_parse_request_head_keeps_repeated_headers_in_order() -> None:
    head = parse_request_head(request(
        b"Host: docker", b"X-A: 1", b"x-a:2", b"X-A: \t3 \t", b"Empty:"))
    assert head == RequestHead("GET", "/v1.9/info", 1, [
        (b"Host", b"docker"), (b"X-A", b"1"), (b"x-a", b"2"), (b"X-A", b"3"), (b"Empty", b"")])
    assert http1.header(head.headers, b"x-a") == b"3"
    assert http1.header_values(head.headers, b"x-a") == [b"1", b"2", b"3"]


def test_parse_request_head_reads_http_1_0_without_headers() -> None:
    assert parse_request_head(b"POST /containers/create HTTP/1.0\r\n\r\n") == \
        RequestHead("POST", "/containers/create", 0, [])


def test_parse_response_head_keeps_repeated_headers_in_order() -> None:
    head = parse_response_head(response(
        b"Api-Version: 1.41", b"Set-Cookie: a", b"Set-Cookie: b", line=b"HTTP/1.0 404 Not Found"))
    assert head == ResponseHead(404, b"Not Found", 0, [
        (b"Api-Version", b"1.41"), (b"Set-Cookie", b"a"), (b"Set-Cookie", b"b")])


def test_parse_response_head_allows_an_empty_reason() -> None:
    assert parse_response_head(b"HTTP/1.1 204\r\n\r\n") == ResponseHead(204, b"", 1, [])


@pytest.mark.parametrize(("head", "status"), [
    (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),  # bare LF
    (b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),  # bare CR
    (b"GET / HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n", 400),  # obsolete line folding
    (b"GET / HTTP/1.1\r\n\tX-A: 1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX A: 1\r\n\r\n", 400),  # header name with a space
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400),  # missing colon
    (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400),  # control characters in a value
    (b"GET / HTTP/1.1\r\nX: a\x1bb\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n", 400),  # incomplete
    (b"GET  / HTTP/1.1\r\n\r\n", 400),  # bad request lines
    (b"GET / HTTP/1.1 \r\n\r\n", 400),
    (b"GET /\r\n\r\n", 400),
    (b"GET / HTTP/1.2\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 400),
    (b"GET / http/1.1\r\n\r\n", 400),
    (b"G(T / HTTP/1.1\r\n\r\n", 400),
    (b"GET /a\x7fb HTTP/1.1\r\n\r\n", 400),
    (b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400),
    (request(*[b"X: %d" % n for n in range(http1.MAX_HEADER_COUNT + 1)]), 431),
])
def test_parse_request_head_refuses(head: bytes, status: int) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_request_head(head)
    assert refused.value.status == status


def test_parse_request_head_accepts_the_maximum_header_count() -> None:
    lines = [b"X: %d" % n for n in range(http1.MAX_HEADER_COUNT)]
    assert len(parse_request_head(request(*lines)).headers) == http1.MAX_HEADER_COUNT


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\nX: a\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX Y: a\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n",
    b"HTTP/1.1 20 OK\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
    response(*[b"X: %d" % n for n in range(http1.MAX_HEADER_COUNT + 1)]),
])
def test_parse_response_head_refuses_with_bad_gateway(head: bytes) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_response_head(head)
    assert refused.value.status == 502


def test_find_head_end_resumes_a_scan_across_reads() -> None:
    wire = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY"
    head_end = len(wire) - len(b"BODY")
    for cut in range(head_end):  # `cut` bytes arrived and were scanned in vain
        assert find_head_end(wire[:cut]) == -1
        assert find_head_end(wire, cut) == head_end


# Request framing --------------------------------------------------------------

@pytest.mark.parametrize(("headers", "length"), [
    ([], 0),
    ([(b"Content-Length", b"0")], 0),
    ([(b"content-length", b"42")], 42),
    ([(b"Transfer-Encoding", b"chunked")], CHUNKED),
    ([(b"transfer-encoding", b"Chunked")], CHUNKED),
])
def test_request_body_length(headers: Headers, length: int | str) -> None:
    assert request_body_length(request_with(headers)) == length


@pytest.mark.parametrize(("headers", "status"), [
    ([(b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked")], 400),
    ([(b"Transfer-Encoding", b"gzip"), (b"Content-Length", b"5")], 400),
    ([(b"Content-Length", b"5"), (b"Content-Length", b"5")], 400),
    ([(b"Content-Length", b"5"), (b"Content-Length", b"6")], 400),
    ([(b"Content-Length", b"1a")], 400),
    ([(b"Content-Length", b"-1")], 400),
    ([(b"Content-Length", b" 5")], 400),
    ([(b"Content-Length", b"+5")], 400),
    ([(b"Content-Length", b"5, 5")], 400),
    ([(b"Content-Length", b"")], 400),
    ([(b"Content-Length", b"9" * 19)], 400),
    ([(b"Transfer-Encoding", b"gzip")], 400),  # not chunked last: no reliable length (RFC 9112 6.3)
    ([(b"Transfer-Encoding", b"gzip, chunked")], 501),  # well framed, a coding apiproxy does not decode
    ([(b"Transfer-Encoding", b"chunked"), (b"Transfer-Encoding", b"chunked")], 400),
])
def test_request_body_length_refuses_ambiguous_framing(headers: Headers, status: int) -> None:
    with pytest.raises(ProtocolError) as refused:
        request_body_length(request_with(headers))
    assert refused.value.status == status


# Response framing -------------------------------------------------------------

@pytest.mark.parametrize(("status", "method", "headers", "length"), [
    (200, "HEAD", [(b"Content-Length", b"10")], 0),
    (200, "HEAD", [(b"Transfer-Encoding", b"chunked")], 0),
    (100, "GET", [], 0),
    (101, "POST", [], 0),
    (204, "DELETE", [(b"Content-Length", b"10")], 0),
    (304, "GET", [], 0),
    (200, "GET", [(b"Transfer-Encoding", b"chunked")], CHUNKED),
    (200, "GET", [(b"Transfer-Encoding", b"gzip, chunked")], CHUNKED),
    (200, "GET", [(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"3")], CHUNKED),
    (200, "GET", [(b"Transfer-Encoding", b"gzip")], UNTIL_CLOSE),
    (200, "GET", [(b"Transfer-Encoding", b"xchunked")], UNTIL_CLOSE),
    (200, "GET", [(b"Content-Length", b"12")], 12),
    (200, "GET", [(b"Content-Length", b"12"), (b"Content-Length", b"12")], 12),
    (404, "GET", [], UNTIL_CLOSE),
])
def test_response_body_length(status: int, method: str, headers: Headers, length: int | str) -> None:
    assert response_body_length(response_with(status, headers), method) == length


@pytest.mark.parametrize("headers", [
    [(b"Content-Length", b"12"), (b"Content-Length", b"13")],
    [(b"Content-Length", b"1a")],
    [(b"Content-Length", b"12, 12")],
])
def test_response_body_length_refuses_bad_lengths_with_bad_gateway(headers: Headers) -> None:
    with pytest.raises(ProtocolError) as refused:
        response_body_length(response_with(200, headers), "GET")
    assert refused.value.status == 502


# Chunked coding ---------------------------------------------------------------

def decode(pieces: list[bytes], error_status: int = 400) -> tuple[bytes, bytes | None]:
    """Feed `pieces` until the body ends; (data, what followed it) or (data, None) if unfinished."""
    decoder = ChunkedDecoder(error_status)
    data = []
    for index, piece in enumerate(pieces):
        data += decoder.feed(piece)
        if decoder.done:
            return b"".join(data), decoder.leftover + b"".join(pieces[index + 1:])
    return b"".join(data), None


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:])]


extension = st.sampled_from([b"", b";x", b";name=value", b';q="a b"'])
trailer = st.sampled_from([b"", b"Expires: never\r\n", b"A: 1\r\nB:\r\n"])


@st.composite
def chunked_bodies(draw: st.DrawFn) -> tuple[bytes, bytes, bytes]:
    """(payload, its chunked encoding, the pipelined bytes after it)."""
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=6))
    encoded = b"".join(b"%x%s\r\n%s\r\n" % (len(chunk), draw(extension), chunk) for chunk in chunks)
    encoded += b"0" + draw(extension) + b"\r\n" + draw(trailer) + b"\r\n"
    after = draw(st.sampled_from([b"", b"GET /v1.9/info HTTP/1.1\r\n\r\n", b"\r\n0\r\n"]))
    return b"".join(chunks), encoded, after


@settings(max_examples=200, deadline=None)
@given(chunked_bodies(), st.data())
def test_chunked_decoding_does_not_depend_on_how_the_body_is_split(
        body: tuple[bytes, bytes, bytes], data: st.DataObject) -> None:
    payload, encoded, after = body
    wire = encoded + after
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=12))
    assert decode(split_at(wire, cuts)) == (payload, after)


def test_chunked_decoding_at_every_single_split_point() -> None:
    wire = b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\nNEXT"
    for cut in range(len(wire) + 1):
        assert decode([wire[:cut], wire[cut:]]) == (b"hello 0123456789", b"NEXT")
    assert decode([bytes([byte]) for byte in wire]) == (b"hello 0123456789", b"NEXT")


def test_chunked_decoder_waits_for_the_end_of_the_trailers() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabc\r\n0\r\nT: 1\r\n") == [b"abc"]
    assert not decoder.done
    assert decoder.feed(b"\r\nrest") == []
    assert decoder.done and decoder.leftover == b"rest"


LONGEST_LINE = ChunkedDecoder._MAX_LINE


@pytest.mark.parametrize("wire", [
    b"x\r\n",
    b"\r\n",
    b";ext\r\n",
    b"-1\r\n",
    b"5 \r\nhello\r\n",
    b"0x5\r\nhello\r\n",
    b"1" * 16 + b"\r\n",
    b"5\r\nhelloX\r\n",  # data longer than its size
    b"5\r\nhelloXY",  # no CRLF after the data
    b"5\r\nhello\n0\r\n\r\n",
    b"0\r\nnot a trailer\r\n",
    b"1" * (LONGEST_LINE + 2),  # an endless size line
    b"1;" + b"x" * (LONGEST_LINE - 1) + b"\r\n",  # one byte too long, CRLF included
    b"1;" + b"x" * (LONGEST_LINE - 1) + b"\r",
    b"0\r\nT:" + b"x" * (LONGEST_LINE - 1) + b"\r\n\r\n",
], ids=lambda wire: repr(wire[:24]) + f"+{len(wire)}")
@pytest.mark.parametrize("status", [400, 502])
def test_chunked_decoder_refuses_bad_framing(wire: bytes, status: int) -> None:
    for pieces in ([wire], [bytes([byte]) for byte in wire]):
        with pytest.raises(ProtocolError) as refused:
            decode(pieces, status)
        assert refused.value.status == status


def test_chunk_lines_of_the_longest_length_are_accepted_however_split() -> None:
    wire = b"1;" + b"x" * (LONGEST_LINE - 2) + b"\r\nA\r\n0;" + b"y" * (LONGEST_LINE - 2) + \
        b"\r\nT:" + b"z" * (LONGEST_LINE - 2) + b"\r\n\r\n"
    assert decode([wire]) == (b"A", b"")
    assert decode([bytes([byte]) for byte in wire]) == (b"A", b"")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_encode_chunk_and_last_chunk_round_trip(chunks: list[bytes]) -> None:
    wire = b"".join(map(encode_chunk, chunks)) + LAST_CHUNK
    assert decode([wire]) == (b"".join(chunks), b"")


def test_encode_chunk_of_nothing_is_nothing() -> None:
    assert encode_chunk(b"") == b""  # an empty chunk would end the body
    assert encode_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"


# Headers --------------------------------------------------------------------

def test_end_to_end_drops_hop_by_hop_headers_and_those_connection_names() -> None:
    headers = [
        (b"Host", b"docker"), (b"Connection", b"Keep-Alive, X-Private , close"),
        (b"Keep-Alive", b"timeout=5"), (b"x-private", b"1"), (b"Transfer-Encoding", b"chunked"),
        (b"TE", b"trailers"), (b"Trailer", b"Expires"), (b"Upgrade", b"tcp"),
        (b"Proxy-Connection", b"keep-alive"), (b"Proxy-Authorization", b"x"),
        (b"Proxy-Authenticate", b"x"), (b"Content-Type", b"application/json"), (b"X-Public", b"2"),
    ]
    assert end_to_end(headers) == [
        (b"Host", b"docker"), (b"Content-Type", b"application/json"), (b"X-Public", b"2")]


def test_tokens_are_lowercased_across_repeated_headers() -> None:
    headers = [(b"Connection", b"Upgrade, ,"), (b"connection", b"CLOSE")]
    assert http1.tokens(headers, b"connection") == {b"upgrade", b"close"}


# Formatting -------------------------------------------------------------------

def byte_strings(alphabet: bytes, min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[bytes]:
    text = st.text(alphabet.decode("latin-1"), min_size=min_size, max_size=max_size)
    return text.map(lambda chars: chars.encode("latin-1"))


VISIBLE = bytes(range(0x21, 0x7f))
TOKEN = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Values are read back without surrounding whitespace, so they neither start nor end with it.
header_values = st.one_of(
    st.just(b""),
    st.tuples(byte_strings(VISIBLE + bytes(range(0x80, 0x100)), 1, 1),
              byte_strings(VISIBLE + b" \t\x80\xff")).map(lambda parts: parts[0] + parts[1] + parts[0]),
)
header_lists = st.lists(st.tuples(byte_strings(TOKEN, 1), header_values), max_size=8)


@settings(max_examples=50, deadline=None)
@given(byte_strings(b"ACDEGHLOPSTU", 1, 10).map(bytes.decode),
       byte_strings(VISIBLE, 0, 40).map(lambda path: "/" + path.decode()), header_lists)
def test_format_request_head_reads_back(method: str, target: str, headers: Headers) -> None:
    wire = format_request_head(method, target, headers)
    assert find_head_end(wire) == len(wire)
    assert parse_request_head(wire) == RequestHead(method, target, 1, headers)


@settings(max_examples=50, deadline=None)
@given(st.integers(100, 599), byte_strings(VISIBLE + b" \t", 0, 20).map(lambda text: b"R" + text + b"."),
       header_lists)
def test_format_response_head_reads_back(status: int, reason: bytes, headers: Headers) -> None:
    wire = format_response_head(status, reason, headers)
    assert find_head_end(wire) == len(wire)
    assert parse_response_head(wire) == ResponseHead(status, reason, 1, headers)


def test_format_response_head_fills_in_the_standard_reason() -> None:
    assert format_response_head(404, b"", []) == b"HTTP/1.1 404 Not Found\r\n\r\n"
    assert format_response_head(599, b"", [(b"A", b"b")]) == b"HTTP/1.1 599 Unknown\r\nA: b\r\n\r\n"


def test_chunk_framing_read_apart_from_payloads() -> None:
    """A splice moves the payloads; the decoder reads only the lines between them, in any cut."""
    body = b"5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT"
    for step in (1, 2, 7, 64):
        decoder, offset, payload = http1.ChunkedDecoder(), 0, b""
        while not decoder.done:
            if decoder.payload_left:
                take = min(decoder.payload_left, step)
                payload += body[offset:offset + take]
                decoder.payload_moved(take)
            else:
                take = decoder.take_framing(body[offset:offset + step])
            offset += take
        assert payload == b"helloabc" and body[offset:] == b"NEXT", step


def test_chunk_framing_refuses_what_feed_refuses() -> None:
    decoder = http1.ChunkedDecoder(502)
    assert decoder.take_framing(b"3\r\n") == 3 and decoder.payload_left == 3
    decoder.payload_moved(3)
    with pytest.raises(http1.ProtocolError):
        decoder.take_framing(b"xy\r\n")  # the payload ran past its size
    with pytest.raises(http1.ProtocolError):
        http1.ChunkedDecoder().take_framing(b"zz\r\n")
