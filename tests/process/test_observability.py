"""The access log and /metrics of a running apiproxy, in front of an echo upstream.

The real daemon's tests (tests/e2e/test_observability_e2e.py) add what only it can show:
attach streams, and the daemon's own answers.
"""
from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from echo_upstream import EchoUpstream
from support import Apiproxy, access_lines, deadline_poll, metric, request, scrape_metrics, start_apiproxy

SECRETS = ("topsecret", "s3cret", "c2VjcmV0YXV0aA==", "cmVnaXN0cnljb25maWc=", "pw-secret")


def _start(echo: EchoUpstream, workdir: str, config: str) -> Apiproxy:
    path = Path(workdir) / "apiproxy.toml"
    path.write_text(config.replace("WORKDIR", workdir))
    return start_apiproxy(echo.path, "--config", str(path), workdir=workdir)


@pytest.fixture
def observed(echo: EchoUpstream, workdir: str) -> Iterator[Apiproxy]:
    """Debug level, so that nothing is held back from the log but what must never be in it."""
    proxy = _start(echo, workdir, '[log]\nlevel = "debug"\n[metrics]\nlisten = "unix:WORKDIR/metrics.sock"\n')
    yield proxy
    assert proxy.stop() == 0, proxy.log
    assert "Traceback" not in proxy.log, proxy.log


def _send_a_mix(sock: str) -> None:
    request(sock, "GET", "/v1.9/version", validate=False)
    request(sock, "GET", "/v1.41/containers/4fa6e0f0c678/json", validate=False)
    request(sock, "POST", "/v1.3/containers/create", {"Image": "base", "Cmd": ["true"], "Env": ["PASSWORD=topsecret"]},
            validate=False)
    assert request(sock, "POST", "/v1.3/containers/create", {"Image": "base", "Memory": "lots"}).status == 400
    request(sock, "POST", "/v1.5/images/create?fromSrc=http://joe:s3cret@example.com/x.tar&repo=app", validate=False,
            headers={"X-Registry-Auth": "c2VjcmV0YXV0aA==", "X-Registry-Config": "cmVnaXN0cnljb25maWc="})
    request(sock, "POST", "/v1.9/auth", {"username": "joe", "password": "pw-secret", "email": "joe@example.com"},
            validate=False)


def test_one_access_line_per_request(observed: Apiproxy) -> None:
    _send_a_mix(observed.sock)  # type: ignore[arg-type]
    observed.stop()
    lines = access_lines(observed.log)
    number, ms = r"\d+", r"[0-9.]+ ms"
    expected = [
        rf"1\.9 -> 1\.41 GET /version 200 in={number} out={number} {ms} changes=[0-9.,]+",
        rf"1\.41 -> 1\.41 GET /containers/\{{id\}}/json 200 in={number} out={number} {ms} changes=-",
        rf"1\.3 -> 1\.41 POST /containers/create 200 in={number} out={number} {ms} changes=1\.10,[0-9.,]+",
        rf"1\.3 -> 1\.41 POST /containers/create 400 in={number} out={number} {ms} changes=[0-9.,]+",
        rf"1\.5 -> 1\.41 POST /images/create 200 in={number} out={number} {ms} changes=\S+",
        rf"1\.9 -> 1\.41 POST /auth 200 in={number} out={number} {ms} changes=\S+",
    ]
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected):
        assert re.fullmatch(pattern, line), (line, pattern)


def test_secrets_never_reach_the_log(observed: Apiproxy) -> None:
    _send_a_mix(observed.sock)  # type: ignore[arg-type]
    observed.stop()
    for secret in SECRETS:
        assert secret not in observed.log, (secret, observed.log)


def test_metrics_count_by_version_template_and_code(observed: Apiproxy, workdir: str) -> None:
    _send_a_mix(observed.sock)  # type: ignore[arg-type]
    request(observed.sock, "GET", "/v1.9/no/such/endpoint/4fa6e0f0c678", validate=False)  # type: ignore[arg-type]
    samples = scrape_metrics(f"{workdir}/metrics.sock")
    requests = "apiproxy_requests_total"
    assert metric(samples, requests, client_version="1.9", endpoint="/version", code="200") == 1
    assert metric(samples, requests, client_version="1.41", endpoint="/containers/{id}/json", code="200") == 1
    assert metric(samples, requests, client_version="1.3", endpoint="/containers/create", code="200") == 1
    assert metric(samples, requests, client_version="1.3", endpoint="/containers/create", code="400") == 1
    assert metric(samples, requests, client_version="1.9", endpoint="other", code="200") == 1
    assert metric(samples, "apiproxy_translation_errors_total", endpoint="/containers/create") == 1
    assert metric(samples, "apiproxy_upstream_info", kind="docker", api_version="1.41", min_api_version="1.12",
                  target="1.41") == 1
    assert metric(samples, "apiproxy_hijacked_streams") == 0
    assert metric(samples, "apiproxy_upstream_reconnects_total") == 0
    # Raw paths never become series; scrapes are not requests.
    assert not any("4fa6e0f0c678" in value for _, labels in samples for _, value in labels)
    assert not any(dict(labels).get("endpoint") == "/metrics" for _, labels in samples)


def test_json_access_file_and_text_messages_apart(echo: EchoUpstream, workdir: str) -> None:
    proxy = _start(echo, workdir, '[log]\nformat = "json"\naccess = "WORKDIR/access.log"\n')
    try:
        request(proxy.sock, "GET", "/v1.9/version", validate=False)  # type: ignore[arg-type]
        request(proxy.sock, "GET", "/v1.41/_ping", validate=False)  # type: ignore[arg-type]
    finally:
        assert proxy.stop() == 0, proxy.log
    events = [json.loads(line) for line in Path(workdir, "access.log").read_text().splitlines()]
    assert [(event["client_version"], event["method"], event["endpoint"], event["status"]) for event in events] == [
        ("1.9", "GET", "/version", 200), ("1.41", "GET", "/_ping", 200)]
    assert all(event["target_version"] == "1.41" and event["bytes_out"] > 0 for event in events)
    # Messages stay on stderr, as JSON too; the access events do not go there.
    messages = [json.loads(line) for line in proxy.log.splitlines() if line.startswith("{")]
    assert messages and not any(message.get("log_namespace") == "apiproxy.access" for message in messages)


def test_access_off(echo: EchoUpstream, workdir: str) -> None:
    proxy = _start(echo, workdir, '[log]\naccess = "off"\n')
    try:
        request(proxy.sock, "GET", "/v1.9/version", validate=False)  # type: ignore[arg-type]
    finally:
        assert proxy.stop() == 0, proxy.log
    assert "apiproxy.access" not in proxy.log and "listening on" in proxy.log
    assert "metrics at" not in proxy.log  # no [metrics] listen: no metrics served


def test_sighup_reopens_the_access_file_for_rotation(echo: EchoUpstream, workdir: str) -> None:
    proxy = _start(echo, workdir, '[log]\naccess = "WORKDIR/access.log"\n')
    try:
        request(proxy.sock, "GET", "/v1.9/version", validate=False)  # type: ignore[arg-type]
        Path(workdir, "access.log").rename(Path(workdir, "access.log.1"))  # what logrotate does
        os.kill(proxy.pid, signal.SIGHUP)
        deadline_poll(lambda: "configuration read again" in proxy.log)
        request(proxy.sock, "GET", "/v1.41/_ping", validate=False)  # type: ignore[arg-type]
    finally:
        assert proxy.stop() == 0, proxy.log
    assert "GET /version 200" in Path(workdir, "access.log.1").read_text()
    assert "GET /_ping 200" in Path(workdir, "access.log").read_text()
    assert "GET /_ping" not in Path(workdir, "access.log.1").read_text()
