"""Value steps of network IPAM settings. Pure."""
from __future__ import annotations

import ipaddress
from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step


@value_step
def masked_prefixes(pool: Any, context: Context) -> Any:
    """An IPAM pool's Subnet and IPRange with their host bits cleared ("2001:389::1/64" →
    "2001:389::/64"): Docker 25 refuses a prefix with host bits set ("invalid subnet ...: it should
    be ..."), where earlier daemons took it as the network it lies in. Anything not a prefix is
    left for the daemon to refuse."""
    if not isinstance(pool, dict):
        return pool
    for key in ("Subnet", "IPRange"):
        value = pool.get(key)
        if isinstance(value, str) and "/" in value:
            try:
                pool[key] = str(ipaddress.ip_network(value, strict=False))
            except ValueError:
                pass
    return pool
