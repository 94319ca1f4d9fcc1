"""The [limits] table: what a client may send, each with a clear error when hit."""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from echo_upstream import EchoUpstream
from support import Apiproxy, UnixHTTPConnection, raw_exchange, request


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
