"""Emulations: what a legacy request needs that no single upstream request does. Pure.

An emulation is a generator.  It yields the requests apiproxy makes to the
upstream (`Call`), receives each `Answer`, and returns either a `Reply` for
the client or a `Pass`: the request to forward after all, changed.  The
shell runs it against the daemon; `apiproxy explain` runs it on made-up
answers to print the plan; tests feed it answers directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generator

from apiproxy.translation.document import Context


@dataclass
class Call:
    """A request to the upstream, at the target version (the path has no prefix)."""

    method: str
    path: str
    body: Any = None  # JSON, sent with Content-Type application/json
    raw_body: bytes | str | None = None  # a non-JSON body (a tar), or the path of a file holding it
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    status: int
    body: Any  # parsed JSON when the answer was JSON, else bytes


@dataclass
class Reply:
    """The client's answer; `body` None is no body, str is plain text, else JSON."""

    status: int
    body: Any = None
    content_type: str | None = None  # a successful text answer (str body) says its type
    items: list[Any] | None = None  # a JSON stream, sent down the chain item by item


@dataclass
class Pass:
    """Forward the client's request, with this method, path (and query) and JSON body."""

    method: str
    path: str  # after the version prefix, with its query
    body: Any = None  # a JSON body at the target version, or None for none
    as_endpoint: str | None = None  # translate the answer as this endpoint's
    as_attach: bool = False  # answer a 200 as a 2013 attach did: a raw stream that ends with the connection
    client_body: bool = False  # send the client's own body, translated as a forwarded request's, not `body`


@dataclass
class Fetch:
    """Download `url` (as the 2013 daemon did for insert) into a one-file tar named `member`.

    The answer's body is the tar's path on disk; the shell removes it when the emulation ends.
    """

    url: str
    member: str


@dataclass
class WebSocket:
    """End the client's websocket in apiproxy and attach upstream at `path` (a plain hijack)."""

    path: str


@dataclass
class Park:
    """Answer the client's attach now and hold it until apiproxy starts the container."""

    legacy_id: str


@dataclass
class Unpark:
    """Connect the attaches held for `legacy_id` (the path's id, or name, as the client wrote it) to
    the container `real_id`; `known_id`, if given, is the id the client knows it by, recorded for
    `real_id` (the container was recreated under it)."""

    legacy_id: str
    real_id: str
    known_id: str = ""


Emulation = Generator[Call | Fetch | Unpark, Answer | None, Reply | Pass | Park | WebSocket]


class EmulationFailed(Exception):
    """An upstream answer the emulation cannot go on from; carries what the client gets."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(f"upstream answered {answer.status}")
        self.answer = answer


def expect(answer: Answer | None, *statuses: int) -> Answer:
    """The answer if its status is one of `statuses`; else the client gets the daemon's error."""
    assert answer is not None
    if answer.status not in statuses:
        raise EmulationFailed(answer)
    return answer


@dataclass
class LegacyRequest:
    method: str
    params: dict[str, str]  # from the path template, ids already the daemon's
    query: dict[str, str]
    body: Any  # the legacy JSON body, validated; None when there is none
    context: Context
    headers: dict[str, str] = field(default_factory=dict)  # the client's, names lowercased

    @property
    def legacy_id(self) -> str:
        return self.context.params.get("id", "")
