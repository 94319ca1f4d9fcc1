"""Multipart/form-data framing (RFC 2046 §5.1, RFC 7578): boundaries, parameters, part headers. Pure."""
from __future__ import annotations

import re

from apiproxy.translation.transforms import TranslationError

MAX_PART_HEAD = 16 << 10      # the header fields of one part; Go's client wrote ~150 bytes
MAX_BOUNDARY_LINE = 1 << 10   # transport padding after a boundary


_TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+"
_TYPE = re.compile(rf"\s*({_TOKEN}(?:/{_TOKEN})?)\s*")
_PARAMETER = re.compile(rf'\s*;\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*', re.S)
_HEADER_NAME = re.compile(_TOKEN)


def parse_parameters(value: str) -> tuple[str, dict[str, str]] | None:
    """`type; name=value; ...` (RFC 2045, 2183): the lowercased type and its parameters.

    Parameter names are lowercased, quoted values unescaped; None if malformed.
    """
    match = _TYPE.match(value)
    if match is None:
        return None
    kind, pos, parameters = match.group(1).lower(), match.end(), {}
    while pos < len(value):
        match = _PARAMETER.match(value, pos)
        if match is None:
            if value[pos:].strip() == ";":  # a trailing separator is harmless
                break
            return None
        name, quoted, token = match.group(1).lower(), match.group(2), match.group(3)
        if name in parameters:  # which one the sender meant is anyone's guess (Go refuses too)
            return None
        parameters[name] = re.sub(r"\\(.)", r"\1", quoted, flags=re.S) if quoted is not None else token
        pos = match.end()
    return kind, parameters


def valid_boundary(boundary: bytes) -> bool:
    # RFC 2046: 1 to 70 characters, no trailing space; a line break could never be matched.
    return (0 < len(boundary) <= 70 and not boundary.endswith(b" ")
            and b"\r" not in boundary and b"\n" not in boundary)


def boundary_of(content_type: bytes) -> bytes | None:
    """The boundary of a `multipart/form-data` Content-Type, None for anything else."""
    parsed = parse_parameters(content_type.decode("latin-1"))  # latin-1 round-trips every byte
    if parsed is None or parsed[0] != "multipart/form-data":
        return None
    boundary = parsed[1].get("boundary", "").encode("latin-1")
    return boundary if valid_boundary(boundary) else None


def part_fields(raw: bytes) -> dict[str, str]:
    """The header fields of a part, by lowercased name."""
    fields: dict[str, str] = {}
    last = ""
    # RFC 7578 §5.1 lets field names and filenames be raw UTF-8.
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        if line[:1] in (" ", "\t") and last:  # a folded line continues the field before it
            fields[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            raise TranslationError(f"malformed header line in a multipart part: {line[:80]!r}")
        last = name.lower()
        fields[last] = value.strip()
    return fields
