"""The schema properties of tests/unit/translation/test_schema_properties.py, with many more examples.

    python bench/properties.py [--examples N] [--endpoint TEXT] [--target V] [--seed S]

For every endpoint and legacy version with a request-body schema, each property (valid bodies
meet the target schemas; invalid bodies get a 400; bytes that are not JSON get a 400) runs on
N generated examples at every target version.  Prints per endpoint/version what was tried,
passed and failed, the first failing example of each, and a total; exits 1 if any failed.
Failures are not shrunk: run the unit test with APXTEST_PROPERTY_EXAMPLES for a minimal one.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "unit", "translation")]

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from apiproxy.api.versions import Version, parse_version  # noqa: E402
from test_schema_properties import (CASES, NOT_JSON, TARGETS, Case, check_refused, check_valid,  # noqa: E402
                                    invalid_bodies, ungenerable, valid_bodies)

Check = Callable[[Case, Version, Any], None]


def _refused_json(case: Case, target: Version, body: Any) -> None:
    check_refused(case, target, json.dumps(body).encode())


PROPERTIES: dict[str, tuple[Callable[[Case], st.SearchStrategy[Any]], Check]] = {
    "valid": (lambda case: valid_bodies(case.pointer), check_valid),
    "invalid": (lambda case: invalid_bodies(case.pointer), _refused_json),
    "not JSON": (lambda case: NOT_JSON, check_refused),
}


@dataclass
class Tally:
    tried: int = 0
    passed: int = 0
    first_failure: str | None = None

    @property
    def failed(self) -> int:
        return self.tried - self.passed


def run(case: Case, strategy: st.SearchStrategy[Any], check: Check, targets: list[Version],
        examples: int, chosen_seed: int | None) -> Tally:
    """Tries `examples` values of `strategy` at every target, counting rather than stopping at a failure."""
    tally = Tally()

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(value=strategy)
    def prop(value: Any) -> None:
        tally.tried += 1
        for target in targets:
            try:
                check(case, target, value)
            except Exception as error:  # an AssertionError, or what the client would get as a 500
                if tally.first_failure is None:
                    tally.first_failure = f"at {target}: {value!r}\n      {type(error).__name__}: {error}"
                return
        tally.passed += 1

    (seed(chosen_seed)(prop) if chosen_seed is not None else prop)()
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=500, help="examples per property and case (500)")
    parser.add_argument("--endpoint", default="", help="only endpoints containing this text")
    parser.add_argument("--target", action="append", type=parse_version,
                        help="a target version (repeatable); default: " + ", ".join(map(str, TARGETS)))
    parser.add_argument("--seed", type=int, help="Hypothesis seed, to repeat a run")
    args = parser.parse_args()
    targets = args.target or list(TARGETS)
    cases = [case for case in CASES if args.endpoint in case.endpoint]
    print(f"{args.examples} examples per property, at targets {', '.join(map(str, targets))}")
    print(f"{'endpoint':<30} {'version':>7} {'property':<9} {'tried':>6} {'passed':>6} {'failed':>6}")
    totals, failures, started = Tally(), [], time.monotonic()
    for case in cases:
        why = ungenerable(case)
        if why:
            print(f"{case.endpoint:<30} {str(case.client):>7} skipped: {why}")
            continue
        for name, (strategy, check) in PROPERTIES.items():
            tally = run(case, strategy(case), check, targets, args.examples, args.seed)
            totals.tried += tally.tried
            totals.passed += tally.passed
            print(f"{case.endpoint:<30} {str(case.client):>7} {name:<9} {tally.tried:>6} {tally.passed:>6} "
                  f"{tally.failed:>6}", flush=True)
            if tally.first_failure:
                failures.append(f"{case.id} ({name}) {tally.first_failure}")
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"total: {totals.tried} tried, {totals.passed} passed, {totals.failed} failed "
          f"({len(cases)} endpoint/versions, {time.monotonic() - started:.0f} s)")
    return 1 if totals.failed else 0


if __name__ == "__main__":
    sys.exit(main())
