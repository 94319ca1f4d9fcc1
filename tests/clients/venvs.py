"""Pinned virtualenvs for client libraries, built once and kept under the test cache."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("APXTEST_CACHE", "/var/cache/apiproxy-tests")) / "venvs"
# What `pip install --no-build-isolation` builds the sdists with.
BOOTSTRAP = ("setuptools==69.5.1", "wheel==0.43.0")
# requests 1.2.3 (and its vendored urllib3) import the ABCs from `collections`, where Python
# 3.10 stopped offering them; a .pth file puts them back before anything else is imported.
ALIASES_MODULE = "apiproxy_collections_aliases"
ALIASES = '''"""The `collections` ABC aliases that Python 3.10 removed, for requests 1.2.3."""
import collections
import collections.abc

for _name in ("Mapping", "MutableMapping", "Callable", "Iterable", "Sequence", "MutableSet"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
'''


@dataclass(frozen=True)
class Release:
    """A client library release: what to install, and the API versions it can be told to speak."""
    name: str
    pins: tuple[str, ...]
    versions: tuple[str, ...]
    collections_aliases: bool = False
    # Modules put in the venv's site-packages, each imported at startup by a .pth file of its own:
    # (module name, source).
    startup_modules: tuple[tuple[str, str], ...] = ()

    def key(self) -> str:
        interpreter = os.path.realpath(sys.executable), sys.version
        aliases = ALIASES if self.collections_aliases else ""
        return hashlib.sha256(json.dumps([self.pins, BOOTSTRAP, aliases, self.startup_modules,
                                          interpreter]).encode()).hexdigest()


def python(release: Release) -> Path:
    """The interpreter of `release`'s virtualenv, built first if the cache has none for these pins."""
    home = CACHE / release.name
    stamp = home / "pins.sha256"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{release.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be building the same one
        if not (stamp.exists() and stamp.read_text() == release.key()):
            _build(release, home)
    return home / "bin" / "python"


def _build(release: Release, home: Path) -> None:
    fresh = home.with_name(home.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    # Without its own pip (ensurepip takes ~20 s): this interpreter's pip installs into it.
    _run([sys.executable, "-m", "venv", "--without-pip", str(fresh)])
    interpreter = fresh / "bin" / "python"
    modules = ((ALIASES_MODULE, ALIASES),) if release.collections_aliases else ()
    modules += release.startup_modules
    if modules:
        site = Path(subprocess.run([interpreter, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   check=True, capture_output=True, text=True).stdout.strip())
        for name, source in modules:
            (site / f"{name}.py").write_text(source)
            (site / f"{name}.pth").write_text(f"import {name}\n")
    pip = [sys.executable, "-m", "pip", "--python", str(interpreter), "install", "--quiet",
           "--disable-pip-version-check"]
    _run([*pip, *BOOTSTRAP])
    # Own dependencies pinned, not the release's (0.3.x asks for requests 2.2.1, mock, websocket-client).
    _run([*pip, "--no-build-isolation", "--no-deps", *release.pins])
    (fresh / "pins.sha256").write_text(release.key())
    shutil.rmtree(home, ignore_errors=True)
    fresh.rename(home)  # a venv moves: bin/python finds its site-packages beside pyvenv.cfg


def _run(command: list[str | Path]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} exited {result.returncode}:\n"
                           f"{result.stdout}\n{result.stderr}")
