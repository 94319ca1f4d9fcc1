"""Deciding, from a request head, where it goes and at which version. Pure."""
from __future__ import annotations

from dataclasses import dataclass

from apiproxy.api.routes import Route, match_legacy, match_modern
from apiproxy.api.upstream_info import TargetChoice, UpstreamInfo, advertised_version, climb_target, is_legacy
from apiproxy.api.versions import Version, split_version_prefix
from apiproxy.translation.advertise import ADVERTISING, Advertising
from apiproxy.translation.chain import exchange_for
from apiproxy.translation.exchange import Exchange
from apiproxy.translation.memory import Memory
from apiproxy.translation.release import release_exchange


@dataclass
class Forward:
    """Send the request upstream as `target` (path and query)."""

    target: str
    exchange: Exchange


@dataclass
class Refuse:
    """Answer the client directly, in the error style of `client_version`."""

    status: int
    message: str
    client_version: Version | None


@dataclass(frozen=True)
class Settings:
    unversioned_version: Version | None  # None: auto, the advertised version
    advertise_version: Version | None = None  # None: auto, the daemon's capped at the newest known


@dataclass(frozen=True)
class Addressed:
    """What a request path says: the version the client speaks and the endpoint."""

    version: Version | None  # None: not a path apiproxy interprets
    path: str  # without the version prefix
    prefixed: bool
    route: Route | None


def address(method: str, path: str, settings: Settings, info: UpstreamInfo | None = None) -> Addressed:
    prefixed = split_version_prefix(path)
    if prefixed.version is not None:  # a modern client's endpoint is looked up where it climbs (_climb)
        route = match_legacy(method, prefixed.path) if is_legacy(prefixed.version) else None
        return Addressed(prefixed.version, prefixed.path, True, route)
    route = match_legacy(method, path) if path != "/_ping" else None
    # A bare 2013 endpoint speaks the configured default (auto: the version advertised, so
    # today's tools get today's shapes); any other bare path is not a 2013 endpoint and the
    # upstream answers it at its own version.
    version = settings.unversioned_version
    if version is None and info is not None:
        version = advertised_version(info, settings.advertise_version)
    return Addressed(version if route else None, path, False, route)


def plan(method: str, request_target: str, info: UpstreamInfo, choice: TargetChoice,
         settings: Settings, memory: Memory | None = None, addressed: Addressed | None = None) -> Forward | Refuse:
    """`addressed`: what `address` said of this request's path with this `info`, if the caller has it."""
    if addressed is None:
        addressed = address(method, request_target.partition("?")[0], settings, info)
    decision = _plan(method, request_target, addressed, info, choice, memory)
    if (method, addressed.path) not in ADVERTISING or not isinstance(decision, Forward) \
            or (addressed.version is not None and is_legacy(addressed.version)):
        return decision  # every other request: nothing more to decide
    advertised = advertised_version(info, settings.advertise_version)
    if advertised is not None:
        # No version change of 1.10 on touches these two: nothing is lost if a climb is replaced.
        exchange = decision.exchange
        decision.exchange = Advertising(exchange.route, exchange.client_version, exchange.target, advertised,
                                        addressed.path)
    return decision


def _plan(method: str, request_target: str, addressed: Addressed, info: UpstreamInfo, choice: TargetChoice,
          memory: Memory | None) -> Forward | Refuse:
    path, question, query = request_target.partition("?")
    suffix = question + query
    version, rest, route = addressed.version, addressed.path, addressed.route
    if version is None:
        return Forward(request_target, exchange_for(None, None, None))
    if not is_legacy(version):
        if info.highest is not None and version > info.highest:
            return Refuse(400, f"client version {version} is too new. Maximum supported API "
                               f"version is {info.highest}", version)
        climb = climb_target(info, version)
        if climb is not None:  # below the daemon's floor: up the chain to it
            return _climb(method, rest, query, version, climb, info, memory)
        restoring = release_exchange(method, rest, version, info, memory) if info.release else None
        if restoring is not None:  # what the daemon's release dropped (Docker 29), given back
            return Forward(f"/v{version}{restoring.request_target(rest, query)}", restoring)
        if not addressed.prefixed:
            # unversioned_version configured to a modern version: say it explicitly.
            return Forward(f"/v{version}{rest}{suffix}", exchange_for(route, version, version))
        return Forward(request_target, exchange_for(None, version, version))
    if choice.version is None:
        return Refuse(502, f"apiproxy cannot serve API {version} requests: {choice.problem}", version)
    target = choice.version
    if version > target:
        if not addressed.prefixed:
            version = target  # a bare path is at the daemon's own version, as 2013 daemons had it
        else:  # a 2013 daemon older than the client: like any version above the upstream's
            return Refuse(400, f"client version {version} is too new. Maximum supported API "
                               f"version is {target}", version)
    exchange = exchange_for(route, version, target, path=rest, upstream_kind=info.kind, memory=memory,
                            upstream_version=info.version, upstream_api=info.api_version)
    return Forward(f"/v{target}{exchange.request_target(rest, query)}", exchange)


def _climb(method: str, path: str, query: str, version: Version, target: Version, info: UpstreamInfo,
           memory: Memory | None) -> Forward:
    """A modern client's request at `target`: translated where the endpoint is one apiproxy knows,
    else sent as it is at the version the daemon accepts."""
    route = match_modern(method, path)
    exchange = exchange_for(route, version, target, path=path, upstream_kind=info.kind, memory=memory,
                            upstream_version=info.version, upstream_api=info.api_version)
    return Forward(f"/v{target}{exchange.request_target(path, query)}", exchange)
