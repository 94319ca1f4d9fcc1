"""Error replies in the style of the daemon the client believes it talks to. Pure."""
from __future__ import annotations

import json

from apiproxy.api.versions import Version
from apiproxy.wire.http1 import Headers

# Daemons answer errors as {"message": ...} from API 1.24 on, as plain text before.
JSON_ERRORS_SINCE = Version(1, 24)


def error_reply(client_version: Version | None, status: int, message: str) -> tuple[int, Headers, bytes]:
    """(status, headers, body) of an error for a client at `client_version`.

    None is a client whose version apiproxy does not interpret (a bare path
    passed through): it gets the format of today's daemons.
    """
    if client_version is not None and client_version < JSON_ERRORS_SINCE:
        body = message.encode("utf-8") + b"\n"
        kind = b"text/plain; charset=utf-8"
    else:
        body = json.dumps({"message": message}, separators=(",", ":")).encode("utf-8") + b"\n"
        kind = b"application/json"
    headers: Headers = [
        (b"Content-Type", kind),
        (b"Content-Length", str(len(body)).encode("ascii")),
    ]
    return status, headers, body
