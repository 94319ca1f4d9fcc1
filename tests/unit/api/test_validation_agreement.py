"""jsonschema-rs decides valid or not; jsonschema words the error. They must agree on every schema."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from apiproxy.api import validation
from apiproxy.api.datafiles import schemas_dir


def _names(node: Any, found: set[str]) -> set[str]:
    """Every property name the schemas mention, so that generated objects hit real fields."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                found.update(value)
            _names(value, found)
    elif isinstance(node, list):
        for item in node:
            _names(item, found)
    return found


NAMES = sorted(set().union(*(_names(json.loads(path.read_text()), set())
                             for folder in ("legacy", "targets")
                             for path in (schemas_dir() / folder).glob("*.json"))))
POINTERS = sorted(p for p in {validation.legacy_pointer(endpoint, since, part)
                              for endpoint, entries in validation._legacy_index().items()
                              for since, _, _ in entries for part in validation.PARTS} if p)
SCALARS = st.none() | st.booleans() | st.integers(-2, 2**40) | st.sampled_from(["", "1", "a:b", "80/tcp", "x"])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4), max_leaves=12)


@settings(max_examples=1500, deadline=None)
@given(pointer=st.sampled_from(POINTERS), value=VALUES)
def test_both_validators_give_the_same_verdict(pointer: str, value: Any) -> None:
    slow = validation._validator(pointer).is_valid(value)
    assert validation.fast_validator(pointer).is_valid(value) == slow, (pointer, value)
