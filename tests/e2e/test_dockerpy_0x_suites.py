"""docker-py 0.2.2-0.3.1's own integration suites through apiproxy, each at its release's default API
version (tests/clients/dockerpy_0x_suites.py). Every test that fails is listed in
tests/data/dockerpy-0x-suites/<release>.json with its cause (the network, Python 2 assumptions, ...),
none of them an answer of apiproxy; a failure not listed, or a listed test that passes, fails here.

Opt-in (support.DOCKERPY_0X_SUITES): APXTEST_DOCKERPY_0X_SUITES=1; the four take 10-15 minutes per upstream
(2-4 each, on a shared 2-core machine). DOCKERPY_RESULTS=DIR keeps each
run's outcomes and tracebacks as DIR/<release>-<upstream>.json.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.parse
from pathlib import Path

import pytest

from clients.dockerpy_0x_suites import DEFAULT_API, listed, run
from support import DIRECT_API, DOCKERPY_0X_SUITES, DOCKERPY_GIT, UPSTREAM, request, start_apiproxy


@pytest.fixture(scope="module")
def busybox(docker_sock: str, image: str) -> None:
    """The offline test image as busybox:latest, the image every test of these suites names."""
    if image in ("busybox", "busybox:latest"):
        return
    query = urllib.parse.urlencode({"repo": "busybox", "tag": "latest"})
    assert request(docker_sock, "POST", f"/v{DIRECT_API}/images/{urllib.parse.quote(image)}/tag?{query}").status == 201


@pytest.mark.parametrize("release", list(DEFAULT_API))
def test_suite_through_apiproxy(release: str, docker_sock: str, busybox: None) -> None:
    if not DOCKERPY_0X_SUITES:
        pytest.skip("opt-in: APXTEST_DOCKERPY_0X_SUITES=1 (the four suites take 10-15 minutes per upstream)")
    if not Path(DOCKERPY_GIT).exists():
        pytest.skip(f"no clone of github.com/docker/docker-py at {DOCKERPY_GIT} (APXTEST_DOCKERPY_GIT)")
    known = listed(release, UPSTREAM)
    proxy = start_apiproxy(docker_sock)
    try:
        assert proxy.sock is not None
        result = run(release, DOCKERPY_GIT, proxy.sock, tmp=os.environ.get("APIPROXY_TEST_TMP"))
    finally:
        proxy.stop()
    counts = {outcome: list(result.outcomes.values()).count(outcome) for outcome in set(result.outcomes.values())}
    line = (f"docker-py {release} suite at API {DEFAULT_API[release]} through apiproxy -> {UPSTREAM}: "
            f"{len(result.outcomes)} tests in {result.seconds:.0f} s, {counts}, {len(known)} listed")
    print(line, file=sys.stderr)
    if os.environ.get("DOCKERPY_RESULTS"):
        keep = Path(os.environ["DOCKERPY_RESULTS"])
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{release}-{UPSTREAM}.json").write_text(json.dumps(
            {"summary": line, "outcomes": result.outcomes, "details": result.details}, indent=1))
        (keep / f"{release}-{UPSTREAM}.apiproxy.log").write_text(proxy.log)
    unlisted = {test: result.details.get(test, "")[-1500:] for test, outcome in result.outcomes.items()
                if outcome not in ("passed", "skipped") and test not in known}
    stale = sorted(test for test in known if result.outcomes.get(test) == "passed")
    assert not unlisted, f"{line}\nfailing and not listed:\n" + "\n".join(f"{t}:\n{d}" for t, d in unlisted.items())
    assert not stale, f"{line}\nlisted as failing but passing: {stale}"
    assert "Traceback" not in proxy.log, proxy.log[-6000:]
