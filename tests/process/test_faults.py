"""A daemon that dies in the middle of an answer, and one that comes back another version.

A real daemon cannot be made to die at a chosen byte; this one can. (bench/faults.py kills a real
dockerd under load.)
"""
from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from echo_upstream import VERSION
from support import Apiproxy, UnixHTTPConnection, deadline_poll, metric, request, scrape_metrics, start_apiproxy


class _Dying(socketserver.StreamRequestHandler):
    """/version answers; every other request gets the head and one item of a JSON progress stream,
    then the connection ends as if the daemon were killed."""

    def handle(self) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = self.rfile.readline()
            if not line:
                return
            head += line
        target = head.split(b" ", 2)[1].decode()
        self.server.targets.append(target)  # type: ignore[attr-defined]
        if target.endswith("/version"):
            payload = json.dumps(self.server.version).encode()  # type: ignore[attr-defined]
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
            return
        item = b'{"status":"Pulling from library/busybox","id":"latest"}\r\n'
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"%x\r\n%s\r\n" % (len(item), item))
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)


class DyingDaemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, version: dict[str, object]) -> None:
        if os.path.exists(path):
            os.unlink(path)
        super().__init__(path, _Dying)
        self.version = version
        self.targets: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture
def dying(workdir: str) -> Iterator[tuple[DyingDaemon, Apiproxy]]:
    daemon = DyingDaemon(f"{workdir}/dying.sock", VERSION)
    proxy = start_apiproxy(daemon.server_address, workdir=workdir)  # type: ignore[arg-type]
    yield daemon, proxy
    assert proxy.stop() == 0, proxy.log
    assert "Traceback" not in proxy.log, proxy.log
    daemon.close()


def _pull(sock: str, version: str) -> tuple[int, list[str], bytes]:
    connection = UnixHTTPConnection(sock, 30)
    try:
        connection.request("POST", f"/v{version}/images/create?fromImage=busybox")
        answer = connection.getresponse()
        body = answer.read()  # a complete chunked body: http.client raises IncompleteRead otherwise
        return answer.status, [line for line in body.decode().split("\r\n") if line], body
    finally:
        connection.close()


@pytest.mark.parametrize("version", ["1.41", "1.9", "1.5"])
def test_a_progress_stream_cut_by_the_daemon_ends_with_an_error_item(dying: tuple[DyingDaemon, Apiproxy],
                                                                     version: str) -> None:
    _, proxy = dying
    status, _, body = _pull(proxy.sock, version)  # type: ignore[arg-type]
    assert status == 200
    items = []
    decoder, index, text = json.JSONDecoder(), 0, body.decode()
    while index < len(text.rstrip()):  # 2013 streams have no separator between items
        item, index = decoder.raw_decode(text, index)
        items.append(item)
        while index < len(text) and text[index] in " \r\n":
            index += 1
    assert items[0]["status"].startswith("Pulling")
    assert items[-1]["error"] == "the upstream closed the connection in the middle of its answer"
    assert items[-1]["errorDetail"] == {"message": items[-1]["error"]}
    # apiproxy lives on and serves the next request.
    assert request(proxy.sock, "GET", "/v1.41/version", validate=False).status == 200  # type: ignore[arg-type]


def test_a_daemon_that_comes_back_another_version_is_read_again(workdir: str) -> None:
    path = f"{workdir}/dying.sock"
    first = DyingDaemon(path, VERSION)
    config = f"{workdir}/apiproxy.toml"
    with open(config, "w") as file:
        file.write(f'[metrics]\nlisten = "unix:{workdir}/metrics.sock"\n')
    proxy = start_apiproxy(path, "--config", config, workdir=workdir)
    try:
        _pull(proxy.sock, "1.9")  # type: ignore[arg-type]
        assert first.targets[-1].startswith("/v1.41/images/create")
        first.close()
        newer = {**VERSION, "Version": "26.1.5", "ApiVersion": "1.45", "MinAPIVersion": "1.24"}
        second = DyingDaemon(path, newer)
        try:
            _pull(proxy.sock, "1.9")  # type: ignore[arg-type]
            deadline_poll(lambda: any(target.startswith("/v1.45/images/create") for target in second.targets))
            assert "/version" in second.targets[0]  # read again before the request went on
            samples = scrape_metrics(f"{workdir}/metrics.sock")
            assert metric(samples, "apiproxy_upstream_reconnects_total") == 1
            assert [dict(labels) for name, labels in samples if name == "apiproxy_upstream_info"] == [
                {"kind": "docker", "api_version": "1.45", "min_api_version": "1.24", "target": "1.45"}]
        finally:
            second.close()
        assert "Traceback" not in proxy.log, proxy.log
    finally:
        assert proxy.stop() == 0, proxy.log
