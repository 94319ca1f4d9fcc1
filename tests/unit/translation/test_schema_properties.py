"""Properties over every legacy request schema, for every target version apiproxy sends.

What a client of a legacy version may send (a body generated from its schema) is translated
into what the target takes (its request schema); what it may not send, and bytes that are
not JSON, get a 400 and nothing else.  Emulated endpoints check the body as a forwarded
request would, then plan their upstream calls; the JSON bodies of those calls must meet the
target's schemas too.  Example counts are small here (APXTEST_PROPERTY_EXAMPLES);
bench/properties.py runs the same checks with many more.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apiproxy.api import validation
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.emulations.commands import Answer, Call, Pass
from apiproxy.translation.emulations.commands import LegacyRequest
from apiproxy.translation.memory import Memory
from apiproxy.api.routes import legacy_routes, match_legacy
from apiproxy.translation.routing import Forward, Settings, plan
from apiproxy.translation.transforms import TranslationError
from apiproxy.wire.json import decode_json
from apiproxy.api.upstream_info import UpstreamInfo, choose_target, is_legacy, known_versions
from apiproxy.api.versions import Version

EXAMPLES = int(os.environ.get("APXTEST_PROPERTY_EXAMPLES", "25"))
LEGACY, _ALL = known_versions()
TARGETS = tuple(version for version in _ALL if not is_legacy(version))
CONTAINER, IMAGE = "4fa6e0f0c678", "busybox"
HEADERS = [(b"Host", b"docker"), (b"Content-Type", b"application/json")]
SETTINGS = Settings(unversioned_version=Version(1, 9))
QUERIES = {"POST /commit": "?container=" + CONTAINER}  # what an endpoint's query must give


# Schemas ---------------------------------------------------------------------

_ANNOTATIONS = {"$id", "$schema", "$comment", "$defs", "description"}


def inline(pointer: str) -> Any:
    """The schema at `pointer` with each $ref replaced by what it names, from apiproxy's registry."""
    resolved = validation.registry().resolver().lookup(pointer)
    return _inline(resolved.contents, resolved.resolver, 0)


def _inline(node: Any, resolver: Any, depth: int) -> Any:
    if depth > 64:
        raise ValueError("a $ref cycle: the schema cannot be inlined")
    if isinstance(node, list):
        return [_inline(item, resolver, depth) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: ({name: _inline(sub, resolver, depth) for name, sub in value.items()} if key == "properties"
                 else _inline(value, resolver, depth))
           for key, value in node.items() if key not in _ANNOTATIONS and key != "$ref"}
    if "$ref" not in node:
        return out
    resolved = resolver.lookup(node["$ref"])
    named = _inline(resolved.contents, resolved.resolver, depth + 1)
    return {"allOf": [named, out]} if out else named


def _types(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


_SUBSCHEMAS = ("items", "additionalProperties", "propertyNames")


def _both(first: Any, second: Any) -> Any:
    if first is False or second is False:
        return False
    return second if first is True else first if second is True else {"allOf": [first, second]}


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One schema meaning all of `parts` (the keywords the legacy schemas combine with allOf)."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key not in out:
                out[key] = dict(value) if key == "properties" else value
            elif key == "properties":
                for name, sub in value.items():
                    out[key][name] = _both(out[key][name], sub) if name in out[key] else sub
            elif key in _SUBSCHEMAS:
                out[key] = _both(out[key], value)
            elif key == "required":
                out[key] = sorted(set(out[key]) | set(value))
            elif key == "type":
                out[key] = [kind for kind in _types(out[key]) if kind in _types(value)]
            elif out[key] != value:
                raise ValueError(f"cannot merge two values of {key}")
    return out


def closed(schema: Any) -> Any:
    """`schema` with each object closed to the properties it lists (allOf merged first).

    The legacy schemas let unknown fields through, as the 2013 daemons ignored them; apiproxy
    passes them on as they are, where the closed target schemas would refuse them.  Bodies
    are generated with the fields their version knew.
    """
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "allOf" in schema:
        rest = {key: value for key, value in schema.items() if key != "allOf"}
        flat = [closed(part) for part in schema["allOf"]]
        schema = _merge([rest, *[part for part in flat if isinstance(part, dict)]])
    out = {key: ({name: closed(sub) for name, sub in value.items()} if key == "properties" else closed(value))
           for key, value in schema.items()}
    if ("properties" in out or "object" in _types(out.get("type", []))) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def top_level_names(schema: Any) -> list[str]:
    """The property names a closed schema lists at its top level (through anyOf/oneOf too)."""
    if not isinstance(schema, dict):
        return []
    names = set(schema.get("properties", {}))
    for key in ("anyOf", "oneOf"):
        for part in schema.get(key, []):
            names.update(top_level_names(part))
    return sorted(names)


# Cases -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A legacy endpoint that takes a JSON body, and a client version it exists in."""

    endpoint: str
    client: Version

    @property
    def id(self) -> str:
        return f"{self.endpoint} {self.client}"

    @property
    def pointer(self) -> str:
        pointer = validation.legacy_pointer(self.endpoint, self.client, "request")
        assert pointer is not None
        return pointer


def cases() -> list[Case]:
    """Every (endpoint, legacy version) with a request-body schema."""
    return [Case(route.key, client) for route in legacy_routes() for client in LEGACY
            if route.exists_in(client) and validation.legacy_pointer(route.key, client, "request")]


def upstream(target: Version) -> UpstreamInfo:
    """A Docker daemon whose own API version is `target` (1.12 Docker 1.0, 1.24 Docker 1.12, ...)."""
    return UpstreamInfo("docker", f"API {target}", target, min(target, Version(1, 12)))


def exchange(case: Case, target: Version) -> ChainExchange:
    method, template = case.endpoint.split(" ", 1)
    path = template.format(id=CONTAINER, name=IMAGE) + QUERIES.get(case.endpoint, "")
    info = upstream(target)
    decision = plan(method, f"/v{case.client}{path}", info, choose_target(info, target), SETTINGS, Memory())
    assert isinstance(decision, Forward) and isinstance(decision.exchange, ChainExchange), decision
    return decision.exchange


# What an emulation's upstream calls are answered, by method and path: a stopped container.
INSPECT = {"Id": CONTAINER * 5 + "abcd", "Name": "/web", "State": {"Running": False},
           "Config": {"Image": IMAGE, "Cmd": ["true"], "Env": ["PATH=/bin"], "Labels": {}},
           "HostConfig": {"NetworkMode": "default", "Binds": None}}
# Once inspected, the old container is named by its whole id (the client may have given a prefix or a name).
ANSWERS = {f"GET /containers/{CONTAINER}/json": Answer(200, INSPECT),
           f"POST /containers/{INSPECT['Id']}/rename": Answer(204, None),
           f"DELETE /containers/{INSPECT['Id']}": Answer(204, None),
           "POST /containers/create": Answer(201, {"Id": "e" * 64, "Warnings": None})}


def _endpoint(method: str, path: str) -> str:
    route = match_legacy(method, path.partition("?")[0])
    return route.key if route else f"{method} {path}"


def _emulated(emulate: Callable[..., Any], chain: ChainExchange, body: Any, raw: bytes) -> list[tuple[str, Any]]:
    """The (endpoint, JSON body) of each upstream request the emulation makes for `body`."""
    assert chain.route is not None
    emulation = emulate(LegacyRequest(chain.route.method, chain.real_params, dict(chain.query), body,
                                      chain.context))
    sent, answer = [], None
    try:
        while True:
            step = emulation.send(answer)
            answer = None
            if isinstance(step, Call):
                sent.append((_endpoint(step.method, step.path), step.body))
                answer = ANSWERS.get(f"{step.method} {step.path.partition('?')[0]}", Answer(404, None))
    except StopIteration as stop:
        if isinstance(stop.value, Pass) and stop.value.client_body:  # the client's body, translated
            transform = chain.request_body(HEADERS)
            out = transform.feed(raw) + transform.close() if transform is not None else raw
            sent.append((_endpoint(stop.value.method, stop.value.path), json.loads(out) if out.strip() else None))
        elif isinstance(stop.value, Pass) and stop.value.body is not None:
            sent.append((_endpoint(stop.value.method, stop.value.path), stop.value.body))
    return sent


def translate(case: Case, target: Version, raw: bytes) -> list[tuple[str, Any]]:
    """What apiproxy sends upstream at `target` for a request with body `raw`: the endpoint and JSON
    body (None: none) of each request.  Raises TranslationError where the client gets an error."""
    chain = exchange(case, target)
    emulate = chain.emulation()
    if emulate is not None:
        return _emulated(emulate, chain, chain.legacy_body(raw), raw)
    transform = chain.request_body(HEADERS)
    assert transform is not None, "an endpoint with a request schema reads its body"
    out = transform.feed(raw) + transform.close()
    return [(case.endpoint, json.loads(out) if out.strip() else None)]


# Checks (bench/properties.py runs them too) ----------------------------------


def check_valid(case: Case, target: Version, body: Any) -> None:
    """A valid legacy body translates, and what goes upstream meets the target's schemas."""
    for endpoint, sent in translate(case, target, json.dumps(body).encode()):
        if sent is None:
            continue
        pointer = validation.target_pointer(endpoint, target)
        assert pointer is not None, f"{endpoint} sends a body at {target}, which has no schema for it"
        problem = validation.problem(pointer, sent)
        assert problem is None, f"{endpoint} at {target} refuses {json.dumps(sent)}: {problem}"


def check_refused(case: Case, target: Version, raw: bytes) -> None:
    """A body that is invalid for the client's version, or not JSON, is answered 400 (any other
    exception is what the client would get as a 500)."""
    try:
        sent = translate(case, target, raw)
    except TranslationError as error:
        assert error.status == 400, f"at {target}: status {error.status}: {error}"
        return
    raise AssertionError(f"at {target}: accepted and sent {sent!r}")


# Strategies --------------------------------------------------------------------

# Text with lone surrogates now and then: JSON may escape them ("\\ud800"), Go makes them U+FFFD.
TEXT = st.text(st.characters() | st.characters(categories=["Cs"]), max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10)


class Ungenerable(Exception):
    """A schema using a keyword `from_schema` does not handle."""


_HANDLED = {"type", "properties", "required", "additionalProperties", "propertyNames", "items", "anyOf",
            "enum", "minLength", "maxLength", "pattern", "minimum", "maximum", "minItems", "maxItems"}
_EVERY_TYPE = ["null", "boolean", "integer", "number", "string", "array", "object"]


def from_schema(schema: Any) -> st.SearchStrategy[Any]:
    """Values `schema` (inlined, allOf merged: see `closed`) accepts, for the keywords it uses.

    hypothesis-jsonschema would do this, but its 0.23.1 uses Hypothesis internals that the
    installed Hypothesis no longer has; the legacy request schemas need only these keywords.
    """
    if schema is True or schema == {}:
        return JSON_VALUES
    if schema is False:
        return st.nothing()
    unknown = set(schema) - _HANDLED
    if unknown:
        raise Ungenerable(f"keywords {sorted(unknown)}")
    if "anyOf" in schema:
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        return st.one_of([from_schema(closed(_merge([rest, part]))) for part in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    return st.one_of([_typed(kind, schema) for kind in _types(schema.get("type", _EVERY_TYPE))])


def _typed(kind: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        integers = st.integers(schema.get("minimum"), schema.get("maximum"))
        return integers if kind == "integer" else integers | st.floats(
            schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda text: schema.get("minLength", 0) <= len(text) <= schema.get("maxLength", len(text)))
        return TEXT.filter(lambda text: schema.get("minLength", 0) <= len(text) <= schema.get("maxLength", 12))
    if kind == "array":
        return st.lists(from_schema(schema.get("items", True)), min_size=schema.get("minItems", 0),
                        max_size=schema.get("maxItems", 4))
    properties, required = schema.get("properties", {}), set(schema.get("required", ()))
    known = st.fixed_dictionaries({name: from_schema(properties[name]) for name in sorted(required)},
                                  optional={name: from_schema(sub) for name, sub in properties.items()
                                            if name not in required})
    additional = schema.get("additionalProperties", True)
    if additional is False:
        return known
    names = from_schema(schema["propertyNames"]) if "propertyNames" in schema else TEXT
    others = st.dictionaries(names.filter(lambda name: name not in properties), from_schema(additional), max_size=3)
    return st.builds(lambda extra, fields: {**extra, **fields}, others, known)


@lru_cache(maxsize=None)
def generation_schema(pointer: str) -> Any:
    return closed(inline(pointer))


@lru_cache(maxsize=None)
def valid_bodies(pointer: str) -> st.SearchStrategy[Any]:
    return from_schema(generation_schema(pointer))


def _replace_somewhere(draw: Callable[..., Any], node: Any, names: list[str]) -> Any:
    """`node` with one value in it (a field, an item, or itself) replaced by an arbitrary one."""
    if isinstance(node, dict) and (node or names) and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(set(node) | set(names))))
        return {**node, key: _replace_somewhere(draw, node.get(key), [])}
    if isinstance(node, list) and node and draw(st.booleans()):
        index = draw(st.integers(0, len(node) - 1))
        return [*node[:index], _replace_somewhere(draw, node[index], []), *node[index + 1:]]
    return draw(JSON_VALUES)


@lru_cache(maxsize=None)
def invalid_bodies(pointer: str) -> st.SearchStrategy[Any]:
    """Valid bodies with a field, an item or the whole replaced, or any JSON: those the schema refuses.

    JSON null is left out: like an empty body, it is no body (a request without one)."""
    names = top_level_names(generation_schema(pointer))
    mutated = st.composite(lambda draw: _replace_somewhere(draw, draw(valid_bodies(pointer)), names))()
    validator = validation.fast_validator(pointer)
    return (mutated | JSON_VALUES).filter(
        lambda value: value is not None and not validator.is_valid(decode_json(json.dumps(value))))


def _not_a_number(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def _is_json(raw: bytes) -> bool:
    """Whether the standard library reads `raw` (NaN and Infinity aside, which are not JSON)."""
    try:
        json.loads(raw, parse_constant=_not_a_number)
    except (ValueError, RecursionError):
        return False
    return True


NOT_JSON = (st.binary(min_size=1, max_size=48)
            | JSON_VALUES.map(lambda value: json.dumps(value).encode()[:-1])  # cut short
            | TEXT.map(lambda text: ("{" + text).encode("utf-8", "surrogatepass"))
            | st.sampled_from([b"NaN", b'{"Image": "x", "Memory": Infinity}', b"[" * 100_000,
                               b'{"Image": "x", "Env": ' + b"[" * 5000 + b"]" * 5000 + b"}"])
            ).filter(lambda raw: bool(raw.strip()) and not _is_json(raw))


# Tests -------------------------------------------------------------------------

CASES = cases()
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ungenerable(case: Case) -> str | None:
    """Why bodies cannot be generated from the case's schema, if they cannot."""
    try:
        valid_bodies(case.pointer)
    except Ungenerable as error:
        return str(error)
    return None


def _params() -> list[Any]:
    """CASES as test parameters; one whose schema cannot be generated is skipped, its id saying why."""
    return [pytest.param(case, id=f"{case.id} (skipped: {why})", marks=pytest.mark.skip(reason=why)) if why
            else pytest.param(case, id=case.id) for case, why in ((case, ungenerable(case)) for case in CASES)]


PARAMS = _params()


@pytest.mark.parametrize("case", PARAMS)
@PROPERTY
@given(data=st.data())
def test_valid_legacy_bodies_meet_the_target_schemas(case: Case, data: st.DataObject) -> None:
    body = data.draw(valid_bodies(case.pointer), label="body")
    for target in TARGETS:
        check_valid(case, target, body)


@pytest.mark.parametrize("case", PARAMS)
@PROPERTY
@given(data=st.data())
def test_invalid_legacy_bodies_get_a_400(case: Case, data: st.DataObject) -> None:
    raw = json.dumps(data.draw(invalid_bodies(case.pointer), label="body")).encode()
    for target in TARGETS:
        check_refused(case, target, raw)


@pytest.mark.parametrize("case", PARAMS)
@PROPERTY
@given(raw=NOT_JSON)
def test_bytes_that_are_not_json_get_a_400(case: Case, raw: bytes) -> None:
    for target in TARGETS:
        check_refused(case, target, raw)


# JSON that no daemon decodes: too deep for the standard library, NaN, beyond a double.
BEYOND = {"deep": b"[" * 100_000 + b"]" * 100_000,
          "deep in a field": b'{"Image": "x", "Env": ' + b"[" * 2000 + b"]" * 2000 + b"}",
          "NaN": b'{"Image": "x", "Memory": NaN}', "1e400": b'{"Image": "x", "Memory": 1e400}',
          "-Infinity": b"[-Infinity]"}


@pytest.mark.parametrize("raw", BEYOND.values(), ids=BEYOND.keys())
def test_json_no_daemon_decodes_gets_a_400(raw: bytes) -> None:
    for case in CASES:
        for target in TARGETS:
            check_refused(case, target, raw)


def test_lone_surrogates_become_replacement_characters_as_go_decodes_them() -> None:
    raw = b'{"Image": "busybox\\ud800", "Env": ["A=\\udc00"], "Volumes": {"/\\udfff": {}}}'
    for target in TARGETS:
        ((_, sent),) = translate(Case("POST /containers/create", Version(1, 9)), target, raw)
        assert sent["Image"] == "busybox\ufffd" and sent["Env"] == ["A=\ufffd"], sent
        assert sent["Volumes"] == {"/\ufffd": {}}


def test_every_endpoint_with_a_request_schema_is_covered() -> None:
    assert {case.endpoint for case in CASES} == {
        "POST /containers/create", "POST /containers/{id}/start", "POST /containers/{id}/copy", "POST /commit",
        "POST /images/getCache", "POST /images/{name}/push", "POST /auth"}
    assert {Version(1, 24), Version(1, 41)} <= set(TARGETS)
