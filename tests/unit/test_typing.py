"""The package type-checks: `mypy apiproxy` from the repository's root, as setup.cfg's [mypy] configures it."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_finds_no_errors() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (it comes with the [test] extra: pip install -e '.[test]')")
    # The relative path checks this checkout's files, whichever checkout an editable install points at.
    result = subprocess.run([sys.executable, "-m", "mypy", "apiproxy"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"mypy apiproxy exited {result.returncode}:\n{result.stdout}{result.stderr}"
