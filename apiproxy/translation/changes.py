"""Version changes (schemas/changes/*.json) and the declarative steps they are made of. Pure.

A version change says, per endpoint, how a request moves up from the
previous version and how an answer moves back down.  A step is a small
declarative operation on a JSON document; what a declaration cannot say is
code, a named step registered where it is defined (registry.py) and found
by name once, when the change files load.

Every step names the objects it works on with `at`, a JSON pointer in which
`*` stands for every item of a list or every value of an object ("/*" is
each element of a top-level list); its own pointers are relative to each of
those objects.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

# The modules whose steps change files name: importing them registers every step before a file loads.
import apiproxy.translation.emulations.attach  # noqa: F401
import apiproxy.translation.emulations.containers  # noqa: F401
import apiproxy.translation.emulations.images  # noqa: F401
import apiproxy.translation.emulations.networks  # noqa: F401
import apiproxy.translation.steps.containers  # noqa: F401
import apiproxy.translation.steps.echoes  # noqa: F401
import apiproxy.translation.steps.events  # noqa: F401
import apiproxy.translation.steps.filters  # noqa: F401
import apiproxy.translation.steps.gates  # noqa: F401
import apiproxy.translation.steps.host_settings  # noqa: F401
import apiproxy.translation.steps.images  # noqa: F401
import apiproxy.translation.steps.ipam  # noqa: F401
import apiproxy.translation.steps.kernel_memory  # noqa: F401
import apiproxy.translation.steps.podman  # noqa: F401
import apiproxy.translation.steps.progress  # noqa: F401
import apiproxy.translation.steps.registry_auth  # noqa: F401
import apiproxy.translation.steps.states  # noqa: F401
import apiproxy.translation.steps.streams  # noqa: F401
import apiproxy.translation.steps.system  # noqa: F401
from apiproxy.api.datafiles import load_json, schemas_dir
from apiproxy.api.upstream_info import is_legacy, release_profiles
from apiproxy.api.versions import Version, parse_version
from apiproxy.translation import registry
from apiproxy.translation.document import MISSING, ChangeError, Context, get, pop, put, replace_each, select
from apiproxy.translation.registry import EmulationStep, HijackStep, StreamStep

ANY_ENDPOINT = "*"
SECTIONS = ("query", "headers", "request", "response", "response_headers", "stream_item", "error")


# Steps --------------------------------------------------------------------

Step = Callable[[Any, Context], Any]


def _on_objects(at: str, action: Callable[[dict[str, Any]], None]) -> Step:
    if not at:  # the document itself, what most steps name: no walk
        def on_document(document: Any, context: Context) -> Any:
            if isinstance(document, dict):
                action(document)
            return document
        return on_document

    def step(document: Any, context: Context) -> Any:
        for target in select(document, at):
            if isinstance(target, dict):
                action(target)
        return document
    return step


def _fresh(value: Any) -> Any:
    """A value of a declaration or document to put elsewhere: objects and lists copied, the rest shared."""
    return copy.deepcopy(value) if isinstance(value, (dict, list)) else value


def _move(spec: dict[str, Any], keep_source: bool) -> Step:
    source, destination = spec["from"], spec["to"]

    def action(node: dict[str, Any]) -> None:
        value = get(node, source) if keep_source else pop(node, source)
        if value is not MISSING:
            put(node, destination, _fresh(value) if keep_source else value)
    return _on_objects(spec.get("at", ""), action)


def _remove(spec: dict[str, Any]) -> Step:
    paths = spec["paths"]

    def action(node: dict[str, Any]) -> None:
        for path in paths:
            pop(node, path)
    return _on_objects(spec.get("at", ""), action)


def _keep(spec: dict[str, Any]) -> Step:
    keys = set(spec["keys"])

    def action(node: dict[str, Any]) -> None:
        for key in [k for k in node if k not in keys]:
            del node[key]
    return _on_objects(spec.get("at", ""), action)


def _default(spec: dict[str, Any], overwrite: bool) -> Step:
    path, value = spec["path"], spec["value"]
    or_empty = spec.get("or_empty", False)  # Go's zero value ("", null) also meant "the default"

    def action(node: dict[str, Any]) -> None:
        current = get(node, path)
        if overwrite or current is MISSING or or_empty and current in (None, ""):
            put(node, path, _fresh(value))
    return _on_objects(spec.get("at", ""), action)


def _strip_prefix(spec: dict[str, Any]) -> Step:
    path, prefix = spec["path"], spec["prefix"]

    def action(node: dict[str, Any]) -> None:
        value = get(node, path)
        if isinstance(value, str) and value.startswith(prefix):
            put(node, path, value[len(prefix):])
        elif isinstance(value, list):
            put(node, path, [v[len(prefix):] if isinstance(v, str) and v.startswith(prefix) else v
                             for v in value])
    return _on_objects(spec.get("at", ""), action)


def _replace(spec: dict[str, Any]) -> Step:
    path, old, new = spec["path"], spec["from"], spec["to"]

    def action(node: dict[str, Any]) -> None:
        if get(node, path) == old:
            put(node, path, _fresh(new))
    return _on_objects(spec.get("at", ""), action)


def _split(spec: dict[str, Any]) -> Step:
    path, separator = spec["path"], spec["separator"]

    def action(node: dict[str, Any]) -> None:
        value = get(node, path)
        if isinstance(value, str):
            put(node, path, [part.strip() for part in value.split(separator) if part.strip()])
    return _on_objects(spec.get("at", ""), action)


def _join(spec: dict[str, Any]) -> Step:
    path, separator = spec["path"], spec["separator"]

    def action(node: dict[str, Any]) -> None:
        value = get(node, path)
        if isinstance(value, list):
            put(node, path, separator.join(str(v) for v in value))
        elif value is None:
            put(node, path, "")
    return _on_objects(spec.get("at", ""), action)


def _call(spec: dict[str, Any], source: str) -> Step:
    function = registry.value_step.resolve(spec["function"], source)
    at = spec.get("at", "")
    arguments = {k: v for k, v in spec.items() if k not in ("op", "function", "at")}
    if not at:  # the document itself: no walk
        return lambda document, context: function(document, context, **arguments)
    return lambda document, context: replace_each(
        document, at, lambda value: function(value, context, **arguments))


_OPS: dict[str, Callable[[dict[str, Any], str], Step]] = {
    "move": lambda spec, source: _move(spec, keep_source=False),
    "copy": lambda spec, source: _move(spec, keep_source=True),
    "remove": lambda spec, source: _remove(spec),
    "keep": lambda spec, source: _keep(spec),
    "default": lambda spec, source: _default(spec, overwrite=False),
    "set": lambda spec, source: _default(spec, overwrite=True),
    "strip_prefix": lambda spec, source: _strip_prefix(spec),
    "replace": lambda spec, source: _replace(spec),
    "split": lambda spec, source: _split(spec),
    "join": lambda spec, source: _join(spec),
    "call": _call,
}


def compile_step(spec: dict[str, Any], source: str = "a change") -> Step:
    try:
        return _OPS[spec["op"]](spec, source)
    except KeyError as error:
        raise ChangeError(f"{source}: bad step {spec!r}: missing or unknown {error}") from None


# Version changes ----------------------------------------------------------

@dataclass(frozen=True)
class StatusChange:
    """An answer status the newer version uses where the older used another."""

    newer: int
    older: int
    body: str | None  # replaces the answer's body when set ("" empties it)
    when: str | None = None  # only for an answer whose body contains this text (an error's message)

    def applies_to(self, message: bytes | None) -> bool:
        return self.when is None or (message is not None and self.when in message.decode("utf-8", "replace"))


@dataclass
class EndpointChange:
    endpoint: str
    description: str
    steps: dict[str, list[Step]]
    status: list[StatusChange]
    hijack: HijackStep | None  # makes the transforms of a hijacked stream
    emulate: EmulationStep | None  # serves the request instead of forwarding it
    unsupported: str | None  # why apiproxy cannot serve the request across this change
    request_transform: StreamStep | None  # makes a streaming transform of the request body
    from_api: Version | None = None  # a profile entry: the daemons that do this speak at least this
    until_api: Version | None = None  # a profile entry: the daemons that do this speak below this
    below: Version | None = None  # a profile entry: only for requests sent at a version below this
    stream_separator: str | None = None  # what ends each item of a JSON stream below this version
    emulate_if_query: tuple[str, ...] = ()  # the emulation only serves requests giving one of these
    # Crossed by v1.0-v1.9 clients only: the daemons that still served later clients (dockerd 20.10
    # serves 1.12-1.41) answered those the newer way, with no version gate.
    legacy_only: bool = False
    # Crossed by 1.10+ clients only: the 2013 daemons did what today's do (attach/ws honoured its stream
    # parameters); the daemons in between did otherwise below this version.
    modern_only: bool = False
    # The answer's head waits for its body, as the older version sent it (wait below 1.30: at the exit).
    head_after_body: bool = False
    origin: str = ""  # where it is declared, as the access log names it: "1.4" or a profile, "docker"
    # What no translation gives back across this change (kernel memory limits): the client gets the
    # closest honest answer, and the compatibility matrix says why.
    untranslatable: str | None = None
    client_since: Version | None = None  # crossed only by clients of this version or later (who could ask it)


@dataclass
class VersionChange:
    version: Version
    description: str
    endpoints: list[EndpointChange]
    source: str

    def for_endpoint(self, endpoint: str | None) -> list[EndpointChange]:
        return [change for change in self.endpoints
                if change.endpoint == ANY_ENDPOINT or change.endpoint == endpoint]


def _compile_change(data: dict[str, Any], source: str) -> VersionChange:
    endpoints = []
    for entry in data.get("changes", []):
        unknown = set(entry) - {"endpoint", "description", "status", "hijack", "emulate", "unsupported",
                                "request_transform", "from_api", "stream_separator", "emulate_if_query", "legacy_only",
                                "untranslatable", "client_since", "modern_only", "head_after_body",
                                *SECTIONS}
        if unknown or "endpoint" not in entry or "description" not in entry:
            raise ChangeError(f"{source}: a change needs endpoint and description; unknown {sorted(unknown)}")
        for key in ("untranslatable", "unsupported"):  # a reason people read: say it
            if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
                raise ChangeError(f"{source}: {entry['endpoint']}: {key} must be a reason, a non-empty string")
        endpoints.append(EndpointChange(
            endpoint=entry["endpoint"],
            description=entry["description"],
            steps={section: [compile_step(spec, source) for spec in entry.get(section, [])] for section in SECTIONS},
            status=[StatusChange(s["newer"], s["older"], s.get("body"), s.get("when"))
                    for s in entry.get("status", [])],
            hijack=registry.hijack_step.resolve_optional(entry.get("hijack"), source),
            emulate=registry.emulation.resolve_optional(entry.get("emulate"), source),
            unsupported=entry.get("unsupported"),
            request_transform=registry.stream_step.resolve_optional(entry.get("request_transform"), source),
            from_api=parse_version(entry["from_api"]) if "from_api" in entry else None,
            stream_separator=entry.get("stream_separator"),
            emulate_if_query=tuple(entry.get("emulate_if_query", ())),
            legacy_only=entry.get("legacy_only", False),
            modern_only=entry.get("modern_only", False),
            head_after_body=entry.get("head_after_body", False),
            origin=Path(source).stem,
            untranslatable=entry.get("untranslatable"),
            client_since=parse_version(entry["client_since"]) if "client_since" in entry else None,
        ))
    return VersionChange(parse_version(data["version"]), data.get("description", ""), endpoints, source)


@lru_cache(maxsize=1)
def all_changes() -> tuple[VersionChange, ...]:
    folder = schemas_dir() / "changes"
    changes = [_compile_change(load_json(f"changes/{path.name}"), f"changes/{path.name}")
               for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return tuple(sorted(changes, key=lambda change: change.version))


_PROFILE_KEYS = ("until_api", "below")  # what only a profile's entries say: which daemons, which requests


@lru_cache(maxsize=None)
def _profile(kind: str) -> VersionChange | None:
    path = schemas_dir() / "upstreams" / f"{kind}.json"
    if not path.is_file():
        return None
    data = load_json(f"upstreams/{kind}.json")
    entries = data.get("changes", [])
    compiled = _compile_change({**data, "version": "0.0", "changes": [
        {key: value for key, value in entry.items() if key not in _PROFILE_KEYS} for entry in entries]},
        f"upstreams/{kind}.json")
    for change, entry in zip(compiled.endpoints, entries):
        change.until_api = parse_version(entry["until_api"]) if "until_api" in entry else None
        change.below = parse_version(entry["below"]) if "below" in entry else None
    return compiled


def all_profiles() -> int:
    """Compile every upstream profile now (they are cached), so that no request opens a data file:
    at the open-file limit that open would fail. How many there are."""
    folder = schemas_dir() / "upstreams"
    return sum(_profile(path.stem) is not None for path in sorted(folder.glob("*.json"))) if folder.is_dir() else 0


def _holds(change: EndpointChange, upstream_api: Version | None, sent_at: Version | None) -> bool:
    """Whether a profile entry holds for a daemon of `upstream_api` asked at `sent_at`."""
    return (change.from_api is None or (upstream_api is not None and upstream_api >= change.from_api)) \
        and (change.until_api is None or upstream_api is None or upstream_api < change.until_api) \
        and (change.below is None or sent_at is None or sent_at < change.below)


@lru_cache(maxsize=4096)  # the same few combinations, asked on every request
def profile(kind: str, endpoint: str | None, upstream_api: Version) -> tuple[EndpointChange, ...]:
    """What daemons do whatever the API version: applied after the chain.

    `all.json` holds what apiproxy does for every kind (the ids of recreated
    containers), then comes the kind's own file.  An entry with `from_api`
    holds only for daemons whose own ApiVersion is at least that (a 2013
    daemon does not do what Docker 1.12 began to, whatever the target).
    """
    found = [_profile(name) for name in ("all", kind)]
    return tuple(change for profile in found if profile for change in profile.for_endpoint(endpoint)
                 if _holds(change, upstream_api, None))


@lru_cache(maxsize=4096)
def release_profile(name: str, endpoint: str | None, upstream_api: Version | None,
                    sent_at: Version) -> tuple[EndpointChange, ...]:
    """What a daemon release (`docker29`, with the older releases it includes: docker25) changed at
    every API version, for a request sent at `sent_at`: applied after the chain and the kind's profile,
    for legacy and modern clients alike (each entry's `below` says which versions the daemons before
    that release answered so). Oldest release first: an answer meets the newest first."""
    return tuple(change for release in release_profiles(name) if (found := _profile(release))
                 for change in found.for_endpoint(endpoint) if _holds(change, upstream_api, sent_at))


@lru_cache(maxsize=None)
def release_ceiling(name: str) -> Version | None:
    """The version from which a release's profiles restore nothing (docker29: 1.52); None: no such profile
    or an entry for every version."""
    found = [profile for release in release_profiles(name) if (profile := _profile(release))]
    belows = [change.below for profile in found for change in profile.endpoints]
    return None if not belows or None in belows else max(below for below in belows if below is not None)


@lru_cache(maxsize=4096)
def between(client: Version, target: Version,
            endpoint: str | None) -> tuple[tuple[VersionChange, EndpointChange], ...]:
    """The changes a request crosses going from `client` up to `target`, in order."""
    legacy = is_legacy(client)
    return tuple((change, endpoint_change) for change in all_changes() if client < change.version <= target
                 for endpoint_change in change.for_endpoint(endpoint)
                 if not (endpoint_change.modern_only if legacy else endpoint_change.legacy_only)
                 and (endpoint_change.client_since is None or client >= endpoint_change.client_since))


def run_steps(steps: Sequence[Step], document: Any, context: Context) -> Any:
    for step in steps:
        document = step(document, context)
    return document
