"""`twist apiproxy`: Twisted's runner with apiproxy's plugin, its options and its logs."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from echo_upstream import EchoUpstream
from support import APIPROXY_COMMAND, REPO, deadline_poll, request

TWIST = str(Path(sys.executable).parent / "twist")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)


def options_section(help_text: str) -> str:
    return help_text.partition("\noptions:\n")[2]


class Twist:
    """`twist apiproxy ARGS` with stdout (twist's own log) and stderr (apiproxy's) apart."""

    def __init__(self, workdir: str, *args: str) -> None:
        self.out, self.err = Path(workdir, "twist.out"), Path(workdir, "twist.err")
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.process = subprocess.Popen([TWIST, "apiproxy", *args], cwd=REPO, stdout=out, stderr=err)

    def wait_for(self, path: str) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, self.err.read_text()
            return os.path.exists(path)
        deadline_poll(ready)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(20)


@pytest.fixture
def twist(echo: EchoUpstream, workdir: str) -> Iterator[Twist]:
    running = Twist(workdir, "--listen", f"unix:{workdir}/ap.sock", "--upstream", f"unix:{echo.path}")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_twist_lists_the_plugin() -> None:
    listed = run(TWIST, "--help")
    assert listed.returncode == 0
    assert any(line.split()[:1] == ["apiproxy"] for line in listed.stdout.splitlines()), listed.stdout


def test_twist_apiproxy_takes_the_apiproxy_commands_options() -> None:
    plugin, command = run(TWIST, "apiproxy", "--help"), run(*APIPROXY_COMMAND, "--help")
    assert plugin.returncode == command.returncode == 0
    assert plugin.stdout.startswith("usage: twist apiproxy")
    assert options_section(plugin.stdout) == options_section(command.stdout)  # one definition, in apiproxy.cli
    for option in ("--config FILE", "--listen ENDPOINT", "--allow-plain-tcp", "--upstream ENDPOINT",
                   "--target-version auto|V"):
        assert option in plugin.stdout


def test_twist_apiproxy_serves_logs_once_and_stops_on_sigterm(twist: Twist, workdir: str) -> None:
    sock = f"{workdir}/ap.sock"
    twist.wait_for(sock)
    reply = request(sock, "GET", "/v1.9/version")
    assert reply.status == 200 and reply.json()["Version"] == "20.10.24"
    # twist stops its service, then ends by the signal that stopped it, as Twisted's runners do.
    assert twist.stop() == -signal.SIGTERM
    assert not os.path.exists(sock), "the service stopped: its socket is gone"
    stderr, stdout = twist.err.read_text(), twist.out.read_text()
    # apiproxy's messages and access log on stderr once each, as `apiproxy` writes them; twist's own log
    # (stdout) has Twisted's lines only.
    assert stderr.count("[apiproxy.listeners#info] listening on") == 1, stderr
    assert stderr.count("[apiproxy.access#info] 1.9 -> 1.41 GET /version 200") == 1, stderr
    assert "Traceback" not in stderr
    assert '"log_namespace": "apiproxy.' not in stdout and "Main loop terminated" in stdout, stdout


def test_sighup_reads_the_configuration_again(echo: EchoUpstream, workdir: str) -> None:
    config = Path(workdir, "c.toml")
    config.write_text(f'[upstream]\nendpoint = "unix:{echo.path}"\n[[listeners]]\nendpoint = "unix:{workdir}/a.sock"\n')
    running = Twist(workdir, "--config", str(config))
    try:
        running.wait_for(f"{workdir}/a.sock")
        config.write_text(config.read_text().replace("a.sock", "b.sock"))
        running.process.send_signal(signal.SIGHUP)
        running.wait_for(f"{workdir}/b.sock")
        assert request(f"{workdir}/b.sock", "GET", "/v1.9/version").status == 200
        assert "SIGHUP: configuration read again (1 listeners)" in running.err.read_text()
    finally:
        assert running.stop() == -signal.SIGTERM


def test_an_unknown_option_gets_twists_usage_error() -> None:
    result = run(TWIST, "apiproxy", "--bogus")
    assert result.returncode == 64  # EX_USAGE
    assert "Error: unrecognized arguments: --bogus" in result.stderr
    assert "usage: twist apiproxy" in result.stderr  # and which options there are


@pytest.mark.parametrize(("text", "expected"), [
    ('[[listeners]]\nendpoint = "unix:/tmp/x.sock"\nbogus = 1\n', "listeners.0.bogus: unknown key"),
    ('[[listeners]]\nendpoint = "unix:/tmp/x.sock"\nmode = "0666"\n', "listeners.0.mode: socket mode 0666 is wider"),
])
def test_a_bad_configuration_is_refused_as_apiproxy_refuses_it(workdir: str, text: str, expected: str) -> None:
    config = Path(workdir, "bad.toml")
    config.write_text(text)
    plugin, command = run(TWIST, "apiproxy", "--config", str(config)), run(*APIPROXY_COMMAND, "--config", str(config))
    assert plugin.returncode == command.returncode == 1
    assert plugin.stderr == command.stderr and expected in plugin.stderr
    assert not os.path.exists("/tmp/x.sock")


def test_a_listener_that_cannot_start_ends_twist_with_the_reason(workdir: str) -> None:
    taken = Path(workdir, "ap.sock")
    taken.write_text("not a socket")
    result = run(TWIST, "apiproxy", "--listen", f"unix:{taken}", "--upstream", "unix:/nonexistent")
    assert result.returncode == 1
    assert f"{taken} exists and is not a socket; refusing to replace it" in result.stderr
    assert "Traceback" not in result.stderr and taken.read_text() == "not a socket"
