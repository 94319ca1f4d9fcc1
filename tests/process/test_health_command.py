"""`apiproxy health` against a running apiproxy: unix, TCP and TLS listeners, the daemon up or down."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from certs import make_pki
from echo_upstream import EchoUpstream
from support import REPO, Apiproxy, deadline_poll, start_apiproxy


def health(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "apiproxy", "health", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_tcp(port: int, proxy: Apiproxy) -> None:
    def up() -> bool:
        assert proxy.process.poll() is None, proxy.log
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0
    deadline_poll(up, 30)


def test_healthy_with_the_daemon_up(echo_proxy: Apiproxy) -> None:
    checked = health("--listen", f"unix:{echo_proxy.sock}")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"healthy: unix:{echo_proxy.sock} answered GET /_ping with 200 OK\n"


def test_healthy_while_the_daemon_is_down_since_apiproxy_answers(workdir: str) -> None:
    """apiproxy's own 502 is an answer: it is up, and serves again once the daemon is."""
    proxy = start_apiproxy(f"{workdir}/no-daemon.sock", workdir=workdir)
    try:
        checked = health("--listen", f"unix:{proxy.sock}", "--upstream", f"unix:{workdir}/no-daemon.sock")
        assert checked.returncode == 0, checked.stderr
        assert "answered GET /_ping with 502 Bad Gateway" in checked.stdout
    finally:
        assert proxy.stop() == 0


def test_unhealthy_when_nothing_listens_with_one_line_saying_why(workdir: str) -> None:
    checked = health("--listen", f"unix:{workdir}/nobody.sock")
    assert checked.returncode == 1
    assert checked.stderr == f"unhealthy: unix:{workdir}/nobody.sock: No such file or directory\n"
    port = free_port()
    refused = health("--allow-plain-tcp", "--listen", f"tcp:{port}:interface=127.0.0.1")
    assert refused.returncode == 1
    assert refused.stderr == f"unhealthy: tcp:{port}:interface=127.0.0.1: Connection refused\n"


def test_unhealthy_when_the_configuration_is_not_the_servers(workdir: str) -> None:
    checked = health("--listen", "tcp:2375")
    assert checked.returncode == 1
    assert checked.stderr.startswith("unhealthy: the configuration has problems: listeners.0.endpoint: a plain TCP")
    assert checked.stderr.count("\n") == 1


def test_the_first_listener_of_a_config_file_over_tcp(echo: EchoUpstream, workdir: str) -> None:
    port = free_port()
    config = Path(workdir) / "apiproxy.toml"
    config.write_text(f'[upstream]\nendpoint = "unix:{echo.path}"\n'
                      f'[[listeners]]\nendpoint = "tcp:{port}"\nallow_plain_tcp = true\n'
                      f'[[listeners]]\nendpoint = "unix:{workdir}/second.sock"\n')
    proxy = Apiproxy(["--config", str(config)], None, workdir)
    try:
        wait_tcp(port, proxy)
        checked = health("--config", str(config))
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout == f"healthy: tcp:{port} answered GET /_ping with 200 OK\n"
    finally:
        assert proxy.stop() == 0


@pytest.fixture
def tls_listener(echo: EchoUpstream, workdir: str) -> Iterator[tuple[Path, Path]]:
    """apiproxy on TLS, and config files: one without client certificates, one requiring them."""
    pki = make_pki(Path(workdir) / "pki")
    port = free_port()
    listener = (f'[upstream]\nendpoint = "unix:{echo.path}"\n[[listeners]]\n'
                f'endpoint = "tcp:{port}:interface=127.0.0.1"\n'
                f'tls_cert = "{pki}/server.pem"\ntls_key = "{pki}/server-key.pem"\n')
    open_config, strict_config = Path(workdir) / "open.toml", Path(workdir) / "strict.toml"
    open_config.write_text(listener)
    strict_config.write_text(listener + f'tls_ca = "{pki}/ca.pem"\n')
    proxy = Apiproxy(["--config", str(open_config)], None, workdir)
    try:
        wait_tcp(port, proxy)
        yield open_config, strict_config
    finally:
        assert proxy.stop() == 0


def test_a_tls_listener_is_checked_over_tls(tls_listener: tuple[Path, Path]) -> None:
    checked = health("--config", str(tls_listener[0]))
    assert checked.returncode == 0, checked.stderr
    assert "answered GET /_ping with 200 OK" in checked.stdout


def test_a_listener_requiring_client_certificates_is_shown_its_own(echo: EchoUpstream, workdir: str,
                                                                    tls_listener: tuple[Path, Path]) -> None:
    """The test PKI's server certificate allows serverAuth only: the listener refuses it as a client's,
    and the reason says what the certificate needs."""
    strict = tls_listener[1]
    port = free_port()
    strict.write_text(strict.read_text().replace(strict.read_text().split('endpoint = "tcp:')[1].split(":")[0],
                                                 str(port)))
    proxy = Apiproxy(["--config", str(strict)], None, workdir)
    try:
        wait_tcp(port, proxy)
        checked = health("--config", str(strict))
        assert checked.returncode == 1
        assert checked.stderr.count("\n") == 1 and "TLS failed" in checked.stderr
        assert "must be signed by its tls_ca and allow clientAuth" in checked.stderr
    finally:
        assert proxy.stop() == 0


def test_an_answer_that_is_no_http_is_unhealthy(workdir: str) -> None:
    path = f"{workdir}/not-http.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
    thread = threading.Thread(target=answer)
    thread.start()
    try:
        checked = health("--listen", f"unix:{path}")
    finally:
        thread.join(30)
        server.close()
    assert checked.returncode == 1
    assert checked.stderr == f"unhealthy: unix:{path} answered 'SSH-2.0-OpenSSH_9.2', not HTTP\n"
