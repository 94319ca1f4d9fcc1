"""Settings from APIPROXY_* variables, as a container gets them: at start, in check-config, under twist."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from echo_upstream import EchoUpstream
from support import APIPROXY_COMMAND, REPO, Apiproxy, request

TWIST = str(Path(sys.executable).parent / "twist")


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without any APIPROXY_* of its own, with `settings`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("APIPROXY_")}, **settings}


def run(*command: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, env=environment(**settings))


def test_apiproxy_runs_from_the_environment_alone(echo: EchoUpstream, workdir: str) -> None:
    sock = f"{workdir}/ap.sock"
    proxy = Apiproxy([], sock, workdir, env=environment(
        APIPROXY_UPSTREAM__ENDPOINT=f"unix:{echo.path}", APIPROXY_LISTENERS__0__ENDPOINT=f"unix:{sock}",
        APIPROXY_LISTENERS__0__MODE="0600", APIPROXY_LOG__FORMAT="json")).wait_listening()
    try:
        assert request(sock, "GET", "/v1.41/version").status == 200
        assert echo.requests[-1]["target"] == "/v1.41/version"
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    finally:
        assert proxy.stop() == 0, proxy.log
    lines = proxy.log.splitlines()
    assert lines and all(json.loads(line)["log_namespace"] for line in lines), proxy.log


def test_the_environment_goes_over_the_file_and_the_command_line_over_both(echo: EchoUpstream,
                                                                           workdir: str) -> None:
    config = Path(workdir, "c.toml")
    config.write_text(f'[upstream]\nendpoint = "unix:{workdir}/nothing.sock"\n'
                      f'[[listeners]]\nendpoint = "unix:{workdir}/file.sock"\nmode = "0660"\n')
    sock = f"{workdir}/cli.sock"
    proxy = Apiproxy(["--config", str(config), "--listen", f"unix:{sock}"], sock, workdir, env=environment(
        APIPROXY_UPSTREAM__ENDPOINT=f"unix:{echo.path}",
        APIPROXY_LISTENERS__0__ENDPOINT="tcp:2375")).wait_listening()  # replaced by --listen: never used
    try:
        assert request(sock, "GET", "/_ping").status == 200  # the environment's upstream, not the file's
        assert not os.path.exists(f"{workdir}/file.sock")
    finally:
        assert proxy.stop() == 0, proxy.log


def test_a_bad_variable_stops_apiproxy_at_start_naming_it(workdir: str) -> None:
    listen = ("--listen", f"unix:{workdir}/ap.sock")
    for settings, expected in [
        ({"APIPROXY_LOG__FORMT": "json"}, "APIPROXY_LOG__FORMT: no such setting: APIPROXY_ variables are apiproxy's "
                                          "configuration (did you mean APIPROXY_LOG__FORMAT?)"),
        ({"APIPROXY_UPSTREAMS": "dockerd-20.10"}, "APIPROXY_UPSTREAMS: no such setting"),
        ({"APIPROXY_GRACE_PERIOD": "soon"}, "APIPROXY_GRACE_PERIOD: 'soon' is no number"),
        ({"APIPROXY_LOG__LEVEL": "loud"}, "APIPROXY_LOG__LEVEL (log.level): 'loud' is not one of"),
    ]:
        result = run(*APIPROXY_COMMAND, *listen, **settings)
        assert result.returncode == 1 and expected in result.stderr, (settings, result.stderr)
        assert "Traceback" not in result.stderr
        assert not os.path.exists(f"{workdir}/ap.sock")
        plugin = run(TWIST, "apiproxy", *listen, **settings)  # twist apiproxy reads the same settings
        assert plugin.returncode == 1 and expected in plugin.stderr, (settings, plugin.stderr)


def test_check_config_reads_the_environment_and_names_the_variable(workdir: str) -> None:
    result = run(*APIPROXY_COMMAND, "check-config", str(REPO / "conf/apiproxy.toml"),
                 APIPROXY_LISTENERS__0__MODE="0666")
    assert result.returncode == 1
    assert "APIPROXY_LISTENERS__0__MODE (listeners.0.mode):" in result.stderr, result.stderr
    result = run(*APIPROXY_COMMAND, "check-config", APIPROXY_LISTENERS__0__ENDPOINT=f"unix:{workdir}/a.sock")
    assert (result.returncode, result.stdout) == (0, "OK\n"), result.stderr
    result = run(*APIPROXY_COMMAND, "check-config")  # no file, nothing set: no listener
    assert result.returncode == 1 and "no listener" in result.stderr


def test_check_config_prints_the_effective_configuration(workdir: str) -> None:
    config = Path(workdir, "c.toml")
    config.write_text(f'grace_period = 5\n[[listeners]]\nendpoint = "unix:{workdir}/a.sock"\n')
    result = run(*APIPROXY_COMMAND, "check-config", "--print", str(config),
                 APIPROXY_LISTENERS__1__ENDPOINT=f"unix:{workdir}/b.sock",
                 APIPROXY_LISTENERS__1__POLICY__READ_ONLY="true", APIPROXY_LOG__ACCESS="off")
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout) == {
        "grace_period": 5, "log": {"access": "off"},
        "listeners": [{"endpoint": f"unix:{workdir}/a.sock"},
                      {"endpoint": f"unix:{workdir}/b.sock", "policy": {"read_only": True}}]}
    assert 'access = "off"  # APIPROXY_LOG__ACCESS' in result.stdout.splitlines()
    assert '# level = "info"' in result.stdout.splitlines()
    # What it prints is a configuration file that checks, on its own.
    printed = Path(workdir, "printed.toml")
    printed.write_text(result.stdout)
    again = run(*APIPROXY_COMMAND, "check-config", "--print", str(printed))
    assert again.returncode == 0 and tomllib.loads(again.stdout) == tomllib.loads(result.stdout)
