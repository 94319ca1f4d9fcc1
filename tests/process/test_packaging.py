"""The wheel as `pip install .` builds it, installed into a fresh virtualenv (not editable) and run there."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from echo_upstream import EchoUpstream
from support import REPO, Apiproxy, request


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=600, cwd=cwd)


def _local_state(folder: str, names: list[str]) -> set[str]:
    """What a checkout holds that is not the project: a venv, git, earlier builds (the top-level build/ only)."""
    ignored = {name for name in names if name in (".venv", ".git") or name.endswith(".egg-info")}
    return ignored | ({"build"} & set(names) if Path(folder) == REPO else set())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Built from a copy of the checkout, as a user's `pip install .` builds it."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "src"
    shutil.copytree(REPO, source, symlinks=True, ignore=_local_state)
    built = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", folder, source)
    assert built.returncode == 0, built.stderr
    [found] = folder.glob("apiproxy-*.whl")
    yield found


def test_the_wheel_holds_every_subpackage_and_the_schemas(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(init.relative_to(REPO)) for init in (REPO / "apiproxy").rglob("__init__.py")}
    assert packages - names == set()
    schemas = {f"apiproxy/{path.relative_to(REPO)}" for path in (REPO / "schemas").rglob("*.json")}
    assert schemas - names == set()  # through the apiproxy/schemas symlink


def test_the_wheel_puts_the_plugin_into_twisteds_plugin_folder(wheel: Path) -> None:
    """What `pip install .` installs: the plugin beside Twisted's own, no __init__.py of apiproxy's there."""
    names = zipfile.ZipFile(wheel).namelist()
    assert [name for name in names if name.startswith("twisted/")] == ["twisted/plugins/apiproxy_plugin.py"]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed (not editable): its folder."""
    env = tmp_path_factory.mktemp("installed") / "venv"
    venv.create(env, with_pip=True)
    done = run(env / "bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel)
    assert done.returncode == 0, done.stderr
    return env


def test_the_installed_wheel_runs_apiproxy_and_the_core_benchmark(installed: Path, tmp_path: Path) -> None:
    """No checkout on the path: the command and bench/core.py import only what the wheel installed."""
    env = installed
    versions = run(env / "bin/apiproxy", "versions", cwd=tmp_path)
    assert versions.returncode == 0, versions.stderr
    assert "1.9" in versions.stdout
    bench = tmp_path / "bench"
    bench.mkdir()
    shutil.copy(REPO / "bench/core.py", bench / "core.py")  # beside no apiproxy/: the installed one is used
    core = run(env / "bin/python", bench / "core.py", "--json", cwd=tmp_path)
    assert core.returncode == 0, core.stderr
    assert json.loads(core.stdout)
    where = run(env / "bin/python", "-c", "import apiproxy; print(apiproxy.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(env)), where.stdout


def test_the_installed_apiproxy_serves_a_request_and_reports_healthy(installed: Path, tmp_path: Path) -> None:
    """The installed command in front of an upstream: a 2013 request translated (its schemas and
    change files come from the wheel), and `apiproxy health` on it."""
    echo = EchoUpstream(str(tmp_path / "echo.sock"))
    sock = tmp_path / "ap.sock"
    proxy = Apiproxy(["--listen", f"unix:{sock}", "--upstream", f"unix:{echo.path}"], str(sock), str(tmp_path),
                     command=[str(installed / "bin/apiproxy")], env={**os.environ, "PYTHONPATH": ""})
    try:
        proxy.wait_listening()
        # GET /version at 1.0 is translated (the 2013 shape is checked against its schema).
        version = request(str(sock), "GET", "/v1.0/version")
        assert version.status == 200 and version.json()["Version"] == "20.10.24", version
        assert echo.requests[-1]["target"] == "/v1.41/version", echo.requests
        healthy = run(installed / "bin/apiproxy", "health", "--listen", f"unix:{sock}", cwd=tmp_path)
        assert healthy.returncode == 0 and "200 OK" in healthy.stdout, healthy.stderr
    finally:
        assert proxy.stop() == 0, proxy.log
        echo.close()
    assert "Traceback" not in proxy.log, proxy.log
