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
from apiproxy.api.routes import compile_template, match_legacy, match_modern, modern_routes
from apiproxy.api.versions import Version
from apiproxy.translation.exchange import Exchange

OTHER = "other"  # any endpoint, or version, that has no bounded name
ACCESS_NAMESPACE = "apiproxy.access"  # the access log's events; logs.py routes them

# Today's templates for a method the table does not list at that path, the static before the templated.
_ANY_METHOD = tuple((compile_template(template), template) for template in sorted(
    dict.fromkeys(route.template for route in modern_routes()), key=lambda template: "{" in template))
_LIBPOD = re.compile(r"/v[0-9][0-9.]*/libpod(/|\Z)|/libpod(/|\Z)")


@lru_cache(maxsize=4096)
def endpoint_template(method: str, path: str) -> str:
    """The route template a request path addresses, without its version prefix; "other" if unknown.

    Podman's own API keeps its /libpod prefix in the name, and its endpoints beyond Docker's are "other".
    """
    plain = policy_path(path)
    libpod = "/libpod" if _LIBPOD.match(path) else ""
    route = (match_legacy(method, plain) or match_modern(method, plain)) if not libpod else None
    if route is not None:
        return route.template
    template = next((template for pattern, template in _ANY_METHOD if pattern.match(plain)), None)
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

    def forwarded(self, exchange: Exchange) -> None:
        """The request goes upstream: at its client's own version (passed through), at the daemon's
        floor (a client below it climbed: `1.41 -> 1.44`) or at the target (a 2013 client)."""
        self.target_version = exchange.target
        self.changes = exchange.changes_crossed()

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
