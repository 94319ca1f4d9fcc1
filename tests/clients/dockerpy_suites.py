"""docker-py's own integration suites (tests/integration of a release's sdist), run against a socket.

Each release runs in a pinned virtualenv (venvs.py) with the sdist's tests unpacked beside it in the
test cache, pinned to the API version it was made for (DOCKER_TEST_API_VERSION), one timeout per
test; `run` answers each test id's outcome, read from pytest's junit xml. Test ids are the file's
name, its class and the test's name: `api_container_test.py::CreateContainerTest::test_create`.

What cannot exist here (swarm, plugins from Docker Hub, the internet) is left out as
tests/data/dockerpy-suites/excluded.json says, each with its reason.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from clients.venvs import CACHE, Release, python

DATA = Path(__file__).resolve().parent.parent / "data" / "dockerpy-suites"
ORACLE = DATA / "oracle"
SUITES_CACHE = CACHE.parent / "dockerpy-suites"
# The image their fixtures and tests name; tagged from the offline test image.
TEST_IMAGES = ("alpine:3.10", "alpine:latest", "busybox:buildroot-2014.02", "busybox:latest")
PER_TEST_TIMEOUT = 60
# Their session fixture makes every warning an error (warnings.simplefilter('error')), and the
# distutils of Python 3.10+ warns each time a Version is made (docker.utils.version_lt): made quiet.
QUIET_DISTUTILS = '''"""distutils' Version classes made quiet: docker-py's suites turn warnings into errors."""
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import distutils.version as _version

_made = _version.Version.__init__


def _quiet_init(self, vstring=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _made(self, vstring)


_version.Version.__init__ = _quiet_init
'''
# After setuptools' distutils-precedence.pth, so that the distutils made quiet is the one in use.
QUIET_MODULE = ("zz_apiproxy_quiet_distutils", QUIET_DISTUTILS)
_REQUESTS = ("requests==2.31.0", "urllib3==1.26.18", "certifi==2023.11.17", "charset-normalizer==3.3.2",
             "idna==3.6")
_SSH = ("paramiko==3.4.0", "bcrypt==4.1.2", "cryptography==41.0.7", "PyNaCl==1.5.0", "cffi==1.16.0",
        "pycparser==2.21")  # tests/helpers.py imports paramiko
_PYTEST = ("pytest==7.4.4", "pluggy==1.3.0", "iniconfig==2.0.0", "packaging==23.2", "pytest-timeout==2.2.0")


@dataclass(frozen=True)
class Suite:
    release: Release
    version: str  # the docker-py release
    api: str      # DOCKER_TEST_API_VERSION
    package: str = "docker"  # its name on PyPI: `docker-py` up to 1.10.6
    full: bool = False  # run only with APXTEST_FULL=1 (the default run keeps its length)

    @property
    def name(self) -> str:
        return f"{self.version}-{self.api}"


SUITES = {
    suite.name: suite for suite in (
        Suite(Release("docker-4.3.1-suite", ("docker==4.3.1", "six==1.16.0", "websocket-client==0.59.0",
                                             *_REQUESTS, *_SSH, *_PYTEST), ("1.39",),
                      startup_modules=(QUIET_MODULE,)), "4.3.1", "1.39"),
        Suite(Release("docker-6.1.3-suite", ("docker==6.1.3", "six==1.16.0", "websocket-client==1.6.4",
                                             *_REQUESTS, *_SSH, *_PYTEST), ("1.41",),
                      startup_modules=(QUIET_MODULE,)), "6.1.3", "1.41"),
        # Older releases, opt-in (APXTEST_FULL=1). 1.10.6 speaks its default, 1.24, whatever
        # DOCKER_TEST_API_VERSION says; the others read it.
        Suite(Release("docker-py-1.10.6-suite", ("docker-py==1.10.6", "docker-pycreds==0.2.1", "six==1.16.0",
                                                 "websocket-client==0.59.0", *_REQUESTS, *_PYTEST), ("1.24",),
                      startup_modules=(QUIET_MODULE,)), "1.10.6", "1.24", package="docker-py", full=True),
        Suite(Release("docker-2.7.0-suite", ("docker==2.7.0", "docker-pycreds==0.2.1", "six==1.16.0",
                                             "websocket-client==0.59.0", *_REQUESTS, *_PYTEST), ("1.30",),
                      startup_modules=(QUIET_MODULE,)), "2.7.0", "1.30", full=True),
        Suite(Release("docker-3.7.3-suite", ("docker==3.7.3", "docker-pycreds==0.4.0", "six==1.16.0",
                                             "websocket-client==0.59.0", *_REQUESTS, *_SSH, *_PYTEST), ("1.35",),
                      startup_modules=(QUIET_MODULE,)), "3.7.3", "1.35", full=True),
    )
}
# setup.py of docker 2.x imports pip to refuse an installed docker-py (pip.get_installed_distributions,
# gone since pip 10): this module stands in for it while pip reads the sdist's metadata.
PIP_STAND_IN = '''"""Stands in for pip in old setup.py files that ask it for the installed distributions."""


def get_installed_distributions(*args, **kwargs):
    return []
'''
# pip itself runs without the stand-in on its path; the setup.py it runs (PYTHONPATH) finds it.
_PIP_DOWNLOAD = """import sys
sys.path.remove(sys.argv[1])
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def sources(suite: Suite) -> Path:
    """The sdist's tests (and pytest.ini), unpacked once into the test cache."""
    home = SUITES_CACHE / f"docker-{suite.version}"
    SUITES_CACHE.mkdir(parents=True, exist_ok=True)
    with open(SUITES_CACHE / f"docker-{suite.version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "tests" / "integration").is_dir():
            _unpack(suite, home)
    return home


def _unpack(suite: Suite, home: Path) -> None:
    download = SUITES_CACHE / "sdists"
    sdist = download / f"{suite.package}-{suite.version}.tar.gz"
    if not sdist.exists():
        _download(suite, download)
    fresh = home.with_name(home.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    top = f"{suite.package}-{suite.version}/"
    with tarfile.open(sdist) as tar:
        # Only the tests: `import docker` must find the release installed in the venv.
        members = [m for m in tar.getmembers()
                   if m.name.startswith(top + "tests/") or m.name == top + "pytest.ini"]
        for member in members:
            member.name = member.name[len(top):]
        tar.extractall(fresh, members=members, filter="data")
    shutil.rmtree(home, ignore_errors=True)
    fresh.rename(home)


def _download(suite: Suite, download: Path) -> None:
    """The sdist, its metadata read by the release's own venv (setuptools and wheel, pip stood in for)."""
    interpreter = python(suite.release)
    with tempfile.TemporaryDirectory() as shim:
        (Path(shim) / "pip.py").write_text(PIP_STAND_IN)
        subprocess.run([sys.executable, "-c", _PIP_DOWNLOAD, shim, "--python", str(interpreter), "download",
                        "--quiet", "--disable-pip-version-check", "--no-deps", "--no-binary", ":all:",
                        "--no-build-isolation", "-d", str(download), f"{suite.package}=={suite.version}"],
                       check=True, capture_output=True, env={**os.environ, "PYTHONPATH": shim})


def excluded(suite: Suite) -> dict[str, str]:
    """{file or test id: why it cannot run here}, for `suite`."""
    document = json.loads((DATA / "excluded.json").read_text())
    return {entry["test"]: entry["reason"] for entry in document["excluded"]
            if suite.version in entry.get("releases", [suite.version])}


@dataclass
class Result:
    outcomes: dict[str, str]  # test id: passed, failed, error, skipped
    seconds: float
    output: str
    details: dict[str, str]  # test id: its failure's message, for what did not pass


def run(suite: Suite, sock: str, only: list[str] | None = None, timeout: int = PER_TEST_TIMEOUT,
        tmp: str | None = None) -> Result:
    """Run `suite` with DOCKER_HOST=unix://`sock`; `only`: these test ids (or files) alone."""
    interpreter = python(suite.release)
    root = sources(suite)
    work = tempfile.mkdtemp(prefix=f"dockerpy-{suite.name}-", dir=tmp)
    junit = Path(work) / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PYTHON"))}
    env.update(HOME=work, TMPDIR=work, DOCKER_HOST=f"unix://{sock}", DOCKER_TEST_API_VERSION=suite.api)
    skip = excluded(suite)
    command = [str(interpreter), "-m", "pytest", "-p", "no:cacheprovider", "-v", f"--timeout={timeout}",
               f"--junitxml={junit}", "-o", "junit_family=xunit1"]
    command += [f"--ignore=tests/integration/{name}" for name in skip if "::" not in name]
    command += [f"--deselect=tests/integration/{name}" for name in skip if "::" in name]
    command += [f"tests/integration/{name}" for name in only] if only else ["tests/integration"]
    started = time.monotonic()
    # To a file, which shows how far a run is while it runs (pytest -rA prints each test's outcome).
    log = Path(work) / "pytest.log"
    with open(log, "w") as out:
        finished = subprocess.run(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=3600)
    seconds = time.monotonic() - started
    output = log.read_text(errors="replace")
    try:
        outcomes, details = read_junit(junit)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not outcomes:
        raise RuntimeError(f"docker-py {suite.name}'s suite ran no test (exit {finished.returncode}):\n"
                           f"{output[-6000:]}")
    return Result(outcomes, seconds, output, details)


def read_junit(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    if not path.exists():
        return {}, {}
    outcomes: dict[str, str] = {}
    details: dict[str, str] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        test = test_id(case.get("classname", ""), case.get("name", ""))
        outcome = "passed"
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                details[test] = (found.get("message") or "")[:500]
                break
        # A test that passed but whose teardown failed is reported twice: the worse outcome counts.
        if outcomes.get(test, "passed") == "passed":
            outcomes[test] = outcome
    return outcomes, details


def test_id(classname: str, name: str) -> str:
    """tests.integration.api_container_test.CreateContainerTest, test_create ->
    api_container_test.py::CreateContainerTest::test_create (credentials/store_test.py::... below)"""
    parts = classname.split(".")
    if "integration" in parts:
        parts = parts[parts.index("integration") + 1:]
    module = next((i for i, part in enumerate(parts) if part.endswith("_test")), None)
    if module is None:
        return "::".join([*parts, name])
    return "::".join(["/".join(parts[:module + 1]) + ".py", *parts[module + 1:], name])


def oracle_path(suite: Suite) -> Path:
    return ORACLE / f"{suite.name}.json"


def load_oracle(suite: Suite) -> dict[str, str]:
    return json.loads(oracle_path(suite).read_text())["outcomes"]
