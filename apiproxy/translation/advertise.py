"""The versions a modern or unversioned client is told in /version and /_ping answers. Pure.

Clients that negotiate (the docker CLI, docker-py's `auto`, compose, Ansible) speak the lower of
their own newest version and the `ApiVersion` the daemon advertises. apiproxy advertises the
daemon's, capped where its knowledge of the version changes ends, and the oldest version it
serves as `MinAPIVersion`, so those clients settle on a version it can translate. Legacy
clients keep their 2013 answers: they are never given this exchange.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apiproxy.api.upstream_info import OLDEST
from apiproxy.api.versions import Version
from apiproxy.translation.exchange import Exchange
from apiproxy.translation.transforms import Transform, WholeJson
from apiproxy.wire.http1 import Headers, without

ADVERTISING = {("GET", "/version"), ("GET", "/_ping"), ("HEAD", "/_ping")}


@dataclass
class Advertising(Exchange):
    """Passes /version or /_ping through with apiproxy's versions in place of the daemon's.

    Only the top-level `ApiVersion` and `MinAPIVersion` of /version change (Podman's
    `Components` stay as they are), and /_ping's `API-Version` header, which the docker CLI
    negotiates from.
    """

    advertised: Version
    path: str

    def response_head(self, status: int, headers: Headers, message: bytes | None = None) -> tuple[int, Headers]:
        if self.path == "/_ping" and any(name.lower() == b"api-version" for name, _ in headers):
            headers = without(headers, {b"api-version"}) + [(b"API-Version", str(self.advertised).encode())]
        return status, headers

    def response_body(self, status: int, headers: Headers) -> Transform | None:
        if self.path != "/version" or status != 200:
            return None
        return WholeJson(self._versions, lenient=True)

    def _versions(self, document: Any) -> Any:
        if isinstance(document, dict):
            document["ApiVersion"] = str(self.advertised)
            document["MinAPIVersion"] = str(OLDEST)
        return document
