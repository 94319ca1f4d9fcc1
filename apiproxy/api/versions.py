"""API versions: parsing, comparison and the `/vX.Y/` path prefix. Pure."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple


class Version(NamedTuple):
    """A Docker API version; compares numerically, so 1.10 > 1.9."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


class BadVersion(ValueError):
    pass


_VERSION = re.compile(r"(\d{1,4})\.(\d{1,9})", re.ASCII)
_PREFIX = re.compile(r"/v(\d{1,4}\.\d{1,9})(/.*)?\Z", re.S | re.ASCII)


@lru_cache(maxsize=1024)
def parse_version(text: str) -> Version:
    """Parse "1.9", "1.41" and the 0.3-era "%f" spelling "1.000000".

    No API version ever had a minor part of three digits or more, so such a
    minor is a decimal fraction written by a C-style "%f" ("1.100000" is 1.1).
    """
    match = _VERSION.fullmatch(text.strip())
    if not match:
        raise BadVersion(f"malformed version: {text!r}")
    major, minor = match.group(1), match.group(2)
    if len(minor) >= 3:
        minor = minor.rstrip("0") or "0"
        if len(minor) >= 3:
            raise BadVersion(f"malformed version: {text!r}")
    return Version(int(major), int(minor))


class PathVersion(NamedTuple):
    """A request path split into its version prefix (if any) and the rest."""

    version: Version | None
    path: str
    has_prefix: bool


def split_version_prefix(path: str) -> PathVersion:
    """Split "/v1.9/containers/json" into (1.9, "/containers/json").

    Only a two-part number is a prefix apiproxy interprets.  Anything else
    ("/vfoo/...", Podman's "/v4.0.0/libpod/...") is left to the upstream,
    which answers it as it would on its own socket (dockerd: 404).
    """
    match = _PREFIX.match(path)
    if not match:
        return PathVersion(None, path, False)
    try:
        version = parse_version(match.group(1))
    except BadVersion:
        return PathVersion(None, path, False)
    return PathVersion(version, match.group(2) or "/", True)


def version_range_text(low: Version, high: Version) -> str:
    return f"{low}–{high}" if low != high else str(low)
