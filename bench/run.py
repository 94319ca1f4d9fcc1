#!/usr/bin/env python3
"""apiproxy's benchmark: one command, as root, from a fresh checkout.

    python3 bench/run.py [--quick] [--reps N] [--runs N] [--profile] [--baseline REV]
    python3 bench/run.py --upstream dockerd-28.5 [--quick] [--reps N] [--runs N]

Starts a private dockerd in a temporary directory, imports an offline busybox
image, creates the containers the scenarios list, and measures every scenario
on four targets, alternated between repetitions: the daemon's own socket
(direct), socat, a bare Twisted splice (splice.py) and apiproxy. Prints a table
per run with the targets met or missed, writes the results as JSON and a PNG
chart of ratios into --out, and removes everything it started. With --baseline
REV, apiproxy as of that git revision (checked out in a temporary worktree) is
one more target, named apiproxy@<short rev>, in every scenario apiproxy's
modern requests are in, and in the floor scenarios at the floor and below it
(when that revision serves clients below the floor): the two trees side by side.

With --upstream dockerd-28.5 the daemon is Debian sid's dockerd 28.5 with sid's
containerd, as tests/run fetches and unpacks it (`tests/run --fetch`, cached),
refusing clients below API 1.44 (DOCKER_MIN_API_VERSION, Docker 29.0's floor);
the scenarios are then the floor ones: 1.41 and 1.24 clients climbing through
apiproxy, against 1.44 direct and through apiproxy (pass-through).

Run by the system python3, it first installs what it needs (Debian packages,
the project's virtualenv with the `bench` extra) and runs itself again there.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.path.join(HERE, ".build")
# command -> the Debian package that brings it
DEBIAN = {"dockerd": "docker.io", "containerd": "docker.io", "runc": "docker.io", "socat": "socat",
          "gcc": "gcc", "busybox": "busybox-static"}
BIG_CONTAINERS, BIG_LABELS, LABEL_SIZE = 60, 33, 1000  # 60 x 33 KB of labels: a ~2 MB list
IDLE_CONTAINERS = 50
UPSTREAMS = ("dockerd-20.10", "dockerd-28.5")
FLOOR = "1.44"  # Docker 29.0's


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Bootstrap: packages, virtualenv ------------------------------------------------

def ensure_debian_packages() -> None:
    missing = sorted({package for command, package in DEBIAN.items() if shutil.which(command) is None}
                     | ({"busybox-static"} if not os.access("/bin/busybox", os.X_OK) else set()))
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # The packages' scripts must not start a system dockerd or containerd: 101 = "action forbidden".
    policy = "/usr/sbin/policy-rc.d"
    created = not os.path.exists(policy)
    if created:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], check=True, env=env)
    finally:
        if created:
            os.unlink(policy)


def _imports(python: str, modules: str) -> bool:
    return subprocess.run([python, "-c", f"import {modules}"], cwd="/", capture_output=True).returncode == 0


def reexec_in_venv() -> None:
    """Run again in the project's virtualenv (as tests/run uses: APXTEST_VENV or .venv)."""
    venv = os.environ.get("APXTEST_VENV", os.path.join(REPO, ".venv"))
    python = os.path.join(venv, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        return
    if not os.path.exists(python):
        log(f"creating virtualenv {venv}")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    if not _imports(python, "apiproxy, twisted, matplotlib"):
        log(f"installing apiproxy with the bench extra into {venv}")
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e"]
        if subprocess.run([*pip, f"{REPO}[bench]"]).returncode != 0:
            log("the bench extra (matplotlib) did not install: going on without the chart")
            subprocess.run([*pip, REPO], check=True)
    os.execv(python, [python, os.path.abspath(sys.argv[0]), *sys.argv[1:]])  # the script that asked


def bootstrap() -> None:
    """What every bench script does first: the packages it needs, then itself again in the virtualenv."""
    ensure_debian_packages()
    reexec_in_venv()


def build_loadgen() -> str:
    source, binary = os.path.join(HERE, "loadgen.c"), os.path.join(BUILD, "loadgen")
    if not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(source):
        os.makedirs(BUILD, exist_ok=True)
        subprocess.run(["gcc", "-O2", "-Wall", "-pthread", "-o", binary, source], check=True)
    return binary


def add_baseline(rev: str) -> tuple[str, str]:
    """A git worktree of `rev` in a temporary directory: (target name, checkout)."""
    git = ["git", "-C", REPO]
    short = subprocess.run([*git, "rev-parse", "--verify", "--short", f"{rev}^{{commit}}"], check=True,
                           capture_output=True, text=True).stdout.strip()
    tree = os.path.join(tempfile.mkdtemp(prefix="apibench-baseline."), "tree")
    log(f"checking out {rev} ({short}) in {tree}")
    subprocess.run([*git, "worktree", "add", "--quiet", "--detach", tree, short], check=True)
    return f"apiproxy@{short}", tree


def remove_baseline(tree: str) -> None:
    subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", tree], check=False)
    shutil.rmtree(os.path.dirname(tree), ignore_errors=True)


def floor_daemon() -> Any:
    """sid's dockerd 28.5 and containerd from tests/run's cache, refusing clients below FLOOR."""
    from daemon import Daemon

    log("fetching dockerd 28.5 through tests/run --fetch (cached after the first time)")
    fetched = subprocess.run([os.path.join(REPO, "tests", "run"), "--fetch", "dockerd-28.5"], check=True,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "APXTEST_VENV": sys.prefix})
    root = fetched.stdout.strip().splitlines()[-1]
    return Daemon(dockerd=f"{root}/usr/sbin/dockerd", path=(f"{root}/usr/sbin", f"{root}/usr/bin"),
                  env={"DOCKER_MIN_API_VERSION": FLOOR}, api=f"/v{FLOOR}")


# The benchmark -------------------------------------------------------------------

BULK_STEPS = ("save", "export", "load_chunked", "load_length", "build_chunked", "build_length")
MODERN_STEPS = ("ping_c1", "ping_c32", "list50", "big_list", "attach", "events", "memory", "core", *BULK_STEPS)
FLOOR_STEPS = ("floor_list50", "floor_images", "floor_create", "core")


def prepare(daemon: Any, settings: Any, only: set[str] | None) -> Any:
    """The image and containers the scenarios use; the bulk scenarios' data (bulk.BulkData) if they run."""
    from daemon import API

    log(f"dockerd up in {daemon.dir}; importing the busybox image")
    daemon.import_image()
    log(f"creating {BIG_CONTAINERS} containers with large labels, then {IDLE_CONTAINERS} idle ones")
    # The large ones first: containers/json lists newest first, so limit=50 finds the idle ones.
    for number in range(BIG_CONTAINERS):
        labels = {f"bench.label.{i}": chr(97 + (number + i) % 26) * LABEL_SIZE for i in range(BIG_LABELS)}
        daemon.create({"Cmd": ["true"], "Labels": labels}, name=f"bench-big-{number}")
    for number in range(IDLE_CONTAINERS):
        daemon.create({"Cmd": ["sleep", "1d"]}, name=f"bench-idle-{number}")
    if daemon.api != API or (only is not None and not only & set(BULK_STEPS)):
        return None
    import bulk

    return bulk.prepare(daemon, settings.image_bytes, settings.export_bytes, log)


def one_run(daemon: Any, loadgen: str, settings: Any, number: int, core_client: str,
            profile: bool, baseline: tuple[str, str] | None, bulk_data: Any = None,
            only: set[str] | None = None) -> dict[str, Any]:
    import core
    from bulk import Bulk
    from daemon import API
    from scenarios import Bench
    from targets import start_targets, stop_targets

    targets = start_targets(daemon, number, baseline)
    bench = Bench(daemon, targets, loadgen, settings, log)
    floor = daemon.api != API
    run: dict[str, Any] = {"reps": settings.reps, "floor": floor}
    try:
        floor_steps = [("floor_list50", "F1. containers/json limit=50",
                        lambda: bench.floor_list("/containers/json?all=1&limit=50")),
                       ("floor_images", "F2. images/json", lambda: bench.floor_list("/images/json")),
                       ("floor_create", "F3. create+start+remove", bench.floor_create)]
        steps = floor_steps if floor else [
            ("ping_c1", "1. _ping c=1", lambda: bench.ping(1)),
            ("ping_c32", "1. _ping c=32", lambda: bench.ping(32)),
            ("list50", "2. containers/json limit=50", bench.list_containers),
            ("big_list", "3. containers/json ~2 MB", bench.big_list),
            ("attach", "4. attach throughput", bench.attach_throughput),
            ("events", "5. events", bench.events)]
        if bulk_data is not None:
            bulk = Bulk(bench, bulk_data)
            steps += [("save", "8. image save", bulk.save), ("export", "9. container export", bulk.export),
                      ("load_chunked", "10. image load, chunked", lambda: bulk.load(True)),
                      ("load_length", "10. image load, Content-Length", lambda: bulk.load(False)),
                      ("build_chunked", "11. build context, chunked", lambda: bulk.build(True)),
                      ("build_length", "11. build context, Content-Length", lambda: bulk.build(False))]
        if only is not None:
            steps = [step for step in steps if step[0] in only]
        for key, title, step in steps:
            log(f"run {number}: {title}")
            started = time.monotonic()
            run[key] = step()
            log(f"run {number}: {title} took {time.monotonic() - started:.0f}s")
        if profile:  # each apiproxy tree (a baseline too), on _ping and on an attach
            run["profiles"] = {f"{name} {what}": profile_target(bench, name, what)
                               for name in targets if name.startswith("apiproxy") for what in ("_ping", "attach")}
        if not floor and (only is None or "memory" in only):
            log(f"run {number}: 6. memory")
            run["memory"] = bench.memory()
        if only is None or "core" in only:
            log(f"run {number}: 7. pure translation")
            run["core_client"] = core_client
            run["core"] = core.measure(bench.captured_bodies(), core_client,
                                       budget=0.2 if settings.reps < 5 else 0.5, floor=floor)
    finally:
        stop_targets(targets)
    return run


def profile_target(bench: Any, name: str, what: str) -> dict[str, Any]:
    """py-spy on an apiproxy while it serves _ping on one connection, or an attach: where its time goes."""
    from daemon import API
    from scenarios import Variant

    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(spy):
        return {"error": "py-spy is not installed (pip install py-spy)"}
    out = os.path.join(bench.daemon.dir, f"profile-{name}-{what}.txt".replace(" ", "_"))
    seconds = max(5, int(bench.settings.seconds * 2))
    log(f"profiling {name} with py-spy on {what}")
    # --gil: only samples where apiproxy runs Python, not those where it waits in epoll. Stopped by SIGINT.
    command = [spy, "record", "--pid", str(bench.targets[name].pid), "--rate", "500", "--gil",
               "--format", "raw", "--output", out, "--nonblocking"]
    spy_process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    saved, bench.settings.seconds = bench.settings.seconds, seconds - 1.5
    try:
        if what == "_ping":
            bench.load(Variant(name, name, ""), "/_ping")
        else:
            bench.attach(Variant(name, name, API), bench.settings.attach_bytes)
    finally:
        bench.settings.seconds = saved
        spy_process.send_signal(2)
    _, err = spy_process.communicate(timeout=60)
    if spy_process.returncode != 0 or not os.path.exists(out):
        return {"error": f"py-spy failed: {err.strip()[-300:]}"}
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(out) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            frames = stack.split(";")
            total += int(count)
            own[frames[-1]] += int(count)
            for frame in set(frames):
                inclusive[frame] += int(count)
    # apiproxy's frames, without the entry chain (main, run) that every sample passes through.
    mine = Counter({frame: count for frame, count in inclusive.items()
                    if "apiproxy/" in frame and count < 0.9 * total})
    return {"samples": total, "own": own.most_common(15), "inclusive": inclusive.most_common(20),
            "apiproxy": mine.most_common(15)}


def format_profile(profile: dict[str, Any], what: str) -> str:
    if "error" in profile:
        return f"profile of {what}: {profile['error']}"
    total = max(profile["samples"], 1)
    lines = [f"profile of {what} ({total} samples while it held the GIL: busy, not waiting)",
             "  own time (the frame itself):"]
    lines += [f"    {100 * count / total:5.1f}%  {frame}" for frame, count in profile["own"]]
    lines.append("  inclusive time (the frame and what it calls):")
    lines += [f"    {100 * count / total:5.1f}%  {frame}" for frame, count in profile["inclusive"]]
    lines.append("  inclusive time of apiproxy's own functions:")
    lines += [f"    {100 * count / total:5.1f}%  {frame}" for frame, count in profile["apiproxy"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke check: 2 repetitions, short and small")
    parser.add_argument("--reps", type=int, help="interleaved repetitions per scenario (default 5, quick 2)")
    parser.add_argument("--runs", type=int, default=1, help="whole runs, each with fresh proxies (default 1)")
    parser.add_argument("--seconds", type=float, help="seconds per timed load measurement (default 3)")
    parser.add_argument("--client", default="1.9", help="legacy version for the pure translation timing")
    parser.add_argument("--profile", action="store_true",
                        help="also profile apiproxy (and the baseline) with py-spy on _ping c=1 and on an attach")
    parser.add_argument("--baseline", metavar="REV", help="also measure apiproxy as of this git revision")
    parser.add_argument("--upstream", choices=UPSTREAMS, default=UPSTREAMS[0],
                        help=f"dockerd-28.5: sid's dockerd at the {FLOOR} floor, with the floor scenarios")
    parser.add_argument("--only", metavar="KEYS",
                        help=f"comma-separated scenarios to run ({', '.join(MODERN_STEPS)}; bulk = all of the "
                             f"last six; with --upstream dockerd-28.5: {', '.join(FLOOR_STEPS)})")
    parser.add_argument("--sizes", choices=("full", "quick"),
                        help="bulk sizes regardless of --quick (full: a 500 MB image, 1 GB export and context)")
    parser.add_argument("--out", default=BUILD, help=f"where results JSON and chart go (default {BUILD})")
    options = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/run.py starts its own dockerd: run it as root", file=sys.stderr)
        return 2
    bootstrap()

    import report
    from daemon import Daemon
    from scenarios import FULL, QUICK, describe_machine

    base = QUICK if options.quick else FULL
    settings = replace(base, reps=options.reps or base.reps, seconds=options.seconds or base.seconds)
    if options.sizes:
        sized = FULL if options.sizes == "full" else QUICK
        settings = replace(settings, image_bytes=sized.image_bytes, export_bytes=sized.export_bytes,
                           context_bytes=sized.context_bytes)
    if options.reps:
        settings = replace(settings, bulk_reps=options.reps)
    only = None
    if options.only:
        only = {key.strip() for key in options.only.split(",")}
        only = (only - {"bulk"}) | (set(BULK_STEPS) if "bulk" in only else set())
        steps = FLOOR_STEPS if options.upstream == "dockerd-28.5" else MODERN_STEPS
        if only - set(steps):
            parser.error(f"--only {', '.join(sorted(only - set(steps)))}: not a scenario on {options.upstream} "
                         f"(these are: {', '.join(steps)})")
    loadgen = build_loadgen()
    baseline = add_baseline(options.baseline) if options.baseline else None
    daemon = floor_daemon() if options.upstream == "dockerd-28.5" else Daemon()
    runs: list[dict[str, Any]] = []
    results: dict[str, Any] = {"machine": describe_machine(), "settings": vars(settings), "runs": runs,
                               "upstream": options.upstream}
    if baseline:
        results["baseline"] = {"rev": options.baseline, "target": baseline[0]}
    started = time.monotonic()
    os.makedirs(options.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = os.path.join(options.out, f"results-{stamp}.json")
    try:
        daemon.start()
        results["daemon"] = {key: daemon.version().get(key) for key in ("Version", "ApiVersion", "MinAPIVersion")}
        bulk_data = prepare(daemon, settings, only)
        for number in range(1, options.runs + 1):
            run = one_run(daemon, loadgen, settings, number, options.client, options.profile, baseline,
                          bulk_data, only)
            runs.append(run)
            with open(json_path, "w") as f:  # kept as each run ends: a later failure loses nothing measured
                json.dump(results, f, indent=1)
            print(report.format_run(run, number), flush=True)
            for what, profile in run.get("profiles", {}).items():
                print("\n" + format_profile(profile, what), flush=True)
            print(flush=True)
    finally:
        log("stopping dockerd and removing its directory")
        daemon.stop()
        if baseline:
            remove_baseline(baseline[1])
    if len(runs) > 1:
        print(report.summary(runs))
    results["minutes"] = (time.monotonic() - started) / 60
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1)
    png_path = os.path.join(options.out, f"ratios-{stamp}.png")
    problem = report.chart(runs, png_path)
    print(f"\nresults: {json_path}\nchart:   {problem or png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
