"""A Docker 0.x daemon of one Remote API version, answering with its documentation's examples.

What apiproxy sends a 2013 daemon cannot be checked against today's dockerd;
this fake plays one: a threaded HTTP/1.1 server on a unix socket that routes
`/vX.Y/...` and bare paths as Docker 0.6-0.8 did (gorilla mux, the version
read with Go's ParseFloat) and answers every endpoint with the example
response of `docker_remote_api_v{V}.rst` (see docs.py), never with
apiproxy's own schemas, whatever older version a prefix names (the real
daemons kept a few older shapes for older prefixes; apiproxy sends only the
target's).  An id or name containing "nosuch" is unknown: 404 in plain text,
as Go's http.Error wrote errors.  Every request it receives is recorded.
"""
from __future__ import annotations

import json
import os
import re
import socketserver
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import parse_qs

from .docs import Docs, DocExample, load

_PREFIX = re.compile(r"/v([0-9.]+)(/.*)")  # the daemon's route "/v{version:[0-9.]+}" + path
_REASONS = {200: "OK", 201: "Created", 204: "No Content", 404: "Not Found", 500: "Internal Server Error"}
MISSING_MARK = "nosuch"  # an id or name containing it is one the daemon does not know


@dataclass(frozen=True)
class Received:
    """One request as it reached the fake."""

    method: str
    target: str  # path and query, as sent
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.target.partition("?")[2], keep_blank_values=True)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


def _go_float(text: str) -> float | None:
    """Go's strconv.ParseFloat as the 2013 router used it ("1.10" is 1.1); None on error."""
    try:
        return float(text)
    except ValueError:
        return None


def read_request(rfile: BinaryIO) -> tuple[Received, bool] | None:
    """The next request on a connection (None at its end), and whether the connection stays open
    after the answer."""
    line = rfile.readline()
    if not line.strip():
        return None
    method, target, protocol = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while (line := rfile.readline().decode("latin-1").rstrip("\r\n")):
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    lowered = {name.lower(): value for name, value in headers}
    if lowered.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while (size := int(rfile.readline().split(b";")[0], 16)):
            body += rfile.read(size)
            rfile.readline()
        while rfile.readline() not in (b"\r\n", b""):
            pass
    else:
        body = rfile.read(int(lowered.get("content-length", "0")))
    keep = protocol == "HTTP/1.1" and lowered.get("connection", "").lower() != "close"
    return Received(method, target, tuple(headers), body), keep


class _Handler(socketserver.StreamRequestHandler):
    server: FakeDaemon

    def handle(self) -> None:
        while (request := read_request(self.rfile)) is not None:
            received, keep = request
            self.server.record(received)
            if not self._answer(received.method, received.path, keep):
                return

    def _answer(self, method: str, path: str, keep: bool) -> bool:
        """Write the answer; False when the connection ends with it."""
        own = float(self.server.version)
        prefixed = _PREFIX.fullmatch(path)
        if prefixed:
            asked = _go_float(prefixed.group(1))
            version = own if asked is None else asked  # the daemon's own when unparsable
            path = prefixed.group(2)
            if version > own:
                return self._text(404, f"client and server don't have same version "
                                       f"(client : {version:g}, server: {own:g})", keep)
        example = self.server.docs.find(method, path)
        if example is None:
            return self._text(404, "404 page not found", keep)
        if MISSING_MARK in path:
            what = "container" if path.startswith("/containers/") else "image"
            name = next(part for part in path.split("/") if MISSING_MARK in part)
            return self._text(404, f"No such {what}: {name}", keep)
        return self._example(example, keep)

    def _example(self, example: DocExample, keep: bool) -> bool:
        body, headers = example.body, [(k, v) for k, v in example.headers if k.lower() != "content-length"]
        if example.method == "GET" and example.template == "/version":
            document = dict(example.document)
            if self.server.api_version:  # the documented examples predate ApiVersion
                document["ApiVersion"] = self.server.version
            body = json.dumps(document, separators=(",", ":")).encode()
        if example.header("content-type") == "application/vnd.docker.raw-stream" and "attach" in example.template:
            # A hijacked attach: the stream runs until the daemon closes the connection.
            self._write(example.status, headers, body, length=False)
            return False
        self._write(example.status, headers, body if example.status not in (204, 304) else b"")
        return keep

    def _text(self, status: int, message: str, keep: bool) -> bool:
        """An error as Go's http.Error wrote it."""
        self._write(status, [("Content-Type", "text/plain; charset=utf-8")], message.encode() + b"\n")
        return keep

    def _write(self, status: int, headers: list[tuple[str, str]], body: bytes, length: bool = True) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}", *(f"{k}: {v}" for k, v in headers)]
        if length and status not in (204, 304):
            lines.append(f"Content-Length: {len(body)}")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()


class RecordingServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A fake daemon's server: listens at `path` at once, serving in a thread, and keeps every request."""

    daemon_threads = True

    def __init__(self, path: str, handler: type[socketserver.BaseRequestHandler]) -> None:
        if os.path.exists(path):
            os.unlink(path)
        super().__init__(path, handler)
        self.path = path
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def since(self, mark: int) -> list[Received]:
        """The requests received after the first `mark` ones."""
        with self._lock:
            return self.requests[mark:]

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        os.unlink(self.path)


class FakeDaemon(RecordingServer):
    """A daemon of API `version` ("1.7") at `path`; `api_version=False`: /version does not say it."""

    def __init__(self, path: str, version: str, api_version: bool = True) -> None:
        self.docs: Docs = load(version)  # parsed before listening: a bad example fails the fixture
        self.version = version
        self.api_version = api_version
        super().__init__(path, _Handler)

    def example(self, method: str, template: str) -> DocExample:
        return self.docs.get(method, template)
