"""2013 JSON streams as the clients of the time read them (issue 14): Docker 0.4-0.8.1 wrote each progress
or build item bare (v0.8.1 utils/streamformatter.go: json.Marshal, no newline; 0.9 added CRLF) through a
WriteFlusher, so each was one HTTP chunk, and docker-py 0.2.3-0.3.0's _stream_helper reads one chunk's
size line, then its data as one line: one item per chunk, no separator, or it fails."""
from __future__ import annotations

import json
import os
import socket
import uuid
from typing import Iterator

import pytest

from clients.dockerpy import Worker, data
from support import DIRECT_API, Apiproxy, one_file_tar, request

REGISTRY = os.environ.get("APXTEST_REGISTRY", "")
USER = os.environ.get("APXTEST_REGISTRY_USER", "")
PASSWORD = os.environ.get("APXTEST_REGISTRY_PASSWORD", "")


def _chunks(sock_path: str, method: str, target: str, body: bytes, content_type: str) -> Iterator[bytes]:
    """The HTTP chunks of an answer, each as it was framed on the wire."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(300)
        conn.connect(sock_path)
        conn.sendall(f"{method} {target} HTTP/1.1\r\nHost: docker\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        reader = conn.makefile("rb")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = reader.readline()
            assert line, head
            head += line
        assert head.startswith(b"HTTP/1.1 200 ") and b"transfer-encoding: chunked" in head.lower(), head
        while True:
            size = int(reader.readline().strip(), 16)
            if size == 0:
                return
            piece = reader.read(size)
            assert reader.read(2) == b"\r\n"
            yield piece


@pytest.mark.parametrize("version", ["1.8", "1.9"])
def test_each_build_item_is_one_bare_chunk(proxy: Apiproxy, image: str, docker_sock: str, version: str) -> None:
    tag = f"apiproxy-framing-{uuid.uuid4().hex[:8]}"
    context = one_file_tar("Dockerfile", f"FROM {image}\nRUN echo one\nRUN echo two\n".encode())
    try:
        chunks = list(_chunks(proxy.sock, "POST", f"/v{version}/build?t={tag}&rm=1", context, "application/tar"))
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{tag}?force=1", validate=False)
    assert len(chunks) >= 4, chunks
    for chunk in chunks:
        item, end = json.JSONDecoder().raw_decode(chunk.decode())
        assert end == len(chunk) and isinstance(item, dict), chunk  # one item, nothing after it
    assert any("Successfully built" in str(json.loads(chunk).get("stream", "")) for chunk in chunks), chunks


@pytest.mark.skipif(not (REGISTRY and USER and PASSWORD), reason="no registry: APXTEST_REGISTRY, _USER, _PASSWORD")
def test_dockerpy_0_3_0_reads_push_and_pull_progress_chunk_by_chunk(proxy: Apiproxy, image: str,
                                                                   docker_sock: str) -> None:
    """docker-py 0.3.0 (API 1.8) streams push and pull with its _stream_helper: an item followed by CRLF
    made it read the chunk's own CRLF as the next size line and fail (0.3.2 learnt to skip it for 0.9)."""
    worker = Worker("0.3.0", f"unix://{proxy.sock}", "1.8")
    repo = f"{REGISTRY}/apiproxy/framing-{uuid.uuid4().hex[:8]}"
    try:
        login = worker.call("login", USER, PASSWORD, "apiproxy@example.invalid", registry=f"http://{REGISTRY}/v1/")
        assert login.get("Status") == "Login Succeeded", login
        assert worker.call("tag", image, repo, tag="v1") is True
        for method, args in (("push", [repo]), ("pull", [f"{repo}:v1"])):
            if method == "pull":
                assert request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{repo}:v1").status == 200
            items = worker.call(method, *args, stream=True, _within=180)
            assert len(items) >= 2, (method, items)
            decoded = [json.loads(data(item)) for item in items]  # each chunk one whole item
            assert not any("error" in item for item in decoded), (method, decoded)
    finally:
        worker.close()
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{repo}:v1?force=1", validate=False)
