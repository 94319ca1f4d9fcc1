"""`apiproxy health`: where the check knocks and what counts as alive. Pure.

The check asks the first listener of the configuration for GET /_ping, as a client would. Any HTTP
answer proves apiproxy is up and serving: the daemon's own, and apiproxy's 502 while the daemon is
down (apiproxy is then healthy; the daemon is not its to report). Anything else is a one-line reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from apiproxy.ops.config import Config, TLSFiles
from apiproxy.ops.listen_specs import EndpointError, parse_systemd_listen, parse_unix_listen, split_description

PING = (b"GET /_ping HTTP/1.1\r\nHost: apiproxy\r\nUser-Agent: apiproxy-health\r\n"
        b"Connection: close\r\n\r\n")
# A status line is all the check reads; a server that sends more than this without one is no HTTP.
STATUS_LINE_LIMIT = 8192
# Where a listener bound to every address is reached from inside its own host (or container).
_LOOPBACK = {"tcp": "127.0.0.1", "tcp6": "::1"}
_ANY = {"", "0.0.0.0", "::"}


class Unhealthy(Exception):
    """Why the check failed, in one line."""


@dataclass(frozen=True)
class Target:
    """A listener as a client reaches it: a unix socket's path, or a TCP host and port (with TLS)."""
    description: str  # the endpoint as configured, for messages
    path: str | None = None
    host: str | None = None
    port: int = 0
    tls: TLSFiles | None = None


def target(config: Config) -> Target:
    """The configuration's first listener as a place to connect to."""
    if not config.listeners:
        raise Unhealthy("no listener configured")
    listener = config.listeners[0]
    description = listener.endpoint
    try:
        unix = parse_unix_listen(description)
        inherited = parse_systemd_listen(description)
    except EndpointError as error:
        raise Unhealthy(str(error)) from None
    if unix is not None:
        return Target(description, path=unix.path)
    if inherited is not None:
        raise Unhealthy(f"the first listener, {description}, is a socket systemd passes, whose path apiproxy "
                        "does not know: check it with systemctl, or put another listener first")
    args, options = split_description(description)
    kind = args[0].lower()
    if kind not in _LOOPBACK:
        raise Unhealthy(f"cannot check a {kind}: listener ({description})")
    port = options.get("port") or (args[1] if len(args) > 1 else "")
    if not port.isdigit():
        raise Unhealthy(f"no port in {description}")
    interface = options.get("interface", "")
    host = _LOOPBACK["tcp6" if interface == "::" else kind] if interface in _ANY else interface
    return Target(description, host=host, port=int(port), tls=listener.tls)


def verdict(received: bytes, target: Target) -> str:
    """The line a healthy check prints, from the first bytes of the answer; Unhealthy if they are no
    HTTP status line."""
    line = received.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("latin-1")
    version, _, rest = line.partition(" ")
    status, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(status) != 3 or not status.isdigit():
        shown = repr(line[:80]) if line else "nothing"
        raise Unhealthy(f"{target.description} answered {shown}, not HTTP")
    return f"healthy: {target.description} answered GET /_ping with {status} {reason}".rstrip()


def status_line_complete(received: bytes) -> bool:
    """Whether enough of the answer arrived to judge it."""
    return b"\n" in received or len(received) >= STATUS_LINE_LIMIT
