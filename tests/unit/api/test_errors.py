"""apiproxy.errors: error replies in the style of the daemon the client expects."""
from __future__ import annotations

import json

import pytest

from apiproxy.api.errors import error_reply
from apiproxy.wire.http1 import header
from apiproxy.api.versions import Version


@pytest.mark.parametrize("version", [Version(1, 0), Version(1, 9), Version(1, 12), Version(1, 23)])
def test_clients_before_1_24_get_plain_text(version: Version) -> None:
    status, headers, body = error_reply(version, 502, "cannot reach the daemon")
    assert status == 502
    assert body == b"cannot reach the daemon\n"
    assert header(headers, b"content-type") == b"text/plain; charset=utf-8"
    assert header(headers, b"content-length") == str(len(body)).encode()


@pytest.mark.parametrize("version", [Version(1, 24), Version(1, 41), None])
def test_clients_from_1_24_and_unversioned_ones_get_json_like_dockerd(version: Version | None) -> None:
    status, headers, body = error_reply(version, 400, 'client version 1.50 is "too new"')
    assert status == 400
    assert body == b'{"message":"client version 1.50 is \\"too new\\""}\n'
    assert json.loads(body) == {"message": 'client version 1.50 is "too new"'}
    assert header(headers, b"content-type") == b"application/json"
    assert header(headers, b"content-length") == str(len(body)).encode()


@pytest.mark.parametrize("version", [Version(1, 9), Version(1, 41)])
def test_content_length_counts_bytes_not_characters(version: Version) -> None:
    _, headers, body = error_reply(version, 404, "no such image: café–latest")
    assert header(headers, b"content-length") == str(len(body)).encode()
    assert body.decode("utf-8").rstrip("\n").endswith(("café–latest", "caf\\u00e9\\u2013latest\"}"))
