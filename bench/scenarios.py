"""The daemon-bound scenarios. Each returns {variant: {metric: [one value per repetition]}}.

A variant is a target (direct, socat, splice, kernel, apiproxy, a baseline apiproxy) at a client version.
Variants are measured in a rotating order within each repetition, so that a
drift of the machine's load hits them all alike.
"""
from __future__ import annotations

import json
import os
import select
import selectors
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from daemon import API, IMAGE, Daemon, UnixHTTPConnection, call, expect
from targets import Target, cpu_seconds, rss_kib, tree_cpu_seconds

Samples = dict[str, dict[str, list[float]]]
LEGACY_PARK_WAIT = 0.5  # seconds a legacy attach is given to reach apiproxy's park before start


@dataclass
class Settings:
    reps: int
    seconds: float  # per timed load measurement
    warmup: float
    big_list_requests: int
    attach_bytes: int
    events: int  # per repetition
    memory_requests: int
    memory_stream_bytes: int
    cycles: int = 5  # container create+start+remove cycles per variant and repetition
    image_bytes: int = 500_000_000  # the random layer of the image saved and loaded
    export_bytes: int = 1_000_000_000  # a container's filesystem, exported
    context_bytes: int = 1_000_000_000  # a build context
    bulk_reps: int = 3  # repetitions of the save/load/export/build scenarios (each moves GBs)


FULL = Settings(reps=5, seconds=3.0, warmup=0.5, big_list_requests=20, attach_bytes=200_000_000, events=20,
                memory_requests=100_000, memory_stream_bytes=1_000_000_000)
QUICK = Settings(reps=2, seconds=1.0, warmup=0.2, big_list_requests=5, attach_bytes=20_000_000, events=5,
                 memory_requests=10_000, memory_stream_bytes=100_000_000, cycles=3, image_bytes=20_000_000,
                export_bytes=40_000_000, context_bytes=40_000_000, bulk_reps=2)


@dataclass(frozen=True)
class Variant:
    name: str
    target: str
    prefix: str  # version prefix of the paths, e.g. "/v1.41"; "" for bare paths


def legacy(*versions: str) -> list[Variant]:
    return [Variant(f"apiproxy v{v}", "apiproxy", f"/v{v}") for v in versions]


class Bench:
    def __init__(self, daemon: Daemon, targets: dict[str, Target], loadgen: str, settings: Settings,
                 log: Callable[[str], None]) -> None:
        self.daemon = daemon
        self.targets = targets
        self.loadgen = loadgen
        self.settings = settings
        self.log = log

    # Helpers ----------------------------------------------------------------

    def modern(self) -> list[Variant]:
        """Every target, a baseline apiproxy included, at the daemon's own version."""
        return [Variant(name, name, API) for name in self.targets]

    def interleaved(self, variants: list[Variant], measure: Callable[[Variant], dict[str, float]],
                    reps: int = 0) -> Samples:
        samples: Samples = {v.name: {} for v in variants}
        for rep in range(reps or self.settings.reps):
            shift = rep % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                for metric, value in measure(variant).items():
                    samples[variant.name].setdefault(metric, []).append(value)
        return samples

    def load(self, variant: Variant, path: str, connections: int = 1, requests: int = 0) -> dict[str, float]:
        """loadgen against a variant, with the CPU that loadgen, dockerd and the proxy used meanwhile."""
        target = self.targets[variant.target]
        args = [self.loadgen, "-c", str(connections)]
        args += ["-n", str(requests)] if requests else ["-d", str(self.settings.seconds), "-w",
                                                         str(self.settings.warmup)]
        proxy_cpu = self.proxy_cpu(variant.target)
        before = {"dockerd": cpu_seconds(self.daemon.pid), "proxy": proxy_cpu()}
        result = subprocess.run([*args, target.sock, variant.prefix + path], capture_output=True, text=True)
        if result.returncode != 0 or not result.stdout.strip():
            raise RuntimeError(f"loadgen on {variant.name} {path}: {result.stderr.strip() or result.stdout}")
        figures = json.loads(result.stdout)
        if figures["non2xx"] or figures["errors"]:
            raise RuntimeError(f"{variant.name} {path}: {figures['non2xx']} non-2xx answers, "
                               f"{figures['errors']} broken connections")
        wall = figures["wall_s"]
        figures["loadgen_cpu_pct"] = 100 * figures["loadgen_cpu_s"] / wall
        figures["dockerd_cpu_pct"] = 100 * (cpu_seconds(self.daemon.pid) - before["dockerd"]) / wall
        if variant.target != "direct":  # direct is dockerd, counted above
            spent = proxy_cpu() - before["proxy"]
            figures["proxy_cpu_pct"] = 100 * spent / wall
            # Less swayed by other load than req/s: what one request costs the proxy (the warm-up's
            # requests taken at the measured rate; 10 ms clock ticks).
            figures["proxy_cpu_us_per_req"] = 1e6 * spent / wall / max(figures["rps"], 1e-9)
        return figures

    def proxy_cpu(self, target: str) -> Callable[[], float]:
        """What reads a target's CPU seconds so far: socat's with its per-connection children."""
        pid = self.targets[target].pid
        if target == "socat":
            return lambda: tree_cpu_seconds(pid)
        return lambda: cpu_seconds(pid)

    # 1. /_ping ---------------------------------------------------------------

    def ping(self, connections: int) -> Samples:
        keep = ("rps", "p50_us", "p99_us", "loadgen_cpu_pct", "dockerd_cpu_pct", "proxy_cpu_pct",
                "proxy_cpu_us_per_req")
        # Bare /_ping: apiproxy passes it through at the daemon's own version.
        variants = [Variant(name, name, "") for name in self.targets]
        return self.interleaved(variants, lambda v: _pick(self.load(v, "/_ping", connections), keep))

    # 2. containers/json, 50 containers ---------------------------------------

    def list_containers(self) -> Samples:
        keep = ("rps", "p50_us", "p99_us", "proxy_cpu_us_per_req")
        return self.interleaved(self.modern() + legacy("1.9", "1.4"),
                                lambda v: _pick(self.load(v, "/containers/json?all=1&limit=50"), keep))

    # 3. containers/json, ~2 MB -------------------------------------------------

    def big_list(self) -> Samples:
        def measure(variant: Variant) -> dict[str, float]:
            figures = self.load(variant, "/containers/json?all=1", requests=self.settings.big_list_requests)
            return {"ttfb_p50_us": figures["ttfb_p50_us"], "total_p50_us": figures["p50_us"],
                    "mb": figures["bytes"] / figures["requests"] / 1e6}

        return self.interleaved(self.modern() + legacy("1.9"), measure)

    # 4. attach throughput ------------------------------------------------------

    def attach(self, variant: Variant, size: int) -> dict[str, float]:
        """Create, attach (hijacked), then start on a second connection: the start-then-attach race."""
        container = self.daemon.create({
            "Cmd": ["head", "-c", str(size), "/dev/zero"], "AttachStdout": True, "AttachStderr": True,
            "HostConfig": {"LogConfig": {"Type": "none", "Config": {}}}})
        target = self.targets[variant.target]
        stream = subprocess.Popen([self.loadgen, "-s", target.sock,
                                   f"{variant.prefix}/containers/{container}/attach?stream=1&stdout=1&stderr=1"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert stream.stdout is not None and stream.stderr is not None
            lines = _LineReader(stream.stdout.fileno())
            if lines.next(30) != "sent":
                raise RuntimeError(f"attach on {variant.name}: {stream.stderr.read().decode()}")
            # A legacy attach before start waits in apiproxy (start may recreate the container),
            # so its head comes only once started: give it a moment to get parked instead.
            translated = variant.target == "apiproxy" and variant.prefix != API
            head = lines.next(LEGACY_PARK_WAIT if translated else 30)
            if head is None and not translated:
                raise RuntimeError(f"attach on {variant.name}: no answer head")
            expect(target.sock, "POST", f"{variant.prefix}/containers/{container}/start", 204)
            out = lines.rest()
            if stream.wait(600) != 0:
                raise RuntimeError(f"attach on {variant.name} failed: {stream.stderr.read().decode()} {out}")
            result = json.loads(out.strip().splitlines()[-1])
            if result["bytes"] < size:
                raise RuntimeError(f"attach on {variant.name}: {result['bytes']} bytes of {size}")
            return {"mb_per_s": result["mb_per_s"]}
        finally:
            if stream.poll() is None:
                stream.kill()
                stream.wait()
            self.daemon.remove(container)

    def attach_throughput(self) -> Samples:
        size = self.settings.attach_bytes
        return self.interleaved(self.modern() + legacy("1.9", "1.5"), lambda v: self.attach(v, size))

    # 5. events -----------------------------------------------------------------

    def events(self) -> Samples:
        """Every stream open at once; one image tag or untag at a time; when each stream delivers it.

        A reader thread waits in select() the whole time, so each arrival is stamped as it
        happens, not when the thread triggering the events gets round to reading.
        """
        variants = self.modern() + legacy("1.9")
        samples: Samples = {v.name: {"added_us": []} for v in variants if v.name != "direct"}
        reader = _EventReader({v.name: _EventStream(self.targets[v.target].sock, f"{v.prefix}/events")
                               for v in variants})
        try:
            time.sleep(0.2)  # the daemon subscribes each stream when its request arrives
            for number in range(self.settings.reps * self.settings.events):
                # The answer is read only once the event is in: meanwhile this thread
                # holds no GIL, so the reader thread wakes the moment bytes arrive.
                answer = self._trigger_event(number)
                arrived = reader.wait_for(number + 1, timeout=10)
                answer()
                for name, at in arrived.items():
                    if name != "direct":
                        samples[name]["added_us"].append((at - arrived["direct"]) / 1000)
        finally:
            reader.close()
        return samples

    def _trigger_event(self, number: int) -> Callable[[], None]:
        """Sends the request that makes an event; returns what reads and checks its answer."""
        # Tagging is the cheapest event that 2013's event stream knew too (tag, then untag).
        repo, tag = "bench/event", str(number // 2)
        if number % 2 == 0:
            method, path, status = "POST", f"{API}/images/{IMAGE}/tag?repo={repo}&tag={tag}", 201
        else:
            method, path, status = "DELETE", f"{API}/images/{repo}:{tag}", 200
        conn = UnixHTTPConnection(self.daemon.sock, 30)
        conn.request(method, path)

        def answer() -> None:
            try:
                response = conn.getresponse()
                if response.status != status:
                    raise RuntimeError(f"{method} {path}: daemon answered {response.status}: {response.read()!r}")
                response.read()
            finally:
                conn.close()

        return answer

    # Floor: clients below the daemon's floor climb to it; clients at it pass through -----

    def floor_variants(self, below: str) -> list[Variant]:
        """The daemon's floor version direct and through each apiproxy (a baseline too), and a client `below`
        it through each apiproxy that serves it (a baseline older than the floor work forwards it as is,
        and the daemon refuses it: left out, with a note)."""
        api = self.daemon.api
        variants = [Variant("direct", "direct", api)]
        for name in self.targets:
            if not name.startswith("apiproxy"):
                continue
            variants.append(Variant(name, name, api))
            climbing = Variant(f"{name} v{below}", name, f"/v{below}")
            status, answer = call(self.targets[name].sock, "GET", f"{climbing.prefix}/containers/json?limit=1")
            if status == 200:
                variants.append(climbing)
            else:
                self.log(f"{climbing.name} left out: it answered {status} {answer[:200]!r}")
        return variants

    def floor_list(self, path: str) -> Samples:
        keep = ("rps", "p50_us", "p99_us", "dockerd_cpu_pct", "proxy_cpu_pct")
        return self.interleaved(self.floor_variants("1.41"), lambda v: _pick(self.load(v, path), keep))

    def floor_create(self) -> Samples:
        """create, start and remove (force) a container that runs `true`, one request after another."""
        from core import CREATE_1_24, CREATE_1_44

        def measure(variant: Variant) -> dict[str, float]:
            sock, prefix = self.targets[variant.target].sock, variant.prefix
            body = {**(CREATE_1_24 if prefix == "/v1.24" else CREATE_1_44), "Image": IMAGE}
            spans: dict[str, list[float]] = {"create_us": [], "start_us": [], "remove_us": [], "cycle_us": []}
            for _ in range(self.settings.cycles):
                started = time.perf_counter()
                container = expect(sock, "POST", f"{prefix}/containers/create", 201, body=body)["Id"]
                self.daemon.containers.append(container)
                created = time.perf_counter()
                expect(sock, "POST", f"{prefix}/containers/{container}/start", 204)
                running = time.perf_counter()
                expect(sock, "DELETE", f"{prefix}/containers/{container}?force=1", 204)
                self.daemon.containers.remove(container)
                done = time.perf_counter()
                for key, span in (("create_us", created - started), ("start_us", running - created),
                                  ("remove_us", done - running), ("cycle_us", done - started)):
                    spans[key].append(span * 1e6)
            return {key: sorted(values)[len(values) // 2] for key, values in spans.items()}

        return self.interleaved(self.floor_variants("1.24"), measure)

    # 6. memory -------------------------------------------------------------------

    def memory(self) -> dict[str, float]:
        pid = self.targets["apiproxy"].pid
        proxy = Variant("apiproxy", "apiproxy", "")
        mib = lambda: rss_kib(pid) / 1024  # noqa: E731
        figures = {"rss_start_mib": mib()}
        # Mostly pass-through, a tenth translated: both paths' per-request allocations.
        requests = self.settings.memory_requests
        self.load(proxy, "/_ping", connections=8, requests=requests - requests // 10)
        self.load(Variant("apiproxy v1.9", "apiproxy", "/v1.9"), "/containers/json?all=1&limit=5",
                  connections=2, requests=requests // 10)
        figures["rss_after_requests_mib"] = mib()
        size = self.settings.memory_stream_bytes
        self.attach(Variant("apiproxy", "apiproxy", API), size)
        figures["rss_after_stream_mib"] = mib()
        self.attach(Variant("apiproxy v1.5", "apiproxy", "/v1.5"), size)  # demultiplexed by apiproxy
        figures["rss_after_legacy_stream_mib"] = mib()
        figures["growth_requests_mib"] = figures["rss_after_requests_mib"] - figures["rss_start_mib"]
        figures["growth_stream_mib"] = figures["rss_after_stream_mib"] - figures["rss_after_requests_mib"]
        figures["growth_legacy_stream_mib"] = (figures["rss_after_legacy_stream_mib"]
                                               - figures["rss_after_stream_mib"])
        return figures

    # Samples for the pure translation timing ------------------------------------------

    def captured_bodies(self) -> dict[str, Any]:
        """Real dockerd answers for core.py to translate."""
        sock, api = self.daemon.sock, self.daemon.api
        containers = expect(sock, "GET", f"{api}/containers/json?all=1&limit=50", 200)
        images = expect(sock, "GET", f"{api}/images/json", 200)
        return {"containers": containers, "images": images,
                "container": expect(sock, "GET", f"{api}/containers/{containers[0]['Id']}/json", 200),
                "image": expect(sock, "GET", f"{api}/images/{IMAGE}/json", 200)}


def _pick(figures: dict[str, float], keys: tuple[str, ...]) -> dict[str, float]:
    return {key: figures[key] for key in keys if key in figures}


class _LineReader:
    """Lines of a child's stdout with a timeout (None when none came in time).

    Reads the pipe's descriptor itself: a buffered file object could swallow the
    next line along with this one, and select() would then wait for it in vain.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            data = os.read(self.fd, 4096)
            if not data:
                return ""  # the child closed its output
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode().strip()

    def rest(self) -> str:
        """Everything until the child closes its output."""
        while data := os.read(self.fd, 65536):
            self.buffer += data
        return self.buffer.decode()


class _EventStream:
    """An /events response read incrementally: head, then chunked (or plain) JSON values."""

    def __init__(self, sock_path: str, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock_path)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode())
        self.raw = b""
        self.head_done = False
        self.chunked = False
        self.body = b""
        self.decoder = json.JSONDecoder()

    def feed(self, data: bytes) -> int:
        """Takes bytes; returns how many whole events they completed."""
        if not data:
            raise RuntimeError("an event stream closed")
        self.raw += data
        if not self.head_done:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return 0
            head, self.raw = self.raw[:end].decode("latin-1"), self.raw[end + 4:]
            if not head.startswith("HTTP/1.1 200"):
                raise RuntimeError(f"events answered {head.splitlines()[0]!r}")
            self.chunked = "transfer-encoding: chunked" in head.lower()
            self.head_done = True
        if self.chunked:
            while True:
                line_end = self.raw.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(self.raw[:line_end].split(b";")[0], 16)
                if len(self.raw) < line_end + 2 + size + 2:
                    break
                self.body += self.raw[line_end + 2:line_end + 2 + size]
                self.raw = self.raw[line_end + 2 + size + 2:]
        else:
            self.body, self.raw = self.body + self.raw, b""
        count, text, index = 0, self.body.decode("utf-8", "replace"), 0
        while True:
            while index < len(text) and text[index] in " \r\n\t":
                index += 1
            try:
                _, index = self.decoder.raw_decode(text, index)
            except ValueError:
                break
            count += 1
        self.body = text[index:].encode()
        return count


class _EventReader:
    """A thread stamping (monotonic ns) each event each stream completes."""

    def __init__(self, streams: dict[str, _EventStream]) -> None:
        self.streams = streams
        self.arrivals: dict[str, list[int]] = {name: [] for name in streams}
        self.error: Exception | None = None
        self.changed = threading.Condition()
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        selector = selectors.DefaultSelector()
        for name, stream in self.streams.items():
            selector.register(stream.sock, selectors.EVENT_READ, name)
        selector.register(self.stop_r, selectors.EVENT_READ, None)
        try:
            while True:
                ready = selector.select()
                now = time.monotonic_ns()  # one clock reading for all streams woken together
                if any(key.data is None for key, _ in ready):
                    return
                for key, _ in ready:
                    completed = self.streams[key.data].feed(self.streams[key.data].sock.recv(1 << 16))
                    if completed:
                        with self.changed:
                            self.arrivals[key.data] += [now] * completed
                            self.changed.notify_all()
        except Exception as error:  # reported by wait_for
            with self.changed:
                self.error = error
                self.changed.notify_all()
        finally:
            selector.close()

    def wait_for(self, count: int, timeout: float) -> dict[str, int]:
        """When each stream completed its `count`th event."""
        with self.changed:
            done = self.changed.wait_for(
                lambda: self.error is not None or all(len(a) >= count for a in self.arrivals.values()), timeout)
            if self.error is not None:
                raise RuntimeError(f"event stream: {self.error}")
            if not done:
                missing = [name for name, a in self.arrivals.items() if len(a) < count]
                raise RuntimeError(f"event {count} did not arrive on {', '.join(missing)} within {timeout}s")
            if any(len(a) > count for a in self.arrivals.values()):
                raise RuntimeError("a stream delivered more events than were triggered")
            return {name: arrivals[count - 1] for name, arrivals in self.arrivals.items()}

    def close(self) -> None:
        os.write(self.stop_w, b"x")
        self.thread.join(10)
        for fd in (self.stop_r, self.stop_w):
            os.close(fd)
        for stream in self.streams.values():
            stream.sock.close()


def describe_machine() -> dict[str, Any]:
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {"cpus": os.cpu_count(), "loadavg_at_start": load}


__all__ = ["Bench", "FULL", "QUICK", "Settings", "describe_machine", "rss_kib"]
