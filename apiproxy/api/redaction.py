"""What never reaches a log or an inspect: passwords a client wrote into a URL. Pure."""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

# Query parameters that carry a URL a client may have written a password into.
_URL_PARAMETERS = ("fromSrc", "remote", "url")
_USERINFO = re.compile(r"(?<=://)[^/@?#]*@")


def redact_target(target: str) -> str:
    """A request target fit for a log: no password from a URL in the query (fromSrc, remote, url)."""
    path, question, query = target.partition("?")
    if not question or "@" not in query:
        return target
    params = parse_qsl(query, keep_blank_values=True)
    redacted = [(name, redact_url(value) if name in _URL_PARAMETERS else value) for name, value in params]
    if redacted == params:
        return target
    # Re-encoded, but with a URL's punctuation left readable.
    return f"{path}?" + urlencode(redacted, safe=":/@*")


def redact_url(url: str) -> str:
    """A URL without the user and password a client may have written into it."""
    return _USERINFO.sub("***@", url)
