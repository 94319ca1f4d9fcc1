"""Drives one docker-py release, inside its own virtualenv, for the end-to-end tests.

    python dockerpy_worker.py '{"base_url": ..., "version": ...}'

Then one JSON request a line on stdin, one JSON answer a line on stdout:

    {"method": "create_container", "args": [...], "kwargs": {...}}  the method's result
    {"method": "attach", ..., "background": true}  {"handle": N}: a thread collects what it yields
    {"collected": N}                                {"items": [...], "done": bool, "error": ...}

An argument {"file": TEXT} becomes a file opened for reading that holds TEXT (build's fileobj).
Bytes in results come back as {"b64": ...}. A failed call answers {"error": ..., "exchange": ...}.

Python 2 made two things possible that these releases rely on; the shims below give them back
without changing a byte on the wire:
- httplib's response file exposed its socket as `fp._sock`: 0.1.0-0.3.0 read hijacked and chunked
  streams from it. Here `fp._sock` reads through the response's buffer, so nothing is skipped.
- 0.1.0 builds its tar in a `StringIO`, which held bytes in Python 2: it gets a `BytesIO`.
"""
from __future__ import annotations

import base64
import http.client
import io
import json
import sys
import tempfile
import threading
import traceback
from typing import Any, Iterator


class _SocketThroughBuffer:
    """What Python 2's `response.fp._sock` was, reading through the buffered response file."""

    def __init__(self, file: io.BufferedReader, sock: Any) -> None:
        self._file = file
        self._sock = sock

    def recv(self, size: int) -> bytes:
        return self._file.read1(size)

    def makefile(self, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return self._file

    def __getattr__(self, name: str) -> Any:  # settimeout, setblocking, ...
        return getattr(self._sock, name)


class _Py2ResponseFile(io.BufferedReader):
    """A response file that hands out its socket as Python 2's did: whoever took it owns the
    stream from then on, and the response being closed or collected no longer ends it."""

    handed_out = False

    @property
    def _sock(self) -> _SocketThroughBuffer:
        self.handed_out = True
        return _SocketThroughBuffer(self, self.raw._sock)

    def close(self) -> None:
        if not self.handed_out:
            super().close()


_original_response_init = http.client.HTTPResponse.__init__


def _response_init(self: http.client.HTTPResponse, sock: Any, *args: Any, **kwargs: Any) -> None:
    _original_response_init(self, sock, *args, **kwargs)
    self.fp.close()  # nothing read from it yet
    self.fp = _Py2ResponseFile(sock.makefile("rb", buffering=0))


http.client.HTTPResponse.__init__ = _response_init

import docker  # noqa: E402  (after the shims)
import docker.client  # noqa: E402

if getattr(docker.client, "StringIO", None) is io.StringIO:
    docker.client.StringIO = io.BytesIO

EXCHANGES: list[dict[str, Any]] = []
_original_send = docker.Client.send


def _recording_send(self: Any, request: Any, **kwargs: Any) -> Any:
    body = request.body
    shown = (_shorten(body) if isinstance(body, str) else f"<{len(body)} bytes>" if isinstance(body, bytes)
             else f"<{type(body).__name__}>")  # JSON bodies are str; tars are bytes or files
    exchange: dict[str, Any] = {"request": f"{request.method} {request.url}", "body": shown}
    EXCHANGES.append(exchange)
    print(f"> {exchange['request']} {exchange['body']}", file=sys.stderr, flush=True)
    response = _original_send(self, request, **kwargs)
    print(f"< {response.status_code} {dict(response.headers)}", file=sys.stderr, flush=True)
    exchange["status"] = response.status_code
    exchange["headers"] = dict(response.headers)
    if not kwargs.get("stream"):
        exchange["answer"] = _shorten(response.content)
    return response


docker.Client.send = _recording_send


def _shorten(data: bytes | str, limit: int = 2000) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def plain(value: Any) -> Any:
    """`value` as JSON: bytes as {"b64"}, file-likes read to the end, iterators listed."""
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "read"):
        return plain(value.read())
    if hasattr(value, "__next__"):
        return [plain(v) for v in value]
    return repr(value)


def argument(value: Any, opened: list[Any]) -> Any:
    if isinstance(value, dict) and set(value) == {"file"}:
        handle = tempfile.TemporaryFile()
        handle.write(value["file"].encode())
        handle.seek(0)
        opened.append(handle)
        return handle
    return value


class Collector:
    """Consumes an iterator in a thread: attach streams, events, until they end."""

    def __init__(self, iterator: Iterator[Any]) -> None:
        self.items: list[Any] = []
        self.done = False
        self.error: str | None = None
        threading.Thread(target=self._run, args=(iterator,), daemon=True).start()

    def _run(self, iterator: Iterator[Any]) -> None:
        try:
            for item in iterator:
                self.items.append(plain(item))
        except Exception as exc:  # reported to the test, which decides
            self.error = f"{type(exc).__name__}: {exc}"
        self.done = True


def failure(exc: BaseException) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=6),
            "exchange": EXCHANGES[-1] if EXCHANGES else None}


def main() -> None:
    options = json.loads(sys.argv[1])
    client = docker.Client(**options)
    collectors: list[Collector] = []
    out = sys.stdout
    sys.stdout = sys.stderr  # 0.1.0's _tar prints its listing: keep stdout for answers
    for line in sys.stdin:
        request = json.loads(line)
        opened: list[Any] = []
        try:
            if "collected" in request:
                found = collectors[request["collected"]]
                answer: Any = {"items": list(found.items), "done": found.done, "error": found.error}
            else:
                method = getattr(client, request["method"])
                args = [argument(a, opened) for a in request.get("args", [])]
                kwargs = {k: argument(v, opened) for k, v in request.get("kwargs", {}).items()}
                result = method(*args, **kwargs)
                if request.get("background"):
                    collectors.append(Collector(iter(result)))
                    answer = {"handle": len(collectors) - 1}
                else:
                    answer = {"result": plain(result)}
        except Exception as exc:
            answer = failure(exc)
        finally:
            for handle in opened:
                handle.close()
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
