#!/usr/bin/env python3
"""apiproxy under a bounded soak, beside the daemon's own socket: one command, as root, from a checkout.

    python3 bench/soak.py [--clients 64] [--seconds 120]
    python3 bench/soak.py --volume-gb 10     # issue 15: RSS over 10 GB of spliced streams
    python3 bench/soak.py --attaches 10000   # issue 15: no fd left after 10,000 finished attaches

Starts a private dockerd (as bench/run.py does) and apiproxy in front of it, then runs the same mix
twice, first on the daemon's own socket, then through apiproxy: CLIENTS threads, each on its own
keep-alive connection, calling for SECONDS: pings, container lists and inspects, version, a whole
container life (create, start, wait, delete), hijacked attaches whose output is checked byte for
byte, and bounded event streams. Through apiproxy, half the calls speak 2013 versions (1.9, 1.5,
1.4); on the daemon's socket they speak 1.41, the only thing it takes. Prints, per socket: calls and
errors per kind, bytes checked, and apiproxy's file descriptors and RSS at start, at the end while
clients are connected, and after they closed. Targets: no error through apiproxy that the direct
run does not also show, every stream byte-exact, fds back to the start value ±2, RSS growth ≤ 10 MB.

The two modes of issue 15 run through apiproxy alone (default configuration: splice on, access log
on). --volume-gb moves that many GB through attach streams of 1 GiB each (`dd` of /dev/zero),
two at a time, by turns a v1.41 TTY stream (spliced as it is) and a v1.5 stream (frames
demultiplexed: headers read in Python, payloads spliced), each counted to its last byte; apiproxy's
RSS is sampled every second. Target: RSS flat (≤ 10 MB above its value after the first GB).
--attaches makes that many finished attaches (logs=1, stream=0: a stopped container's 3,893 bytes
of output, 1,000 lines, replayed, hijacked and spliced, then closed by the daemon), by turns at v1.41 and
v1.5, CLIENTS at once, each checked byte for byte. Target: apiproxy's fds back to their start value.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402  (bootstrap: packages, virtualenv)
from daemon import API, IMAGE, Daemon, UnixHTTPConnection, expect, wait_for_socket  # noqa: E402
from targets import rss_kib  # noqa: E402

ATTACH_LINES = 20000  # `seq 1 20000`: 108,894 bytes a stream, known in advance
EXPECTED_OUTPUT = "".join(f"{n}\n" for n in range(1, ATTACH_LINES + 1)).encode()
STDOUT_FRAME = 1


def _hijack_head(stream: socket.socket, accepted: tuple[bytes, ...]) -> bytes:
    """Read an attach's answer head; what came after it (the stream's first bytes)."""
    received = bytearray()
    while b"\r\n\r\n" not in received:
        chunk = stream.recv(65536)
        if not chunk:
            raise RuntimeError("the attach closed before its head")
        received += chunk
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    if not head.startswith(accepted):
        raise RuntimeError(f"attach answered {head[:60]!r}")
    return rest


@dataclass
class Tally:
    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    first_error: dict[str, str] = field(default_factory=dict)
    bytes_checked: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, error: str | None = None, checked: int = 0) -> None:
        with self.lock:
            self.calls[kind] += 1
            self.bytes_checked += checked
            if error is not None:
                self.errors[kind] += 1
                self.first_error.setdefault(kind, error)


class Client:
    """One simulated tool: its keep-alive connection and the versions it speaks."""

    def __init__(self, sock: str, legacy: bool, rng: random.Random) -> None:
        self.sock, self.legacy, self.rng = sock, legacy, rng
        self.connection = UnixHTTPConnection(sock, 120)

    def version(self, old: str) -> str:
        """A 2013 version through apiproxy for half the calls; 1.41 on the daemon's own socket."""
        return old if self.legacy and self.rng.random() < 0.5 else API.lstrip("/v")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as error:
                self.connection.close()  # a connection the other side closed: once more on a new one
                if attempt == 2:
                    raise RuntimeError(f"{method} {path}: {error!r}") from None
        raise AssertionError("unreachable")

    def expect(self, method: str, path: str, status: int | tuple[int, ...], body: Any = None) -> Any:
        got, data = self.call(method, path, body)
        if got not in (status if isinstance(status, tuple) else (status,)):
            raise RuntimeError(f"{method} {path}: {got} {data[:200]!r}")
        return json.loads(data) if data.strip()[:1] in (b"{", b"[") else data


# The mix ---------------------------------------------------------------------

def ping(client: Client, context: dict[str, Any]) -> int:
    client.expect("GET", "/_ping", 200)
    return 0


def list_containers(client: Client, context: dict[str, Any]) -> int:
    listed = client.expect("GET", f"/v{client.version('1.9')}/containers/json?all=1&limit=20", 200)
    if not isinstance(listed, list):
        raise RuntimeError("the container list is not a list")
    return 0


def inspect(client: Client, context: dict[str, Any]) -> int:
    container = client.rng.choice(context["idle"])
    found = client.expect("GET", f"/v{client.version('1.4')}/containers/{container}/json", 200)
    if not found["Id"].startswith(container[:12]):
        raise RuntimeError("inspect answered another container")
    return 0


def daemon_version(client: Client, context: dict[str, Any]) -> int:
    client.expect("GET", f"/v{client.version('1.9')}/version", 200)
    return 0


def lifecycle(client: Client, context: dict[str, Any]) -> int:
    version = client.version("1.9")
    created = client.expect("POST", f"/v{version}/containers/create", 201, {"Image": IMAGE, "Cmd": ["true"]})
    try:
        client.expect("POST", f"/v{version}/containers/{created['Id']}/start", 204,
                      {} if version == "1.9" else None)
        waited = client.expect("POST", f"/v{version}/containers/{created['Id']}/wait", 200)
        if waited["StatusCode"] != 0:
            raise RuntimeError(f"the container exited {waited['StatusCode']}")
    finally:
        client.call("DELETE", f"/v{version}/containers/{created['Id']}")
    return 0


def attach(client: Client, context: dict[str, Any]) -> int:
    """A hijacked attach opened before the start, read to its end and compared byte for byte."""
    version = client.version("1.5")  # 1.5: apiproxy demultiplexes into one raw stream
    created = client.expect("POST", f"/v{version}/containers/create", 201,
                            {"Image": IMAGE, "Cmd": ["seq", "1", str(ATTACH_LINES)], "AttachStdout": True})
    container = created["Id"]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
            stream.settimeout(120)
            stream.connect(client.sock)
            stream.sendall(f"POST /v{version}/containers/{container}/attach?stream=1&stdout=1 HTTP/1.1\r\n"
                           f"Host: docker\r\nContent-Length: 0\r\n\r\n".encode())
            body = _hijack_head(stream, (b"HTTP/1.1 200",))
            client.expect("POST", f"/v{version}/containers/{container}/start", 204, {} if version != "1.41" else None)
            data = bytearray(body)
            while chunk := stream.recv(262144):
                data += chunk
        output = bytes(data) if version == "1.5" else demultiplex(bytes(data))
        if output != EXPECTED_OUTPUT:
            raise RuntimeError(f"attach output differs: {len(output)} bytes, {len(EXPECTED_OUTPUT)} expected")
        return len(output)
    finally:
        client.call("DELETE", f"/v{version}/containers/{container}?force=1")


def events(client: Client, context: dict[str, Any]) -> int:
    """A bounded events stream: since a second ago, until now; every item must be JSON."""
    now = int(time.time())
    status, data = client.call("GET", f"/v{client.version('1.9')}/events?since={now - 1}&until={now}")
    if status != 200:
        raise RuntimeError(f"events answered {status}")
    decoder, index, text = json.JSONDecoder(), 0, data.decode()
    while index < len(text.strip()):
        _, index = decoder.raw_decode(text, index)
        while index < len(text) and text[index] in " \r\n":
            index += 1
    return 0


def demultiplex(data: bytes) -> bytes:
    out, index = bytearray(), 0
    while index + 8 <= len(data):
        size = int.from_bytes(data[index + 4:index + 8], "big")
        if data[index] == STDOUT_FRAME:
            out += data[index + 8:index + 8 + size]
        index += 8 + size
    return bytes(out)


MIX: list[tuple[Callable[[Client, dict[str, Any]], int], int]] = [
    (ping, 30), (list_containers, 20), (inspect, 20), (daemon_version, 10), (lifecycle, 8), (attach, 6),
    (events, 6)]


# Running it -------------------------------------------------------------------

def soak(sock: str, legacy: bool, clients: int, seconds: float, context: dict[str, Any],
         during: Callable[[], None] | None = None) -> Tally:
    """CLIENTS threads calling the mix on `sock` until SECONDS are over; `during` runs meanwhile."""
    tally = Tally()
    deadline = time.monotonic() + seconds
    kinds, weights = zip(*MIX)

    def one(number: int) -> None:
        rng = random.Random(number)
        client = Client(sock, legacy, rng)
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            try:
                tally.record(kind.__name__, checked=kind(client, context))
            except Exception as error:  # each failure is a figure, not the end of the run
                tally.record(kind.__name__, error=f"{type(error).__name__}: {error}")
                time.sleep(0.05)
        client.connection.close()

    threads = [threading.Thread(target=one, args=(number,), daemon=True) for number in range(clients)]
    for thread in threads:
        thread.start()
    if during is not None:
        during()
    for thread in threads:
        thread.join(seconds + 300)
    return tally


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _describe_fd(pid: int, fd: str) -> str:
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return "gone"
    return target.split(":")[0] if target.startswith(("socket:", "pipe:", "anon_inode:")) else target


def report(name: str, tally: Tally, seconds: float) -> None:
    total, errors = sum(tally.calls.values()), sum(tally.errors.values())
    print(f"\n{name}: {total:,} calls in {seconds:.0f} s ({total / seconds:,.0f}/s), {errors} errors, "
          f"{tally.bytes_checked:,} stream bytes checked byte for byte")
    for kind, _ in MIX:
        calls, failed = tally.calls[kind.__name__], tally.errors[kind.__name__]
        line = f"  {kind.__name__:16} {calls:8,} calls {failed:6} errors"
        if failed:
            line += f"   first: {tally.first_error[kind.__name__][:110]}"
        print(line)


def prepare(daemon: Daemon, idle: int = 20) -> dict[str, Any]:
    daemon.import_image()
    return {"idle": [daemon.create({"Cmd": ["sleep", "1d"]}) for _ in range(idle)]}


def start_apiproxy(daemon: Daemon) -> tuple[subprocess.Popen[bytes], str]:
    sock = os.path.join(daemon.dir, "apiproxy.sock")
    log = open(os.path.join(daemon.dir, "apiproxy.log"), "wb")
    process = subprocess.Popen([sys.executable, "-m", "apiproxy", "--listen", f"unix:{sock}", "--upstream",
                                f"unix:{daemon.sock}"], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                               start_new_session=True, cwd=bench.REPO)
    wait_for_socket(sock, process.pid, 30, "apiproxy", log.name)
    return process, sock


def verdict(checks: list[tuple[str, bool]]) -> int:
    """Print each target met or missed; the exit status says whether all were met."""
    print()
    for label, met in checks:
        print(f"  {label:60} {'met' if met else 'MISSED'}")
    return 0 if all(met for _, met in checks) else 1


def stop(process: subprocess.Popen[bytes] | None, daemon: Daemon) -> None:
    if process is not None:
        process.terminate()
        process.wait(30)
    daemon.stop()


# Issue 15's soak targets: volume through spliced streams, and many finished attaches ----------------------

GIB = 1 << 30


def _hijack(sock: str, version: str, path: str) -> tuple[socket.socket, bytes]:
    """A hijacked attach opened as clients of `version` open it (1.41 asks for the upgrade, 1.5 does not)."""
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.settimeout(300)
    stream.connect(sock)
    upgrade = "Connection: Upgrade\r\nUpgrade: tcp\r\n" if version != "1.5" else ""
    stream.sendall(f"POST /v{version}/{path} HTTP/1.1\r\nHost: docker\r\n{upgrade}Content-Length: 0\r\n\r\n".encode())
    return stream, _hijack_head(stream, (b"HTTP/1.1 101", b"HTTP/1.1 200"))


def one_gib_stream(sock: str, version: str) -> int:
    """A container writing 1 GiB of zeros, attached before its start, read to the end: the bytes that came."""
    client = Client(sock, False, random.Random())
    created = client.expect("POST", f"/v{version}/containers/create", 201, {
        "Image": IMAGE, "Cmd": ["sh", "-c", f"dd if=/dev/zero bs=1M count={GIB >> 20} 2>/dev/null"],
        "Tty": version != "1.5",  # a TTY merges stderr: dd's summary kept out of the stream
        "AttachStdout": True})
    container = created["Id"]
    try:
        stream, rest = _hijack(sock, version, f"containers/{container}/attach?stream=1&stdout=1")
        with stream:
            client.expect("POST", f"/v{version}/containers/{container}/start", 204, {} if version == "1.5" else None)
            count, buffer = len(rest), bytearray(1 << 20)
            while got := stream.recv_into(buffer):
                count += got
        return count
    finally:
        client.call("DELETE", f"/v{version}/containers/{container}?force=1")
        client.connection.close()


def volume(sock: str, pid: int, gigabytes: float) -> list[tuple[str, bool]]:
    streams = max(2, int(gigabytes + 0.999))
    samples: list[tuple[float, int, int]] = []  # (seconds, GiB done, RSS KiB)
    done, failures, lock, finished = [0], [], threading.Lock(), threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not finished.wait(1.0):
            samples.append((time.monotonic() - started, done[0], rss_kib(pid)))

    def worker(number: int) -> None:
        for index in range(number, streams, 2):
            version = "1.41" if index % 2 else "1.5"
            try:
                began = time.monotonic()
                count = one_gib_stream(sock, version)
                print(f"  a v{version} stream: {count / (time.monotonic() - began) / 1e6:.0f} MB/s", flush=True)
                if count != GIB:
                    raise RuntimeError(f"{count} bytes, {GIB} expected")
                with lock:
                    done[0] += 1
            except Exception as error:
                failures.append(f"v{version}: {type(error).__name__}: {error}")

    rss_start = rss_kib(pid)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    workers = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    finished.set()
    seconds = time.monotonic() - started
    rss_end = rss_kib(pid)
    warm = next((rss for _, gib, rss in samples if gib >= 1), rss_start)
    peak = max([rss for _, _, rss in samples] + [rss_end])
    moved = done[0] * GIB
    print(f"\n{done[0]} streams of 1 GiB ({moved / 1e9:.1f} GB) in {seconds:.0f} s "
          f"({moved / seconds / 1e6:.0f} MB/s for two at once), {len(failures)} failed"
          + (f"; first: {failures[0]}" if failures else ""))
    print(f"apiproxy RSS: {rss_start / 1024:.1f} MiB at start, {warm / 1024:.1f} MiB after the first GiB, "
          f"{peak / 1024:.1f} MiB at most, {rss_end / 1024:.1f} MiB at the end")
    for at, gib, rss in samples[::max(1, len(samples) // 12)]:
        print(f"  {at:6.0f} s  {gib:3} GiB done  {rss / 1024:6.1f} MiB")
    return [(f"{gigabytes:g} GB through spliced streams, every stream whole", not failures and moved >= gigabytes * 1e9),
            ("RSS flat: at most 10 MB above its value after the first GiB", rss_end - warm <= 10 * 1024)]


def attaches(sock: str, daemon: Daemon, pid: int | None, total: int, clients: int,
             container: str | None = None) -> list[tuple[str, bool]]:
    """`total` attaches on `sock`; `pid` None: the daemon's own socket (v1.41 only), the control."""
    lines = 1000
    expected = "".join(f"{n}\n" for n in range(1, lines + 1)).encode()
    if container is None:
        container = daemon.create({"Cmd": ["seq", "1", str(lines)], "AttachStdout": True})
        expect(daemon.sock, "POST", f"{API}/containers/{container}/start", 204)
        expect(daemon.sock, "POST", f"{API}/containers/{container}/wait", 200)
    counter, failures, lock = [0], [], threading.Lock()

    def one(version: str) -> None:
        stream, rest = _hijack(sock, version, f"containers/{container}/attach?logs=1&stream=0&stdout=1")
        with stream:
            data = bytearray(rest)
            while chunk := stream.recv(262144):
                data += chunk
        output = bytes(data) if version == "1.5" else demultiplex(bytes(data))
        if output != expected:
            raise RuntimeError(f"v{version}: {len(output)} bytes, {len(expected)} expected ({len(data)} read)")

    versions = ("1.41", "1.5") if pid is not None else ("1.41", "1.41")
    for version in versions:  # warm: the first requests build caches
        one(version)
    time.sleep(1)
    fds_start = fd_count(pid) if pid is not None else 0
    started = time.monotonic()

    def worker() -> None:
        while True:
            with lock:
                if counter[0] >= total:
                    return
                counter[0] += 1
                number = counter[0]
            try:
                one(versions[number % 2])
            except Exception as error:  # a RuntimeError names the version
                failures.append(str(error) if isinstance(error, RuntimeError) else f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    by_version = Counter(failure.split(":")[0] for failure in failures)
    if pid is None:
        print(f"\ncontrol, on the daemon's own socket: {total:,} attaches at v1.41 ({clients} at once) in "
              f"{seconds:.0f} s, {len(failures)} with output missing" + (f"; first: {failures[0]}" if failures else ""))
        return []
    deadline = time.monotonic() + 10
    while fd_count(pid) != fds_start and time.monotonic() < deadline:
        time.sleep(0.2)  # the last connections' closes
    fds_end = fd_count(pid)
    print(f"\n{total:,} finished attaches ({clients} at once, v1.41 and v1.5 by turns) in {seconds:.0f} s "
          f"({total / seconds:.0f}/s), {len(failures)} failed {dict(by_version)}"
          + (f"; first: {failures[0]}" if failures else ""))
    print(f"apiproxy file descriptors: {fds_start} before, {fds_end} after")
    if fds_end != fds_start:
        print("apiproxy's open files:", Counter(_describe_fd(pid, fd) for fd in os.listdir(f"/proc/{pid}/fd")))
    return [(f"{total:,} attaches, each byte-exact", not failures),
            ("no fd left: back to the start value", fds_end == fds_start)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--only", action="append", metavar="KIND", help="only these kinds of call (repeatable)")
    parser.add_argument("--volume-gb", type=float, metavar="GB", help="issue 15: GB through spliced attach streams")
    parser.add_argument("--attaches", type=int, metavar="N", help="issue 15: N finished attaches, then the fds")
    options = parser.parse_args()
    if options.only:
        MIX[:] = [(kind, weight) for kind, weight in MIX if kind.__name__ in options.only]
    bench.bootstrap()
    daemon = Daemon()
    process = None
    try:
        daemon.start()
        if options.volume_gb or options.attaches:
            daemon.import_image()
            process, sock = start_apiproxy(daemon)
            checks = []
            if options.volume_gb:
                checks += volume(sock, process.pid, options.volume_gb)
            if options.attaches:
                clients = min(options.clients, 16)
                container = daemon.create({"Cmd": ["seq", "1", "1000"], "AttachStdout": True})
                expect(daemon.sock, "POST", f"{API}/containers/{container}/start", 204)
                expect(daemon.sock, "POST", f"{API}/containers/{container}/wait", 200)
                attaches(daemon.sock, daemon, None, options.attaches, clients, container)  # the daemon alone
                checks += attaches(sock, daemon, process.pid, options.attaches, clients, container)
            checks.append(("apiproxy alive", process.poll() is None))
            return verdict(checks)
        context = prepare(daemon)
        direct = soak(daemon.sock, False, options.clients, options.seconds, context)
        report("direct (the daemon's own socket, API 1.41)", direct, options.seconds)
        process, sock = start_apiproxy(daemon)
        soak(sock, True, 4, 3, context)  # warm: the first requests build caches
        time.sleep(1)
        fds_start, rss_start = fd_count(process.pid), rss_kib(process.pid)
        fds_during: list[int] = []
        through = soak(sock, True, options.clients, options.seconds, context,
                       during=lambda: (time.sleep(options.seconds * 0.9), fds_during.append(fd_count(process.pid))))
        time.sleep(2)  # the clients closed their connections
        fds_end, rss_end = fd_count(process.pid), rss_kib(process.pid)
        if abs(fds_end - fds_start) > 2:
            print("apiproxy's open files:", Counter(_describe_fd(process.pid, fd) for fd in os.listdir(f"/proc/{process.pid}/fd")))
        report("apiproxy (half the calls at 1.9, 1.5 or 1.4)", through, options.seconds)
        print(f"\napiproxy file descriptors: {fds_start} at start, {fds_during[0] if fds_during else '?'} with "
              f"{options.clients} clients connected, {fds_end} after they closed")
        print(f"apiproxy RSS: {rss_start / 1024:.1f} MiB at start, {rss_end / 1024:.1f} MiB at the end "
              f"({(rss_end - rss_start) / 1024:+.1f} MiB)")
        only_through = {kind: count for kind, count in through.errors.items() if not direct.errors.get(kind)}
        checks = [("no error through apiproxy that the direct run does not show", not only_through),
                  ("every stream byte-exact", not through.errors.get("attach")),
                  ("fds back to the start value ±2", abs(fds_end - fds_start) <= 2),
                  ("RSS growth ≤ 10 MB", rss_end - rss_start <= 10 * 1024),
                  ("apiproxy alive", process.poll() is None)]
        return verdict(checks)
    finally:
        stop(process, daemon)


if __name__ == "__main__":
    sys.exit(main())
