"""The apiproxy command as a user runs it: sockets, config, errors, signals."""
from __future__ import annotations

import grp
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from echo_upstream import EchoUpstream
from support import REPO, Apiproxy, deadline_poll, request, start_apiproxy


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "apiproxy", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def _docker_gid() -> int | None:
    try:
        return grp.getgrnam("docker").gr_gid
    except KeyError:
        return None


def test_unix_socket_is_0660_with_group_docker_right_after_start(workdir: str) -> None:
    proxy = start_apiproxy(f"{workdir}/nothing.sock", workdir=workdir)
    try:
        info = os.stat(proxy.sock)
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o660
        if _docker_gid() is not None:
            assert info.st_gid == _docker_gid()
    finally:
        assert proxy.stop() == 0
    assert not os.path.exists(proxy.sock), "the socket file is removed on stop"


def test_configured_mode_and_group_are_applied(workdir: str) -> None:
    config = Path(workdir, "c.toml")
    config.write_text(f'[upstream]\nendpoint = "unix:{workdir}/none.sock"\n'
                      f'[[listeners]]\nendpoint = "unix:{workdir}/ap.sock"\nmode = "0600"\ngroup = "root"\n')
    proxy = Apiproxy(["--config", str(config)], f"{workdir}/ap.sock", workdir).wait_listening()
    try:
        info = os.stat(proxy.sock)
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o600, 0)
    finally:
        proxy.stop()


@pytest.mark.parametrize("endpoint", ["unix:{d}/ap.sock:mode=666", "unix:{d}/ap.sock:mode=777",
                                      "unix:address={d}/ap.sock:mode=0664"])
def test_a_mode_wider_than_0660_is_refused(workdir: str, endpoint: str) -> None:
    result = _run_cli("--listen", endpoint.format(d=workdir), "--upstream", "unix:/nonexistent")
    assert result.returncode == 1
    assert "wider than 0660" in result.stderr
    assert not os.path.exists(f"{workdir}/ap.sock")


def test_sigterm_ends_with_status_0(workdir: str) -> None:
    proxy = start_apiproxy(f"{workdir}/none.sock", workdir=workdir)
    assert proxy.stop() == 0


def test_missing_upstream_gets_502_naming_it_in_the_clients_error_style(workdir: str) -> None:
    upstream = f"{workdir}/absent.sock"
    proxy = start_apiproxy(upstream, workdir=workdir)
    try:
        legacy = request(proxy.sock, "GET", "/v1.9/version")
        assert legacy.status == 502
        assert legacy.header("Content-Type").startswith("text/plain")
        assert legacy.text.endswith("\n") and f"unix:{upstream}" in legacy.text
        modern = request(proxy.sock, "GET", "/v1.41/version")
        assert modern.status == 502 and f"unix:{upstream}" in modern.json()["message"]
        ping = request(proxy.sock, "GET", "/_ping")
        assert ping.status == 502 and f"unix:{upstream}" in ping.json()["message"]
    finally:
        assert proxy.stop() == 0
    assert "Traceback" not in proxy.log


def test_check_config_accepts_the_shipped_file() -> None:
    result = _run_cli("check-config", str(REPO / "conf/apiproxy.toml"))
    assert (result.returncode, result.stdout.strip()) == (0, "OK")


@pytest.mark.parametrize(("text", "expected"), [
    ('[upstream]\nendpoint = "unix:/x"\nbogus = 1\n', "upstream.bogus: unknown key"),
    ('[[listeners]]\nendpoint = "unix:/tmp/x.sock"\nmode = "0666"\n', "listeners.0.mode:"),
    ('[[listeners]]\nendpoint = "unix:/tmp/x.sock"\n[colour]\n', "colour: unknown key"),
    ('unversioned_version = 9\n[[listeners]]\nendpoint = "unix:/tmp/x.sock"\n', "unversioned_version:"),
    ('[upstream]\nadvertise_version = "1.9"\n[[listeners]]\nendpoint = "unix:/tmp/x.sock"\n',
     "upstream.advertise_version: 1.9 is a 2013 version"),
    ('[upstream]\nadvertise_version = "1.99"\n[[listeners]]\nendpoint = "unix:/tmp/x.sock"\n',
     "upstream.advertise_version: apiproxy knows the version changes up to"),
    ('[[listeners]]\nendpoint = "unix:/tmp/x.sock"\nendpoint = "b"\n', "line 3, column"),
])
def test_check_config_reports_the_key_and_the_problem(workdir: str, text: str, expected: str) -> None:
    config = Path(workdir, "bad.toml")
    config.write_text(text)
    result = _run_cli("check-config", str(config))
    assert result.returncode == 1
    assert expected in result.stderr, result.stderr


def test_the_advertised_version_is_configured_and_changes_only_with_a_restart(echo: EchoUpstream,
                                                                              workdir: str) -> None:
    config = Path(workdir, "c.toml")
    config.write_text(f'[upstream]\nendpoint = "unix:{echo.path}"\nadvertise_version = "1.24"\n'
                      f'[[listeners]]\nendpoint = "unix:{workdir}/ap.sock"\n')
    proxy = Apiproxy(["--config", str(config)], f"{workdir}/ap.sock", workdir).wait_listening()
    try:
        assert proxy.sock is not None
        version = request(proxy.sock, "GET", "/version").json()  # a bare path: read at 1.24
        assert (version["ApiVersion"], version["MinAPIVersion"]) == ("1.24", "1.0")
        assert echo.requests[-1]["target"] == "/v1.24/version"
        config.write_text(config.read_text().replace('"1.24"', '"1.30"'))
        os.kill(proxy.pid, signal.SIGHUP)
        deadline_poll(lambda: "SIGHUP: configuration read again" in proxy.log)
        assert "SIGHUP: upstream and version settings change only with a restart" in proxy.log
        assert request(proxy.sock, "HEAD", "/_ping").status == 200
        assert request(proxy.sock, "GET", "/v1.41/version").json()["ApiVersion"] == "1.24"
    finally:
        assert proxy.stop() == 0, proxy.log


def test_a_bad_config_never_listens(workdir: str) -> None:
    config = Path(workdir, "bad.toml")
    config.write_text(f'[[listeners]]\nendpoint = "unix:{workdir}/ap.sock"\nbogus = true\n')
    result = _run_cli("--config", str(config))
    assert result.returncode == 1 and "listeners.0.bogus: unknown key" in result.stderr
    assert not os.path.exists(f"{workdir}/ap.sock")


def test_command_line_overrides_the_file(workdir: str) -> None:
    config = Path(workdir, "c.toml")
    config.write_text(f'[[listeners]]\nendpoint = "unix:{workdir}/from-file.sock"\n')
    proxy = Apiproxy(["--config", str(config), "--listen", f"unix:{workdir}/from-cli.sock",
                      "--upstream", f"unix:{workdir}/none.sock"], f"{workdir}/from-cli.sock", workdir)
    try:
        proxy.wait_listening()
        assert not os.path.exists(f"{workdir}/from-file.sock")
    finally:
        proxy.stop()


def test_the_shipped_config_runs_as_the_readme_says(tmp_path: Path) -> None:
    """README's first command: socket at /var/run/docker-legacy.sock, /_ping answers, SIGTERM → 0."""
    sock = "/var/run/docker-legacy.sock"
    if os.path.exists(sock) or not os.access("/var/run", os.W_OK):
        pytest.skip(f"{sock} is taken or /var/run is not writable here")
    proxy = Apiproxy(["--config", str(REPO / "conf/apiproxy.toml")], sock, str(tmp_path)).wait_listening()
    try:
        ping = request(sock, "GET", "/_ping")
        if ping.status != 200:  # no daemon on /var/run/docker.sock here
            assert ping.status == 502 and "unix:/var/run/docker.sock" in ping.json()["message"]
    finally:
        assert proxy.stop() == 0
    assert not os.path.exists(sock)


def test_a_state_file_that_is_none_is_set_aside_and_changes_only_with_a_restart(echo: EchoUpstream,
                                                                              workdir: str) -> None:
    state = Path(workdir, "state.json")
    state.write_text("half a file")
    config = Path(workdir, "c.toml")
    config.write_text(f'state_file = "{state}"\n[upstream]\nendpoint = "unix:{echo.path}"\n'
                      f'[[listeners]]\nendpoint = "unix:{workdir}/ap.sock"\n')
    proxy = Apiproxy(["--config", str(config)], f"{workdir}/ap.sock", workdir).wait_listening()
    try:
        assert f"state_file: {state}: not JSON" in proxy.log and "nothing remembered from before" in proxy.log
        assert Path(f"{state}.unreadable").read_text() == "half a file" and not state.exists()
        config.write_text(config.read_text().replace("state.json", "other.json"))
        os.kill(proxy.pid, signal.SIGHUP)
        deadline_poll(lambda: "SIGHUP: configuration read again" in proxy.log)
        assert "SIGHUP: state_file changes only with a restart" in proxy.log
    finally:
        assert proxy.stop() == 0, proxy.log
    assert not state.exists() and not Path(workdir, "other.json").exists()  # nothing remembered: nothing written
    assert "Traceback" not in proxy.log, proxy.log
