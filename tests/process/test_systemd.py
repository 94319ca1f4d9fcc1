"""apiproxy under systemd: the unit files, and serving the socket systemd passes (no daemon needed)."""
from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from echo_upstream import EchoUpstream
from support import (APIPROXY_COMMAND, Apiproxy, REPO, SOCKET_ACTIVATE, deadline_poll, request, socket_identity,
                     start_socket_activated)

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
SOCKET_UNIT = REPO / "conf/apiproxy.socket"
SERVICE_UNIT = REPO / "conf/apiproxy.service"
needs_socket_activate = pytest.mark.skipif(SOCKET_ACTIVATE is None, reason="systemd-socket-activate not installed")


def unit_values(path: Path, section: str, key: str) -> list[str]:
    """Every value of `key` in `section` (systemd allows a key more than once)."""
    values, current = [], None
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and line.partition("=")[0] == key:
            values.append(line.partition("=")[2])
    return values


def exec_start() -> list[str]:
    [command] = unit_values(SERVICE_UNIT, "Service", "ExecStart")
    return shlex.split(command)


def test_the_units_pass_systemd_analyze_verify() -> None:
    if SYSTEMD_ANALYZE is None:
        pytest.skip("systemd-analyze not installed")
    # verify checks that ExecStart's program exists. It is put there only in this test's own mount
    # namespace, on a tmpfs over /opt: the entry point `pip install` makes, linked from this venv.
    program = exec_start()[0]
    assert program.startswith("/opt/")
    script = ('mount -t tmpfs apiproxy-test /opt && mkdir -p "$(dirname "$1")" && ln -s "$2" "$1" && '
              'exec systemd-analyze verify "$3" "$4"')
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", program,
                             str(Path(sys.executable).parent / "apiproxy"), str(SOCKET_UNIT), str(SERVICE_UNIT)],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_units_say_what_the_issue_asks() -> None:
    assert unit_values(SOCKET_UNIT, "Socket", "ListenStream") == ["/var/run/docker-legacy.sock"]
    assert [unit_values(SOCKET_UNIT, "Socket", key) for key in ("SocketUser", "SocketGroup", "SocketMode")] == \
        [["root"], ["docker"], ["0660"]]
    assert unit_values(SERVICE_UNIT, "Unit", "Requires") == ["apiproxy.socket"]
    assert unit_values(SERVICE_UNIT, "Unit", "Wants") == ["docker.service"]  # it starts while the daemon is down
    assert exec_start()[1:] == ["--config", "/etc/apiproxy/apiproxy.toml", "--listen", "systemd:domain=UNIX:index=0"]
    [stop_timeout] = unit_values(SERVICE_UNIT, "Service", "TimeoutStopSec")
    grace_period = float(re.search(r"^grace_period = (\S+)", (REPO / "conf/apiproxy.toml").read_text(), re.M)[1])
    assert float(stop_timeout) > grace_period  # apiproxy closes what is left itself, before systemd's SIGKILL


def test_exec_start_runs_what_the_readme_installs() -> None:
    readme = (REPO / "README.md").read_text()
    prefixes = re.findall(r"python3 -m venv (\S+) && (\S+)/bin/pip install \.", readme)
    assert len(prefixes) >= 2, "Quick start and Deployment both install"
    assert all(venv == pip_venv for venv, pip_venv in prefixes)
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    scripts = dict(line.split(" = ") for line in setup["options.entry_points"]["console_scripts"].split("\n") if line)
    assert "apiproxy" in scripts
    assert {f"{venv}/bin/apiproxy" for venv, _ in prefixes} == {exec_start()[0]}
    deployment = readme.partition("## Deployment")[2].partition("\n## ")[0]
    assert "/etc/apiproxy/apiproxy.toml" in deployment  # where ExecStart's --config reads


def test_the_readmes_docker_sock_recipe_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """The drop-ins README's "In place of docker.sock" writes, over Debian's docker.socket and ours."""
    if SYSTEMD_ANALYZE is None or not Path("/lib/systemd/system/docker.socket").exists():
        pytest.skip("systemd-analyze or Debian's docker.socket not installed")
    deployment = (REPO / "README.md").read_text().partition("## Deployment")[2].partition("\n## ")[0]
    drop_ins = re.findall(r"^printf ('[^']*') >/etc/systemd/system/(\S+)$", deployment, re.M)
    assert sorted(path for _, path in drop_ins) == ["apiproxy.socket.d/docker-sock.conf",
                                                    "docker.socket.d/apiproxy.conf"]
    for quoted, path in drop_ins:
        (tmp_path / path).parent.mkdir()
        (tmp_path / path).write_text(subprocess.run(["printf", *shlex.split(quoted)], capture_output=True,
                                                    text=True, check=True).stdout)
    shutil.copy(SOCKET_UNIT, tmp_path)
    shutil.copy(SERVICE_UNIT, tmp_path)
    moved_to = re.search(r'"unix:/var/run/docker.sock"\|"unix:(\S+)"', deployment)[1]  # the sed on the config
    assert unit_values(tmp_path / "docker.socket.d/apiproxy.conf", "Socket", "ListenStream") == ["", moved_to]
    assert unit_values(tmp_path / "apiproxy.socket.d/docker-sock.conf", "Socket", "ListenStream") == \
        ["", "/var/run/docker.sock"]
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", "docker.socket", "apiproxy.socket"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"})
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs_socket_activate
@pytest.mark.parametrize("listen", ["systemd:domain=UNIX:index=0", "systemd:domain=UNIX:name=apiproxy.socket"])
def test_the_socket_systemd_passes_is_served_and_left_as_systemd_made_it(echo: EchoUpstream, workdir: str,
                                                                         listen: str) -> None:
    sock = f"{workdir}/legacy.sock"
    proxy = start_socket_activated(echo.path, sock, workdir, listen)
    try:
        os.chmod(sock, 0o640)  # as a unit's SocketMode= would: not apiproxy's own 0660
        before = socket_identity(sock)
        version = request(sock, "GET", "/v1.9/version")  # the first client: apiproxy starts now
        assert version.status == 200 and version.json()["Version"] == "20.10.24"
        listed = request(sock, "GET", "/v1.3/containers/json", validate=False)  # the echo is no list
        assert listed.status == 200 and echo.requests[-1]["target"] == "/v1.41/containers/json"
        assert socket_identity(sock) == before, "mode, owner and file are systemd's"
        assert "the socket systemd passed" in proxy.log
    finally:
        assert proxy.stop() == 0, proxy.log
    assert socket_identity(sock) == before, "systemd removes it when its socket unit stops, not apiproxy"
    assert "Traceback" not in proxy.log, proxy.log


def start_as_systemd_does(held: socket.socket, upstream: str, workdir: str) -> Apiproxy:
    """apiproxy given `held` as systemd gives a socket unit's socket: descriptor 3, with LISTEN_PID
    its own pid; systemd keeps its own descriptor across the service's restarts, as the test does."""
    launch = [sys.executable, "-c", "import os, sys; os.dup2(int(sys.argv[1]), 3); "
              "os.environ['LISTEN_PID'] = str(os.getpid()); os.execv(sys.argv[2], sys.argv[2:])",
              str(held.fileno()), *APIPROXY_COMMAND]
    env = {**os.environ, "LISTEN_FDS": "1", "LISTEN_FDNAMES": "apiproxy.socket"}
    args = ["--listen", "systemd:domain=UNIX:index=0", "--upstream", f"unix:{upstream}"]
    return Apiproxy(args, held.getsockname(), workdir, command=launch, env=env, pass_fds=(held.fileno(),))


def test_a_restarted_apiproxy_serves_the_same_socket(echo: EchoUpstream, workdir: str) -> None:
    """After a stop, systemd's socket still takes clients for the next start (Restart=, systemctl restart)."""
    sock = f"{workdir}/legacy.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as held:
        held.bind(sock)
        held.listen(16)
        for run in ("first", "second"):
            proxy = start_as_systemd_does(held, echo.path, workdir)
            try:
                assert request(sock, "GET", "/v1.9/version", timeout=20).status == 200, f"{run} run"
            finally:
                assert proxy.stop() == 0, proxy.log
            assert "Traceback" not in proxy.log, proxy.log


def connects(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=1).close()
        return True
    except ConnectionRefusedError:
        return False


def run_apiproxy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*APIPROXY_COMMAND, *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_without_a_socket_from_systemd_apiproxy_says_so() -> None:
    result = run_apiproxy("--listen", "systemd:domain=UNIX:index=0", "--upstream", "unix:/nonexistent")
    assert result.returncode == 1
    assert "systemd passed no such socket" in result.stderr and "Traceback" not in result.stderr


@needs_socket_activate
def test_a_tcp_socket_from_systemd_is_refused(echo: EchoUpstream, workdir: str) -> None:
    """The description says UNIX; the descriptor is what counts (a TCP one would skip the TLS rule)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    activate = [SOCKET_ACTIVATE, f"--listen=127.0.0.1:{port}", "--fdname=apiproxy.socket", *APIPROXY_COMMAND]
    proxy = Apiproxy(["--listen", "systemd:domain=UNIX:index=0", "--upstream", f"unix:{echo.path}"], None,
                     workdir, command=activate)
    deadline_poll(lambda: connects(("127.0.0.1", port)))  # the first client starts apiproxy
    assert proxy.process.wait(30) == 1
    assert "is not a unix stream socket" in proxy.log, proxy.log


def test_mode_and_group_are_refused_for_systemds_socket(workdir: str) -> None:
    config = Path(workdir, "c.toml")
    config.write_text('[[listeners]]\nendpoint = "systemd:domain=UNIX:index=0"\nmode = "0600"\ngroup = "root"\n')
    result = run_apiproxy("check-config", str(config))
    assert result.returncode == 1
    assert "listeners.0.mode: systemd made this socket: set SocketMode= in its socket unit instead" in result.stderr
    assert "listeners.0.group: systemd made this socket: set SocketGroup= in its socket unit instead" in result.stderr


def test_check_config_accepts_systemds_socket_outside_systemd(workdir: str) -> None:
    config = Path(workdir, "c.toml")
    config.write_text('[[listeners]]\nendpoint = "systemd:domain=UNIX:name=apiproxy.socket"\n')
    result = run_apiproxy("check-config", str(config))
    assert (result.returncode, result.stdout.strip()) == (0, "OK"), result.stderr

