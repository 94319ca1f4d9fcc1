"""The exchange of a request that crosses version changes. Pure.

Going up, a request meets each change from its client's version to the
target, then the upstream's profile; its answer meets them in reverse.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Sequence
from urllib.parse import parse_qsl, urlencode

from apiproxy.api import validation
from apiproxy.api.errors import JSON_ERRORS_SINCE
from apiproxy.api.routes import Route
from apiproxy.api.upstream_info import choose_release, is_legacy
from apiproxy.api.versions import Version
from apiproxy.translation import changes
from apiproxy.translation.changes import SECTIONS, EndpointChange, Step, run_steps
from apiproxy.translation.document import Context
from apiproxy.translation.exchange import Exchange
from apiproxy.translation.memory import Memory
from apiproxy.translation.registry import EmulationStep
from apiproxy.translation.transforms import JsonStream, Transform, TranslationError, WholeJson
from apiproxy.wire.http1 import Headers, text_headers, without
from apiproxy.wire.json import decode_json


class Replace:
    """Drops the upstream's body and sends a fixed one instead."""

    def __init__(self, body: str) -> None:
        self.body = body.encode("utf-8")

    def feed(self, data: bytes) -> bytes:
        return b""

    def close(self) -> bytes:
        return self.body


_SETS = ("Volumes", "ExposedPorts")  # Go map[string]struct{}: a null member was an empty struct
_BY_PORT = ("ExposedPorts", "PortBindings")  # keyed by container port: "80" was "80/tcp"


def as_daemons_read(document: Any) -> Any:
    """A legacy body as the Go daemons read it, in the form today's documentation asks.

    A field whose value is null was not given (the decoder left it unset); a null in a set
    (Volumes, ExposedPorts) was an empty struct; a port without its protocol was tcp.
    """
    if not isinstance(document, dict):
        return document
    given = {key: value for key, value in document.items() if value is not None}
    for key in _SETS:
        if isinstance(given.get(key), dict):
            given[key] = {name: {} if value is None else value for name, value in given[key].items()}
    for key in _BY_PORT:
        if isinstance(given.get(key), dict):
            given[key] = {port if "/" in port else f"{port}/tcp": value for port, value in given[key].items()}
    return given


@dataclass(frozen=True)
class Crossing:
    """The changes a request crosses, in upward order (the upstream's profiles last), with each
    section's steps gathered once, in the order a request meets them going up and its answer
    coming down: a request runs them without walking the changes again."""

    changes: tuple[EndpointChange, ...]
    up: dict[str, tuple[Step, ...]]  # shared by every request of its kind: never changed
    down: dict[str, tuple[Step, ...]]

    @classmethod
    def of(cls, crossed: Sequence[EndpointChange]) -> Crossing:
        return cls(tuple(crossed),
                   {section: tuple(step for change in crossed for step in change.steps[section])
                    for section in SECTIONS},
                   {section: tuple(step for change in reversed(crossed) for step in change.steps[section])
                    for section in SECTIONS})


@lru_cache(maxsize=4096)  # the same few combinations, asked on every request
def crossing(endpoint: str, client_version: Version, target: Version, upstream_kind: str,
             upstream_version: str, upstream_api: Version | None) -> Crossing:
    """What a request of `endpoint` crosses from `client_version` up to `target` on this upstream."""
    crossed = [change for _, change in changes.between(client_version, target, endpoint)]
    if is_legacy(client_version):  # the profiles say how daemons differ from those of 2013
        crossed += changes.profile(upstream_kind, endpoint, upstream_api or target)
    release = choose_release(upstream_kind, upstream_version, upstream_api)
    if release is not None:  # what the daemon's release dropped at every version (docker29), any client
        crossed += changes.release_profile(release, endpoint, upstream_api, target)
    return Crossing.of(crossed)


class ChainExchange(Exchange):
    def __init__(self, route: Route, client_version: Version, target: Version, context: Context,
                 crossing: Crossing) -> None:
        super().__init__(route, client_version, target)
        self.context = context
        self.crossing = crossing
        self.crossed = crossing.changes  # in upward order, the upstream's profile last
        self.replacement: str | None = None
        self.body_empty = True
        self.raw_query = ""  # the client's query, once request_target has read it
        self._query: dict[str, str] | None = None
        self._pairs: list[tuple[str, str]] | None = None  # the client's query as parsed, repeats kept

    @classmethod
    def build(cls, route: Route, client_version: Version, target: Version, path: str,
              upstream_kind: str, memory: Memory | None = None, upstream_version: str = "",
              upstream_api: Version | None = None) -> ChainExchange:
        context = Context(route.method, route.template, route.params(path), client_version, target,
                          upstream_kind, upstream_version, memory=memory or Memory())
        return cls(route, client_version, target, context,
                   crossing(route.key, client_version, target, upstream_kind, upstream_version, upstream_api))

    @property
    def query(self) -> dict[str, str]:
        """The client's query parameters, parsed when first asked: most requests never need them."""
        if self._query is None:
            self._pairs = parse_qsl(self.raw_query, keep_blank_values=True) if self.raw_query else []
            self._query = dict(self._pairs)
        return self._query

    @property
    def real_params(self) -> dict[str, str]:
        """Path parameters with a legacy container id turned into the daemon's."""
        params = dict(self.context.params)
        if "id" in params and self.route is not None and self.route.template.startswith("/containers/"):
            params["id"] = self.context.memory.ids.to_real(params["id"])
        return params

    def emulation(self) -> EmulationStep | None:
        """The emulation serving this request, if a crossed change declares one (the newest wins)."""
        for change in reversed(self.crossed):
            if change.unsupported:
                raise TranslationError(f"apiproxy cannot serve this request at API {self.client_version}: "
                                       f"{change.unsupported}", 501)
            if change.emulate and (not change.emulate_if_query
                                   or any(self.query.get(name) for name in change.emulate_if_query)):
                return change.emulate
        return None

    def legacy_body(self, raw: bytes) -> Any:
        """The client's JSON body, checked against its version's schema (for emulations)."""
        try:
            document = decode_json(raw) if raw.strip() else None
        except ValueError as error:
            raise TranslationError(f"invalid JSON body: {error}") from None
        if document is not None:
            self._check("request", document, "request body")
        return self._as_read(document)

    def _as_read(self, document: Any) -> Any:
        """A legacy body in today's form for a daemon whose request schema apiproxy holds (1.12 on);
        a 2013 daemon reads the body as its client wrote it, and gets it so, as a daemon of 1.10 on
        reads a modern client's."""
        assert self.target is not None and self.client_version is not None  # a chain has both (__init__)
        if not is_legacy(self.client_version) or validation.target_pointer(self.endpoint, self.target) is None:
            return document
        return as_daemons_read(document)

    @property
    def endpoint(self) -> str:
        assert self.route is not None
        return self.route.key

    def applied(self) -> list[str]:
        """One-line descriptions of the changes this exchange crosses, for logs and `explain`."""
        return [change.description for change in self.crossed]

    def partial(self, count: int, downward: bool = False) -> ChainExchange:
        """This exchange as if only its first `count` changes lay on the way up (or down), with a
        context of its own: `explain` shows each step's result as the proxy's own code makes it."""
        crossed = self.crossed[len(self.crossed) - count:] if downward else self.crossed[:count]
        context = replace(self.context, notes=dict(self.context.notes), warnings=[], extra_headers=[],
                          default_headers=[])
        assert self.route is not None and self.client_version is not None and self.target is not None
        partial = ChainExchange(self.route, self.client_version, self.target, context, Crossing.of(crossed))
        partial._query = dict(self.query)
        return partial

    def changes_crossed(self) -> list[str]:
        """Where the changes crossed are declared ("1.4", …, "docker"), in order, each once: the access log's list."""
        return list(dict.fromkeys(change.origin for change in self.crossed))

    def warnings(self) -> list[str]:
        return self.context.warnings

    def _up(self, section: str) -> tuple[Step, ...]:
        return self.crossing.up[section]

    def _down(self, section: str) -> tuple[Step, ...]:
        return self.crossing.down[section]

    def _check(self, part: str, value: Any, what: str) -> None:
        assert self.client_version is not None
        if not is_legacy(self.client_version):  # schemas/legacy holds v1.0-v1.9; a later daemon checks its own
            return
        problem = validation.problem(validation.legacy_pointer(self.endpoint, self.client_version, part), value)
        if problem is not None:
            raise TranslationError(f"invalid {what} for API {self.client_version}: {problem}")

    # Up -------------------------------------------------------------------

    def request_target(self, path: str, query: str) -> str:
        assert self.route is not None
        real_params = self.real_params
        if real_params != self.context.params:
            path = self.route.template.format(**real_params)
        self.raw_query, self._query, self._pairs = query, None, None
        assert self.client_version is not None
        if is_legacy(self.client_version):  # schemas/legacy checks it; a later client's query is parsed if asked
            self._check("query", self.query, "query parameter")
        steps = self._up("query")
        if not steps:
            return super().request_target(path, query)
        given = self.query  # parsed once, whether the schema check above read it or not
        params = run_steps(steps, dict(given), self.context)
        encoded = urlencode(_kept_repeats(self._pairs or [], given, params))
        return f"{path}?{encoded}" if encoded else path

    def request_body(self, headers: Headers) -> Transform | None:
        for change in self.crossed:
            if change.request_transform:
                return change.request_transform(self.context, headers)
        assert self.client_version is not None
        has_schema = is_legacy(self.client_version) and \
            validation.legacy_pointer(self.endpoint, self.client_version, "request") is not None
        if not has_schema and not self._up("request"):
            return None
        return WholeJson(self._upgrade_body)

    def _upgrade_body(self, document: Any) -> Any:
        if document is not None:
            self._check("request", document, "request body")
        document = run_steps(self._up("request"), self._as_read(document), self.context)
        self.body_empty = document is None
        return document

    def request_headers(self, headers: Headers) -> Headers:
        steps = self._up("headers")
        if steps:  # steps see {lowercased name: text value}; a None value removes the header
            named = run_steps(steps, text_headers(headers), self.context)
            headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in named.items()
                       if value is not None]
        if self.context.default_headers:
            present = {name.lower() for name, _ in headers}
            headers = headers + [(k, v) for k, v in self.context.default_headers if k.lower() not in present]
        added = self.context.extra_headers
        if added:
            headers = without(headers, {name.lower() for name, _ in added}) + added
        if self.body_empty:
            return headers
        # Old clients label JSON bodies loosely ("plain/text"); today's daemons check.
        return without(headers, {b"content-type"}) + [(b"Content-Type", b"application/json")]

    # Down -----------------------------------------------------------------

    def status_depends_on_message(self, status: int) -> bool:
        if 200 <= status < 300 and any(change.head_after_body for change in self.crossed):
            return True  # the older version sent the head with the body: it waits for it
        return any(rule.newer == status and rule.when is not None
                   for change in self.crossed for rule in change.status)

    def response_headers(self, headers: Headers) -> Headers:
        steps = self._down("response_headers")
        if not steps:
            return headers
        # Steps see {lowercased name: text value}, as request headers do; a None value removes the header.
        named = run_steps(steps, text_headers(headers), self.context)
        kept: Headers = []
        for name, _ in headers:  # the daemon's spelling and order stay; a repeated name is sent once
            value = named.pop(name.decode("latin-1").lower(), None)
            if value is not None:
                kept.append((name, value.encode("latin-1")))
        return kept + [(name.encode("latin-1"), value.encode("latin-1")) for name, value in named.items()
                       if value is not None]

    def response_head(self, status: int, headers: Headers, message: bytes | None = None) -> tuple[int, Headers]:
        for change in reversed(self.crossed):
            for rule in change.status:
                if status == rule.newer and rule.applies_to(message):
                    status = rule.older
                    if rule.body is not None:
                        self.replacement = rule.body
        headers = self.response_headers(headers)
        if status >= 400 and self._down("error") and self.client_version is not None \
                and self.client_version < JSON_ERRORS_SINCE:
            headers = without(headers, {b"content-type"}) + [(b"Content-Type", b"text/plain; charset=utf-8")]
        return status, headers

    def response_body(self, status: int, headers: Headers) -> Transform | None:
        if self.replacement is not None:
            return Replace(self.replacement)
        if status >= 400:
            steps = self._down("error")
            return WholeJson(lambda document: run_steps(steps, document, self.context), lenient=True) \
                if steps else None
        if not 200 <= status < 300:
            return None
        item_steps = self._down("stream_item")
        # The oldest change crossed that says how items were separated decides.
        separator = next((change.stream_separator for change in self.crossed
                          if change.stream_separator is not None), None)
        if item_steps or separator is not None:
            return JsonStream(lambda item: run_steps(item_steps, item, self.context) if item_steps else item,
                              separator=(separator if separator is not None else "\r\n").encode())
        body_steps = self._down("response")
        if body_steps:
            return WholeJson(lambda document: run_steps(body_steps, document, self.context))
        return None

    def hijacked_streams(self) -> tuple[Transform | None, Transform | None]:
        for change in reversed(self.crossed):
            if change.hijack:
                return change.hijack(self.context), None
        return None, None


def exchange_for(route: Route | None, client_version: Version | None, target: Version | None,
                 *, path: str = "", upstream_kind: str = "docker", memory: Memory | None = None,
                 upstream_version: str = "", upstream_api: Version | None = None) -> Exchange:
    """The exchange for a request: identity unless a version change lies between."""
    if route is None or client_version is None or target is None or client_version == target:
        return Exchange(route, client_version, target)
    return ChainExchange.build(route, client_version, target, path, upstream_kind, memory, upstream_version,
                               upstream_api)


def _kept_repeats(pairs: list[tuple[str, str]], given: dict[str, str], params: dict[str, Any]) -> list[tuple[str, Any]]:
    """The query the steps made, as pairs: a parameter given more than once (import's `changes`, one per
    Dockerfile instruction) keeps every value, unless a step changed it (the steps see its last value)."""
    sent: list[tuple[str, Any]] = []
    for key, value in params.items():
        if value is None:
            continue
        if key in given and value == given[key]:
            sent += [(name, each) for name, each in pairs if name == key]
        else:
            sent.append((key, value))
    return sent
