"""Container links for daemons that have none (Podman): the environment a 2013 link gave. Pure.

A link made the linked container's address, ports and environment visible to
its user as variables named after the alias, and its name in /etc/hosts.
"""
from __future__ import annotations

import re
from typing import Any


def _port_key(spec: str) -> tuple[int, str]:
    port, _, proto = spec.partition("/")
    return (int(port) if port.isdigit() else 0, proto or "tcp")


def link_environment(alias: str, own_name: str, target: dict[str, Any]) -> list[str]:
    """The variables a link to `target` (an inspect answer) under `alias` set in container `own_name`."""
    prefix = re.sub(r"[^A-Z0-9_]", "_", alias.upper())
    address = (target.get("NetworkSettings") or {}).get("IPAddress") or ""
    ports = sorted(((target.get("Config") or {}).get("ExposedPorts") or {}), key=_port_key)
    env = []
    if ports:
        port, proto = _port_key(ports[0])
        env.append(f"{prefix}_PORT={proto}://{address}:{port}")
    for spec in ports:
        port, proto = _port_key(spec)
        key = f"{prefix}_PORT_{port}_{proto.upper()}"
        env += [f"{key}={proto}://{address}:{port}", f"{key}_ADDR={address}", f"{key}_PORT={port}",
                f"{key}_PROTO={proto}"]
    env.append(f"{prefix}_NAME=/{own_name}/{alias}")
    for variable in (target.get("Config") or {}).get("Env") or []:
        key, separator, value = str(variable).partition("=")
        if separator and key not in ("HOME", "PATH"):  # set by every image: no news about the target
            env.append(f"{prefix}_ENV_{key}={value}")
    return env


def link_host(alias: str, target: dict[str, Any]) -> str | None:
    """The /etc/hosts entry of a link, as an ExtraHosts item; None without an address."""
    address = (target.get("NetworkSettings") or {}).get("IPAddress")
    return f"{alias}:{address}" if address else None
