"""Access: per-listener policies in front of a real daemon, and what a listener may be."""
from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs import make_pki
from support import DIRECT_API, MODERN_CLI, Apiproxy, deadline_poll, docker, request


def pick_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def guarded(docker_sock: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """One apiproxy, three listeners: exec denied, read-only, and an allow list."""
    config = tmp_path / "apiproxy.toml"
    config.write_text(f"""
[upstream]
endpoint = "unix:{docker_sock}"

[[listeners]]
endpoint = "unix:{tmp_path}/no-exec.sock"
[listeners.policy]
deny = ["exec", "POST /containers/{{id}}/kill"]

[[listeners]]
endpoint = "unix:{tmp_path}/read-only.sock"
[listeners.policy]
read_only = true

[[listeners]]
endpoint = "unix:{tmp_path}/allow.sock"
[listeners.policy]
allow = ["system", "GET /containers/{{id}}/json"]
deny = ["GET /version"]
""")
    proxy = Apiproxy(["--config", str(config)], f"{tmp_path}/allow.sock", str(tmp_path)).wait_listening()
    try:
        yield {name: f"{tmp_path}/{name}.sock" for name in ("no-exec", "read-only", "allow")}
    finally:
        assert proxy.stop() == 0


@pytest.fixture
def container(docker_sock: str, image: str) -> Iterator[str]:
    cid = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create",
                  {"Image": image, "Cmd": ["sleep", "600"]}).json()["Id"]
    request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start")
    try:
        yield cid
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


def test_a_denied_group_is_refused_at_every_version(guarded: dict[str, str], container: str) -> None:
    sock = guarded["no-exec"]
    exec_body = {"Cmd": ["true"], "AttachStdout": True}
    modern = request(sock, "POST", f"/v1.41/containers/{container}/exec", exec_body)
    assert modern.status == 403
    assert "rule 'exec'" in modern.json()["message"]  # Docker's JSON error
    assert request(sock, "POST", f"/containers/{container}/exec", exec_body).status == 403
    legacy = request(sock, "POST", f"/v1.9/containers/{container[:12]}/kill", validate=False)
    assert legacy.status == 403 and legacy.text.startswith("access denied")  # 2013 errors are text
    assert "'POST /containers/{id}/kill'" in legacy.text
    # What is not denied passes, and the connection served a refusal and goes on.
    assert request(sock, "GET", f"/v1.41/containers/{container}/json").status == 200


def test_the_modern_cli_meets_the_policy(guarded: dict[str, str], container: str) -> None:
    result = docker(guarded["no-exec"], "exec", container, "true", check=False)
    assert result.returncode != 0 and b"access denied" in result.stderr
    assert docker(guarded["no-exec"], "inspect", container).returncode == 0
    result = docker(guarded["read-only"], "stop", container, check=False)
    assert result.returncode != 0 and b"read_only" in result.stderr


def test_read_only_serves_reads_and_refuses_the_rest(guarded: dict[str, str], container: str,
                                                     docker_sock: str) -> None:
    sock = guarded["read-only"]
    assert request(sock, "GET", "/v1.9/containers/json").status == 200
    assert request(sock, "GET", "/v1.41/images/json").status == 200
    assert request(sock, "HEAD", "/_ping", validate=False).status == 200
    assert request(sock, "POST", f"/v1.9/containers/{container[:12]}/stop", validate=False).status == 403
    refused = request(sock, "POST", "/v1.41/containers/create", {"Image": "x"})
    assert refused.status == 403 and "read_only" in refused.json()["message"]
    # Nothing reached the daemon: the container still runs.
    assert request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{container}/json").json()["State"]["Running"]


def test_an_allow_list_refuses_everything_else(guarded: dict[str, str], container: str) -> None:
    sock = guarded["allow"]
    assert request(sock, "GET", "/_ping", validate=False).status == 200
    assert request(sock, "GET", "/v1.41/info").status == 200
    assert request(sock, "GET", f"/v1.9/containers/{container[:12]}/json").status == 200
    listed = request(sock, "GET", "/v1.41/containers/json")
    assert listed.status == 403 and "allow list" in listed.json()["message"]
    assert request(sock, "GET", "/v1.41/swarm").status == 403
    denied = request(sock, "GET", "/v1.41/version")  # in the system group, but denied: deny wins
    assert denied.status == 403 and "'GET /version'" in json.loads(denied.body)["message"]


# Listeners beyond unix sockets ---------------------------------------------------

def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"apiproxy-{len(list(tmp_path.glob('apiproxy-*.toml')))}.toml"
    path.write_text(text)
    return path


def _wait_tcp(port: int, proxy: Apiproxy) -> None:
    def ready() -> bool:
        if proxy.process.poll() is not None:
            raise RuntimeError(f"apiproxy exited {proxy.process.returncode}:\n{proxy.log}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0
    deadline_poll(ready)


def test_a_plain_tcp_listener_needs_allow_plain_tcp(docker_sock: str, tmp_path: Path) -> None:
    port = pick_port()
    listener = f'[[listeners]]\nendpoint = "tcp:{port}:interface=127.0.0.1"\n'
    upstream = f'[upstream]\nendpoint = "unix:{docker_sock}"\n'
    refused = subprocess.run([sys.executable, "-m", "apiproxy", "--config", str(_config(tmp_path, upstream + listener))],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "allow_plain_tcp" in refused.stderr
    allowed = _config(tmp_path, upstream + listener + "allow_plain_tcp = true\n")
    proxy = Apiproxy(["--config", str(allowed)], None, str(tmp_path))
    try:
        _wait_tcp(port, proxy)
        # the warning at start: logged once the listener is up, so it may trail the first connect
        deadline_poll(lambda: "plain TCP" in proxy.log and "root" in proxy.log, 10)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/v1.9/version")
        assert connection.getresponse().status == 200
    finally:
        assert proxy.stop() == 0


@pytest.fixture
def tls_proxy(docker_sock: str, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """apiproxy on TLS with client certificates required, in front of the real daemon."""
    pki = make_pki(tmp_path / "pki")
    port = pick_port()
    config = _config(tmp_path, f"""
[upstream]
endpoint = "unix:{docker_sock}"
[[listeners]]
endpoint = "tcp:{port}:interface=127.0.0.1"
tls_cert = "{pki}/server.pem"
tls_key = "{pki}/server-key.pem"
tls_ca = "{pki}/ca.pem"
""")
    proxy = Apiproxy(["--config", str(config)], None, str(tmp_path))
    try:
        _wait_tcp(port, proxy)
        yield port, pki
    finally:
        assert proxy.stop() == 0


def _tls_get(port: int, pki: Path, path: str, client: str | None) -> int:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if client is not None:
        context.load_cert_chain(pki / f"{client}.pem", pki / ("key.pem" if client == "cert" else f"{client}-key.pem"))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_tls_listener_requires_a_client_certificate_its_ca_signed(tls_proxy: tuple[int, Path]) -> None:
    port, pki = tls_proxy
    assert _tls_get(port, pki, "/v1.9/version", "cert") == 200
    for client in (None, "stranger"):  # TLS 1.3 reports the refusal at the first read
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _tls_get(port, pki, "/v1.9/version", client)


def test_the_modern_cli_speaks_tls_to_apiproxy(tls_proxy: tuple[int, Path]) -> None:
    port, pki = tls_proxy
    env = {"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(pki)}
    result = subprocess.run([MODERN_CLI, "version", "--format", "{{.Server.APIVersion}}"], capture_output=True,
                            timeout=60, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_an_upstream_reached_over_tls(tls_proxy: tuple[int, Path], tmp_path: Path) -> None:
    """A second apiproxy takes the first as a remote daemon: TLS with a client certificate."""
    port, pki = tls_proxy
    config = _config(tmp_path, f"""
[upstream]
endpoint = "tcp:127.0.0.1:{port}"
tls_ca = "{pki}/ca.pem"
tls_cert = "{pki}/cert.pem"
tls_key = "{pki}/key.pem"
[[listeners]]
endpoint = "unix:{tmp_path}/front.sock"
""")
    front = Apiproxy(["--config", str(config)], f"{tmp_path}/front.sock", str(tmp_path)).wait_listening()
    try:
        assert request(front.sock, "GET", "/v1.9/version").status == 200
        assert request(front.sock, "GET", "/v1.41/containers/json").status == 200
    finally:
        assert front.stop() == 0


@pytest.mark.parametrize("target", [
    "/v1.41//containers/{cid}/exec", "/v1.41/./containers/{cid}/../{cid}/exec/", "/v1.9/../v1.41/containers/{cid}/exec",
    "/v1.41/containers/{cid}/%65xec", "/v1.41/%63ontainers/{cid}/exec?x=/../_ping", "/containers/{cid}/exec//",
    "/v4.0.0/libpod/containers/{cid}/exec"])
def test_no_path_trick_gets_around_a_rule(guarded: dict[str, str], container: str, target: str) -> None:
    answer = request(guarded["no-exec"], "POST", target.format(cid=container), {"Cmd": ["true"]}, validate=False)
    assert answer.status == 403 and "rule 'exec'" in answer.text


def test_a_path_that_names_no_endpoint_reaches_nothing(guarded: dict[str, str], container: str) -> None:
    answer = request(guarded["no-exec"], "POST", f"/v1.41/CONTAINERS/{container}/exec", {"Cmd": ["true"]},
                     validate=False)
    assert answer.status == 404  # the daemon's router is case-sensitive too: what was checked is what it got
