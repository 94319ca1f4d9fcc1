"""What the access log and the metrics say of a request. Pure.

Both name an endpoint by its route template (`/containers/{id}/json`), never
by its path, so that log lines group and metric series stay bounded; and
neither ever holds a body, a registry credential or a URL's password.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from apiproxy.api.policy import policy_path
from apiproxy.api.routes import compile_template, match_legacy
from apiproxy.api.versions import Version

OTHER = "other"  # any endpoint, or version, that has no bounded name
ACCESS_NAMESPACE = "apiproxy.access"  # the access log's events; logs.py routes them

# Today's endpoints (Docker's, which Podman's compatibility API shares), the specific before the general:
# an image {name} spans slashes, so "/images/{name}" would swallow "/images/{name}/json".
_MODERN_TEMPLATES = (
    "/_ping", "/version", "/info", "/events", "/auth", "/system/df", "/session", "/commit",
    "/containers/json", "/containers/create", "/containers/prune",
    *(f"/containers/{{id}}/{action}" for action in (
        "json", "top", "logs", "changes", "export", "stats", "resize", "start", "stop", "restart", "kill",
        "update", "rename", "pause", "unpause", "attach", "attach/ws", "wait", "archive", "exec", "copy")),
    "/containers/{id}",
    "/images/json", "/images/create", "/images/load", "/images/get", "/images/search", "/images/prune",
    *(f"/images/{{name}}/{action}" for action in ("json", "history", "push", "tag", "get", "insert")),
    "/images/{name}",
    "/build", "/build/prune", "/build/cancel", "/distribution/{name}/json",
    "/exec/{id}/start", "/exec/{id}/resize", "/exec/{id}/json",
    "/volumes", "/volumes/create", "/volumes/prune", "/volumes/{name}",
    "/networks", "/networks/create", "/networks/prune", "/networks/{id}/connect", "/networks/{id}/disconnect",
    "/networks/{id}",
    "/swarm", "/swarm/init", "/swarm/join", "/swarm/leave", "/swarm/update", "/swarm/unlockkey", "/swarm/unlock",
    *(f"/{kind}{suffix}" for kind in ("nodes", "services", "tasks", "secrets", "configs")
      for suffix in ("", "/create", "/{id}/update", "/{id}/logs", "/{id}")),
    "/plugins", "/plugins/privileges", "/plugins/pull", "/plugins/create",
    *(f"/plugins/{{name}}/{action}" for action in ("json", "enable", "disable", "upgrade", "push", "set")),
    "/plugins/{name}",
)
_MODERN_PATTERNS = tuple((compile_template(template), template) for template in _MODERN_TEMPLATES)
_LIBPOD = re.compile(r"/v[0-9][0-9.]*/libpod(/|\Z)|/libpod(/|\Z)")


@lru_cache(maxsize=4096)
def endpoint_template(method: str, path: str) -> str:
    """The route template a request path addresses, without its version prefix; "other" if unknown.

    Podman's own API keeps its /libpod prefix in the name, and its endpoints beyond Docker's are "other".
    """
    plain = policy_path(path)
    libpod = "/libpod" if _LIBPOD.match(path) else ""
    route = match_legacy(method, plain) if not libpod else None
    if route is not None:
        return route.template
    template = next((template for pattern, template in _MODERN_PATTERNS if pattern.match(plain)), None)
    return f"{libpod}{template}" if template else f"{libpod}/{OTHER}" if libpod else OTHER


def version_label(version: Version | None) -> str:
    """A client version as a metric label: any 1.x, else "other" (bounded whatever a client sends)."""
    if version is None:
        return "none"
    return str(version) if version.major == 1 and version.minor < 100 else OTHER


@dataclass
class AccessRecord:
    """One request, from its head to its answer's end (or its stream's)."""

    method: str
    endpoint: str
    client_version: Version | None
    started: float
    target_version: Version | None = None
    status: int = 0  # 0: no answer went out (the client left first)
    bytes_in: int = 0
    bytes_out: int = 0
    changes: list[str] = field(default_factory=list)  # the version changes crossed, in order

    def fields(self, now: float) -> dict[str, object]:
        """The log event's fields: text and JSON formats both read them."""
        return {
            "client_version": str(self.client_version) if self.client_version else "-",
            "target_version": str(self.target_version) if self.target_version else "-",
            "method": self.method,
            "endpoint": self.endpoint,
            "status": self.status,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "duration_ms": round((now - self.started) * 1000, 3),
            "changes": ",".join(self.changes) or "-",
        }


# One line per request: "1.3 -> 1.41 POST /containers/{id}/start 204 in=312 out=0 3.1 ms changes=1.4,…".
ACCESS_FORMAT = ("{client_version} -> {target_version} {method} {endpoint} {status} "
                 "in={bytes_in} out={bytes_out} {duration_ms} ms changes={changes}")
