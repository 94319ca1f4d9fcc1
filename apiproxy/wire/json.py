"""JSON bodies as bytes: decoding and encoding the way Go's encoding/json reads and writes them. Pure."""
from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson


def decode_json(raw: bytes | str) -> Any:
    """orjson, several times faster than the standard library on a large list; the standard
    library for what orjson refuses but JSON allows: escaped lone surrogates, which become
    U+FFFD as Go's decoder makes them.  A ValueError for what is not JSON (NaN, Infinity), a
    number beyond a double (as Go's), or nesting deeper than the standard library goes."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return _without_surrogates(json.loads(raw, parse_constant=_not_json, parse_float=_finite))
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(key): _without_surrogates(item) for key, item in value.items()}
    return value


def encode_json(value: Any) -> bytes:
    """Compact JSON; the standard library for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()
