"""Tables, targets and the chart of one or more runs' results."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Callable

from core import format_rows

Run = dict[str, Any]  # scenario key -> its samples (see scenarios.py), plus "memory" and "core"

# (scenario key, title, [(metric, row label, higher is better)])
TABLES: list[tuple[str, str, list[tuple[str, str, bool]]]] = [
    ("ping_c1", "1. GET /_ping, 1 keep-alive connection", [("rps", "req/s", True), ("p50_us", "p50 µs", False),
                                                          ("p99_us", "p99 µs", False)]),
    ("ping_c32", "1. GET /_ping, 32 keep-alive connections", [("rps", "req/s", True),
                                                              ("p50_us", "p50 µs", False),
                                                              ("p99_us", "p99 µs", False)]),
    ("list50", "2. GET /containers/json?all=1&limit=50 (50 containers), c=1",
     [("rps", "req/s", True), ("p50_us", "p50 µs", False), ("p99_us", "p99 µs", False)]),
    ("big_list", "3. GET /containers/json?all=1 (~2 MB), c=1",
     [("mb", "MB per answer", True), ("ttfb_p50_us", "first byte p50 µs", False),
      ("total_p50_us", "total p50 µs", False)]),
    ("attach", "4. attach (hijacked), container output in MB/s", [("mb_per_s", "MB/s", True)]),
]
# The bulk streams (bulk.py): MB/s, and CPU seconds per GB moved (shown beside socat's).
_BULK_ROWS = [("mb_per_s", "MB/s", True), ("proxy_cpu_s_per_gb", "proxy CPU s/GB", False),
              ("dockerd_cpu_s_per_gb", "dockerd CPU s/GB", False)]
BULK_TABLES: list[tuple[str, str, list[tuple[str, str, bool]]]] = [
    ("save", "8. GET /images/{name}/get (docker save), the daemon's chunked answer", _BULK_ROWS),
    ("export", "9. GET /containers/{id}/export, the daemon's chunked answer", _BULK_ROWS),
    ("load_chunked", "10. POST /images/load (docker load), body chunked as the CLI sends it", _BULK_ROWS),
    ("load_length", "10. POST /images/load, body with a Content-Length", _BULK_ROWS),
    ("build_chunked", "11. POST /build, a build context chunked as the CLI sends it", _BULK_ROWS),
    ("build_length", "11. POST /build, a build context with a Content-Length", _BULK_ROWS),
]
TABLES += BULK_TABLES
# --upstream dockerd-28.5: "direct" and "apiproxy" at the daemon's floor (1.44), "apiproxy v…" below it.
_LIST_ROWS = [("rps", "req/s", True), ("p50_us", "p50 µs", False), ("p99_us", "p99 µs", False)]
FLOOR_TABLES: list[tuple[str, str, list[tuple[str, str, bool]]]] = [
    ("floor_list50", "F1. GET /containers/json?all=1&limit=50 (50 containers), floor 1.44, c=1", _LIST_ROWS),
    ("floor_images", "F2. GET /images/json, floor 1.44, c=1", _LIST_ROWS),
    ("floor_create", "F3. create + start + remove (force) of a `true` container, one request at a time",
     [("cycle_us", "cycle µs", False), ("create_us", "create µs", False), ("start_us", "start µs", False),
      ("remove_us", "remove µs", False)]),
]
CPU_ROWS = [("loadgen_cpu_pct", "loadgen CPU %"), ("dockerd_cpu_pct", "dockerd CPU %"),
            ("proxy_cpu_pct", "proxy CPU %"), ("proxy_cpu_us_per_req", "proxy CPU µs/req")]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(run: Run, scenario: str, variant: str, metric: str, baseline: str = "direct") -> float:
    """Median over repetitions of variant / baseline: both were measured within the same repetition."""
    samples = run[scenario]
    pairs = zip(samples[variant].get(metric, []), samples[baseline].get(metric, []))
    return median([a / b for a, b in pairs if b])


def added(run: Run, scenario: str, variant: str, metric: str) -> float:
    return median(run[scenario][variant][metric]) - median(run[scenario]["direct"][metric])


@dataclass
class Target:
    name: str
    value: Callable[[Run], float]
    limit: float
    at_least: bool  # True: value >= limit; False: value <= limit
    unit: str = "×"

    def measured(self, run: Run) -> bool:
        """False when the run left this target's scenario out (run.py --only)."""
        try:
            self.value(run)
        except KeyError:
            return False
        return True

    def met(self, run: Run) -> bool:
        value = self.value(run)
        return value >= self.limit if self.at_least else value <= self.limit

    def describe(self, run: Run) -> str:
        value = self.value(run)
        verdict = "met" if self.met(run) else "MISSED"
        sign = "≥" if self.at_least else "≤"
        return f"  {self.name:<52} {value:>9.2f}{self.unit:<4} (target {sign} {self.limit:g}{self.unit})  {verdict}"


def _core_worst(run: Run) -> float:
    return max(max(row["request_us"], row["response_item_us"]) for row in run["core"]
               if row["family"] in TYPICAL_FAMILIES)


# The families whose requests and answers count as "typical" for the 50 µs target.
TYPICAL_FAMILIES = ("containers list", "container inspect", "container create", "images list",
                    "image inspect", "events item")

FLOOR = "1.44"  # the client version that passes through on the floor daemon


def _floor_core(run: Run, below: bool) -> float:
    """Below the floor: the worst request or whole answer in µs; at it: how many families were translated."""
    rows = [row for row in run["core"] if (row["client"] != FLOOR) == below]
    if below:
        return float(max(max(r["request_us"], r["response_us"]) for r in rows))
    return float(sum(r["translated"] for r in rows))


FLOOR_TARGETS = [
    Target("floor containers/json v1.41: rps vs direct v1.44",
           lambda r: ratio(r, "floor_list50", "apiproxy v1.41", "rps"), 0.85, True),
    Target("floor images/json v1.41: rps vs direct v1.44",
           lambda r: ratio(r, "floor_images", "apiproxy v1.41", "rps"), 0.85, True),
    Target("floor containers/json v1.44 as is: rps vs direct",
           lambda r: ratio(r, "floor_list50", "apiproxy", "rps"), 0.9, True),
    Target("floor images/json v1.44 as is: rps vs direct",
           lambda r: ratio(r, "floor_images", "apiproxy", "rps"), 0.9, True),
    Target("floor pure translation: worst v1.41/v1.24 req/answer", lambda r: _floor_core(r, True), 50, False,
           " µs"),
    Target("floor pure translation: v1.44 families translated", lambda r: _floor_core(r, False), 0, False, ""),
]

TARGETS = [
    Target("_ping c=1: apiproxy rps vs splice", lambda r: ratio(r, "ping_c1", "apiproxy", "rps", "splice"),
           0.85, True),
    Target("containers/json modern: apiproxy rps vs direct", lambda r: ratio(r, "list50", "apiproxy", "rps"),
           0.9, True),
    Target("containers/json v1.9: apiproxy rps vs direct modern",
           lambda r: ratio(r, "list50", "apiproxy v1.9", "rps"), 0.85, True),
    Target("containers/json v1.4: apiproxy rps vs direct modern",
           lambda r: ratio(r, "list50", "apiproxy v1.4", "rps"), 0.85, True),
    Target("2 MB list modern: first byte vs direct",
           lambda r: ratio(r, "big_list", "apiproxy", "ttfb_p50_us"), 1.1, False),
    Target("2 MB list modern: total time vs direct",
           lambda r: ratio(r, "big_list", "apiproxy", "total_p50_us"), 1.1, False),
    Target("2 MB list v1.9: total time vs direct modern",
           lambda r: ratio(r, "big_list", "apiproxy v1.9", "total_p50_us"), 1.3, False),
    # Issue 15's: streams at the kernel's speed.
    Target("attach modern: MB/s vs direct", lambda r: ratio(r, "attach", "apiproxy", "mb_per_s"), 0.95, True),
    Target("attach v1.9: MB/s vs direct", lambda r: ratio(r, "attach", "apiproxy v1.9", "mb_per_s"), 0.95, True),
    Target("attach v1.5 (demultiplexed): MB/s vs direct",
           lambda r: ratio(r, "attach", "apiproxy v1.5", "mb_per_s"), 0.85, True),
    Target("attach modern: MB/s vs socat", lambda r: ratio(r, "attach", "apiproxy", "mb_per_s", "socat"), 1.0,
           True),
    Target("events modern: added p50", lambda r: median(r["events"]["apiproxy"]["added_us"]), 1000, False, " µs"),
    Target("events v1.9: added p50", lambda r: median(r["events"]["apiproxy v1.9"]["added_us"]), 1000, False,
           " µs"),
    Target("RSS growth over the requests", lambda r: r["memory"]["growth_requests_mib"], 10, False, " MiB"),
    Target("RSS growth over the stream (modern)", lambda r: r["memory"]["growth_stream_mib"], 10, False, " MiB"),
    Target("RSS growth over the stream (v1.5, demultiplexed)",
           lambda r: r["memory"]["growth_legacy_stream_mib"], 10, False, " MiB"),
    Target("pure translation: worst typical request/item", _core_worst, 50, False, " µs"),
]


def _bulk_targets(key: str, name: str) -> list[Target]:
    """Issue 15's for one bulk scenario: direct's MB/s, a quarter of socat's CPU per GB, faster than socat."""
    return [Target(f"{name}: MB/s vs direct", lambda r: ratio(r, key, "apiproxy", "mb_per_s"), 0.95, True),
            Target(f"{name}: CPU/GB vs socat's", lambda r: ratio(r, key, "apiproxy", "proxy_cpu_s_per_gb", "socat"),
                   0.25, False),
            Target(f"{name}: MB/s vs socat", lambda r: ratio(r, key, "apiproxy", "mb_per_s", "socat"), 1.0, True)]


for _key, _name in (("save", "save"), ("export", "export"), ("load_chunked", "load chunked"),
                    ("load_length", "load Content-Length"), ("build_chunked", "build context chunked"),
                    ("build_length", "build context Content-Length")):
    TARGETS += _bulk_targets(_key, _name)


def _cell(value: float) -> str:
    if value != value:  # NaN: not measured
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def format_table(run: Run, scenario: str, title: str, rows: list[tuple[str, str, bool]]) -> str:
    samples = run[scenario]
    variants = list(samples)
    width = max(12, *(len(v) + 2 for v in variants))
    lines = [title, f"  {'':<24}" + "".join(f"{v:>{width}}" for v in variants)]

    def line(label: str, values: list[float]) -> None:
        lines.append(f"  {label:<24}" + "".join(f"{_cell(v):>{width}}" for v in values))

    for metric, label, higher_better in rows:
        line(label, [median(samples[v].get(metric, [])) for v in variants])
        if metric.endswith("_per_gb"):  # a cost of the proxy: beside socat's, not direct's
            if "socat" in variants and metric == "proxy_cpu_s_per_gb":
                line("  × socat", [ratio(run, scenario, v, metric, "socat") for v in variants])
            continue
        line("  × direct", [ratio(run, scenario, v, metric) for v in variants])
        if not higher_better:
            line("  added µs vs direct", [added(run, scenario, v, metric) for v in variants])
        elif metric == "rps":  # per-request cost: 1e6/rps is the mean time one connection waits
            line("  added µs/req vs direct",
                 [1e6 / median(samples[v][metric]) - 1e6 / median(samples["direct"][metric]) for v in variants])
    for metric, label in CPU_ROWS:
        if any(metric in samples[v] for v in variants):
            line(label, [median(samples[v].get(metric, [])) for v in variants])
    return "\n".join(lines)


def is_floor(run: Run) -> bool:
    """run.py marks a run on the floor daemon; older results are told by their floor scenarios."""
    return bool(run.get("floor")) or any(key in run for key, _, _ in FLOOR_TABLES)


def targets_of(run: Run) -> list[Target]:
    return FLOOR_TARGETS if is_floor(run) else TARGETS


def format_run(run: Run, number: int) -> str:
    parts = [f"=== run {number} ({run['reps']} interleaved repetitions; medians) ==="]
    if is_floor(run):  # run.py --only may leave any of these out
        parts += [format_table(run, *table) for table in FLOOR_TABLES if table[0] in run]
        if "core" in run:
            parts.append(f"7. pure translation on a 1.44 floor (dockerd 28.5 as Docker 29.0; best of 5)\n"
                         + format_rows(run["core"]))
        parts.append("targets\n" + "\n".join(target.describe(run) for target in FLOOR_TARGETS
                                               if target.measured(run)))
        return "\n\n".join(parts)
    for scenario, title, rows in TABLES:
        if scenario in run:  # run.py --only leaves some out
            parts.append(format_table(run, scenario, title, rows))
    if "events" in run:
        parts.append("5. events: delay after the direct stream delivered the same event\n" + "\n".join(
            f"  {name:<24} p50 {median(s['added_us']):8.0f} µs   p99 {_p99(s['added_us']):8.0f} µs"
            f"   ({len(s['added_us'])} events)" for name, s in run["events"].items()))
    if "memory" in run:
        parts.append("6. apiproxy memory (VmRSS, MiB)\n" + "\n".join(
            f"  {key.removesuffix('_mib'):<30} {value:8.1f}" for key, value in run["memory"].items()))
    if "core" in run:
        parts.append(f"7. pure translation, client v{run['core_client']} to API 1.41 (best of 5)\n"
                     + format_rows(run["core"]))
    parts.append("targets\n" + "\n".join(target.describe(run) for target in TARGETS if target.measured(run)))
    return "\n\n".join(parts)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] if ordered else float("nan")


def summary(runs: list[Run]) -> str:
    """Each target across runs: it counts as met only if met in every run."""
    lines = ["targets over all runs"]
    for target in targets_of(runs[0]):
        if not all(target.measured(run) for run in runs):
            continue
        values = " ".join(f"{target.value(run):9.2f}" for run in runs)
        verdict = "met" if all(target.met(run) for run in runs) else "MISSED"
        lines.append(f"  {target.name:<52} {values}   {verdict}")
    return "\n".join(lines)


FLOOR_BARS = [("floor_list50", "rps", "list 50 req/s"), ("floor_images", "rps", "images req/s"),
              ("floor_create", "cycle_us", "create+start+rm")]
CHART_BARS = [("ping_c1", "rps", "_ping c=1 req/s"), ("ping_c32", "rps", "_ping c=32 req/s"),
              ("list50", "rps", "list 50 req/s"), ("big_list", "ttfb_p50_us", "2 MB first byte"),
              ("big_list", "total_p50_us", "2 MB total"), ("attach", "mb_per_s", "attach MB/s"),
              ("save", "mb_per_s", "save MB/s"), ("export", "mb_per_s", "export MB/s"),
              ("load_chunked", "mb_per_s", "load MB/s"), ("build_chunked", "mb_per_s", "build ctx MB/s")]


def chart_variants(runs: list[Run], bars: list[tuple[str, str, str]]) -> list[str]:
    """The variants measured in the charted scenarios but direct (the 1.0 line): the relays, then each
    apiproxy tree (this one, then the baselines) at the daemon's version and at each client version."""
    found = {variant for run in runs for scenario, _, _ in bars for variant in run.get(scenario, {})}
    relays = [name for name in ("socat", "splice", "kernel") if name in found]
    trees = sorted({name.split(" ")[0] for name in found if name.startswith("apiproxy")},
                   key=lambda tree: (tree != "apiproxy", tree))
    return relays + [name for tree in trees
                     for name in sorted((n for n in found if n.split(" ")[0] == tree), key=_version_order)]


def _version_order(name: str) -> tuple[int, ...]:
    """apiproxy first, then its client versions newest first (v1.41 before v1.24, v1.9 before v1.4)."""
    _, _, version = name.partition(" v")
    return (0,) if not version else (1, *(-int(part) for part in version.split(".")))


def chart(runs: list[Run], path: str) -> str | None:
    """Ratios against direct, one panel per run; None if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e .[bench]): no chart written"
    bars = FLOOR_BARS if is_floor(runs[0]) else CHART_BARS
    bars = [bar for bar in bars if any(bar[0] in run for run in runs)]  # run.py --only
    variants = chart_variants(runs, bars)
    if not variants:
        return "no scenario with a chart bar was measured: no chart written"
    figure, axes = plt.subplots(len(runs), 1, figsize=(11, 4 * len(runs)), squeeze=False)
    width = 0.8 / len(variants)
    for index, (run, axis) in enumerate(zip(runs, axes[:, 0])):
        for offset, variant in enumerate(variants):
            xs, ys = [], []
            for position, (scenario, metric, _) in enumerate(bars):
                if variant in run.get(scenario, {}):
                    xs.append(position + (offset - len(variants) / 2 + 0.5) * width)
                    ys.append(ratio(run, scenario, variant, metric))
            if xs:
                axis.bar(xs, ys, width, label=variant)
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(bars)), [label for _, _, label in bars])
        axis.set_ylabel("× direct (median of repetitions)")
        axis.set_title(f"run {index + 1}: ratio to the daemon's own socket (higher is better for req/s "
                       f"and MB/s, lower for times)", fontsize=9)
        axis.legend(fontsize=8, ncol=3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return None
