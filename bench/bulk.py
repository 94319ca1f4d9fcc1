"""Bulk streams: `docker save` and `load` of a ~500 MB image, a 1 GB `export`, a 1 GB build context.

Each is measured on every target at the daemon's own version (apiproxy passes it through) and
through apiproxy as a v1.9 client, a version that has all four endpoints. Request bodies (load,
build) are sent chunked, in the 32 KiB chunks the docker CLI's copy makes, and with a
Content-Length: two scenarios each. Answers (save, export) are the daemon's, chunked.

Figures per transfer: MB/s (the body's bytes over the time from the request's first byte to the
answer's last), and CPU seconds per GB moved of the proxy (socat with its per-connection
children) and of dockerd. Requests say `Connection: close`: the answer ends with the connection,
so the client only counts bytes, whatever the framing.
"""
from __future__ import annotations

import io
import os
import socket
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from daemon import API, IMAGE, Daemon, expect
from scenarios import Bench, Samples, Variant, legacy
from targets import child_pids, cpu_seconds

BLOCK = 1 << 20  # bytes per send of a body with a Content-Length, and per receive
CLI_CHUNK = 32 * 1024  # Go's io.Copy buffer: the chunks the docker CLI's chunked bodies come in
BIG_IMAGE = "bench/big:latest"
LEGACY = "/v1.9"  # has export, save, load and tar builds (ENDPOINTS.md)
DOCKERFILE = f"FROM {IMAGE}\n".encode()
TIMEOUT = 900.0  # seconds one transfer may take on a loaded machine


@dataclass
class BulkData:
    saved: str  # the big image as `docker save` wrote it: what load sends
    container: str  # exported
    export_bytes: int


def _tar_member(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 1700000000
    return info.tobuf(format=tarfile.GNU_FORMAT)


def context_stream(size: int, block: bytes) -> Iterator[bytes]:
    """A build context of about `size` bytes, made as it is sent: a Dockerfile and one big file."""
    yield _tar_member("Dockerfile", len(DOCKERFILE)) + DOCKERFILE + bytes(-len(DOCKERFILE) % 512)
    big = max(0, size - 3 * 512)
    yield _tar_member("big", big)
    left = big
    while left:
        piece = block[:min(left, len(block))]
        left -= len(piece)
        yield piece
    yield bytes(-big % 512) + bytes(1024)


def context_size(size: int) -> int:
    big = max(0, size - 3 * 512)
    return 512 + 512 + 512 + big + (-big % 512) + 1024


def file_stream(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while data := f.read(BLOCK):
            yield data


def prepare(daemon: Daemon, image_bytes: int, export_bytes: int, log: Callable[[str], None]) -> BulkData:
    """The big image (busybox and a random layer, built), saved once; a container of it whose
    filesystem makes up `export_bytes` (the rest written by the container itself)."""
    log(f"bulk: building {BIG_IMAGE} with a {image_bytes / 1e6:.0f} MB random layer")
    random_file = os.path.join(daemon.dir, "random.bin")
    with open(random_file, "wb") as f:
        for start in range(0, image_bytes, BLOCK):
            f.write(os.urandom(min(BLOCK, image_bytes - start)))
    context = os.path.join(daemon.dir, "big-context.tar")
    with tarfile.open(context, "w") as tar:
        dockerfile = f"FROM {IMAGE}\nCOPY random.bin /random.bin\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(random_file, "random.bin")
    os.unlink(random_file)
    status, _, body, _ = exchange(daemon.sock, "POST", f"{API}/build?t={BIG_IMAGE}&rm=1", file_stream(context),
                                  os.path.getsize(context), keep_body=True)
    os.unlink(context)
    if status != 200 or b'"error' in body:
        raise RuntimeError(f"building {BIG_IMAGE} failed ({status}): {body[-300:]!r}")
    saved = os.path.join(daemon.dir, "big-image.tar")
    log(f"bulk: saving {BIG_IMAGE} once, for load to send")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT)
        conn.connect(daemon.sock)
        conn.sendall(f"GET {API}/images/{BIG_IMAGE}/get HTTP/1.1\r\nHost: docker\r\n"
                     f"Connection: close\r\n\r\n".encode())
        raw = os.path.join(daemon.dir, "big-image.raw")
        with open(raw, "wb") as f:
            while data := conn.recv(BLOCK):
                f.write(data)
    _unchunk(raw, saved)
    os.unlink(raw)
    extra = max(0, export_bytes - image_bytes)
    log(f"bulk: a container of {BIG_IMAGE} writing {extra / 1e6:.0f} MB more, to export")
    container = daemon.create({"Image": BIG_IMAGE, "Cmd": ["sh", "-c", f"head -c {extra} /dev/urandom > /more"],
                               "HostConfig": {"LogConfig": {"Type": "none", "Config": {}}}})
    expect(daemon.sock, "POST", f"{API}/containers/{container}/start", 204)
    expect(daemon.sock, "POST", f"{API}/containers/{container}/wait", 200, timeout=TIMEOUT)
    return BulkData(saved, container, export_bytes)


def _unchunk(raw: str, out: str) -> None:
    """The body of a saved chunked answer (head and chunk lines dropped)."""
    with open(raw, "rb") as f, open(out, "wb") as sink:
        head = b""
        while b"\r\n\r\n" not in head:
            head += f.readline()
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"saving {BIG_IMAGE}: {head[:200]!r}")
        if b"chunked" not in head.lower():
            while data := f.read(BLOCK):
                sink.write(data)
            return
        while size := int(f.readline().split(b";")[0], 16):
            left = size
            while left:
                data = f.read(min(left, BLOCK))
                if not data:
                    raise RuntimeError(f"saving {BIG_IMAGE}: the answer was cut")
                sink.write(data)
                left -= len(data)
            f.readline()


def exchange(sock: str, method: str, path: str, body: Iterator[bytes] | None = None, length: int = 0,
             chunked: bool = False, keep_body: bool = False) -> tuple[int, int, bytes, float]:
    """One request on a fresh connection: (status, body bytes received, the answer's body if kept or
    its first 64 KiB, seconds from the request's first byte to the answer's last)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
    if body is not None:
        head += "Content-Type: application/x-tar\r\n"
        head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {length}\r\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT)
        conn.connect(sock)
        started = time.perf_counter()
        conn.sendall((head + "\r\n").encode())
        for data in body or ():
            if not chunked:
                conn.sendall(data)
                continue
            view = memoryview(data)
            for start in range(0, len(view), CLI_CHUNK):
                piece = view[start:start + CLI_CHUNK]
                conn.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        if chunked:
            conn.sendall(b"0\r\n\r\n")
        buffer = bytearray(BLOCK)
        kept = bytearray()
        received = 0
        while count := conn.recv_into(buffer):
            received += count
            if keep_body or len(kept) < 65536:
                kept += buffer[:count]
        ended = time.perf_counter()
    end = kept.find(b"\r\n\r\n")
    if not kept.startswith(b"HTTP/1.") or end < 0:
        raise RuntimeError(f"{method} {path}: no answer head: {bytes(kept[:200])!r}")
    status = int(kept[9:12])
    return status, received - end - 4, bytes(kept[end + 4:]), ended - started


class Bulk:
    """The bulk scenarios on a Bench's targets (scenarios.Bench: targets, daemon, settings, interleaved)."""

    def __init__(self, bench: Bench, data: BulkData) -> None:
        self.bench = bench
        self.data = data
        self.block = os.urandom(BLOCK)

    def _measure(self, variant: Variant, method: str, path: str, body: Callable[[], Iterator[bytes]] | None,
                 length: int, chunked: bool) -> dict[str, float]:
        bench = self.bench
        target = bench.targets[variant.target]
        proxy_cpu = bench.proxy_cpu(variant.target)
        daemon_pid = bench.daemon.pid
        before = (proxy_cpu(), cpu_seconds(daemon_pid))
        status, received, answer, seconds = exchange(target.sock, method, variant.prefix + path,
                                                     body() if body else None, length, chunked)
        if status != 200 or b'"error' in answer[-4096:] or b'"error' in answer[:4096]:
            raise RuntimeError(f"{variant.name} {method} {path}: {status} {answer[:300]!r}")
        if variant.target == "socat":  # its child for this connection is counted once it has ended
            deadline = time.monotonic() + 5
            while child_pids(target.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        moved = length if body else received
        gigabytes = moved / 1e9
        figures = {"mb_per_s": moved / 1e6 / seconds, "dockerd_cpu_s_per_gb": (cpu_seconds(daemon_pid) - before[1])
                   / gigabytes, "mb": moved / 1e6}
        if variant.target != "direct":
            figures["proxy_cpu_s_per_gb"] = (proxy_cpu() - before[0]) / gigabytes
        return figures

    def _run(self, measure: Callable[[Variant], dict[str, float]]) -> Samples:
        variants = self.bench.modern() + legacy(LEGACY.removeprefix("/v"))
        return self.bench.interleaved(variants, measure, reps=self.bench.settings.bulk_reps)

    def save(self) -> Samples:
        return self._run(lambda v: self._measure(v, "GET", f"/images/{BIG_IMAGE}/get", None, 0, False))

    def export(self) -> Samples:
        return self._run(lambda v: self._measure(v, "GET", f"/containers/{self.data.container}/export", None, 0,
                                                 False))

    def load(self, chunked: bool) -> Samples:
        size = os.path.getsize(self.data.saved)
        return self._run(lambda v: self._measure(v, "POST", "/images/load",
                                                 lambda: file_stream(self.data.saved), size, chunked))

    def build(self, chunked: bool) -> Samples:
        size = self.bench.settings.context_bytes
        return self._run(lambda v: self._measure(v, "POST", "/build",
                                                 lambda: context_stream(size, self.block), context_size(size),
                                                 chunked))
