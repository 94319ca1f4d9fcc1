"""Where apiproxy's data files live, and loading them."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def schemas_dir() -> Path:
    """The schemas/ folder: beside the package in a checkout, or installed as data."""
    override = os.environ.get("APIPROXY_SCHEMAS")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent.parent  # apiproxy/
    for candidate in (package.parent / "schemas", package / "schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("apiproxy's schemas/ folder is missing from the installation")


def load_json(name: str) -> Any:
    with open(schemas_dir() / name, encoding="utf-8") as file:
        return json.load(file)
