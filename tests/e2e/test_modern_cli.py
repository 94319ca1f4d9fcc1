"""Docker CLIs (28 and Debian's 20.10) behave the same through apiproxy's socket as on the daemon's.

Each check runs the same command through both sockets and compares the results, ids and times
aside. Everything created gets a unique name and is removed afterwards: the daemon is shared.
"""
from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import tarfile
import tempfile
import termios
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from apiproxy.api.upstream_info import newest_known
from apiproxy.api.versions import parse_version
from support import DEBIAN_CLI, DEBIAN_CLI_API, MODERN_CLI, ON_PODMAN, Apiproxy, deadline_poll, direct_pin, docker

Run = subprocess.CompletedProcess[bytes]
# Podman names images in full (docker.io/library/NAME); these tests compare its answers
# through apiproxy with its own, so either form passes.
FULL_NAME = "(?:docker\\.io/(?:library/)?|localhost/)?"


def unique(kind: str) -> str:
    return f"apiproxy-e2e-{kind}-{uuid.uuid4().hex[:12]}"


def out(result: Run) -> str:
    return result.stdout.decode()


def both(socks: dict[str, str], *args: str, **kwargs: Any) -> dict[str, Run]:
    return {via: docker(sock, *args, **kwargs) for via, sock in socks.items()}


def spawn(sock: str, *args: str, cli: str = MODERN_CLI, **popen: Any) -> subprocess.Popen[bytes]:
    """Start a CLI in the background, with the environment `support.docker` gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{sock}"
    env["DOCKER_CONFIG"] = os.path.join(tempfile.gettempdir(), "apiproxy-test-docker-config")
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([cli, *args], env=env, **popen)


def stop(proc: subprocess.Popen[bytes]) -> None:
    # SIGKILL: `docker attach` ignores SIGTERM, even on the daemon's own socket.
    if proc.poll() is None:
        proc.kill()
    proc.wait()


class Reader:
    """Collects what a file descriptor yields in a thread, so a test can wait on it with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the pty's other side is gone
                return
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    @property
    def text(self) -> str:
        with self.lock:
            return self.data.decode(errors="replace")

    def wait_for(self, needle: str, timeout: float = 20.0) -> str:
        try:
            deadline_poll(lambda: needle in self.text, timeout)
        except TimeoutError:
            raise AssertionError(f"{needle!r} not seen within {timeout} s; got {self.text!r}") from None
        return self.text


class Made:
    """What a test creates on the shared daemon, to be removed afterwards."""

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.tags: list[str] = []

    def container(self) -> str:
        self.containers.append(unique("c"))
        return self.containers[-1]

    def tag(self) -> str:
        self.tags.append(f"{unique('img')}:t")
        return self.tags[-1]


@pytest.fixture
def made(docker_sock: str) -> Iterator[Made]:
    made = Made()
    yield made
    if made.containers:
        docker(docker_sock, "rm", "-f", *made.containers, check=False)
    if made.tags:
        docker(docker_sock, "rmi", *made.tags, check=False)


@pytest.fixture
def socks(proxy_sock: str, docker_sock: str) -> dict[str, str]:
    return {"proxy": proxy_sock, "direct": docker_sock}


@pytest.fixture(autouse=True)
def proxy_log(proxy: Apiproxy) -> Iterator[None]:
    """apiproxy's log lines of this test, shown when it fails."""
    start = len(proxy.log)
    yield
    print(f"--- apiproxy log during this test ---\n{proxy.log[start:]}")


@pytest.fixture(scope="module")
def sleeper(docker_sock: str, image: str) -> Iterator[str]:
    """One long-running container for exec, cp and attach."""
    name = unique("sleeper")
    docker(docker_sock, "run", "-d", "--name", name, image, "sleep", "1000")
    yield name
    docker(docker_sock, "rm", "-f", name, check=False)


@pytest.mark.parametrize("cli", [MODERN_CLI, DEBIAN_CLI], ids=["cli28", "cli20"])
def test_version_and_info(socks: dict[str, str], cli: str) -> None:
    version = both(socks, "version", "--format",
                   "{{.Client.APIVersion}} {{.Server.APIVersion}} {{.Server.Version}}", cli=cli)
    proxy_client, proxy_api, proxy_server = out(version["proxy"]).split()
    direct_client, direct_api, direct_server = out(version["direct"]).split()
    # apiproxy advertises the daemon's API version capped at the newest whose changes it knows.
    advertised = min(parse_version(direct_api), newest_known())
    assert (proxy_api, proxy_server) == (str(advertised), direct_server), version
    # Straight to a daemon that refuses 1.41, the 20.10 CLI is pinned to its floor; through apiproxy
    # it negotiates its own 1.41 all the same. Either CLI settles on the advertised version at most.
    pin = direct_pin(cli)
    assert direct_client == pin or not pin
    own = parse_version(DEBIAN_CLI_API if pin else direct_client)
    assert proxy_client == str(min(own, advertised)), version
    info = both(socks, "info", "--format", "{{.ServerVersion}} {{.Driver}}", cli=cli)
    assert out(info["proxy"]) == out(info["direct"])
    assert out(info["proxy"]).split()[0] == out(version["proxy"]).split()[2]


def test_run_rm_echo_and_stdin_half_close(socks: dict[str, str], image: str, made: Made) -> None:
    for sock in socks.values():
        assert out(docker(sock, "run", "--rm", "--name", made.container(), image, "echo", "hi")) == "hi\n"
        # stdin's end reaches cat, which then exits
        piped = docker(sock, "run", "-i", "--rm", "--name", made.container(), image, "cat",
                       input=b"hi\n", timeout=60)
        assert out(piped) == "hi\n"


def test_run_i_100mb_into_wc(socks: dict[str, str], image: str, made: Made) -> None:
    data = bytes(range(256)) * (100 * 4096)
    for sock in socks.values():
        counted = docker(sock, "run", "-i", "--rm", "--name", made.container(), image, "wc", "-c",
                         input=data, timeout=120)
        assert out(counted).strip() == str(len(data))


def test_run_detached_logs_wait_ps_rm(socks: dict[str, str], image: str, made: Made) -> None:
    script = "for i in 1 2 3 4 5; do echo $i; sleep 0.2; done; exit 3"
    started: dict[str, tuple[str, str]] = {}
    followers: dict[tuple[str, str, str], subprocess.Popen[bytes]] = {}
    for via, sock in socks.items():
        name = made.container()
        cid = out(docker(sock, "run", "-d", "--name", name, image, "sh", "-c", script)).strip()
        assert re.fullmatch("[0-9a-f]{64}", cid), cid
        started[via] = (name, cid)
        # followed and waited on through both sockets while it still prints
        for reader, reader_sock in socks.items():
            followers[(name, reader, "logs")] = spawn(reader_sock, "logs", "-f", name)
            followers[(name, reader, "wait")] = spawn(reader_sock, "wait", name)
    for (name, reader, command), proc in followers.items():
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, (name, reader, command, stderr)
        assert stdout == (b"1\n2\n3\n4\n5\n" if command == "logs" else b"3\n"), (name, reader, command)

    fmt = "{{.ID}} {{.Names}} {{.Image}} {{.State}} {{.Status}}"
    for via, (name, cid) in started.items():
        listed = {reader: re.sub(r"\) .*", ")", out(docker(reader_sock, "ps", "-a", "--no-trunc",
                                                           "--filter", f"name={name}", "--format", fmt)))
                  for reader, reader_sock in socks.items()}
        assert listed["proxy"] == listed["direct"]
        assert re.fullmatch(f"{cid} {name} {FULL_NAME}{re.escape(image)} exited Exited \\(3\\)\n", listed["proxy"])
        assert out(docker(socks[via], "rm", name)) == f"{name}\n"
        for reader_sock in socks.values():
            assert out(docker(reader_sock, "ps", "-aq", "--filter", f"name={name}")) == ""


def test_attach_sees_output_after_attach(socks: dict[str, str], sleeper: str) -> None:
    for via, sock in socks.items():
        attached = spawn(sock, "attach", "--no-stdin", "--sig-proxy=false", sleeper)
        try:
            reader = Reader(attached.stdout.fileno())  # type: ignore[union-attr]
            marker = unique(f"attached-{via}")

            def printed() -> bool:
                # written to the container's own stdout, which only an attached client sees live
                docker(sock, "exec", sleeper, "sh", "-c", f"echo {marker} > /proc/1/fd/1")
                return marker in reader.text or attached.poll() is not None
            deadline_poll(printed, 20, interval=0.1)
            assert attached.poll() is None, attached.communicate()
            assert f"{marker}\n" in reader.text
        finally:
            stop(attached)


def exec_in_pty(sock: str, container: str) -> tuple[int | None, str]:
    """`docker exec -it CONTAINER sh` on a real terminal: run tty and arithmetic, exit 7."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = spawn(sock, "exec", "-it", container, "sh", stdin=slave, stdout=slave, stderr=slave,
                 start_new_session=True)
    os.close(slave)
    reader = Reader(master)
    try:
        reader.wait_for("# ")
        os.write(master, b"tty; echo $((6*7))x\r")
        reader.wait_for("42x")
        os.write(master, b"exit 7\r")
        return proc.wait(20), reader.text
    finally:
        stop(proc)
        os.close(master)


def test_exec_tty_in_pty(socks: dict[str, str], sleeper: str) -> None:
    for sock in socks.values():
        status, screen = exec_in_pty(sock, sleeper)
        assert re.search(r"/dev/pts/\d+", screen), screen
        assert status == 7, screen


def test_exec_without_tty(socks: dict[str, str], sleeper: str) -> None:
    plain = both(socks, "exec", sleeper, "sh", "-c", "echo out; echo err >&2; exit 5", check=False)
    for result in plain.values():
        assert (result.returncode, result.stdout, result.stderr) == (5, b"out\n", b"err\n")
    piped = both(socks, "exec", "-i", sleeper, "cat", input=b"piped\n", timeout=60)
    assert out(piped["proxy"]) == out(piped["direct"]) == "piped\n"


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in root.rglob("*")}


def test_cp_in_and_out(socks: dict[str, str], sleeper: str, tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(1 << 20))
    tree = tmp_path / "tree"
    (tree / "sub" / "empty").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha\n")
    (tree / "sub" / "b.bin").write_bytes(bytes(range(256)) * 64)
    for via, sock in socks.items():
        inside = f"/tmp/cp-{via}"
        docker(sock, "exec", sleeper, "mkdir", inside)
        docker(sock, "cp", str(blob), f"{sleeper}:{inside}/blob.bin")
        docker(sock, "cp", str(tree), f"{sleeper}:{inside}/tree")
        back = tmp_path / f"back-{via}"
        back.mkdir()
        docker(sock, "cp", f"{sleeper}:{inside}/blob.bin", str(back / "blob.bin"))
        docker(sock, "cp", f"{sleeper}:{inside}/tree", str(back / "tree"))
        assert (back / "blob.bin").read_bytes() == blob.read_bytes(), via
        assert snapshot(back / "tree") == snapshot(tree), via
    sums = out(docker(socks["direct"], "exec", sleeper, "md5sum", "/tmp/cp-proxy/blob.bin",
                      "/tmp/cp-direct/blob.bin")).split()
    assert sums[0] == sums[2], sums


BUILDERS: dict[str, tuple[str, dict[str, str], list[str]]] = {
    "legacy-cli20": (DEBIAN_CLI, {"DOCKER_BUILDKIT": "0"}, []),
    "legacy-cli28": (MODERN_CLI, {"DOCKER_BUILDKIT": "0"}, []),
    # the 20.10 CLI's built-in BuildKit client: POST /session (h2c upgrade) beside POST /build
    "buildkit-cli20": (DEBIAN_CLI, {"DOCKER_BUILDKIT": "1"}, ["--network", "none"]),
}


@pytest.mark.parametrize("builder", BUILDERS)
def test_build_then_run(builder: str, socks: dict[str, str], image: str, made: Made,
                        tmp_path: Path) -> None:
    if ON_PODMAN and builder.startswith("buildkit"):
        pytest.skip("Podman has no BuildKit: it answers the CLI's POST /session 404 itself")
    cli, env, extra = BUILDERS[builder]
    (tmp_path / "Dockerfile").write_text(f"FROM {image}\nRUN echo built > /built\n")
    for via, sock in socks.items():
        tag = made.tag()
        docker(sock, "build", *extra, "--no-cache", "-t", tag, str(tmp_path), cli=cli, env=env,
               timeout=120)
        built = docker(sock, "run", "--rm", "--name", made.container(), tag, "cat", "/built")
        assert out(built) == "built\n", via


def tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return sorted(tar.getnames())


def test_export_same_members(socks: dict[str, str], image: str, made: Made) -> None:
    name = made.container()
    docker(socks["proxy"], "create", "--name", name, image, "true")
    exported = both(socks, "export", name)
    names = tar_names(exported["proxy"].stdout)
    assert names == tar_names(exported["direct"].stdout)
    assert "bin/sh" in names, names[:20]


def test_save_load_run_rmi(socks: dict[str, str], image: str, made: Made) -> None:
    tag = made.tag()
    proxy_sock = socks["proxy"]
    docker(proxy_sock, "tag", image, tag)
    saved = both(socks, "save", tag)
    assert tar_names(saved["proxy"].stdout) == tar_names(saved["direct"].stdout)
    assert re.fullmatch(f"Untagged: {FULL_NAME}{tag}\n", out(docker(proxy_sock, "rmi", tag)))
    for via, sock in socks.items():
        assert docker(sock, "image", "inspect", tag, check=False).returncode != 0, via
        loaded = out(docker(sock, "load", input=saved["proxy"].stdout))
        assert re.fullmatch(f"Loaded image: {FULL_NAME}{tag}\n?", loaded), (via, loaded)
        ran = docker(sock, "run", "--rm", "--name", made.container(), tag, "echo", "loaded")
        assert out(ran) == "loaded\n", via
        assert re.fullmatch(f"Untagged: {FULL_NAME}{tag}\n", out(docker(sock, "rmi", tag))), via


def test_events_stream_create(socks: dict[str, str], image: str, made: Made) -> None:
    name = made.container()
    # --since replays what happened after it: no race between subscribing and creating
    since = str(int(time.time()) - 1)
    watchers = {via: spawn(sock, "events", "--since", since, "--filter", f"container={name}",
                           "--filter", "event=create", "--format", "{{json .}}")
                for via, sock in socks.items()}
    try:
        readers = {via: Reader(proc.stdout.fileno())  # type: ignore[union-attr]
                   for via, proc in watchers.items()}
        cid = out(docker(socks["proxy"], "create", "--name", name, image, "true")).strip()
        for via, reader in readers.items():
            event = json.loads(reader.wait_for("\n").splitlines()[0])
            assert (event["Action"], event["id"], event["Actor"]["Attributes"]["name"]) == \
                ("create", cid, name), via
            assert watchers[via].poll() is None, via
    finally:
        for proc in watchers.values():
            stop(proc)
