"""A private dockerd for the benchmark, the offline test image and the containers it lists.

Standard library only. Everything lives in one temporary directory, which
`stop()` removes after the daemon and what it mounted are gone.
"""
from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from typing import Any
from urllib.parse import quote, urlencode

IMAGE = "bench/busybox:latest"
API = "/v1.41"  # what dockerd 20.10 speaks; modern requests are sent at it
DAEMON_TIMEOUT = 60.0


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60.0) -> None:
        super().__init__("docker", timeout=timeout)  # the host only fills the Host header
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def call(sock: str, method: str, path: str, body: Any = None, raw: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 120.0) -> tuple[int, bytes]:
    """One request on a fresh connection; `body` is sent as JSON, `raw` as it is."""
    conn = UnixHTTPConnection(sock, timeout)
    try:
        all_headers = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def expect(sock: str, method: str, path: str, status: int | tuple[int, ...], **kwargs: Any) -> Any:
    """The decoded JSON answer (or None); any other status than expected is an error."""
    got, data = call(sock, method, path, **kwargs)
    if got not in (status if isinstance(status, tuple) else (status,)):
        raise RuntimeError(f"{method} {path}: daemon answered {got}: {data[:300]!r}")
    return json.loads(data) if data.strip() and data.lstrip()[:1] in b"[{" else None


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for_socket(sock: str, pid: int, timeout: float, what: str, log: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            raise RuntimeError(f"{what} exited; see {log}:\n{_tail(log)}")
        try:
            if call(sock, "GET", "/_ping", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer /_ping on {sock} within {timeout:.0f}s; see {log}")


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def terminate(process: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Daemon:
    """dockerd in a temporary directory (paths kept short: unix sockets take < 108 bytes)."""

    def __init__(self, own_containerd: bool = False, dockerd: str = "dockerd", path: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, api: str = API) -> None:
        self.own_containerd = own_containerd  # a containerd of its own, which outlives a killed dockerd
        self.dockerd = dockerd
        # `path` first on PATH: the containerd (and shim) dockerd launches come from the same tree.
        self.env = {**os.environ, "PATH": ":".join([*path, os.environ.get("PATH", "")]), **(env or {})}
        self.api = api  # the version prefix this daemon's own calls are made at
        self.dir = tempfile.mkdtemp(prefix="apibench.", dir="/tmp")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.log = os.path.join(self.dir, "dockerd.log")
        self.process: subprocess.Popen[bytes] | None = None
        self.containerd: subprocess.Popen[bytes] | None = None
        self.containers: list[str] = []  # everything we created, removed on stop

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        extra = []
        # dockerd starts its own containerd unless one answers at the system
        # default socket; it would then share that one, so give it a private one.
        if self.own_containerd or os.path.exists("/run/containerd/containerd.sock"):
            extra = ["--containerd", self._start_private_containerd()]
        command = [self.dockerd, "--host", f"unix://{self.sock}", "--data-root", f"{self.dir}/root",
                   "--exec-root", f"{self.dir}/exec", "--pidfile", f"{self.dir}/docker.pid",
                   "--iptables=false", "--bridge=none", "--storage-driver=vfs", *extra]
        with open(self.log, "wb") as log:
            # Own session: a terminal's ^C reaches the benchmark, which then stops the daemon itself.
            self.process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                            start_new_session=True, env=self.env)
        wait_for_socket(self.sock, self.process.pid, DAEMON_TIMEOUT, "dockerd", self.log)

    def _start_private_containerd(self) -> str:
        root = os.path.join(self.dir, "ctd")
        address = os.path.join(root, "containerd.sock")
        if self.containerd is not None and self.containerd.poll() is None:
            return address  # dockerd starts again: the containerd it had is still there
        os.makedirs(root)
        with open(os.path.join(root, "config.toml"), "w") as f:
            f.write(f'version = 2\nroot = "{root}/root"\nstate = "{root}/state"\n'
                    f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "{address}"\n'
                    f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{root}/opt"\n')
        with open(os.path.join(root, "containerd.log"), "wb") as log:
            self.containerd = subprocess.Popen(["containerd", "--config", f"{root}/config.toml"], stdout=log,
                                               stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                               env=self.env)
        deadline = time.monotonic() + DAEMON_TIMEOUT
        while not os.path.exists(address):
            if time.monotonic() > deadline or self.containerd.poll() is not None:
                raise RuntimeError(f"private containerd did not come up; see {root}/containerd.log")
            time.sleep(0.1)
        return address

    def version(self) -> dict[str, Any]:
        return expect(self.sock, "GET", f"{self.api}/version", 200)

    def import_image(self) -> None:
        """busybox-static as an image, built offline: no registry is reachable."""
        rootfs = io.BytesIO()
        with tarfile.open(fileobj=rootfs, mode="w") as tar:
            def add(name: str, mode: int, kind: bytes = tarfile.DIRTYPE, data: bytes = b"",
                    link: str = "") -> None:
                info = tarfile.TarInfo(name)
                info.type, info.mode, info.size, info.linkname = kind, mode, len(data), link
                tar.addfile(info, io.BytesIO(data) if data else None)

            for directory, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777)):
                add(directory, mode)
            with open("/bin/busybox", "rb") as f:
                add("bin/busybox", 0o755, tarfile.REGTYPE, f.read())
            applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True,
                                     check=True).stdout.split()
            for applet in applets:
                if applet != "busybox":
                    add(f"bin/{applet}", 0o777, tarfile.SYMTYPE, link="busybox")
            add("etc/passwd", 0o644, tarfile.REGTYPE, b"root:x:0:0:root:/root:/bin/sh\n")
            add("etc/group", 0o644, tarfile.REGTYPE, b"root:x:0:\n")
        repo, tag = IMAGE.rsplit(":", 1)
        query = urlencode([("fromSrc", "-"), ("repo", repo), ("tag", tag), ("changes", 'CMD ["sh"]'),
                           ("changes", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin")])
        status, data = call(self.sock, "POST", f"{self.api}/images/create?{query}", raw=rootfs.getvalue(),
                            headers={"Content-Type": "application/x-tar"})
        if status != 200 or b'"error"' in data:
            raise RuntimeError(f"image import failed ({status}): {data[-300:]!r}")

    def create(self, body: dict[str, Any], name: str | None = None) -> str:
        query = f"?{urlencode({'name': name})}" if name else ""
        created = expect(self.sock, "POST", f"{self.api}/containers/create{query}", 201,
                         body={"Image": IMAGE, **body})
        self.containers.append(created["Id"])
        return created["Id"]

    def remove(self, container: str) -> None:
        expect(self.sock, "DELETE", f"{self.api}/containers/{quote(container)}?force=1", (204, 404))
        if container in self.containers:
            self.containers.remove(container)

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                for container in list(self.containers):
                    try:
                        self.remove(container)
                    except (OSError, RuntimeError):
                        pass
                terminate(self.process)
            if self.containerd is not None:
                terminate(self.containerd, 15)
        finally:
            _unmount_under(self.dir)
            shutil.rmtree(self.dir, ignore_errors=True)


def _unmount_under(directory: str) -> None:
    """dockerd bind-mounts its data root onto itself; containers add shm mounts. Deepest first."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point == directory or point.startswith(directory + "/"):
                points.append(point)
    for point in sorted(points, reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
