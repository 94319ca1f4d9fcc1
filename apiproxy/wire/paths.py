"""One canonical request-target: the path apiproxy checks is the path it forwards. Pure.

apiproxy decides from the path which endpoint a request addresses and at
which version; the daemon then routes by its own reading of what it is sent.
Were the client's spelling forwarded, the two readings could differ ("//",
"/./", "%63ontainers", "/v1.9/../v1.41/...") and a request checked as one
endpoint could act as another. So the target is made canonical here and
that exact string is both routed and forwarded; a target with no single
reading (an encoded "/", which Go decodes into a separator, NUL and control
characters, a backslash, ".." above the root) is refused with 400.

Only unreserved characters are decoded: every literal part of a Docker route
is made of them, so a route is recognised however it was spelt, while an
escape inside an id or a name stays as the client wrote it (hex in upper
case). Case is kept: Docker's router is case-sensitive, and forwarding the
checked string is what makes that safe. The query is not part of routing
and is kept byte for byte.
"""
from __future__ import annotations

import re

from apiproxy.wire.http1 import ProtocolError

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PRINTABLE = re.compile(r"[\x21-\x7e]*")
_ESCAPE = re.compile(r"%(.{0,2})", re.S)  # every "%" starts an escape, even a cut one
_HEX = re.compile(r"[0-9A-Fa-f]{2}")


def normalize_target(target: str) -> str:
    """The canonical origin-form of `target`; ProtocolError(400) if it has none."""
    if not target.startswith("/"):
        raise ProtocolError("request target must be a path starting with /")
    if not _PRINTABLE.fullmatch(target) or "#" in target:
        raise ProtocolError("invalid character in request target")
    path, question, query = target.partition("?")
    if "%00" in query:
        raise ProtocolError("encoded NUL in query")
    return _normalize_path(path) + question + query


def _normalize_path(path: str) -> str:
    if "\\" in path:
        raise ProtocolError("backslash in request path")
    if "%" not in path and "//" not in path and "/." not in path and (path == "/" or path[-1] != "/"):
        return path  # already canonical: the common case, spared the work below
    decoded = _ESCAPE.sub(_decode_escape, path)
    segments: list[str] = []
    for segment in decoded.split("/"):
        if segment == "..":
            if not segments:
                raise ProtocolError("request path climbs above the root")
            segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return "/" + "/".join(segments)


def _decode_escape(match: re.Match[str]) -> str:
    code = match.group(1)
    if not _HEX.fullmatch(code):
        raise ProtocolError("invalid percent-encoding in request path")
    char = chr(int(code, 16))
    if char == "/":
        raise ProtocolError("encoded / in request path")
    if char == "\\":
        raise ProtocolError("encoded backslash in request path")
    if char < " " or char == "\x7f":
        raise ProtocolError("encoded control character in request path")
    return char if char in _UNRESERVED else "%" + code.upper()
