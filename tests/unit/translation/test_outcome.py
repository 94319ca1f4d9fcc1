"""outcome.py: the one rendering of an emulation's result, which the proxy sends and explain prints."""
from __future__ import annotations

from apiproxy.api.routes import match_legacy
from apiproxy.api.upstream_info import UpstreamInfo
from apiproxy.api.versions import Version
from apiproxy.translation.chain import ChainExchange, exchange_for
from apiproxy.translation.emulations import outcome
from apiproxy.translation.emulations.commands import Pass, Reply
from apiproxy.translation.exchange import Exchange

IDENTITY = Exchange(None, Version(1, 41), Version(1, 41))


def test_a_json_reply_is_compact_with_its_length() -> None:
    answer = outcome.reply(Reply(200, {"Id": "abc", "Warnings": ["é"]}), IDENTITY)
    assert answer == outcome.Answered(200, [(b"Content-Type", b"application/json"), (b"Content-Length", b"34")],
                                      b'{"Id":"abc","Warnings":["\\u00e9"]}')


def test_a_reply_without_body_has_no_type_and_a_204_no_length() -> None:
    assert outcome.reply(Reply(204), IDENTITY) == outcome.Answered(204, [], b"")
    assert outcome.reply(Reply(200), IDENTITY) == outcome.Answered(200, [(b"Content-Length", b"0")], b"")


def test_text_with_a_type_is_an_answer_and_without_one_an_error() -> None:
    answer = outcome.reply(Reply(200, "a\n", content_type="application/vnd.docker.raw-stream"), IDENTITY)
    assert answer == outcome.Answered(200, [(b"Content-Type", b"application/vnd.docker.raw-stream"),
                                            (b"Content-Length", b"2")], b"a\n")
    assert outcome.reply(Reply(200, "no such image"), IDENTITY) == outcome.Refused(200, "no such image")
    assert outcome.reply(Reply(404, "No such container: x"), IDENTITY) == outcome.Refused(404, "No such container: x")


def test_a_made_up_stream_is_one_item_a_line() -> None:
    answer = outcome.reply(Reply(200, items=[{"status": "a"}, {"status": "b"}]), IDENTITY)
    assert isinstance(answer, outcome.Answered)
    assert answer.body == b'{"status":"a"}\r\n{"status":"b"}\r\n'
    assert (b"Content-Length", str(len(answer.body)).encode()) in answer.headers
    assert answer.pieces == [b'{"status":"a"}\r\n', b'{"status":"b"}\r\n']  # sent as two chunks


def test_a_made_up_stream_for_a_2013_client_is_bare_items_apart() -> None:
    route = match_legacy("POST", "/images/busybox/insert")
    exchange = exchange_for(route, Version(1, 8), Version(1, 41), path="/images/busybox/insert")
    answer = outcome.reply(Reply(200, items=[{"status": "Inserting file"}, {"id": "a" * 64}]), exchange)
    assert isinstance(answer, outcome.Answered)
    assert answer.pieces == [b'{"status":"Inserting file"}', b'{"id":"' + b"a" * 64 + b'"}']


def test_a_pass_forwards_its_own_body_or_the_clients() -> None:
    assert outcome.forwarded_body(Pass("POST", "/x", {"A": 1}), IDENTITY, b"ignored", []) == b'{"A":1}'
    assert outcome.forwarded_body(Pass("POST", "/x"), IDENTITY, b"ignored", []) == b""
    assert outcome.forwarded_body(Pass("POST", "/x", client_body=True), IDENTITY, b"raw", []) == b"raw"


def test_a_pass_is_forwarded_with_its_own_exchange_or_the_endpoint_it_names() -> None:
    route = match_legacy("GET", "/containers/ps")
    first = exchange_for(route, Version(1, 3), Version(1, 41))
    assert outcome.forwarding_exchange(Pass("GET", "/containers/json"), first, None) is first
    info = UpstreamInfo("podman", "4.3.1", Version(1, 41), Version(1, 24))
    other = outcome.forwarding_exchange(Pass("GET", "/containers/json", as_endpoint="GET /containers/json"), first, info)
    assert isinstance(other, ChainExchange) and other.endpoint == "GET /containers/json"
    assert (other.client_version, other.target) == (Version(1, 3), Version(1, 41))
    assert other.context.upstream_kind == "podman"  # built as routing built the first: the same profile
