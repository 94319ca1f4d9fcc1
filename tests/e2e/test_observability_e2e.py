"""Access log and metrics in front of the real daemon: a legacy session, an attach, a modern CLI.

At debug level, so that nothing is held back from the log but what must never be in it.
"""
from __future__ import annotations

import base64
import json
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_streams import _frames_payload, _open_attach

from support import (DIRECT_API, Apiproxy, access_lines, deadline_poll, docker, metric, request, scrape_metrics,
                     start_apiproxy)

REGISTRY = os.environ.get("APXTEST_REGISTRY", "")
USER = os.environ.get("APXTEST_REGISTRY_USER", "")
PASSWORD = os.environ.get("APXTEST_REGISTRY_PASSWORD", "")
ENV_SECRET = "env-" + uuid.uuid4().hex
URL_SECRET = "url-" + uuid.uuid4().hex


@pytest.fixture
def observed(docker_sock: str, tmp_path: Path) -> Iterator[tuple[Apiproxy, str]]:
    metrics = f"{tmp_path}/metrics.sock"
    config = tmp_path / "apiproxy.toml"
    config.write_text(f'[log]\nlevel = "debug"\n[metrics]\nlisten = "unix:{metrics}"\n')
    proxy = start_apiproxy(docker_sock, "--config", str(config))
    yield proxy, metrics
    assert proxy.stop() == 0, proxy.log
    assert "Traceback" not in proxy.log, proxy.log


def _target(proxy: Apiproxy) -> str:
    found = re.search(r"legacy requests go at API (\d+\.\d+)", proxy.log)
    assert found, proxy.log
    return found.group(1)


def test_a_legacy_session_in_the_log_and_the_metrics(observed: tuple[Apiproxy, str], image: str) -> None:
    proxy, metrics = observed
    sock = proxy.sock
    assert sock is not None
    created = request(sock, "POST", "/v1.3/containers/create",
                      {"Image": image, "Cmd": ["cat"], "OpenStdin": True, "StdinOnce": True, "AttachStdin": True,
                       "AttachStdout": True, "Env": [f"TOKEN={ENV_SECRET}"]})
    assert created.status == 201, created
    cid = created.json()["Id"]
    try:
        assert request(sock, "POST", f"/v1.9/containers/{cid}/start").status == 204
        payload = b"hello through the splice\n" * 100
        conn, head, rest = _open_attach(sock, f"/v1.9/containers/{cid}/attach?stream=1&stdin=1&stdout=1", False)
        assert head.startswith(b"HTTP/1.1 200"), head
        conn.sendall(payload)
        with conn:
            # While the stream runs, it is one hijacked stream.
            deadline_poll(lambda: metric(scrape_metrics(metrics), "apiproxy_hijacked_streams") == 1)
            conn.shutdown(socket.SHUT_WR)  # stdin's end ends cat, and the stream
            received = rest
            while chunk := conn.recv(65536):
                received += chunk
        assert _frames_payload(received) == payload  # a tty-less attach is multiplexed since 1.6
        deadline_poll(lambda: metric(scrape_metrics(metrics), "apiproxy_hijacked_streams") == 0)
        samples = scrape_metrics(metrics)
        assert metric(samples, "apiproxy_spliced_bytes_total", direction="to_daemon") >= len(payload)
        assert metric(samples, "apiproxy_spliced_bytes_total", direction="to_client") >= len(payload)
        assert request(sock, "GET", f"/v1.9/containers/{cid}/json").status == 200
        # The stream ends with cat; the daemon may not have marked the container stopped yet (Podman).
        assert request(sock, "POST", f"/v1.9/containers/{cid}/wait").status == 200
        assert request(sock, "DELETE", f"/v1.9/containers/{cid}").status == 204
    finally:
        request(proxy.sock, "DELETE", f"/v1.41/containers/{cid}?force=1", validate=False)  # type: ignore[arg-type]
    target = _target(proxy)
    number, ms = r"\d+", r"[0-9.]+ ms"
    lines = access_lines(proxy.log)
    expected = [
        # On Podman its profile is crossed last.
        rf"1\.3 -> {target} POST /containers/create 201 in={number} out={number} {ms} changes=1\.10,[0-9.,]+(,podman)?",
        rf"1\.9 -> {target} POST /containers/\{{id\}}/start 204 in={number} out=\d+ {ms} changes=\S+",
        rf"1\.9 -> {target} POST /containers/\{{id\}}/attach 200 in={number} out={number} {ms} changes=\S+",
        rf"1\.9 -> {target} GET /containers/\{{id\}}/json 200 in={number} out={number} {ms} changes=\S+",
        rf"1\.9 -> {target} POST /containers/\{{id\}}/wait 200 in={number} out={number} {ms} changes=\S+",
        rf"1\.9 -> {target} DELETE /containers/\{{id\}} 204 in={number} out={number} {ms} changes=\S+",
    ]
    assert len(lines) >= len(expected), lines
    for line, pattern in zip(lines, expected):
        assert re.fullmatch(pattern, line), (line, pattern)
    attach = lines[2]
    bytes_in = int(re.search(r"in=(\d+)", attach).group(1))  # type: ignore[union-attr]
    bytes_out = int(re.search(r"out=(\d+)", attach).group(1))  # type: ignore[union-attr]
    assert bytes_in >= len(payload) and bytes_out >= len(payload)  # a spliced stream counts too
    samples = scrape_metrics(metrics)
    for template, code in [("/containers/create", "201"), ("/containers/{id}/start", "204"),
                           ("/containers/{id}/attach", "200"), ("/containers/{id}", "204")]:
        version = "1.3" if template == "/containers/create" else "1.9"
        assert metric(samples, "apiproxy_requests_total", client_version=version, endpoint=template, code=code) == 1
    assert not any(cid in value or cid[:12] in value for _, labels in samples for _, value in labels)
    # A legacy client is told the daemon's own ApiVersion (modern ones, the advertised one).
    daemon = request(proxy.sock, "GET", "/v1.9/version").json()  # type: ignore[arg-type]
    info = [dict(labels) for name, labels in samples if name == "apiproxy_upstream_info"]
    assert len(info) == 1 and info[0]["target"] == target and info[0]["api_version"] == daemon["ApiVersion"]
    assert ENV_SECRET not in proxy.log


@pytest.mark.skipif(not (REGISTRY and USER and PASSWORD), reason="no registry: run via tests/run, which starts one")
def test_registry_credentials_and_url_passwords_never_logged(observed: tuple[Apiproxy, str], docker_sock: str,
                                                               image: str) -> None:
    proxy, _ = observed
    sock = proxy.sock
    assert sock is not None
    login = {"username": USER, "password": PASSWORD, "email": "legacy@example.invalid",
             "serveraddress": f"http://{REGISTRY}/v1/"}
    assert request(sock, "POST", "/v1.9/auth", login).status == 200
    auth = base64.b64encode(json.dumps({"username": USER, "password": PASSWORD, "serveraddress": REGISTRY,
                                        "email": "legacy@example.invalid"}).encode()).decode()
    config = base64.b64encode(json.dumps({REGISTRY: {"username": USER, "password": PASSWORD}}).encode()).decode()
    repo = f"{REGISTRY}/apiproxy-observed/{uuid.uuid4().hex[:10]}"
    assert request(docker_sock, "POST", f"/v{DIRECT_API}/images/{image}/tag?repo={repo}&tag=v1").status == 201
    try:
        pushed = request(sock, "POST", f"/v1.9/images/{repo}/push?tag=v1", headers={"X-Registry-Auth": auth})
        assert pushed.status == 200 and b'"error"' not in pushed.body, pushed
        pulled = request(sock, "POST", f"/v1.9/images/create?fromImage={repo}&tag=v1",
                         headers={"X-Registry-Auth": auth})
        assert pulled.status == 200, pulled
        request(sock, "POST", "/v1.9/build?t=observed-never-built", b"not a tar",
                headers={"X-Registry-Config": config, "Content-Type": "application/tar"}, validate=False)
        # The daemon tries the URL and fails (nothing listens there); the password stays out of the log.
        request(sock, "POST", f"/v1.5/images/create?fromSrc=http://joe:{URL_SECRET}@127.0.0.1:9/x.tar&repo=never",
                validate=False)
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{repo}:v1?force=1")
    log = proxy.log
    assert "POST /images/{name}/push 200" in log and "POST /images/create 200" in log
    for secret in (PASSWORD, auth, config, URL_SECRET):
        assert secret not in log, secret


def test_modern_clients_in_the_log_as_themselves(observed: tuple[Apiproxy, str], docker_sock: str) -> None:
    proxy, metrics = observed
    assert proxy.sock is not None
    docker(proxy.sock, "version")
    docker(proxy.sock, "ps", "-a")
    # A 1.41 client (Debian's CLI) climbs to a higher floor: the line shows both versions.
    floor = request(docker_sock, "GET", f"/v{DIRECT_API}/version").json()["MinAPIVersion"]
    sent = floor if tuple(map(int, floor.split("."))) > (1, 41) else "1.41"
    assert request(proxy.sock, "GET", "/v1.41/containers/json").status == 200
    climbed = f"1.41 -> {sent} GET /containers/json 200 "
    # An exchange's line is written once it has ended, which may be just after its client has the answer.
    def logged() -> list[str] | None:
        lines = access_lines(proxy.log)
        return lines if any(line.startswith(climbed) for line in lines) else None

    try:
        lines = deadline_poll(logged, timeout=5)
    except TimeoutError:
        raise AssertionError(access_lines(proxy.log)) from None
    modern = [line for line in lines if re.match(r"1\.(2[4-9]|[3-9]\d) -> ", line)]
    assert any(re.fullmatch(r"(\S+) -> \1 GET /containers/json 200 .* changes=-", line) for line in modern), lines
    samples = scrape_metrics(metrics)
    assert any(name == "apiproxy_requests_total" and dict(labels)["endpoint"] == "/containers/json"
               for name, labels in samples)
