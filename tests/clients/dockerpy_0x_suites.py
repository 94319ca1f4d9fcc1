"""docker-py 0.2.2-0.3.1's own integration suites (tests/integration_test.py at each release's git tag),
run through a socket in the release's pinned virtualenv (dockerpy.py) by dockerpy_0x_runner.py.

The suites come from a clone of github.com/docker/docker-py (support.DOCKERPY_GIT): their sdists hold
no tests. Each runs at its release's default API version, as its own Client() does.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from clients.dockerpy import RELEASES
from clients.venvs import python

RUNNER = Path(__file__).with_name("dockerpy_0x_runner.py")
DATA = Path(__file__).resolve().parent.parent / "data" / "dockerpy-0x-suites"
# The API version each release's Client() speaks by default.
DEFAULT_API = {"0.2.2": "1.4", "0.2.3": "1.6", "0.3.0": "1.8", "0.3.1": "1.9"}
# What may make a test of these suites fail here; never an answer of apiproxy.
CAUSES = ("the network", "Python 2 assumptions", "no privileged containers", "no bridge",
          "the suite's own bug", "written for a later daemon")


@dataclass
class Result:
    outcomes: dict[str, str]  # test id (its class): passed, failed, error, skipped
    details: dict[str, str]   # test id: the traceback of what did not pass
    seconds: float
    log: str


def source(release: str, git_dir: str) -> str:
    """The release's tests/integration_test.py, read from its tag in `git_dir`."""
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"{release}:tests/integration_test.py"],
                          check=True, capture_output=True, text=True).stdout


def listed(release: str, upstream: str) -> dict[str, dict[str, str]]:
    """{test id: {cause, why}} of the tests known to fail on `upstream`, and why."""
    document = json.loads((DATA / f"{release}.json").read_text())
    found = {}
    for test, entry in document["failing"].items():
        assert entry["cause"] in CAUSES and entry.get("why"), f"{release} {test}: name a cause of {CAUSES} and why"
        if upstream in entry.get("upstreams", [upstream]):
            found[test] = entry
    return found


def run(release: str, git_dir: str, sock: str, per_test: int = 120, tmp: str | None = None) -> Result:
    interpreter = python(RELEASES[release])
    with tempfile.TemporaryDirectory(prefix=f"dockerpy-{release}-suite-", dir=tmp) as work:
        suite = Path(work) / "integration_test.py"
        suite.write_text(source(release, git_dir))
        out = Path(work) / "result.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PYTHON"))}
        env.update(HOME=work)
        finished = subprocess.run([str(interpreter), str(RUNNER), str(suite), str(out), f"unix://{sock}",
                                   str(per_test)], cwd=work, env=env, capture_output=True, text=True, timeout=3600)
        if not out.exists():
            raise RuntimeError(f"docker-py {release}'s suite did not run (exit {finished.returncode}):\n"
                               f"{finished.stderr[-6000:]}")
        result = json.loads(out.read_text())
    return Result(result["outcomes"], result["details"], result["seconds"], finished.stderr)
