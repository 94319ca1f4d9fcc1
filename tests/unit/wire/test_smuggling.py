"""Request smuggling, at the http1 level: every ambiguous framing is refused.

A proxy and the server behind it must agree on where each request ends; a
message two parsers could read differently lets a second request ride in the
body of the first. apiproxy refuses such messages with 400, except a
Transfer-Encoding that is well framed (chunked last) but names a coding
apiproxy does not decode: 501, as RFC 9112 6.1 says. Either way the proxy
closes the connection after the answer (ClientConnection._refuse_and_close).
"""
from __future__ import annotations

import pytest

from apiproxy.wire.http1 import (CHUNKED, ChunkedDecoder, ProtocolError, RequestHead, check_partial_head,
                                 find_head_end, parse_request_head, request_body_length)

SMUGGLED = b"POST /v1.41/containers/create?name=smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


def head(*lines: bytes, request_line: bytes = b"POST /v1.41/build HTTP/1.1") -> bytes:
    return b"\r\n".join((request_line, b"Host: docker", *lines)) + b"\r\n\r\n"


def framing(wire: bytes) -> int | str:
    """What the proxy does with a client's head: parse it, then decide how its body is framed."""
    return request_body_length(parse_request_head(wire[:find_head_end(wire)]))


def refused(wire: bytes) -> int:
    with pytest.raises(ProtocolError) as error:
        framing(wire)
    return error.value.status


# Content-Length and Transfer-Encoding -----------------------------------------

@pytest.mark.parametrize("lines", [
    (b"Content-Length: 5", b"Transfer-Encoding: chunked"),
    (b"Transfer-Encoding: chunked", b"Content-Length: 5"),
    (b"Transfer-Encoding: chunked", b"Content-Length: 0"),  # even a length of nothing
    (b"Content-Length: 0", b"Transfer-Encoding: chunked"),
    (b"Transfer-Encoding: gzip, chunked", b"Content-Length: 5"),
], ids=repr)
def test_content_length_and_transfer_encoding_together(lines: tuple[bytes, ...]) -> None:
    assert refused(head(*lines) + b"0\r\n\r\n" + SMUGGLED) == 400


@pytest.mark.parametrize("lines", [
    (b"Content-Length: 5", b"Content-Length: 5"),  # even equal values
    (b"Content-Length: 5", b"Content-Length: 6"),
    (b"Content-Length: 5", b"content-length: 5"),
    (b"Content-Length: 5, 5",),
    (b"Content-Length: 5,5",),
    (b"Content-Length: +5",),
    (b"Content-Length: -1",),
    (b"Content-Length: 5 5",),  # an inner space
    (b"Content-Length: 0 5",),
    (b"Content-Length: 5\x0b",),
    (b"Content-Length: 0x5",),
    (b"Content-Length: 5.0",),
    (b"Content-Length: 1e3",),
    (b"Content-Length: \xd9\xa5",),  # a non-ASCII digit
    (b"Content-Length:",),
    (b"Content-Length: " + b"9" * 19,),  # huge
    (b"Content-Length: 99999999999999999999999999999999",),
], ids=repr)
def test_invalid_or_repeated_content_length(lines: tuple[bytes, ...]) -> None:
    assert refused(head(*lines) + b"hello") == 400


@pytest.mark.parametrize("value", [b" 5", b"+5", b"-1", b"5 ", b""])
def test_content_length_values_are_digits_only(value: bytes) -> None:
    # The head parser drops whitespace around a value; the length itself is digits only.
    with pytest.raises(ProtocolError) as error:
        request_body_length(RequestHead("POST", "/", 1, [(b"Content-Length", value)]))
    assert error.value.status == 400


def test_surrounding_whitespace_is_not_part_of_the_length() -> None:
    assert framing(head(b"Content-Length: \t5 \t")) == 5


@pytest.mark.parametrize(("lines", "status"), [
    ((b"Transfer-Encoding: chunked, chunked",), 400),  # chunked twice (RFC 9112 6.1)
    ((b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"), 400),
    ((b"Transfer-Encoding: xchunked",), 400),  # not chunked last: no reliable length (RFC 9112 6.3)
    ((b"Transfer-Encoding: chunkedx",), 400),
    ((b"Transfer-Encoding: chunked;q=1",), 400),
    ((b"Transfer-Encoding: chunked, gzip",), 400),
    ((b"Transfer-Encoding: identity",), 400),
    ((b"Transfer-Encoding: gzip",), 400),
    ((b"Transfer-Encoding:",), 400),
    ((b"Transfer-Encoding: ,chunked",), 400),
    ((b"Transfer-Encoding: chunked,",), 400),
    ((b"Transfer-Encoding: \"chunked\"",), 400),
    ((b"Transfer-Encoding: gzip, chunked",), 501),  # well framed; a coding apiproxy does not decode
    ((b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked"), 501),
], ids=repr)
def test_transfer_encodings_other_than_a_lone_chunked(lines: tuple[bytes, ...], status: int) -> None:
    assert refused(head(*lines) + b"0\r\n\r\n" + SMUGGLED) == status


@pytest.mark.parametrize("value", [b"chunked", b"Chunked", b"CHUNKED", b" chunked\t"])
def test_a_lone_chunked_in_any_case_is_accepted(value: bytes) -> None:
    assert framing(head(b"Transfer-Encoding: " + value)) == CHUNKED


def test_transfer_encoding_in_an_http_1_0_request() -> None:
    # RFC 9112 6.1: an HTTP/1.0 recipient may not know chunked; its framing is faulty.
    wire = head(b"Transfer-Encoding: chunked", request_line=b"POST /v1.41/build HTTP/1.0")
    assert refused(wire + b"0\r\n\r\n") == 400


# The head's lines ---------------------------------------------------------------

@pytest.mark.parametrize("wire", [
    # Obsolete line folding: a line starting with a space or a tab.
    head(b"X-A: 1", b" folded"),
    head(b"X-A: 1", b"\tfolded"),
    head(b"X-A: 1", b" Transfer-Encoding: chunked"),
    head(b"Content-Length: 5", b" , 6"),
    b"POST / HTTP/1.1\r\n Host: docker\r\n\r\n",  # whitespace before the first header
    b"POST / HTTP/1.1\r\n\tHost: docker\r\n\r\n",
    # Header names with a space, or none.
    head(b"Host : docker"),
    head(b"Content-Length : 5"),
    head(b"Transfer-Encoding : chunked"),
    head(b"Transfer-Encoding\t: chunked"),
    head(b"Transfer Encoding: chunked"),
    head(b": chunked"),
    head(b"no colon at all"),
    # NUL and other control characters.
    head(b"X-A: a\x00b"),
    head(b"X-A\x00: 1"),
    head(b"Content-Length: 5\x00"),
    head(b"X-A: a\x1bb"),
    # Bare LF and bare CR, wherever they are.
    b"POST / HTTP/1.1\nHost: docker\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: docker\nContent-Length: 5\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\n\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: docker\r\n\n\r\n\r\n",
    b"POST / HTTP/1.1\rHost: docker\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: docker\rContent-Length: 5\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: do\rcker\r\n\r\n",
    b"POST /a\nb HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\nHost: docker\n\n" + SMUGGLED,  # a CRLF CRLF further on ends "the head"
    # Request lines that are not one method, one target and one version.
    b"POST / HTTP/1.1 extra\r\n\r\n",
    b"POST  / HTTP/1.1\r\n\r\n",
    b"POST /\tHTTP/1.1\r\n\r\n",
    b"\r\nPOST / HTTP/1.1\r\n\r\n",
], ids=lambda wire: repr(wire[:60]))
def test_malformed_heads(wire: bytes) -> None:
    assert refused(wire) == 400


@pytest.mark.parametrize("wire", [
    b"GET / HTTP/1.1\nHost: docker\n\n",  # a head of bare LFs never shows CRLF CRLF
    b"GET / HTTP/1.1\r\nHost: docker\n",
    b"GET / HTTP/1.1\rHost: docker",
    b"GET /\n",
])
def test_bare_line_ends_are_refused_before_the_head_ends(wire: bytes) -> None:
    assert find_head_end(wire) == -1
    with pytest.raises(ProtocolError) as error:
        check_partial_head(wire)
    assert error.value.status == 400
    # However the bytes arrived.
    with pytest.raises(ProtocolError):
        for cut in range(1, len(wire) + 1):
            check_partial_head(wire[:cut], cut - 1)


def test_a_valid_head_is_never_refused_while_it_arrives() -> None:
    wire = head(b"Content-Length: 2", b"X-A: 1\t2")
    for cut in range(len(wire)):
        check_partial_head(wire[:cut])
        check_partial_head(wire[:cut], max(0, cut - 1))


# Chunked bodies -----------------------------------------------------------------

def test_a_valid_chunked_body_leaves_the_next_request_as_leftover() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"5;ext=1\r\nhello\r\n0\r\nT: v\r\n\r\n" + SMUGGLED) == [b"hello"]
    assert decoder.done and decoder.leftover == SMUGGLED


@pytest.mark.parametrize("body", [
    b"0x5\r\nhello\r\n0\r\n\r\n",
    b"-5\r\nhello\r\n0\r\n\r\n",
    b"+5\r\nhello\r\n0\r\n\r\n",
    b"5 5\r\nhello\r\n0\r\n\r\n",
    b" 5\r\nhello\r\n0\r\n\r\n",
    b"5 \r\nhello\r\n0\r\n\r\n",
    b"5\t\r\nhello\r\n0\r\n\r\n",
    b"\r\nhello\r\n0\r\n\r\n",  # an empty size
    b";ext\r\nhello\r\n0\r\n\r\n",
    b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n",
    b"g\r\n",
    b"1" * 16 + b"\r\n",  # over-long hex
    b"f" * 40 + b"\r\n",
    b"5\r\nhelloX\r\n0\r\n\r\n",  # the data is longer than its size
    b"5\r\nhello" + SMUGGLED,  # no CRLF after the data
    b"5\r\nhello\n0\r\n\r\n",
    b"5\r\nhello\r0\r\n\r\n",
    b"5\nhello\r\n0\r\n\r\n",  # bare LF after the size
    b"5;a\nb\r\nhello\r\n0\r\n\r\n",  # bare LF in an extension
    b"5;a\rb\r\nhello\r\n0\r\n\r\n",
    b"5;a\x00\r\nhello\r\n0\r\n\r\n",
    b"0\r\nnot a trailer\r\n\r\n",
    b"0\r\nT : v\r\n\r\n",
    b"0\r\n: v\r\n\r\n",
    b"0\r\n folded: v\r\n\r\n",
    b"0\r\nT: a\nb\r\n\r\n",
    b"0\r\nT: a\x00\r\n\r\n",
], ids=lambda body: repr(body[:30]))
def test_invalid_chunked_framing(body: bytes) -> None:
    for pieces in ([body], [bytes([byte]) for byte in body]):
        decoder = ChunkedDecoder()
        with pytest.raises(ProtocolError) as error:
            for piece in pieces:
                decoder.feed(piece)
        assert error.value.status == 400
