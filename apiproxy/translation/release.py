"""Requests a daemon serves at their own version, but whose answers its release cut short. Pure.

Docker 29 dropped fields at every API version (schemas/upstreams/docker29.json): a modern client
in the daemon's range below 1.52 gets an exchange that gives them back; every other request keeps
the identity exchange and costs nothing.
"""
from __future__ import annotations

from apiproxy.api.routes import match_modern
from apiproxy.api.upstream_info import UpstreamInfo
from apiproxy.api.versions import Version
from apiproxy.translation import changes
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.memory import Memory


def release_exchange(method: str, path: str, version: Version, info: UpstreamInfo,
                     memory: Memory | None = None) -> ChainExchange | None:
    """The exchange of a request at `version` (the client's own, which the daemon accepts) when the
    daemon's release (info.release) dropped something that version's daemons answered; None: the
    request passes through untouched."""
    if info.release is None:
        return None
    ceiling = changes.release_ceiling(info.release)
    if ceiling is not None and version >= ceiling:  # 1.52 and later: the release's answers are theirs
        return None
    route = match_modern(method, path)
    if route is None or not changes.release_profile(info.release, route.key, info.api_version, version):
        return None
    return ChainExchange.build(route, version, version, path, info.kind, memory, info.version, info.api_version)
