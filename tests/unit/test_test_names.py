"""pytest imports test files by their base name: two files of one name in tests/ cannot run in one session."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_file_name_is_unique_across_tests() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py") if ".venv" not in path.parts)
    assert [name for name, count in names.items() if count > 1] == []
