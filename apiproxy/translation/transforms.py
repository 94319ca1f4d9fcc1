"""Transforms: how bodies and streams pass through a translation, piece by piece. Pure.

A `Transform` sees bytes as they arrive and may hold back what it cannot
decide yet, so streams stay streams.
"""
from __future__ import annotations

import codecs
import json
import struct
from typing import Any, Callable, Protocol

from apiproxy.wire.json import decode_json, encode_json


class TranslationError(Exception):
    """A request apiproxy cannot translate; `status` and message go to the client."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Transform(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def close(self) -> bytes: ...


MAX_JSON_BODY = 16 << 20  # a JSON body apiproxy decodes whole; streams are not limited


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
    `feed_items` keeps the items apart: each is sent as its own HTTP chunk, as
    the 2013 daemons flushed each (their clients read one item per chunk).
    """

    def __init__(self, rewrite: Callable[[Any], Any], separator: bytes = b"\r\n") -> None:
        self.rewrite = rewrite
        self.separator = separator
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""
        self._json = json.JSONDecoder()

    def feed(self, data: bytes) -> bytes:
        return b"".join(self.feed_items(data))

    def feed_items(self, data: bytes) -> list[bytes]:
        """The items `data` completes, each whole and apart."""
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
        return out

    def close(self) -> bytes:
        return b"".join(self.close_items())

    def close_items(self) -> list[bytes]:
        tail = self.feed_items(b"") if self.pending.strip() else []
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


class Chained:
    """One transform after another."""

    def __init__(self, first: Transform, second: Transform) -> None:
        self.first, self.second = first, second

    def feed(self, data: bytes) -> bytes:
        return self.second.feed(self.first.feed(data))

    def close(self) -> bytes:
        return self.second.feed(self.first.close()) + self.second.close()

    def feed_items(self, data: bytes) -> list[bytes]:
        return feed_pieces(self.second, self.first.feed(data))

    def close_items(self) -> list[bytes]:
        return feed_pieces(self.second, self.first.close()) + close_pieces(self.second)


def feed_pieces(transform: Transform, data: bytes) -> list[bytes]:
    """What `transform` makes of `data`, in the pieces to send apart: a JSON stream's items, one HTTP
    chunk each; any other transform's output is one piece. No empty piece (it would end a chunked body)."""
    items = getattr(transform, "feed_items", None)
    pieces: list[bytes] = items(data) if items is not None else [transform.feed(data)]
    return [piece for piece in pieces if piece]


def close_pieces(transform: Transform) -> list[bytes]:
    """`feed_pieces` for what `transform` holds at the end of the stream."""
    items = getattr(transform, "close_items", None)
    pieces: list[bytes] = items() if items is not None else [transform.close()]
    return [piece for piece in pieces if piece]
