"""The [limits] table: what a client may send, each with a clear error when hit."""
from __future__ import annotations

import http.client
import json
import os
import re
import resource
import select
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from echo_upstream import EchoUpstream
from support import Apiproxy, UnixHTTPConnection, deadline_poll, metric, raw_exchange, request, scrape_metrics


@pytest.fixture
def limited(echo: EchoUpstream, workdir: str) -> Iterator[Apiproxy]:
    config = Path(workdir) / "apiproxy.toml"
    config.write_text(f'[upstream]\nendpoint = "unix:{echo.path}"\n'
                      f'[[listeners]]\nendpoint = "unix:{workdir}/ap.sock"\n'
                      "[limits]\nmax_head_bytes = 2048\nmax_headers = 10\nmax_json_body = 4096\n"
                      "head_timeout = 1\nbody_timeout = 1\nidle_timeout = 2\n")
    proxy = Apiproxy(["--config", str(config)], f"{workdir}/ap.sock", workdir).wait_listening()
    yield proxy
    assert proxy.stop() == 0, proxy.log
    assert "Traceback" not in proxy.log, proxy.log


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_head_too_large_or_with_too_many_headers_gets_431(limited: Apiproxy) -> None:
    big = raw_exchange(limited.sock, b"GET /v1.9/version HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n")
    assert _status(big) == 431 and b"2048 bytes" in big
    many = b"".join(b"X-H%d: 1\r\n" % n for n in range(11))
    answer = raw_exchange(limited.sock, b"GET /v1.41/version HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert _status(answer) == 431 and b"more than 10" in answer and b'{"message":' in answer


def test_a_json_body_too_large_to_translate_gets_413_a_streamed_one_passes(limited: Apiproxy) -> None:
    body = {"Image": "busybox", "Cmd": ["echo", "x" * 5000]}
    refused = request(limited.sock, "POST", "/v1.9/containers/create", body, validate=False)  # type: ignore[arg-type]
    assert refused.status == 413 and "4096 bytes" in refused.text
    stream = b"\0" * 200_000  # a build context: streamed, never limited
    passed = request(limited.sock, "POST", "/v1.41/build", stream, validate=False,  # type: ignore[arg-type]
                     headers={"Content-Type": "application/x-tar"})
    assert passed.status == 200 and passed.json()["body_length"] == len(stream)


def test_a_stalled_body_gets_408_an_idle_connection_is_closed(limited: Apiproxy) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(limited.sock)  # type: ignore[arg-type]
        client.sendall(b"POST /v1.41/build HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        answer = client.recv(65536)
        assert _status(answer) == 408 and b"request body for 1 s" in answer
    kept = UnixHTTPConnection(limited.sock, 10)  # type: ignore[arg-type]
    kept.request("GET", "/v1.41/version")
    assert json.loads(kept.getresponse().read())["ApiVersion"] == "1.41"
    time.sleep(3)
    assert kept.sock is not None and kept.sock.recv(1) == b""  # closed quietly after idle_timeout


def _limited_to(descriptors: int) -> Callable[[], None]:
    """For Popen's preexec_fn: the child's open-file limit, as `ulimit -n` sets it."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))


@pytest.fixture
def two_listeners(echo: EchoUpstream, workdir: str) -> Iterator[Callable[..., Apiproxy]]:
    """Start apiproxy listening on a.sock and b.sock under `ulimit -n descriptors`; stopped at the
    end whatever happened."""
    started: list[Apiproxy] = []

    def start(descriptors: int, max_connections: int | None = None, metrics: bool = False) -> Apiproxy:
        settings = {"APIPROXY_UPSTREAM__ENDPOINT": f"unix:{echo.path}",
                    "APIPROXY_LISTENERS__0__ENDPOINT": f"unix:{workdir}/a.sock",
                    "APIPROXY_LISTENERS__1__ENDPOINT": f"unix:{workdir}/b.sock"}
        if max_connections is not None:
            settings["APIPROXY_LISTENERS__0__MAX_CONNECTIONS"] = str(max_connections)
        if metrics:
            settings["APIPROXY_METRICS__LISTEN"] = f"unix:{workdir}/metrics.sock"
        environ = {**{k: v for k, v in os.environ.items() if not k.startswith("APIPROXY_")}, **settings}
        proxy = Apiproxy([], f"{workdir}/a.sock", workdir, env=environ, preexec_fn=_limited_to(descriptors))
        started.append(proxy)
        proxy.wait_listening(60)
        deadline_poll(lambda: os.path.exists(f"{workdir}/b.sock"), timeout=60)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()  # a no-op for one stopped already


def _idle_clients(path: str, count: int) -> list[socket.socket]:
    clients = []
    for _ in range(count):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(30)
        deadline_poll(lambda: _connected(client, path), timeout=60)
        clients.append(client)
    return clients


def _connected(client: socket.socket, path: str) -> bool:
    """Connect, or False while the listen backlog is full (a unix socket does not wait for room)."""
    try:
        client.connect(path)
    except BlockingIOError:
        return False
    return True


def _answers(clients: list[socket.socket], expected: int) -> dict[socket.socket, bytes]:
    """What apiproxy wrote before closing, once `expected` of `clients` are closed; the others
    (still held) are left out."""
    answers: dict[socket.socket, bytes] = {}

    def read_closed() -> bool:
        for client in set(clients) - set(answers):
            readable, _, _ = select.select([client], [], [], 0)
            if readable:
                answers[client] = _read_to_end(client)
        return len(answers) >= expected
    deadline_poll(read_closed, timeout=60)
    return answers


def _read_to_end(client: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = client.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _pings(path: str) -> bool:
    """Whether a /_ping is answered 200; False if the connection is closed unanswered."""
    try:
        return request(path, "GET", "/_ping", validate=False).status == 200
    except (ConnectionError, http.client.RemoteDisconnected):
        return False


def _max_connections(proxy: Apiproxy, endpoint: str) -> int:
    found = re.search(re.escape(endpoint) + r": at most ([0-9]+) connections at once", proxy.log)
    assert found, proxy.log
    return int(found.group(1))


def test_a_connection_over_max_connections_gets_503_at_once_unread(two_listeners: Callable[..., Apiproxy],
                                                                   workdir: str) -> None:
    proxy = two_listeners(1024, max_connections=3, metrics=True)
    assert proxy.sock is not None
    held = _idle_clients(proxy.sock, 3)
    try:
        # Accepted after the three (a listen queue is first in, first out): one too many.
        [over] = _idle_clients(proxy.sock, 1)  # sends nothing: answered all the same
        answer = _read_to_end(over)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b"\r\n")[0] == b"HTTP/1.1 503 Service Unavailable"
        assert b"Connection: close" in head.split(b"\r\n") and b"Content-Type: application/json" in head
        assert "max_connections" in json.loads(body)["message"]
        assert request(f"{workdir}/b.sock", "GET", "/_ping").status == 200  # the other listener has its own
        samples = scrape_metrics(f"{workdir}/metrics.sock")
        # at least this one: wait_listening's probe may still count as open when the held ones arrive
        assert metric(samples, "apiproxy_refused_connections_total", reason="max_connections") >= 1
        held.pop().close()
        deadline_poll(lambda: _pings(proxy.sock), timeout=60)  # type: ignore[arg-type]
    finally:
        for client in held:
            client.close()
        assert proxy.stop() == 0, proxy.log
    assert proxy.log.count("has 3 connections open (max_connections)") == 1, proxy.log
    assert "Traceback" not in proxy.log, proxy.log


def test_one_listener_flooded_under_ulimit_128_the_other_still_served(two_listeners: Callable[..., Apiproxy],
                                                                     workdir: str) -> None:
    """RELIABILITY.md's figures: 128 idle connections to one listener of two, at 128 descriptors."""
    proxy = two_listeners(128)
    assert proxy.sock is not None
    limit = _max_connections(proxy, f"unix:{workdir}/a.sock")
    assert limit == (128 - 32) // 6 // 2  # the documented default
    flood = _idle_clients(proxy.sock, 128)
    try:
        answers = _answers(flood, 128 - limit)
        refused = [answer for answer in answers.values() if answer.startswith(b"HTTP/1.1 503 ")]
        unanswered = [answer for answer in answers.values() if not answer]
        print(f"\nflood of 128 at ulimit -n 128: {len(flood) - len(answers)} held, {len(refused)} answered 503, "
              f"{len(unanswered)} closed unanswered; apiproxy holds {proxy.fd_count()} descriptors")
        assert len(refused) + len(unanswered) == len(answers) == 128 - limit
        assert not unanswered, "no accept failed: every connection over the limit was answered"
        # The flooded listener keeps refusing; the other one serves, request after request.
        assert _read_to_end(_idle_clients(proxy.sock, 1)[0]).startswith(b"HTTP/1.1 503 ")
        for _ in range(20):
            assert request(f"{workdir}/b.sock", "GET", "/v1.41/version").status == 200
    finally:
        for client in flood:
            client.close()
    deadline_poll(lambda: _pings(proxy.sock), timeout=60)  # type: ignore[arg-type]
    assert proxy.stop() == 0, proxy.log
    assert "out of file descriptors" not in proxy.log and "Traceback" not in proxy.log, proxy.log


def test_running_out_of_descriptors_is_warned_once_per_burst(two_listeners: Callable[..., Apiproxy],
                                                             workdir: str) -> None:
    """A max_connections above what the open-file limit allows: accepts fail (EMFILE), Twisted
    closes the waiting connections unanswered, and the log says so once."""
    proxy = two_listeners(128, max_connections=1000)
    assert proxy.sock is not None
    flood = _idle_clients(proxy.sock, 128)
    try:
        deadline_poll(lambda: "out of file descriptors (EMFILE)" in proxy.log, timeout=60)
        answers = _answers(flood, 1)
        print(f"\nflood of 128 at ulimit -n 128 with max_connections 1000: {len(flood) - len(answers)} held, "
              f"{len(answers)} closed unanswered")
        assert not any(answers.values())  # closed by Twisted, unanswered
        # What a flood did to every listener before max_connections: the other one's clients too
        # (closed unanswered, or accepted with no descriptor left to reach the daemon).
        print(f"listener b during the flood: /_ping answered 200: {_pings(f'{workdir}/b.sock')}")
    finally:
        for client in flood:
            client.close()
    deadline_poll(lambda: _pings(f"{workdir}/b.sock"), timeout=60)  # once the flood's descriptors are closed
    assert proxy.stop() == 0, proxy.log
    assert proxy.log.count("[apiproxy.listeners#warn] out of file descriptors (EMFILE)") == 1, proxy.log
    assert "Traceback" not in proxy.log, proxy.log
