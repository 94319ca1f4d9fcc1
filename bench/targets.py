"""The sockets requests are measured on: the daemon's own, and three proxies in front of it
(four with a baseline: apiproxy as of another git revision)."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from daemon import Daemon, terminate, wait_for_socket

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGETS = ("direct", "socat", "splice", "apiproxy")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    name: str
    sock: str
    process: subprocess.Popen[bytes] | None = None  # None: the daemon itself
    pid: int = 0  # whose CPU and memory are read
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (socat's per-connection children are not included)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except OSError:
        return 0.0


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
