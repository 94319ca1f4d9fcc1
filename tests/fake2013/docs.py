"""The example answers of the 2013 Remote API documentation, read from its .rst source.

Each `.. http:METHOD:: /path` section of `docker_remote_api_v{V}.rst` shows
one or more "**Example request**:" / "**Example response**:" pairs, each a
`.. sourcecode:: http` block.  A `DocExample` is one such response, keyed by
its section's route and by the path its example request names.

Some examples are not valid JSON.  Only the typos listed in `REPAIRS` are
fixed, and only in a body that does not parse without them; `Docs.repaired`
says which were needed.  A JSON body that still does not parse is an error.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCS = Path("/work/shared/reference/docs/original")

_HEADING = re.compile(r"\.\. http:(get|post|delete|put)::\s*(\S+)")
_FIELD = re.compile(r":[a-z]+( [^:]*)?:")  # ":query all:", ":statuscode 200:" end a block
_HEADER = re.compile(r"([A-Za-z][A-Za-z-]*):\s*(.*)")
# Section paths name their parameters "(id)", "(name)"; a name may hold slashes.
_PLACEHOLDER = {"id": "[^/]+", "name": ".+"}


@dataclass(frozen=True)
class Repair:
    endpoint: str  # "POST /containers/create", as the section heading names it; "*": any
    pattern: str  # a regex over the body's stripped lines joined with "\n"
    new: str
    why: str


# Typos of the documentation's examples (every version that has them).
REPAIRS = (
    Repair("POST /containers/create", r'("Id":"e90e34656806")\n("Warnings")', r"\1,\n\2",
           'missing comma between "Id" and "Warnings"'),
    Repair("POST /images/(name)/push", r'("progressDetail":\{"current":1\}\})\}', r"\1",
           'one closing brace too many after "progressDetail"'),
    Repair("*", r"\n\.\.\.(?=\n|$)", "", 'a "..." line standing for elided items'),
)


@dataclass(frozen=True)
class DocExample:
    method: str
    template: str  # the section's path: "/containers/(id)/json"
    request_path: str  # the example request's path without query: "/containers/4fa6e0f0c678/json"
    request_query: str  # and its query: "all=1&before=8dfafdbc3a40&size=1"
    request_body: Any  # the example request's JSON body; None: none, or not JSON
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes  # what the daemon sends: JSON compact (a stream's values back to back), else as written
    values: tuple[Any, ...] | None  # the JSON values of the body (several: a stream); None: not JSON

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def document(self) -> Any:
        """The one JSON value of a non-stream answer."""
        assert self.values is not None and len(self.values) == 1, self
        return self.values[0]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Docs:
    version: str
    examples: list[DocExample]
    repaired: list[str] = field(default_factory=list)  # "v1.7 POST /containers/create: why"

    def find(self, method: str, path: str) -> DocExample | None:
        """The example of the section routing `method path` (exact example paths first)."""
        candidates = [e for e in self.examples if e.method == method]
        for example in candidates:
            if example.request_path == path:
                return example
        # Longest literal template first: "/images/search" before "/images/(name)".
        for example in sorted(candidates, key=lambda e: -len(re.sub(r"\(\w+\)", "", e.template))):
            pattern = route_pattern(example.template)
            if pattern is not None and pattern.fullmatch(path):
                return example
        return None

    def get(self, method: str, template: str) -> DocExample:
        return next(e for e in self.examples if e.method == method and e.template == template)


def route_pattern(template: str) -> re.Pattern[str] | None:
    """A regex of a section path, or None when its placeholder is not a routed parameter."""
    parts = re.split(r"\((\w+)\)", template)
    if any(part not in _PLACEHOLDER for part in parts[1::2]):
        return None  # "/images/(format)": only its example paths (json, viz) exist
    return re.compile("".join(f"(?P<{p}>{_PLACEHOLDER[p]})" if i % 2 else re.escape(p)
                              for i, p in enumerate(parts)))


def _indent(line: str) -> int:
    expanded = line.expandtabs(8)
    return len(expanded) - len(expanded.lstrip())


def _block(lines: list[str], start: int) -> tuple[list[str], int]:
    """The stripped lines of the sourcecode block after line `start`, and where it ends."""
    at = start
    while ".. sourcecode::" not in lines[at]:
        at += 1
    base, at = _indent(lines[at]), at + 1
    block: list[str] = []
    while at < len(lines):
        line = lines[at]
        stripped = line.strip()
        if stripped and (_indent(line) <= base or _FIELD.match(stripped) or stripped.startswith("**")):
            break
        block.append(stripped)
        at += 1
    while block and not block[0]:
        block.pop(0)
    return block, at


def _values(text: str) -> tuple[Any, ...] | None:
    """The JSON values of `text`, back to back or one per line; None if it is not all JSON."""
    decoder, index = json.JSONDecoder(), 0
    values: list[Any] = []
    while True:
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
        if index == len(text):
            return tuple(values) if values else None
        try:
            value, index = decoder.raw_decode(text, index)
        except ValueError:
            return None
        values.append(value)


def _request(block: list[str]) -> tuple[str, str, Any]:
    """(path, query, JSON body or None) of an example request block."""
    path, _, query = block[0].split()[1].partition("?")
    at = 1
    while at < len(block) and _HEADER.fullmatch(block[at]):
        at += 1
    values = _values("\n".join(block[at:]))
    return path, query, values[0] if values and len(values) == 1 else None


def _response(version: str, method: str, template: str, request: tuple[str, str, Any], block: list[str],
              repaired: list[str]) -> DocExample:
    status = int(block[0].split()[1])
    headers: list[tuple[str, str]] = []
    at = 1
    while at < len(block) and (match := _HEADER.fullmatch(block[at])):
        headers.append((match.group(1), match.group(2)))
        at += 1
    text = "\n".join(block[at:]).strip()
    kind = next((v for k, v in headers if k.lower() == "content-type"), "")
    values = _values(text) if text else None
    if text and values is None and text[0] in "[{" and "STREAM" not in text:
        for repair in REPAIRS:
            if repair.endpoint in ("*", f"{method} {template}") and re.search(repair.pattern, text):
                text = re.sub(repair.pattern, repair.new, text)
                repaired.append(f"v{version} {method} {template}: {repair.why}")
        values = _values(text)
        if values is None:
            raise ValueError(f"v{version} {method} {template}: example is not JSON ({kind}):\n{text}")
    if values is not None:
        body = b"".join(json.dumps(v, separators=(",", ":")).encode() for v in values)
    else:
        body = text.encode()
    return DocExample(method, template, *request, status, tuple(headers), body, values)


def load(version: str) -> Docs:
    """Every example response of `docker_remote_api_v{version}.rst`."""
    lines = (DOCS / f"docker_remote_api_v{version}.rst").read_text().splitlines()
    docs = Docs(version, [])
    method = template = None
    request: tuple[str, str, Any] | None = None
    at = 0
    while at < len(lines):
        line = lines[at].strip()
        heading = _HEADING.match(line)
        if heading:
            method, template, request = heading.group(1).upper(), heading.group(2), None
        elif method and line.startswith("**Example request**"):
            block, at = _block(lines, at)
            request = _request(block)
            continue
        elif method and request and line.startswith("**Example response**"):
            block, at = _block(lines, at)
            assert template is not None
            docs.examples.append(_response(version, method, template, request, block, docs.repaired))
            request = None  # a later response without its own example request is prose's
            continue
        at += 1
    return docs
