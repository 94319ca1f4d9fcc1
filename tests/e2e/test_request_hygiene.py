"""Ambiguous requests never reach the daemon: smuggling and path tricks get 400 from apiproxy.

Each malicious request carries, or is, a DELETE of a container made for the
test (or a create of one that must not exist): the container's fate, read
from the daemon's own socket, shows what reached the daemon. What is meant to
slip past apiproxy is at DIRECT_API: a version the daemon would carry out.
"""
from __future__ import annotations

import json
import uuid
from typing import Iterator

import pytest

from support import DIRECT_API, raw_exchange, request


@pytest.fixture
def victim(docker_sock: str, image: str) -> Iterator[str]:
    """A container no request of the test may remove."""
    name = f"apiproxy-victim-{uuid.uuid4().hex[:8]}"
    made = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create?name={name}",
                   {"Image": image, "Cmd": ["true"]})
    assert made.status == 201, made
    yield name
    request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{name}?force=1")


def _exists(docker_sock: str, name: str) -> bool:
    status = request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{name}/json", validate=False).status
    assert status in (200, 404)
    return status == 200


def _refusal(reply: bytes) -> tuple[dict[str, str], bytes]:
    """Headers and body of the one 400 answer `reply` must be (and nothing after it)."""
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.1 400 "), reply
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    assert headers["connection"] == "close"
    assert len(body) == int(headers["content-length"]), reply  # no second answer follows
    return headers, body


def _smuggling(outer: bytes, smuggled: bytes) -> bytes:
    return outer.replace(b"{length}", b"%d" % (len(b"0\r\n\r\n") + len(smuggled))) + b"0\r\n\r\n" + smuggled


SMUGGLERS = {
    "CL+TE": b"POST /v1.41/containers/prune HTTP/1.1\r\nHost: docker\r\nContent-Length: {length}\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n",
    "TE+CL": b"POST /v1.41/containers/prune HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n"
             b"Content-Length: 3\r\n\r\n",
    "two CL": b"POST /v1.41/containers/prune HTTP/1.1\r\nHost: docker\r\nContent-Length: 5\r\n"
              b"Content-Length: {length}\r\n\r\n",
    "TE folded": b"POST /v1.41/containers/prune HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: x\r\n chunked\r\n"
                 b"Content-Length: {length}\r\n\r\n",
    "TE with a space": b"POST /v1.41/containers/prune HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding : chunked\r\n"
                       b"Content-Length: {length}\r\n\r\n",
    "xchunked": b"POST /v1.41/containers/prune HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: xchunked\r\n\r\n",
}


@pytest.mark.parametrize("outer", SMUGGLERS.values(), ids=SMUGGLERS.keys())
def test_a_smuggled_delete_never_reaches_the_daemon(proxy_sock: str, docker_sock: str, victim: str,
                                                   outer: bytes) -> None:
    # (prune would remove the stopped victim too: the outer request must not run either.)
    smuggled = f"DELETE /v{DIRECT_API}/containers/{victim}?force=1 HTTP/1.1\r\nHost: docker\r\n\r\n".encode()
    headers, body = _refusal(raw_exchange(proxy_sock, _smuggling(outer, smuggled)))
    assert headers["content-type"] == "application/json"
    assert set(json.loads(body)) == {"message"}
    assert _exists(docker_sock, victim)


def test_a_smuggled_create_never_reaches_the_daemon(proxy_sock: str, docker_sock: str, image: str) -> None:
    name = f"apiproxy-smuggled-{uuid.uuid4().hex[:8]}"
    payload = json.dumps({"Image": image, "Cmd": ["true"]}).encode()
    smuggled = (b"POST /v%s/containers/create?name=%s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (DIRECT_API.encode(), name.encode(), len(payload), payload))
    try:
        _refusal(raw_exchange(proxy_sock, _smuggling(SMUGGLERS["CL+TE"], smuggled)))
        assert not _exists(docker_sock, name)
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{name}?force=1")


@pytest.mark.parametrize(("target", "message"), [
    ("/v{api}/containers/{victim}%2F?force=1", "encoded / in request path"),
    ("/v{api}/containers/x%2f..%2f{victim}?force=1", "encoded / in request path"),
    ("/../v{api}/containers/{victim}?force=1", "request path climbs above the root"),
    ("/v{api}/../../v{api}/containers/{victim}?force=1", "request path climbs above the root"),
    ("/v{api}/containers/%2e%2e/%2e%2e/%2e%2e/{victim}?force=1", "request path climbs above the root"),
    ("/v{api}/containers/{victim}%00?force=1", "encoded control character in request path"),
    ("/v{api}/containers/{victim}%5C?force=1", "encoded backslash in request path"),
])
def test_an_ambiguous_path_is_refused(proxy_sock: str, docker_sock: str, victim: str, target: str,
                                      message: str) -> None:
    wire = b"DELETE %s HTTP/1.1\r\nHost: docker\r\n\r\n" % target.format(api=DIRECT_API, victim=victim).encode()
    headers, body = _refusal(raw_exchange(proxy_sock, wire))
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": message}
    assert _exists(docker_sock, victim)


def test_a_legacy_client_is_refused_in_plain_text(proxy_sock: str) -> None:
    headers, body = _refusal(raw_exchange(proxy_sock, b"GET /v1.9/containers/a%2Fb/json HTTP/1.1\r\nHost: docker\r\n\r\n"))
    assert headers["content-type"].startswith("text/plain")
    assert body == b"encoded / in request path\n"


def test_a_head_of_bare_line_feeds_is_refused_at_once(proxy_sock: str, docker_sock: str, victim: str) -> None:
    wire = f"DELETE /v{DIRECT_API}/containers/{victim}?force=1 HTTP/1.1\nHost: docker\n\n".encode()
    headers, body = _refusal(raw_exchange(proxy_sock, wire, timeout=10))  # not left waiting for CRLF CRLF
    assert json.loads(body) == {"message": "bare LF or CR in message head"}
    assert _exists(docker_sock, victim)


def test_a_messy_path_is_forwarded_as_its_canonical_form(proxy_sock: str, victim: str) -> None:
    for target in ("/v1.41//containers/./json/?all=1", "/v1.9/../v1.41/%63ontainers/json?all=1"):
        reply = request(proxy_sock, "GET", target, validate=False)
        assert reply.status == 200, reply
        assert f"/{victim}" in [name for container in reply.json() for name in container["Names"]]


def test_case_is_kept_and_the_daemon_does_not_route_it(proxy_sock: str) -> None:
    assert request(proxy_sock, "GET", "/v1.41/CONTAINERS/json", validate=False).status == 404
