"""bench/report.py on made-up results: what `run.py --only` and `--baseline` leave in a run."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import report  # noqa: E402


def _samples(*variants: str, metric: str = "rps") -> dict[str, dict[str, list[float]]]:
    """Every metric of the scenario's table (a list's when rps), two repetitions per variant."""
    metrics = ("rps", "p50_us", "p99_us") if metric == "rps" else (metric, "create_us", "start_us", "remove_us")
    return {variant: {name: [1000.0 - 10 * index, 990.0 - 10 * index] for name in metrics}
            for index, variant in enumerate(variants)}


def _floor_run(**scenarios: dict[str, dict[str, list[float]]]) -> report.Run:
    return {"reps": 2, "floor": True, **scenarios}


def test_a_floor_run_with_one_scenario_is_a_floor_run() -> None:
    run = _floor_run(floor_images=_samples("direct", "apiproxy", "apiproxy v1.41"))
    assert report.is_floor(run)
    text = report.format_run(run, 1)
    assert "F2. GET /images/json" in text and "F1." not in text and "pure translation" not in text
    assert "floor images/json v1.41: rps vs direct v1.44" in text
    assert "floor containers/json" not in text  # F1's targets: not measured


def test_results_written_before_the_floor_flag_are_told_by_their_scenarios() -> None:
    assert report.is_floor({"reps": 2, "floor_create": _samples("direct", "apiproxy", metric="cycle_us")})
    assert not report.is_floor({"reps": 2, "floor": False, "list50": _samples("direct", "apiproxy")})


def test_chart_variants_put_each_tree_together_with_its_client_versions() -> None:
    runs = [_floor_run(floor_images=_samples("direct", "apiproxy", "apiproxy v1.41", "apiproxy@abc1234",
                                             "apiproxy@abc1234 v1.41"),
                       floor_create=_samples("direct", "apiproxy", "apiproxy v1.24", "apiproxy@abc1234",
                                             metric="cycle_us"))]
    bars = [bar for bar in report.FLOOR_BARS if bar[0] in runs[0]]
    assert report.chart_variants(runs, bars) == ["apiproxy", "apiproxy v1.41", "apiproxy v1.24",
                                                 "apiproxy@abc1234", "apiproxy@abc1234 v1.41"]
    modern = [{"reps": 2, "list50": _samples("direct", "socat", "apiproxy", "apiproxy v1.4", "apiproxy v1.9")}]
    assert report.chart_variants(modern, report.CHART_BARS) == ["socat", "apiproxy", "apiproxy v1.9",
                                                                "apiproxy v1.4"]


@pytest.mark.parametrize("scenario", ["floor_list50", "floor_images", "floor_create"])
def test_chart_draws_any_single_floor_scenario(scenario: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    metric = "cycle_us" if scenario == "floor_create" else "rps"
    runs = [_floor_run(**{scenario: _samples("direct", "apiproxy", "apiproxy v1.41", "apiproxy@abc1234",
                                             metric=metric)})]
    path = tmp_path / "chart.png"
    assert report.chart(runs, str(path)) is None
    assert path.stat().st_size > 0


def test_chart_of_a_run_without_charted_scenarios_says_so() -> None:
    pytest.importorskip("matplotlib")
    problem = report.chart([{"reps": 2, "floor": True, "core": []}], "/nonexistent/chart.png")
    assert problem is not None and "no chart" in problem
