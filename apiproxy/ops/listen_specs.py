"""Twisted endpoint strings: the few facts apiproxy needs from them. Pure.

apiproxy creates unix listeners itself (to control their permissions from
the first instant), and adopts the unix sockets systemd passes itself (to
leave their permissions alone), so it reads `unix:` and `systemd:`
descriptions here; every other kind goes to Twisted's own parser.
"""
from __future__ import annotations

from dataclasses import dataclass

# Permissions a socket in front of the daemon may have at most: like docker.sock.
WIDEST_MODE = 0o660


class EndpointError(ValueError):
    pass


def split_description(description: str) -> tuple[list[str], dict[str, str]]:
    """Twisted's syntax: colon-separated, backslash escapes, `key=value` options."""
    # Each field with the index of its first unescaped "=" (an escaped one is text).
    fields: list[tuple[str, int | None]] = []
    current: list[str] = []
    equals_at: int | None = None
    escaped = False
    for char in description:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append(("".join(current), equals_at))
            current, equals_at = [], None
        else:
            if char == "=" and equals_at is None:
                equals_at = len(current)
            current.append(char)
    fields.append(("".join(current), equals_at))
    args: list[str] = []
    options: dict[str, str] = {}
    for item, equals in fields:
        if equals is not None and args:
            options[item[:equals]] = item[equals + 1:]
        else:
            args.append(item)
    return args, options


@dataclass(frozen=True)
class UnixListen:
    path: str
    mode: int | None
    backlog: int


def parse_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise EndpointError(f"socket mode {text!r} is not an octal number") from None
    if mode & ~WIDEST_MODE:
        raise EndpointError(f"socket mode {mode:04o} is wider than {WIDEST_MODE:04o}: "
                            "anyone it admits gets root on the daemon's host")
    return mode


def parse_unix_listen(description: str) -> UnixListen | None:
    """The unix listener a description names, or None for other kinds."""
    args, options = split_description(description)
    if args[0] != "unix":
        return None
    path = options.pop("address", None) or (args[1] if len(args) > 1 else "")
    if not path:
        raise EndpointError(f"no socket path in {description!r}")
    mode = parse_mode(options.pop("mode")) if "mode" in options else None
    backlog = options.pop("backlog", "50")
    options.pop("lockfile", None)
    if options or len(args) > 2:
        raise EndpointError(f"unsupported options in {description!r}")
    if not backlog.isdigit():
        raise EndpointError(f"backlog {backlog!r} is not a number")
    return UnixListen(path, mode, int(backlog))


@dataclass(frozen=True)
class SystemdListen:
    """A socket systemd passes: by its place among them or by its FileDescriptorName=."""
    index: int | None
    name: str | None


def parse_systemd_listen(description: str) -> SystemdListen | None:
    """The inherited socket a `systemd:` description names (as Twisted reads it), or None for other kinds."""
    args, options = split_description(description)
    if args[0] != "systemd":
        return None
    domain = options.pop("domain", None) or (args[1] if len(args) > 1 else "")
    if domain != "UNIX":
        # A TCP socket from systemd would be a listener without the TLS that tcp: listeners need.
        raise EndpointError(f"apiproxy takes only unix sockets from systemd (domain=UNIX), not "
                            f"{domain or 'no domain'} in {description!r}")
    index, name = options.pop("index", None), options.pop("name", None)
    if (index is None) == (name is None):
        raise EndpointError(f"give either index=N or name=NAME (the socket unit's FileDescriptorName=) "
                            f"in {description!r}")
    if index is not None and not index.isdigit():
        raise EndpointError(f"index {index!r} is not a number")
    if options or len(args) > 2:
        # mode= and the like: systemd made the socket, its unit says who may use it.
        raise EndpointError(f"unsupported options in {description!r}")
    return SystemdListen(int(index) if index is not None else None, name)


def endpoint_kind(description: str) -> str:
    return split_description(description)[0][0]
