"""Where translation plugs into the request path. Pure.

An `Exchange` is what apiproxy does to one request and its answer: the
request upgraded up the version chain, the response downgraded back.  Bodies
travel through `Transform`s, which see bytes as they arrive and may hold
back what they cannot decide yet, so streams stay streams.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .http1 import Headers
from .routes import Route
from .versions import Version


class TranslationError(Exception):
    """A request apiproxy cannot translate; `status` and message go to the client."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Transform(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def close(self) -> bytes: ...


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

    def request_headers(self, headers: Headers) -> Headers:
        return headers

    def request_body(self) -> Transform | None:
        """A transform for the request body; its output is sent with a Content-Length."""
        return None

    def response_head(self, status: int, headers: Headers) -> tuple[int, Headers]:
        return status, headers

    def response_body(self, status: int, headers: Headers) -> Transform | None:
        return None

    def hijacked_streams(self) -> tuple[Transform | None, Transform | None]:
        """(transform of bytes to the client, transform of bytes to the upstream)."""
        return None, None


def exchange_for(route: Route | None, client_version: Version | None, target: Version | None) -> Exchange:
    return Exchange(route, client_version, target)
