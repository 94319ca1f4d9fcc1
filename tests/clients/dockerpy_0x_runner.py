"""Runs one docker-py 0.x release's own integration suite (its tests/integration_test.py, unittest) in
that release's virtualenv, against a socket; writes each test's outcome as JSON.

    python dockerpy_0x_runner.py SUITE.py RESULT.json unix:///path/to.sock [SECONDS_PER_TEST]

Adaptations, the same small ones the release venvs make, and no more:
- dockerpy_worker.py's Python 2 shims (httplib's `fp._sock`, 0.1.0's StringIO), imported from it; its
  log of each request and answer status goes to stderr;
- `docker.Client()` without a base_url speaks to the socket given (the suites name the daemon's
  default /var/run/docker.sock);
- BaseTestCase.setUp does not pull busybox from the index first (nothing here reaches it; the image
  is here already, tagged from the offline test image), the rest of it is the suite's own;
- each test runs under an alarm of SECONDS_PER_TEST (a hung test fails, the others run).
Test ids are the test classes' names (each suite's tests are runTest classes).
"""
import importlib.util
import json
import os
import signal
import sys
import time
import traceback
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dockerpy_worker  # noqa: E402,F401  (the shims, before docker is imported)
import docker  # noqa: E402
import docker.client  # noqa: E402


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout("the test ran out of time")


def _tests(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _tests(test)
        else:
            yield test


def main():
    source, out, host = sys.argv[1:4]
    per_test = int(sys.argv[4]) if len(sys.argv) > 4 else 120
    made = docker.client.Client.__init__

    def here(self, base_url=None, *args, **kwargs):
        made(self, base_url or host, *args, **kwargs)
    docker.client.Client.__init__ = here

    spec = importlib.util.spec_from_file_location("integration_test", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def set_up(self):
        self.client = docker.Client()
        self.tmp_imgs = []
        self.tmp_containers = []
    module.BaseTestCase.setUp = set_up

    signal.signal(signal.SIGALRM, _alarm)
    outcomes, details = {}, {}
    started = time.monotonic()
    for test in _tests(unittest.defaultTestLoader.loadTestsFromModule(module)):
        name = type(test).__name__ if test.id().endswith(".runTest") else test.id().split(".", 1)[1]
        result = unittest.TestResult()
        signal.alarm(per_test)
        try:
            test.run(result)
        finally:
            signal.alarm(0)
        problems = result.errors + result.failures
        if problems:
            outcomes[name] = "failed" if result.failures and not result.errors else "error"
            details[name] = problems[0][1][-3000:]
        else:
            outcomes[name] = "skipped" if result.skipped else "passed"
        sys.stderr.write(f"{name}: {outcomes[name]}\n")
        sys.stderr.flush()
    with open(out, "w") as handle:
        json.dump({"seconds": time.monotonic() - started, "outcomes": outcomes, "details": details}, handle)


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(2)
