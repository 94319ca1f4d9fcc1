"""docker-py's own integration suites, pinned at the API version each release was made for, through
apiproxy on the daemon with Docker 29's floor (1.44), compared per test id with an oracle: the
same suite on dockerd 20.10's own socket (which serves 1.12-1.41 natively).

Every test id that passes in the oracle passes through apiproxy, or is listed in
tests/data/dockerpy-suites/untranslatable.json citing its FLOOR-DELTAS row, or in
tests/data/dockerpy-suites/environment.json: a race with the test daemons' flags that their own socket
shows too (checked here).

Knobs (environment, outside the APIPROXY_ prefix, which is the configuration's):
  DOCKERPY_SUITES   space-separated suites to run (default: 4.3.1-1.39 6.1.3-1.41; with APXTEST_FULL=1
                    or DOCKERPY_ORACLE=refresh also the older 1.10.6-1.24 2.7.0-1.30 3.7.3-1.35)
  DOCKERPY_ONLY     comma-separated test ids or files of the suites to run alone (iterating)
  DOCKERPY_RESULTS  a directory: each run through apiproxy leaves its outcomes and failure messages
                    there, as <suite>.json
  DOCKERPY_ORACLE   "refresh": on dockerd-20.10, run the suites on its own socket and rewrite
                    tests/data/dockerpy-suites/oracle/<suite>.json (tests/dockerpy-oracle does it)
"""
from __future__ import annotations

import json
import os
import sys
import urllib.parse
from pathlib import Path

import pytest

from clients.dockerpy_suites import (DATA, SUITES, TEST_IMAGES, Result, Suite, load_oracle, oracle_path,
                                     run)
from support import DIRECT_API, UPSTREAM, request, start_apiproxy

FLOOR_UPSTREAM = "dockerd-28.5"
# Docker 29.3's floor too, in the whole client matrix.
FLOOR_UPSTREAMS = (FLOOR_UPSTREAM, "dockerd-28.5-floor1.40") if os.environ.get("APXTEST_FULL") == "1" \
    else (FLOOR_UPSTREAM,)
ORACLE_UPSTREAM = "dockerd-20.10"
ONLY = [test for test in os.environ.get("DOCKERPY_ONLY", "").split(",") if test]
REFRESH = os.environ.get("DOCKERPY_ORACLE") == "refresh"
FULL = os.environ.get("APXTEST_FULL") == "1"
NAMES = os.environ.get("DOCKERPY_SUITES", " ".join(
    name for name, suite in SUITES.items() if FULL or REFRESH or not suite.full)).split()


@pytest.fixture(scope="module")
def suite_images(docker_sock: str, image: str) -> None:
    """The offline test image under the names the suites' fixtures and tests use."""
    for name in TEST_IMAGES:
        repo, tag = name.split(":")
        query = urllib.parse.urlencode({"repo": repo, "tag": tag})
        reply = request(docker_sock, "POST", f"/v{DIRECT_API}/images/{urllib.parse.quote(image)}/tag?{query}")
        assert reply.status == 201, reply


def untranslatable(suite: Suite) -> dict[str, dict[str, str]]:
    document = json.loads((DATA / "untranslatable.json").read_text())
    found = {entry["test"]: entry for entry in document["untranslatable"] if entry["suite"] == suite.name}
    for entry in found.values():
        assert entry.get("floor_deltas") and entry.get("reason"), f"{entry}: cite a FLOOR-DELTAS row and say why"
    return found


def environment(suite: Suite) -> dict[str, dict[str, object]]:
    """Tests this machine's daemons fail on their own socket too: they may fail, and may pass."""
    document = json.loads((DATA / "environment.json").read_text())
    return {entry["test"]: entry for entry in document["environment"]
            if suite.name in entry["suites"] and UPSTREAM in entry["upstreams"]}


def summary(suite: Suite, where: str, result: Result) -> str:
    counts: dict[str, int] = {}
    for outcome in result.outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    line = (f"docker-py {suite.name} on {where}: {len(result.outcomes)} tests in {result.seconds:.0f} s, "
            + ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())))
    print(line, file=sys.stderr)
    return line


@pytest.mark.parametrize("name", NAMES)
def test_suite_through_apiproxy(name: str, docker_sock: str, suite_images: None,
                                record_property: pytest.RecordProperty) -> None:
    if UPSTREAM not in FLOOR_UPSTREAMS:
        pytest.skip(f"the suites are compared on {' and '.join(FLOOR_UPSTREAMS)} only")
    if REFRESH:
        pytest.skip("refreshing the oracle")
    suite = SUITES[name]
    oracle = load_oracle(suite)
    allowed = untranslatable(suite)
    racing = environment(suite)
    expected = [test for test, outcome in oracle.items() if outcome == "passed"
                and (not ONLY or any(test == only or test.startswith(only + "::") for only in ONLY))]
    proxy = start_apiproxy(docker_sock)
    try:
        assert proxy.sock is not None
        result = run(suite, proxy.sock, only=ONLY or None, tmp=os.environ.get("APXTEST_TMP"))
        failing = sorted(test for test in expected if result.outcomes.get(test) != "passed"
                         and test not in allowed and test not in racing)
        # The suites count every container on the daemon and race with their own auto-removes
        # (docker-py #1813, #2655): a test that fails once and passes alone is reported, not failed.
        again = run(suite, proxy.sock, only=failing, tmp=os.environ.get("APXTEST_TMP")) if failing else None
    finally:
        proxy.stop()
    line = summary(suite, f"apiproxy -> {UPSTREAM}", result)
    record_property("dockerpy_summary", line)
    if os.environ.get("DOCKERPY_RESULTS"):
        keep = Path(os.environ["DOCKERPY_RESULTS"])
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{suite.name}.json").write_text(json.dumps(
            {"summary": line, "outcomes": result.outcomes, "details": result.details}, indent=1))
        (keep / f"{suite.name}.log").write_text(result.output)
        (keep / f"{suite.name}.apiproxy.log").write_text(proxy.log)
    if again is not None:
        flaky = [test for test in failing if again.outcomes.get(test) == "passed"]
        if flaky:
            note = f"failed once, then passed run alone: {', '.join(flaky)}"
            record_property("dockerpy_flaky", note)
            print(f"docker-py {suite.name}: {note}", file=sys.stderr)
        failing = [test for test in failing if test not in flaky]
    stale = sorted(test for test in allowed if result.outcomes.get(test) == "passed")
    report = "\n".join(f"  {test}: {result.outcomes.get(test, 'not run')}: {result.details.get(test, '')[:300]}"
                       for test in failing)
    crashes = proxy.log.count("Traceback")
    assert not failing, (f"{line}\n{len(failing)} of the {len(expected)} tests that pass on {ORACLE_UPSTREAM}'s "
                         f"own socket do not pass through apiproxy, run with the suite or alone (apiproxy logged "
                         f"{crashes} tracebacks):\n{report}")
    assert not stale, f"listed as untranslatable but passing now: {stale}"


def test_a_running_container_is_not_renamed_without_its_bridge_network(docker_sock: str, image: str) -> None:
    """environment.json's test_rename entry, on the daemon's own socket at its own version."""
    if UPSTREAM not in FLOOR_UPSTREAMS:
        pytest.skip(f"the suites are compared on {' and '.join(FLOOR_UPSTREAMS)} only")
    created = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create",
                      {"Image": image, "Cmd": ["sleep", "30"]}).json()["Id"]
    try:
        assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{created}/start").status == 204
        reply = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{created}/rename?name=apx-renamed")
        assert (reply.status, reply.json()["message"]) == (404, "network bridge not found")
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{created}?force=1")


@pytest.mark.parametrize("name", NAMES)
def test_refresh_oracle(name: str, docker_sock: str, suite_images: None) -> None:
    if not REFRESH or UPSTREAM != ORACLE_UPSTREAM:
        pytest.skip(f"DOCKERPY_ORACLE=refresh on {ORACLE_UPSTREAM} only (tests/dockerpy-oracle)")
    suite = SUITES[name]
    daemon = request(docker_sock, "GET", f"/v{DIRECT_API}/version").json()
    result = run(suite, docker_sock, tmp=os.environ.get("APXTEST_TMP"))
    line = summary(suite, f"{UPSTREAM}'s own socket", result)
    path: Path = oracle_path(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "description": f"docker-py {suite.version}'s tests/integration pinned at API {suite.api}, on the own "
                       f"socket of dockerd {daemon['Version']} (API {daemon['MinAPIVersion']}-"
                       f"{daemon['ApiVersion']}), no apiproxy. Refreshed by tests/dockerpy-oracle.",
        "summary": line,
        "outcomes": dict(sorted(result.outcomes.items())),
    }, indent=1) + "\n")
