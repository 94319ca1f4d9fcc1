"""The sockets requests are measured on: the daemon's own, and four proxies in front of it
(five with a baseline: apiproxy as of another git revision).

apiproxy runs as users run it: its default configuration, access log on (to
stderr, which is a file here, as under a service manager that keeps logs)."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from daemon import Daemon, terminate, wait_for_socket

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGETS = ("direct", "socat", "splice", "kernel", "apiproxy")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    name: str
    sock: str
    process: subprocess.Popen[bytes] | None = None  # None: the daemon itself
    pid: int = 0  # whose CPU and memory are read
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of a process so far (all its threads); with `children`, that of the
    children it has waited for too (socat's per-connection ones, once they ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:15 if children else 13]) / CLOCK_TICKS
    except OSError:
        return 0.0


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(child) for child in f.read().split()]
    except OSError:
        pass
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and of every descendant, living or ended and waited for: socat forks one
    child per connection, which does all the copying."""
    return cpu_seconds(pid, children=True) + sum(tree_cpu_seconds(child) for child in child_pids(pid))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _spawn(name: str, command: list[str], sock: str, daemon: Daemon, cwd: str | None = None,
           env: dict[str, str] | None = None) -> Target:
    log = os.path.join(daemon.dir, f"{name}.log")
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=cwd, env=env)
    wait_for_socket(sock, process.pid, 30, name, log)
    return Target(name, sock, process, process.pid, log)


def _apiproxy(name: str, sock: str, daemon: Daemon, tree: str) -> Target:
    """apiproxy in this interpreter, with the code of the checkout `tree`."""
    # -m puts the cwd first on sys.path, PYTHONPATH next: both ahead of the venv's editable install.
    env = {**os.environ, "PYTHONPATH": tree}
    return _spawn(name, [sys.executable, "-m", "apiproxy", "--listen", f"unix:{sock}", "--upstream",
                         f"unix:{daemon.sock}"], sock, daemon, cwd=tree, env=env)


def start_targets(daemon: Daemon, run: int, baseline: tuple[str, str] | None = None) -> dict[str, Target]:
    """Fresh proxies for each run, so that one run's memory figures do not carry into the next.

    `baseline` is (target name, checkout): one more apiproxy, run from that checkout's code.
    """
    sock = lambda name: os.path.join(daemon.dir, f"{name}{run}.sock")  # noqa: E731
    for name in [*TARGETS[1:], *([baseline[0]] if baseline else [])]:
        if os.path.exists(sock(name)):
            os.unlink(sock(name))
    targets = {"direct": Target("direct", daemon.sock, None, daemon.pid, daemon.log)}
    try:
        targets["socat"] = _spawn("socat", ["socat", f"UNIX-LISTEN:{sock('socat')},fork",
                                            f"UNIX-CONNECT:{daemon.sock}"], sock("socat"), daemon)
        targets["splice"] = _spawn("splice", [sys.executable, os.path.join(HERE, "splice.py"), sock("splice"),
                                              daemon.sock], sock("splice"), daemon)
        targets["kernel"] = _spawn("kernel", [sys.executable, os.path.join(HERE, "splice.py"), "--kernel",
                                              sock("kernel"), daemon.sock], sock("kernel"), daemon)
        targets["apiproxy"] = _apiproxy("apiproxy", sock("apiproxy"), daemon, REPO)
        if baseline is not None:
            name, tree = baseline
            targets[name] = _apiproxy(name, sock(name), daemon, tree)
    except Exception:
        stop_targets(targets)
        raise
    return targets


def stop_targets(targets: dict[str, Target]) -> None:
    for target in targets.values():
        if target.process is not None:
            terminate(target.process, 10)
            if os.path.exists(target.sock):
                os.unlink(target.sock)
