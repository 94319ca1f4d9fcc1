"""docker-compose 1.29 (Debian bookworm's, on docker-py 5.0) runs a project through apiproxy.

Two services on a user-defined network share a named volume; compose brings them up, lists them,
finds them up to date on a second `up`, shows and follows their logs, runs commands in them (one
resolves the other's name through the daemon's embedded DNS, which answers even under the test
daemons' --iptables=false --bridge=none), and takes everything down again, at the API versions
compose is pinned to with COMPOSE_API_VERSION and in auto (unset: compose reads the version from
`GET /version` and speaks that). On a daemon whose floor is above the pinned version (Docker 29:
1.44) the daemon alone refuses compose; through apiproxy its requests climb to the floor. What
compose did is checked on the daemon's own socket.

The default run pins 1.30 and runs auto; APXTEST_FULL=1 adds 1.25 and 1.38.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest

from support import DAEMON_SOCK, DIRECT_API, UPSTREAM, Apiproxy, access_lines, deadline_poll, direct_version, request

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"
FULL = os.environ.get("APXTEST_FULL") == "1"
# The versions compose up to 1.26 spoke for file formats 3.0-3.2 (1.25), 3.3-3.5 (1.30) and 3.7 (1.38).
VERSIONS = ("1.25", "1.30", "1.38", "auto") if FULL else ("1.30", "auto")
# Where compose runs by default: the daemon whose floor refuses its pinned versions, and Podman,
# where they climb to its own; elsewhere (they pass through untouched) with APXTEST_FULL=1.
DEFAULT_UPSTREAMS = ("dockerd-28.5", "podman-4.3")
pytestmark = pytest.mark.skipif(not FULL and UPSTREAM not in DEFAULT_UPSTREAMS,
                                reason="compose runs on dockerd-28.5 and podman-4.3 unless APXTEST_FULL=1")

PROJECT_FILE = """\
services:
  web:
    image: {image}
    # PID 1 ignores SIGTERM unless it traps it: `down` then waits out the stop timeout.
    command: ["sh", "-c", "trap 'exit 0' TERM; echo shared by web > /data/note; \
while true; do echo hi from web; sleep 1; done"]
    networks: [back]
    volumes: ["data:/data"]
  worker:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; echo worker up; while true; do sleep 1; done"]
    networks: [back]
    volumes: ["data:/data"]
networks:
  back: {{}}
volumes:
  data: {{}}
"""


class Compose:
    """docker-compose on one project, at one API version, through one socket."""

    def __init__(self, sock: str, version: str, workdir: Path, image: str) -> None:
        self.sock, self.version = sock, version
        self.down = False  # `down` went through
        self.project = f"apxcompose{uuid.uuid4().hex[:10]}"
        self.file = workdir / "docker-compose.yml"
        self.file.write_text(PROJECT_FILE.format(image=image))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
        self.env["DOCKER_HOST"] = f"unix://{sock}"
        # Otherwise `exec` hands over to a `docker` CLI found on PATH: compose's own requests are
        # what is tested here.
        self.env["COMPOSE_INTERACTIVE_NO_CLI"] = "1"
        if version != "auto":
            self.env["COMPOSE_API_VERSION"] = version

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([COMPOSE, "--ansi", "never", "-f", str(self.file), "-p", self.project, *args],
                                capture_output=True, text=True, timeout=300, env=self.env)
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} (API {self.version}) exited "
                                 f"{result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def follow(self, *args: str, lines: int, timeout: float = 60.0) -> list[str]:
        """The first `lines` lines a long-running command prints (a failure after `timeout`), then
        the command is stopped as ^C stops it."""
        command = [COMPOSE, "--ansi", "never", "-f", str(self.file), "-p", self.project, *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        assert process.stdout is not None
        seen: list[str] = []
        buffered = b""
        deadline = time.monotonic() + timeout
        try:
            while len(seen) < lines:
                left = deadline - time.monotonic()
                assert left > 0, f"docker-compose {' '.join(args)}: {seen} after {timeout} s"
                if not select.select([process.stdout], [], [], left)[0]:
                    continue
                chunk = os.read(process.stdout.fileno(), 65536)
                assert chunk, f"docker-compose {' '.join(args)} ended: {seen} {process.stderr.read()!r}"
                buffered += chunk
                *complete, buffered = buffered.split(b"\n")
                seen += [line.decode() for line in complete]
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
            process.stderr.close()
        return seen[:lines]


@pytest.fixture(params=VERSIONS)
def compose(request: pytest.FixtureRequest, proxy_sock: str, image: str,
            tmp_path: Path) -> Iterator[Compose]:
    project = Compose(proxy_sock, request.param, tmp_path, image)
    yield project
    if project.down:
        return
    # Whatever a failed test left: removed straight on the daemon, not through what is tested.
    project.env["DOCKER_HOST"] = f"unix://{DAEMON_SOCK}"
    project.env["COMPOSE_API_VERSION"] = DIRECT_API
    project("down", "-v", "-t", "1", check=False)


def daemon_has(kind: str, name: str) -> bool:
    reply = request(DAEMON_SOCK, "GET", f"/v{DIRECT_API}/{kind}/{name}")
    assert reply.status in (200, 404), reply
    return reply.status == 200


def test_compose_is_bookworms_1_29() -> None:
    shown = subprocess.run([COMPOSE, "version", "--short"], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "1.29.2"


def test_up_ps_logs_exec_down(compose: Compose, proxy: Apiproxy) -> None:
    seen = len(access_lines(proxy.log))
    compose("up", "-d")
    network, volume = f"{compose.project}_back", f"{compose.project}_data"
    assert daemon_has("networks", network) and daemon_has("volumes", volume)

    listed = compose("ps").stdout
    for service in ("web", "worker"):
        line = next(line for line in listed.splitlines() if line.startswith(f"{compose.project}_{service}_1"))
        assert " Up" in line, listed

    # A second `up` compares what the daemon reports (network, volume, each container's config
    # hash) with the project: an answer translated wrong would make it recreate or refuse.
    ids = compose("ps", "-q").stdout.split()
    again = compose("up", "-d").stderr
    assert again.count("is up-to-date") == 2, again
    assert compose("ps", "-q").stdout.split() == ids

    # The volume is shared: what web wrote, worker reads.
    deadline_poll(lambda: compose("exec", "-T", "worker", "cat", "/data/note", check=False).stdout
                  == "shared by web\n")
    assert compose("exec", "-T", "web", "echo", "exec at", compose.version).stdout == f"exec at {compose.version}\n"
    deadline_poll(lambda: "hi from web" in compose("logs", "--no-color", "web").stdout)
    assert "worker up" in compose("logs", "--no-color", "worker").stdout
    # Following: only lines web prints from now on, as they come.
    attaching, *followed = compose.follow("logs", "--no-color", "--follow", "--tail", "0", "web", lines=3)
    assert attaching == f"Attaching to {compose.project}_web_1"
    assert all(line.endswith("| hi from web") for line in followed), followed

    # Embedded DNS (127.0.0.11) answers for the services' names on the user-defined network, even
    # with the daemon's --iptables=false --bridge=none.
    [web] = request(DAEMON_SOCK, "GET", f"/v{DIRECT_API}/containers/json?filters="
                    + quote(json.dumps({"name": [f"{compose.project}_web_1"]}))).json()
    address = web["NetworkSettings"]["Networks"][network]["IPAddress"]
    looked_up = compose("exec", "-T", "worker", "nslookup", "web").stdout
    assert f"Address: {address}" in looked_up, looked_up

    compose("down", "-v")
    compose.down = True
    assert not daemon_has("networks", network) and not daemon_has("volumes", volume)
    assert compose("ps", "-q").stdout.strip() == ""
    assert_spoken_version(compose, access_lines(proxy.log)[seen:])


def assert_spoken_version(compose: Compose, lines: list[str]) -> None:
    """Compose spoke the version it was pinned to (in auto: the one `GET /version` advertised), and
    where the daemon refuses that version its requests climbed to the daemon's floor."""
    own = [line for line in lines if " GET /version " not in line]
    assert own, lines
    if compose.version == "auto":
        spoken = str(request(compose.sock, "GET", "/version").json()["ApiVersion"])
    else:
        spoken = compose.version
    assert all(line.startswith(f"{spoken} -> ") for line in own), own
    floor = direct_version(spoken)
    if floor != spoken:
        assert all(line.startswith(f"{spoken} -> {floor} ") for line in own), own
