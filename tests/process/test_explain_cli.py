"""`apiproxy explain` as a user runs it: a body on stdin, the explanation on stdout, an exit code."""
from __future__ import annotations

import subprocess
import sys

from support import REPO


def _explain(*args: str, body: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "apiproxy", "explain", *args], cwd=REPO, capture_output=True,
                          input=body.decode() if body is not None else None,
                          stdin=subprocess.DEVNULL if body is None else None, text=True, timeout=60)


def test_a_create_is_explained_from_stdin_and_exits_0() -> None:
    done = _explain("--client-version", "1.3", "--target-version", "1.24", "POST", "/containers/create",
                    body=b'{"Image": "busybox", "Dns": ["8.8.8.8"]}')
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "POST /v1.3/containers/create: API 1.3 -> 1.24 (docker), endpoint POST /containers/create"
    assert "apiproxy sends (API 1.24):" in lines and "    POST /v1.24/containers/create" in lines
    assert any(line.startswith("1. [1.10] ") for line in lines)


def test_an_invalid_body_prints_the_proxys_400_and_exits_1() -> None:
    done = _explain("POST", "/v1.3/containers/create", body=b'{"Image": 5}')
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[-2:] == [
        "apiproxy answers 400 (text/plain; charset=utf-8):",
        "    invalid request body for API 1.3: Image: 5 is not of type 'string', 'null'"]


def test_a_response_is_explained_from_stdin() -> None:
    done = _explain("--client-version", "1.3", "--response", "--status", "404", "GET", "/containers/x/json",
                    body=b'{"message": "No such container: x"}')
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("the client gets (API 1.3):\n    404\n    header Content-Type: text/plain; "
                                "charset=utf-8\n    body:\n        No such container: x\n")


def test_no_stdin_is_no_body_and_usage_errors_exit_2() -> None:
    assert _explain("--client-version", "1.3", "POST", "/containers/abc/start").returncode == 0
    missing = _explain("GET", "/containers/json")
    assert missing.returncode == 2 and "--client-version" in missing.stderr
    assert _explain("--client-version", "1.3", "-H", "no colon", "GET", "/containers/json").returncode == 2
    assert _explain("--client-version", "one", "GET", "/containers/json").returncode == 2


def test_a_1_30_create_on_a_floor_1_44_daemon_shows_the_climb_and_the_rewrites() -> None:
    done = _explain("--client-version", "1.30", "--floor", "1.44", "POST", "/containers/create",
                    body=b'{"Image": "busybox", "HostConfig": {"KernelMemory": 4194304}}')
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "POST /v1.30/containers/create: API 1.30 -> 1.44 (docker), endpoint POST /containers/create"
    assert any(line.startswith("    [1.40] ") for line in lines)
    # Below 1.41 a create is emulated: apiproxy asks the daemon's cgroup version, then forwards it.
    assert "1. GET /v1.44/info" in lines
    assert '            "IpcMode": "shareable"' in lines[lines.index("then apiproxy forwards the request:"):]
    assert any(line.lstrip().startswith("not translated: ") and "KernelMemory" in line for line in lines)


def test_any_client_version_is_explained() -> None:
    for client in ("1.10", "1.24", "1.41", "1.51"):
        done = _explain("--client-version", client, "--floor", "1.44", "GET", "/images/json")
        assert done.returncode == 0, (client, done.stdout, done.stderr)
        assert done.stdout.startswith(f"GET /v{client}/images/json: ")
