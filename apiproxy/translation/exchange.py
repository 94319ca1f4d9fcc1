"""Where translation plugs into the request path: the identity exchange. Pure.

An `Exchange` is what apiproxy does to one request and its answer: the
request upgraded up the version chain, the response downgraded back.  This
one passes everything through; the version chain's (chain.py) overrides it.
"""
from __future__ import annotations

from dataclasses import dataclass

from apiproxy.api.routes import Route
from apiproxy.api.versions import Version
from apiproxy.translation.registry import EmulationStep
from apiproxy.translation.transforms import Transform
from apiproxy.wire.http1 import Headers


@dataclass
class Exchange:
    """The identity exchange: a request at `target` needs no translation.

    The version chain replaces these methods per endpoint; each returns None
    where it leaves the body or stream as it is, so pass-through costs nothing.
    """

    route: Route | None
    client_version: Version | None
    target: Version | None

    @property
    def translated(self) -> bool:
        return self.client_version is not None and self.client_version != self.target

    def warnings(self) -> list[str]:
        """What the translation had to leave out, for the log."""
        return []

    def changes_crossed(self) -> list[str]:
        """The version changes this exchange crosses, for the access log: none, passed through."""
        return []

    def emulation(self) -> EmulationStep | None:
        """The emulation (translation/emulations/) that serves the request instead of forwarding it."""
        return None

    def request_target(self, path: str, query: str) -> str:
        """Path and query (after the version prefix) sent upstream."""
        return f"{path}?{query}" if query else path

    def request_headers(self, headers: Headers) -> Headers:
        return headers

    def request_body(self, headers: Headers) -> Transform | None:
        """A transform for the request body: whole (its output sent with a Content-Length)
        unless it says `streaming = True` (its output sent chunked as it comes)."""
        return None

    def status_depends_on_message(self, status: int) -> bool:
        """Whether an answer with this status must be read whole before its head is translated."""
        return False

    def response_head(self, status: int, headers: Headers, message: bytes | None = None) -> tuple[int, Headers]:
        return status, headers

    def response_headers(self, headers: Headers) -> Headers:
        """The answer's headers as the client's version had them (also of a 101 or a hijacked answer)."""
        return headers

    def response_body(self, status: int, headers: Headers) -> Transform | None:
        return None

    def hijacked_streams(self) -> tuple[Transform | None, Transform | None]:
        """(transform of bytes to the client, transform of bytes to the upstream)."""
        return None, None
