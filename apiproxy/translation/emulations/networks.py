"""Emulations of network endpoints whose answers today's daemons shortened. Pure."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from apiproxy.translation.emulations.commands import Call, Emulation, LegacyRequest, Reply, expect
from apiproxy.translation.registry import emulation


@emulation
def networks_with_containers(request: LegacyRequest) -> Emulation:
    """The network list as API 1.27 and before gave it: each network with the containers attached to it.

    Today's list leaves Containers empty; each network's inspect fills it. A network removed
    between the two keeps its empty Containers.
    """
    query = f"?{urlencode(request.query)}" if request.query else ""
    networks = expect((yield Call("GET", f"/networks{query}")), 200).body
    if not isinstance(networks, list):
        return Reply(200, networks)
    for network in networks:
        if not isinstance(network, dict) or network.get("Containers") or not network.get("Id"):
            continue
        answer = yield Call("GET", f"/networks/{quote(str(network['Id']), safe='')}")
        if answer is not None and answer.status == 200 and isinstance(answer.body, dict):
            containers: Any = answer.body.get("Containers")
            if isinstance(containers, dict):
                network["Containers"] = containers
    return Reply(200, networks)
