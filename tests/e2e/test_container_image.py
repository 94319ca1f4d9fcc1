"""apiproxy's image, built offline from the Dockerfile and run as a container in front of the test daemon.

The base is Debian bookworm with python3 and python3-venv, made here by debootstrap (cached in the
harness's cache) and `docker import`ed: it stands in for the official Python image, which no test
daemon can pull. A wheelhouse built on the host goes into the build context, so the build fetches
nothing. The container then runs as the README says: the daemon's socket bind-mounted, its own
listener in a bind-mounted directory, as uid 10001 in the socket's group; old clients work through
it, `docker stop` ends it with status 0 while an attach is open, and its healthcheck turns healthy.
docs/compose.yml is brought up with docker-compose 1.29 (through an apiproxy on the host, so that
compose works on any daemon floor).

The container is configured from the environment alone (APIPROXY_UPSTREAM__ENDPOINT,
APIPROXY_LISTENERS__0__ENDPOINT...), as a compose file configures it.

Runs on dockerd-20.10 and dockerd-28.5 (floor 1.44); elsewhere with APXTEST_FULL=1.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import apiproxy
from clients.dockerpy import Worker, data
from clients.venvs import CACHE as VENVS_CACHE
from harness import debian_base
from support import (DAEMON_SOCK, DEBIAN_CLI, DIRECT_API, REPO, UPSTREAM, Apiproxy, deadline_poll, docker,
                     request)

FULL = os.environ.get("APXTEST_FULL") == "1"
pytestmark = pytest.mark.skipif(not FULL and UPSTREAM not in ("dockerd-20.10", "dockerd-28.5"),
                                reason="the image is built and run on dockerd-20.10 and dockerd-28.5 "
                                       "unless APXTEST_FULL=1")

CACHE = VENVS_CACHE.parent  # the harness's cache
BASE = "apiproxy-test/debian-python:bookworm"
UID = 10001
COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"
COMPOSE_FILE = REPO / "docs" / "compose.yml"
GRACE = 3  # grace_period of the containers here; `docker stop -t` gives more


def daemon(*args: str, input: bytes | None = None, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The 20.10 CLI straight on the test daemon (pinned to its floor where it refuses 1.41)."""
    return docker(DAEMON_SOCK, *args, cli=DEBIAN_CLI, input=input, check=check, env=env, timeout=3600)


def inspect(ref: str) -> dict[str, Any]:
    reply = request(DAEMON_SOCK, "GET", f"/v{DIRECT_API}/containers/{ref}/json")
    assert reply.status == 200, reply
    return reply.json()


def _context_files(folder: str, names: list[str]) -> set[str]:
    """The checkout without what is no project file: the image's own .dockerignore does the rest."""
    ignored = {name for name in names if name in (".venv", ".git", "__pycache__") or name.endswith(".egg-info")}
    return ignored | ({"build", "wheelhouse"} & set(names) if Path(folder) == REPO else set())


@pytest.fixture(scope="module")
def built(docker_sock: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image, built from the Dockerfile on the test daemon with no network."""
    rootfs = debian_base.ensure(CACHE)
    with open(rootfs, "rb") as tar:
        daemon("import", "-", BASE, input=tar.read())
    context = tmp_path_factory.mktemp("image") / "context"
    shutil.copytree(REPO, context, symlinks=True, ignore=_context_files)
    # apiproxy, its dependencies and its build requirements, for the Python of bookworm (3.11).
    wheels = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
                             "-w", str(context / "wheelhouse"), str(context), "setuptools", "wheel"],
                            capture_output=True, text=True, timeout=1200)
    assert wheels.returncode == 0, wheels.stderr
    tag = f"apiproxy-test/apiproxy:{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    # BuildKit, the 20.10 CLI's own: the classic builder builds the same file, but on the test
    # daemons' vfs every instruction copies the whole tree (13 minutes against BuildKit's 4, on a
    # busy 2-core machine).
    made = daemon("build", "--progress", "plain", "--network", "none", "--build-arg", f"BASE={BASE}",
                  "-t", tag, str(context), env={"DOCKER_BUILDKIT": "1"})
    print(f"built {tag} in {time.monotonic() - started:.0f} s:\n{(made.stdout + made.stderr).decode()[-3000:]}")
    yield tag
    daemon("rmi", "-f", tag, check=False)


@pytest.fixture
def socket_dir(tmp_path: Path) -> Path:
    """A directory the container's user may make its socket in, bind-mounted at /run/apiproxy."""
    folder = tmp_path / "run"
    folder.mkdir()
    os.chown(folder, UID, UID)
    return folder


def docker_gid() -> str:
    return str(os.stat(DAEMON_SOCK).st_gid)


class Container:
    """A container of the image, removed at the end whatever happened."""

    def __init__(self, name: str) -> None:
        self.name = name

    def logs(self) -> str:
        shown = daemon("logs", self.name, check=False)
        return (shown.stdout + shown.stderr).decode(errors="replace")

    def healthy(self) -> bool:
        health = inspect(self.name)["State"].get("Health") or {}
        assert health.get("Status") != "unhealthy", (health, self.logs())
        return health.get("Status") == "healthy"


@pytest.fixture
def containers() -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        daemon("rm", "-f", name, check=False)


def run_container(containers: list[str], image: str, socket_dir: Path, *args: str,
                  options: tuple[str, ...] = ()) -> Container:
    name = f"apiproxy-image-{uuid.uuid4().hex[:8]}"
    containers.append(name)
    daemon("run", "-d", "--name", name, "--network", "none", "--group-add", docker_gid(),
           "-v", f"{DAEMON_SOCK}:/var/run/docker.sock", "-v", f"{socket_dir}:/run/apiproxy",
           "--health-interval", "1s", *options, image, *args)
    return Container(name)


def wait_socket(container: Container, sock: Path) -> None:
    def up() -> bool:
        assert inspect(container.name)["State"]["Running"], container.logs()
        return sock.exists()
    deadline_poll(up, 180, 0.2)


def test_the_image_runs_apiproxy_as_a_user_with_a_healthcheck(built: str) -> None:
    reply = request(DAEMON_SOCK, "GET", f"/v{DIRECT_API}/images/{built}/json")
    assert reply.status == 200, reply
    config = reply.json()["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["apiproxy"] and not config.get("Cmd")
    assert config["StopSignal"] == "SIGTERM"
    assert config["Healthcheck"]["Test"] == ["CMD", "apiproxy", "health"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == apiproxy.__version__
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.source"]
    size = reply.json()["Size"]
    base = request(DAEMON_SOCK, "GET", f"/v{DIRECT_API}/images/{BASE}/json").json()["Size"]
    print(f"image {size / 1e6:.0f} MB, of which apiproxy's {(size - base) / 1e6:.0f} MB on a "
          f"{base / 1e6:.0f} MB base")
    # No build tools, caches or sources came along: only the virtualenv, without pip.
    looked = daemon("run", "--rm", "--network", "none", "--entrypoint", "sh", built, "-c",
                    "id -u; command -v gcc cc pip pip3 || true; ls -d /src /root/.cache /opt/apiproxy/bin/pip "
                    "2>/dev/null || true; apiproxy versions >/dev/null && echo versions-ok")
    assert looked.stdout.decode().split() == [str(UID), "versions-ok"], looked


def test_old_clients_work_through_the_container_and_docker_stop_ends_it_cleanly(
        built: str, socket_dir: Path, tmp_path: Path, containers: list[str], image: str) -> None:
    config = tmp_path / "conf"
    config.mkdir()
    (config / "apiproxy.toml").write_text(
        f'grace_period = {GRACE}\n[upstream]\nendpoint = "unix:/var/run/docker.sock"\n'
        '[[listeners]]\nendpoint = "unix:/run/apiproxy/docker.sock"\n')
    # Configured by a file, the healthcheck is told the same file.
    proxy = run_container(containers, built, socket_dir, "--config", "/etc/apiproxy/apiproxy.toml", options=(
        "-v", f"{config}:/etc/apiproxy:ro", "--health-cmd", "apiproxy health --config /etc/apiproxy/apiproxy.toml"))
    sock = socket_dir / "docker.sock"
    wait_socket(proxy, sock)
    deadline_poll(proxy.healthy, 180, 0.5)

    # docker-py 0.3.1 at API 1.9 (2014): create, start, wait, logs, remove.
    worker = Worker("0.3.1", f"unix://{sock}", "1.9")
    try:
        created = worker.call("create_container", image, ["echo", "hello from 2014"], _within=120)
        containers.append(created["Id"])
        worker.call("start", created["Id"], _within=120)
        assert worker.call("wait", created["Id"], _within=120) == 0
        assert "hello from 2014" in data(worker.call("logs", created["Id"])).decode(), "0.3.1 lost the logs"
        worker.call("remove_container", created["Id"])
    finally:
        worker.close()

    # The 20.10 CLI at API 1.41, which Docker 29 refuses: a container run, its output, a listing.
    cli = {"DOCKER_API_VERSION": "1.41"}
    ran = docker(str(sock), "run", "--rm", image, "echo", "hello at 1.41", cli=DEBIAN_CLI, env=cli)
    assert ran.stdout == b"hello at 1.41\n"
    listed = docker(str(sock), "ps", "--format", "{{.Names}}", cli=DEBIAN_CLI, env=cli)
    assert proxy.name in listed.stdout.decode().split()

    # An attach open through the container when it is stopped: after grace_period apiproxy closes
    # it and exits 0, before `docker stop` would kill it.
    sleeper = f"apiproxy-image-sleeper-{uuid.uuid4().hex[:8]}"
    containers.append(sleeper)
    daemon("run", "-d", "--name", sleeper, "--network", "none", image, "sh", "-c",
           "trap 'exit 0' TERM; while true; do echo tick; sleep 1; done")
    attach = subprocess.Popen([DEBIAN_CLI, "-H", f"unix://{sock}", "attach", "--no-stdin", sleeper],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**{k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}, **cli})
    try:
        assert attach.stdout is not None
        assert attach.stdout.readline() == b"tick\n"
        daemon("stop", "-t", str(GRACE * 10), proxy.name)
        attach.wait(60)
    finally:
        if attach.poll() is None:
            attach.kill()
            attach.wait()
        attach.stdout.close()
        attach.stderr.close()
    state = inspect(proxy.name)["State"]
    assert (state["Running"], state["ExitCode"], state["OOMKilled"]) == (False, 0, False), (state, proxy.logs())
    assert "Traceback" not in proxy.logs()


def test_health_reports_a_stopped_daemon_as_apiproxy_up_and_a_missing_socket_as_down(
        built: str, socket_dir: Path, containers: list[str]) -> None:
    """apiproxy in front of a socket where no daemon answers still serves (502): healthy."""
    proxy = run_container(containers, built, socket_dir, "--listen", "unix:/run/apiproxy/docker.sock",
                          "--upstream", "unix:/run/apiproxy/no-daemon.sock",
                          options=("--health-cmd", "apiproxy health --listen unix:/run/apiproxy/docker.sock"))
    wait_socket(proxy, socket_dir / "docker.sock")
    deadline_poll(proxy.healthy, 180, 0.5)
    missing = daemon("exec", proxy.name, "apiproxy", "health", "--listen", "unix:/run/apiproxy/nothing.sock",
                     check=False)
    assert missing.returncode == 1
    assert missing.stderr.decode().strip().splitlines() == [
        "unhealthy: unix:/run/apiproxy/nothing.sock: No such file or directory"]


def test_settings_from_the_environment_alone(built: str, socket_dir: Path, containers: list[str]) -> None:
    """No command line and no file: the image's own healthcheck reads the same variables."""
    proxy = run_container(containers, built, socket_dir, options=(
        "-e", "APIPROXY_UPSTREAM__ENDPOINT=unix:/var/run/docker.sock",
        "-e", "APIPROXY_LISTENERS__0__ENDPOINT=unix:/run/apiproxy/docker.sock",
        "-e", "APIPROXY_LISTENERS__0__POLICY__READ_ONLY=true",
        "-e", "APIPROXY_LOG__FORMAT=json"))
    sock = socket_dir / "docker.sock"
    wait_socket(proxy, sock)
    deadline_poll(proxy.healthy, 180, 0.5)
    assert request(str(sock), "GET", "/v1.41/containers/json").status == 200
    refused = request(str(sock), "POST", "/v1.41/containers/create", {"Image": "busybox"})
    assert refused.status == 403, refused
    access = [json.loads(line) for line in proxy.logs().splitlines() if line.startswith("{")]
    assert any(entry.get("status") == 403 for entry in access), proxy.logs()


def test_a_bad_variable_stops_the_container_naming_it(built: str, socket_dir: Path) -> None:
    ran = daemon("run", "--rm", "--network", "none", "-e", "APIPROXY_LISTENERS__0__ENDPOINT=unix:/run/x.sock",
                 "-e", "APIPROXY_LISTENERS__0__NO_SUCH_KEY=1", built, check=False)
    assert ran.returncode == 1, ran
    assert "APIPROXY_LISTENERS__0__NO_SUCH_KEY" in ran.stderr.decode(), ran


# docs/compose.yml ----------------------------------------------------------------------------------

# The stack's two tools, replaced by what runs offline here: busybox's wget for the TCP reader, and
# the image's own Python for the socket reader.
OVERRIDE = """\
services:
  apiproxy:
{apiproxy}
  traefik:
    image: {busybox}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
  dashboard:
    image: {image}
    entrypoint: ["python3", "-c", "import signal; signal.signal(signal.SIGTERM, lambda *a: exit(0)); signal.pause()"]
"""
# The file's own settings (from the environment), checked every second.
APIPROXY_AS_IS = """\
    healthcheck:
      interval: 1s
"""
UNIX_GET = """\
import http.client, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect("/run/apiproxy/docker.sock")
c = C("docker"); c.request(sys.argv[1], sys.argv[2]); r = c.getresponse(); print(r.status, r.read().decode())
"""
DOCKER_SOCK_MOUNT = "/var/run/docker.sock:/var/run/docker.sock:ro"


class Stack:
    """docs/compose.yml, with the test daemon's socket where the host's would be, and OVERRIDE."""

    def __init__(self, proxy_sock: str, workdir: Path, image: str, busybox: str) -> None:
        self.project = f"apxstack{uuid.uuid4().hex[:8]}"
        text = COMPOSE_FILE.read_text()
        assert DOCKER_SOCK_MOUNT in text
        (workdir / "compose.yml").write_text(text.replace(DOCKER_SOCK_MOUNT, f"{DAEMON_SOCK}:/var/run/docker.sock:ro"))
        (workdir / "override.yml").write_text(OVERRIDE.format(
            apiproxy=APIPROXY_AS_IS, busybox=busybox, image=image))
        self.files = ["-f", str(workdir / "compose.yml"), "-f", str(workdir / "override.yml")]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_", "APIPROXY_"))}
        # compose 1.29 through apiproxy on the host: it works whatever the daemon's floor.
        self.env.update(DOCKER_HOST=f"unix://{proxy_sock}", COMPOSE_INTERACTIVE_NO_CLI="1", IMAGE=image,
                        DOCKER_GID=docker_gid())

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([COMPOSE, "--ansi", "never", *self.files, "-p", self.project, *args],
                              capture_output=True, text=True, timeout=900, env=self.env)
        assert not check or done.returncode == 0, f"docker-compose {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"


@pytest.fixture
def stack(built: str, proxy: Apiproxy, tmp_path: Path, image: str) -> Iterator[Stack]:
    assert proxy.sock is not None
    made = Stack(proxy.sock, tmp_path, built, image)
    yield made
    made("down", "-v", "-t", "1", check=False)


def test_the_compose_stack_of_the_readme(stack: Stack) -> None:
    stack("up", "-d")
    apiproxy = stack.container("apiproxy")
    deadline_poll(lambda: (inspect(apiproxy)["State"].get("Health") or {}).get("Status") == "healthy", 240, 0.5)
    state = inspect(apiproxy)
    assert state["HostConfig"]["ReadonlyRootfs"] and state["Config"]["User"] == f"{UID}:{UID}"

    # The TCP reader finds apiproxy by its service name on the internal network.
    listed = stack("exec", "-T", "traefik", "wget", "-qO-", "http://apiproxy:2375/v1.41/containers/json").stdout
    assert apiproxy in {name.lstrip("/") for row in json.loads(listed) for name in row["Names"]}
    # The socket reader, through the shared volume.
    got = stack("exec", "-T", "dashboard", "python3", "-c", UNIX_GET, "GET", "/v1.41/version").stdout
    assert got.startswith("200 ") and json.loads(got[4:])["ApiVersion"]
    # The policies come from the environment.
    writing = stack("exec", "-T", "traefik", "wget", "-qO-", "--post-data", "{}",
                    "http://apiproxy:2375/v1.41/containers/create", check=False)
    # compose's exec -T hands the command's stderr on as its stdout
    assert writing.returncode != 0 and "403 Forbidden" in writing.stdout + writing.stderr, writing
    images = stack("exec", "-T", "traefik", "wget", "-qO-", "http://apiproxy:2375/v1.41/images/json",
                   check=False)
    assert images.returncode != 0 and "403 Forbidden" in images.stdout + images.stderr, images
    posted = stack("exec", "-T", "dashboard", "python3", "-c", UNIX_GET, "POST", "/v1.41/containers/create").stdout
    assert posted.startswith("403 "), posted

    # stop_grace_period is above grace_period: apiproxy ends on its own, status 0.
    stack("stop", "apiproxy")
    assert inspect(apiproxy)["State"]["ExitCode"] == 0

