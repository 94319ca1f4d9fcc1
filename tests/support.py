"""Helpers for end-to-end tests: an apiproxy process, HTTP over unix sockets, the CLI."""
from __future__ import annotations

import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MODERN_CLI = shutil.which("docker", path="/usr/local/bin") or "/usr/local/bin/docker"
DEBIAN_CLI = "/usr/bin/docker"
# The upstream tests/run started (dockerd-20.10, dockerd-26.1, podman-4.3, dockerd-28.5 with floor
# 1.44, and when named: dockerd-28.5-floor1.40), for what differs between them.
UPSTREAM = os.environ.get("APXTEST_UPSTREAM_NAME", "")
ON_PODMAN = UPSTREAM.startswith("podman")
# A daemon that refuses clients below API 1.44, as Docker 29 does by default.
# The test daemon's own socket, as tests/run exports it ("" outside tests/run).
DAEMON_SOCK = os.environ.get("APXTEST_DOCKER_SOCK", "")
# The newest API version the 20.10 CLI speaks; the tests' own calls straight to the daemon use it
# too, where the daemon accepts it (DIRECT_API).
DEBIAN_CLI_API = "1.41"
# docker-py 0.2.2-0.3.1's own integration suites (tests/e2e/test_dockerpy_0x_suites.py) take minutes
# per upstream: they run with APXTEST_DOCKERPY_0X_SUITES=1 (or APXTEST_FULL=1), from a clone of
# github.com/docker/docker-py (its release tags hold them; the sdists do not) at APXTEST_DOCKERPY_GIT.
DOCKERPY_0X_SUITES = "1" in (os.environ.get("APXTEST_DOCKERPY_0X_SUITES"), os.environ.get("APXTEST_FULL"))
DOCKERPY_GIT = os.environ.get("APXTEST_DOCKERPY_GIT", "/work/.mirror/docker+docker-py/repo")


def one_file_tar(name: str, data: bytes) -> bytes:
    """A tar archive holding one file: a build context, an import, a copy."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def events_until() -> int:
    """An events `until` far enough ahead for the daemon to read what happened up to now.

    Podman's file events logger stops reading when `until` comes by the wall clock, however much of
    its file is left (libpod/events/logfile.go); late in a run the file is long, and `now + 1` cut
    to whole seconds may leave it a few milliseconds. dockerd reads from memory: a second will do."""
    return int(time.time()) + (6 if ON_PODMAN else 1)


def deadline_poll(check: Any, timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise TimeoutError(f"condition not met within {timeout} s: {check}")
        time.sleep(interval)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60.0) -> None:
        super().__init__("docker", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Reply:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:200]!r}>"


def json_stream_items(body: bytes | str) -> list[Any]:
    """The JSON values of a stream body, however they are separated: 2013 daemons (API 1.1-1.9) wrote each
    progress item bare, today's end each with CRLF or a newline."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    decoder, items, index = json.JSONDecoder(), [], 0
    while True:
        while index < len(text) and text[index] in " \r\n\t":
            index += 1
        if index >= len(text):
            return items
        item, index = decoder.raw_decode(text, index)
        items.append(item)


def legacy_problem(method: str, path: str, status: int, body: bytes) -> str | None:
    """How a 2xx JSON answer to a v1.0-v1.9 request breaks its version's schema, if it does.

    Every legacy answer the suite receives goes through this (see `request`).
    """
    from apiproxy.api.routes import match_legacy
    from apiproxy.api.upstream_info import is_legacy
    from apiproxy.api.validation import legacy_pointer, problem
    from apiproxy.api.versions import split_version_prefix

    prefixed = split_version_prefix(path.partition("?")[0])
    if prefixed.version is None or not is_legacy(prefixed.version) or not 200 <= status < 300:
        return None
    route = match_legacy(method, prefixed.path)
    if route is None:
        return None
    pointer = legacy_pointer(route.key, prefixed.version, "response")
    stream_pointer = legacy_pointer(route.key, prefixed.version, "stream_item")
    if pointer is None and stream_pointer is None:
        return None
    if not body.strip():
        return None
    try:
        document = json.loads(body)
        items = None
    except ValueError:
        decoder, items, text, index = json.JSONDecoder(), [], body.decode(errors="replace"), 0
        while index < len(text.rstrip()):
            while text[index] in " \r\n\t":
                index += 1
            item, index = decoder.raw_decode(text, index)
            items.append(item)
        document = None
    if items is not None or stream_pointer is not None and pointer is None:
        for item in items if items is not None else [document]:
            found = problem(stream_pointer, item)
            if found:
                return f"{route.key} at {prefixed.version}, stream item {item!r}: {found}"
        return None
    if document is None:
        return None
    found = problem(pointer, document)
    return f"{route.key} at {prefixed.version}: {found}" if found else None


def request(sock: str, method: str, path: str, body: bytes | dict | list | None = None,
            headers: dict[str, str] | None = None, timeout: float = 120.0, validate: bool = True) -> Reply:
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    conn = UnixHTTPConnection(sock, timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        reply = Reply(response.status, response.getheaders(), response.read())
    finally:
        conn.close()
    invalid = legacy_problem(method, path, reply.status, reply.body) if validate else None
    assert invalid is None, f"the answer breaks the legacy schema: {invalid}"
    return reply


def api_number(version: str) -> tuple[int, ...]:
    """An API version as numbers, for comparing: "1.9" < "1.41"."""
    return tuple(int(part) for part in version.split("."))


@cache
def _daemon_floor() -> str | None:
    """The oldest API version the test daemon accepts (its MinAPIVersion); None outside tests/run.
    Read once, on first use: importing support needs no daemon."""
    if not DAEMON_SOCK:
        return None
    reply = request(DAEMON_SOCK, "GET", "/version", timeout=30)
    assert reply.status == 200, f"the test daemon's GET /version: {reply}"
    return str(reply.json()["MinAPIVersion"])


def direct_version(version: str) -> str:
    """The version to ask the test daemon at, straight, for what a `version` request means: the
    daemon's floor where it refuses `version` (the floor apiproxy climbs such a request to)."""
    floor = _daemon_floor()
    return version if floor is None else max(version, floor, key=api_number)


def direct_path(path: str) -> str:
    """`path` (/vX.Y/...) at `direct_version`, for asking the test daemon straight."""
    return re.sub(r"^/v(\d+\.\d+)/", lambda found: f"/v{direct_version(found[1])}/", path)


def __getattr__(name: str) -> str:
    """DIRECT_API: the version of the tests' own calls straight to the test daemon (setup, cleanup,
    the daemon's own answer to compare with): DEBIAN_CLI_API, or the daemon's floor where that is
    higher (Docker 29 refuses clients below 1.44). Looked up on first use (PEP 562)."""
    if name == "DIRECT_API":
        return direct_version(DEBIAN_CLI_API)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def direct_pin(cli: str) -> str | None:
    """The API version `cli` is pinned to straight on the test daemon's socket; None: it negotiates.

    The 20.10 CLI speaks 1.41 at most, which a daemon with a higher floor refuses: there it is
    pinned to the floor, as tests/run's own calls are. Through apiproxy it never is."""
    pinned = direct_version(DEBIAN_CLI_API)
    return pinned if cli == DEBIAN_CLI and pinned != DEBIAN_CLI_API else None


def scrape_metrics(sock: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """apiproxy's /metrics served on a unix socket, as {(sample name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    reply = request(sock, "GET", "/metrics", validate=False)
    assert reply.status == 200, reply.body
    assert (reply.header("Content-Type") or "").startswith("text/plain"), reply.headers
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(reply.body.decode()) for sample in family.samples}


def access_lines(log: str) -> list[str]:
    """The access log's lines in apiproxy's text log, without their time and namespace."""
    marker = "[apiproxy.access#info] "
    return [line.split(marker, 1)[1] for line in log.splitlines() if marker in line]


def metric(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value, 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def raw_exchange(sock: str, data: bytes, timeout: float = 30.0) -> bytes:
    """Send bytes, read until the server closes: for malformed-request tests."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(sock)
        conn.sendall(data)
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def proc_status(pid: int, field: str) -> int:
    """A kB figure from /proc/PID/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


APIPROXY_COMMAND = [sys.executable, "-m", "apiproxy"]


class Apiproxy:
    """apiproxy running as a real process (`command`: how it is started, with `args` after it)."""

    def __init__(self, args: list[str], sock: str | None, workdir: str,
                 command: list[str] = APIPROXY_COMMAND, **popen: Any) -> None:
        self.sock = sock
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "apiproxy.log")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen([*command, *args], cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
                                        **popen)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_listening(self, timeout: float = 20.0) -> Apiproxy:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"apiproxy exited {self.process.returncode}:\n{self.log}")
            if self.sock is None or not os.path.exists(self.sock):
                return False
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                try:
                    probe.connect(self.sock)
                    return True
                except OSError:
                    return False
        deadline_poll(ready, timeout)
        return self

    @property
    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return Path(self.log_path).read_text(errors="replace")

    def rss_kb(self) -> int:
        return proc_status(self.pid, "VmRSS")

    def peak_rss_kb(self) -> int:
        return proc_status(self.pid, "VmHWM")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def socket_count(self) -> int:
        """Open sockets, the listening one included; a socket a splice holds a duplicate of counts once."""
        sockets = set()
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except FileNotFoundError:
                continue  # closed while we looked
            if link.startswith("socket:"):
                sockets.add(link)
        return len(sockets)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def start_apiproxy(upstream_sock: str, *extra: str, listen: str | None = None,
                   workdir: str | None = None) -> Apiproxy:
    workdir = workdir or tempfile.mkdtemp(prefix="ap-", dir=os.environ.get("APXTEST_TMP"))
    sock = os.path.join(workdir, "ap.sock")
    args = ["--listen", listen or f"unix:{sock}", "--upstream", f"unix:{upstream_sock}", *extra]
    proxy = Apiproxy(args, sock if listen is None else None, workdir)
    return proxy.wait_listening() if listen is None else proxy


SOCKET_ACTIVATE = shutil.which("systemd-socket-activate") or shutil.which(
    "systemd-socket-activate", path="/lib/systemd:/usr/lib/systemd")


def start_socket_activated(upstream_sock: str, sock: str, workdir: str,
                           listen: str = "systemd:domain=UNIX:index=0") -> Apiproxy:
    """apiproxy on a socket made as systemd makes it: systemd-socket-activate binds `sock`, and
    on the first client starts apiproxy with it as descriptor 3 (LISTEN_FDS, LISTEN_PID, and the
    LISTEN_FDNAMES systemd gives from the unit's name). Not waited for: connecting starts it."""
    assert SOCKET_ACTIVATE, "systemd-socket-activate not found"
    activate = [SOCKET_ACTIVATE, f"--listen={sock}", "--fdname=apiproxy.socket", *APIPROXY_COMMAND]
    proxy = Apiproxy(["--listen", listen, "--upstream", f"unix:{upstream_sock}"], sock, workdir, command=activate)
    deadline_poll(lambda: os.path.exists(sock) or proxy.process.poll() is not None)
    return proxy


def docker(sock: str, *args: str, cli: str = MODERN_CLI, input: bytes | None = None,
           timeout: float = 300.0, env: dict[str, str] | None = None,
           check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run a docker CLI against `sock` (on the test daemon's own socket, pinned as `direct_pin` says)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    full_env.update(env or {})
    full_env["DOCKER_HOST"] = f"unix://{sock}"
    full_env.setdefault("DOCKER_CONFIG", os.path.join(tempfile.gettempdir(), "apiproxy-test-docker-config"))
    pin = direct_pin(cli) if sock == DAEMON_SOCK else None
    if pin is not None:
        full_env.setdefault("DOCKER_API_VERSION", pin)
    result = subprocess.run([cli, *args], input=input, capture_output=True, timeout=timeout, env=full_env)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout.decode(errors='replace')}\n{result.stderr.decode(errors='replace')}")
    return result


def socket_identity(path: str) -> tuple[int, int, int, int, int]:
    """What systemd decides of a socket file and apiproxy must leave alone: the file itself (device,
    inode), its owner, group and mode. Not its times: a client's connect may touch them."""
    info = os.stat(path)
    return info.st_dev, info.st_ino, info.st_uid, info.st_gid, info.st_mode
