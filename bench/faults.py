#!/usr/bin/env python3
"""The daemon killed under load: what apiproxy's clients see, and how fast it serves again.

    python3 bench/faults.py [--clients 32] [--seconds 60] [--kills 3]

Runs bench/soak.py's mix through apiproxy and, meanwhile, kills dockerd (SIGKILL) KILLS times and
starts it again. A probe asks apiproxy for /_ping every 10 ms; the recovery time of each kill is
the time from dockerd answering on its own socket again to apiproxy's first answer from it
(target: under 1 s). Prints what the clients saw per kind of call, each recovery time, and
whether apiproxy lived through it all with its file descriptors back where they started.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as bench  # noqa: E402
import soak  # noqa: E402
from daemon import Daemon, call  # noqa: E402


class Probe(threading.Thread):
    """/_ping through apiproxy every 10 ms: when it answered 200 last."""

    def __init__(self, sock: str) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.answers: list[float] = []  # monotonic times of 200 answers
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                if call(self.sock, "GET", "/_ping", timeout=2)[0] == 200:
                    self.answers.append(time.monotonic())
            except OSError:
                pass
            time.sleep(0.01)

    def first_answer_after(self, moment: float, timeout: float = 30) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [t for t in self.answers if t >= moment]
            if later:
                return later[0]
            time.sleep(0.005)
        return None


def kill_and_restart(daemon: Daemon, probe: Probe, kills: int, seconds: float, recoveries: list[float | None],
                     outages: list[float]) -> None:
    for _ in range(kills):
        time.sleep(seconds / (kills + 1))
        assert daemon.process is not None
        killed_at = time.monotonic()
        daemon.process.kill()
        daemon.process.wait()
        if os.path.exists(daemon.sock):
            os.unlink(daemon.sock)
        daemon.start()  # returns once dockerd answers /_ping on its own socket
        back_at = time.monotonic()
        outages.append(back_at - killed_at)
        answered = probe.first_answer_after(back_at)
        recoveries.append(None if answered is None else answered - back_at)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--kills", type=int, default=3)
    options = parser.parse_args()
    bench.bootstrap()
    daemon = Daemon(own_containerd=True)  # as systemd runs it: containerd outlives a killed dockerd
    process = None
    try:
        daemon.start()
        context = soak.prepare(daemon)
        process, sock = soak.start_apiproxy(daemon)
        soak.soak(sock, True, 4, 3, context)
        time.sleep(1)
        fds_start = soak.fd_count(process.pid)
        probe = Probe(sock)
        probe.start()
        recoveries: list[float | None] = []
        outages: list[float] = []
        tally = soak.soak(sock, True, options.clients, options.seconds, context,
                          during=lambda: kill_and_restart(daemon, probe, options.kills, options.seconds,
                                                          recoveries, outages))
        probe.running = False
        time.sleep(2)
        fds_end = soak.fd_count(process.pid)
        soak.report(f"what apiproxy's clients saw, dockerd killed {options.kills} times", tally, options.seconds)
        print("\nkills:")
        for number, (outage, recovery) in enumerate(zip(outages, recoveries), 1):
            seen = "never answered" if recovery is None else f"{recovery * 1000:.0f} ms"
            print(f"  {number}. dockerd down {outage:.1f} s; apiproxy's first answer after dockerd's: {seen}")
        print(f"apiproxy file descriptors: {fds_start} before, {fds_end} after")
        worst = max((r for r in recoveries if r is not None), default=None)
        checks = [("apiproxy alive", process.poll() is None),
                  ("served again after every kill", all(r is not None for r in recoveries)),
                  ("recovery under 1 s", worst is not None and worst < 1.0 and None not in recoveries),
                  ("fds back to the start value ±2", abs(fds_end - fds_start) <= 2)]
        return soak.verdict(checks)
    finally:
        soak.stop(process, daemon)


if __name__ == "__main__":
    sys.exit(main())
