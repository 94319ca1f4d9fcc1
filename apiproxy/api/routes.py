"""The endpoint tables (schemas/endpoints.json: v1.0-v1.9; modern-endpoints.json: v1.10 on) and matching paths. Pure."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from apiproxy.api.datafiles import load_json
from apiproxy.api.versions import Version, parse_version

MODERN = Version(1, 10)  # the first version after the 2013 API: modern-endpoints.json's table

# An image name may contain slashes ("127.0.0.1:5000/team/app"), an id not.
_PLACEHOLDERS = {"id": "(?P<id>[^/]+)", "name": "(?P<name>.+)"}


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    since: Version
    until: Version
    group: str
    websocket: bool
    pattern: re.Pattern[str]

    @property
    def key(self) -> str:
        """How version changes and schemas name the endpoint: "GET /containers/{id}/json"."""
        return f"{self.method} {self.template}"

    def exists_in(self, version: Version) -> bool:
        return self.since <= version <= self.until

    def params(self, path: str) -> dict[str, str]:
        match = self.pattern.match(path.rstrip("/") if len(path) > 1 else path)
        return match.groupdict() if match else {}


def compile_template(template: str) -> re.Pattern[str]:
    """A route template as a pattern: {name} may span slashes, any other placeholder is one segment."""
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        _PLACEHOLDERS.get(part, f"(?P<{part}>[^/]+)") if index % 2 else re.escape(part)
        for index, part in enumerate(parts)
    )
    return re.compile(regex + r"\Z")


def _route(entry: dict[str, Any]) -> Route:
    """A route of either table; the modern one gives no since (1.10), until (1.99 unless gone) or group
    (policies group modern paths by their prefix, policy.py)."""
    return Route(
        method=entry["method"],
        template=entry["path"],
        since=parse_version(entry.get("since", str(MODERN))),
        until=parse_version(entry.get("until", "1.99")),
        group=entry.get("group", ""),
        websocket=entry.get("websocket", entry["path"].endswith("/attach/ws")),
        pattern=compile_template(entry["path"]),
    )


@lru_cache(maxsize=1)
def legacy_routes() -> tuple[Route, ...]:
    return tuple(_route(entry) for entry in load_json("endpoints.json")["endpoints"])


@lru_cache(maxsize=1)
def modern_routes() -> tuple[Route, ...]:
    return tuple(_route(entry) for entry in load_json("modern-endpoints.json")["endpoints"])


def _head(path: str) -> str:
    """A path's first segment ("/containers/x/json": "containers")."""
    return path.split("/", 2)[1] if path.startswith("/") else ""


Index = dict[tuple[str, str], tuple[Route, ...]]


def _index(routes: tuple[Route, ...]) -> Index:
    """The routes by method and first segment, in table order: a request tries only the few that
    could match it, as every table's first segment is literal."""
    index: dict[tuple[str, str], list[Route]] = {}
    for route in routes:
        head = _head(route.template)
        if "{" in head:
            raise ValueError(f"a route's first segment is literal: {route.template}")
        index.setdefault((route.method, head), []).append(route)
    return {key: tuple(found) for key, found in index.items()}


@lru_cache(maxsize=1)
def _legacy_index() -> Index:
    return _index(legacy_routes())


@lru_cache(maxsize=1)
def _modern_index() -> Index:
    return _index(modern_routes())


def _match(index: Index, method: str, path: str) -> Route | None:
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/")
    for route in index.get((method, _head(path)), ()):
        if route.pattern.match(path):
            return route
    return None


def match_legacy(method: str, path: str) -> Route | None:
    """The legacy endpoint a request addresses, if any; a trailing slash is ignored."""
    return _match(_legacy_index(), method, path)


def match_modern(method: str, path: str) -> Route | None:
    """The endpoint of API 1.10 or later a request addresses, if any; a trailing slash is ignored."""
    return _match(_modern_index(), method, path)


# Endpoints whose 200 answer is a raw stream even without an Upgrade handshake.
# The path may still carry its version prefix.
_HIJACK_PATHS = re.compile(r"/(containers/[^/]+/attach|exec/[^/]+/start)/?\Z")


def is_hijack_endpoint(method: str, path: str) -> bool:
    return method == "POST" and bool(_HIJACK_PATHS.search(path))
