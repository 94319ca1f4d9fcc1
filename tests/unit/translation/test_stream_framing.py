"""How legacy JSON streams are framed: 0.4-0.8 wrote each item bare, flushed as its own HTTP chunk
(v0.8.1 utils/streamformatter.go, WriteFlusher); 0.9 added CRLF (streamNewline); events ended with "\\n"
from 0.8 (json.Encoder), bare before. The transform keeps items apart; the shell sends each as a chunk."""
from __future__ import annotations

import json

import pytest

from apiproxy.api.routes import match_legacy
from apiproxy.api.versions import Version
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.transforms import Chained, JsonStream, WholeJson, close_pieces, feed_pieces


def _items(method: str, path: str, client: Version, body: bytes, kind: str = "docker") -> list[bytes]:
    route = match_legacy(method, path)
    assert route is not None
    stream = ChainExchange.build(route, client, Version(1, 41), path, kind, upstream_api=Version(1, 41)) \
        .response_body(200, [])
    assert stream is not None
    return feed_pieces(stream, body) + close_pieces(stream)


TODAY = b'{"status":"Pulling from library/busybox","id":"latest"}\r\n{"status":"Digest: sha256:ab"}\r\n'


@pytest.mark.parametrize("kind", ["docker", "podman"])
@pytest.mark.parametrize(("method", "path"), [("POST", "/images/create"), ("POST", "/images/busybox/push"),
                                              ("POST", "/build")])
@pytest.mark.parametrize("client", [Version(1, 8), Version(1, 9)])
def test_progress_items_are_bare_and_apart_for_1_8_and_1_9(method: str, path: str, client: Version, kind: str) -> None:
    items = _items(method, path, client, TODAY, kind)
    assert len(items) == 2 and all(not item.endswith(b"\n") for item in items), items
    assert [json.loads(item)["status"] for item in items] == ["Pulling from library/busybox", "Digest: sha256:ab"]


def test_a_1_0_pull_is_text_one_line_per_piece() -> None:
    assert _items("POST", "/images/create", Version(1, 0), TODAY) == [
        b"latest: Pulling from library/busybox\r\n", b"Digest: sha256:ab\r\n"]


def test_events_end_with_a_newline_at_1_9_and_are_bare_before() -> None:
    event = b'{"status":"create","id":"' + b"a" * 64 + b'","from":"busybox","time":1}\n'
    assert all(item.endswith(b"}\n") for item in _items("GET", "/events", Version(1, 9), event * 2))
    assert all(item.endswith(b"}") for item in _items("GET", "/events", Version(1, 8), event * 2))


def test_items_cut_anywhere_come_out_whole_and_apart() -> None:
    stream = JsonStream(lambda item: item, separator=b"")
    body = b'{"a": 1}{"b": "x y"}\r\n{"c": [1, 2]}'
    pieces = [piece for cut in range(len(body)) for piece in feed_pieces(stream, body[cut:cut + 1])]
    assert pieces + close_pieces(stream) == [b'{"a":1}', b'{"b":"x y"}', b'{"c":[1,2]}']


def test_other_transforms_give_one_piece_and_a_chain_keeps_the_last_ones_items() -> None:
    whole = WholeJson(lambda document: document)
    assert feed_pieces(whole, b'{"a"') == [] and feed_pieces(whole, b': 1}') == []  # held until the end
    assert close_pieces(whole) == [b'{"a":1}']
    chained = Chained(JsonStream(lambda item: item), JsonStream(lambda item: {"n": item["n"] + 1}, separator=b""))
    assert feed_pieces(chained, b'{"n": 1}\r\n{"n": 2}\r\n') == [b'{"n":2}', b'{"n":3}']
    assert close_pieces(chained) == []
