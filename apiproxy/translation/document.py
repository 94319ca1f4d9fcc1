"""What every step works with: the exchange's Context and JSON pointers into a document. Pure.

A pointer names the objects a step works on; `*` stands for every item of a
list or every value of an object ("/*" is each element of a top-level list).
A leaf module: the change loader, the steps and the chain all import it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from apiproxy.api.versions import Version
from apiproxy.translation.memory import Memory


@dataclass
class Context:
    """What a step may know of the exchange it works on."""

    method: str
    template: str | None
    params: dict[str, str]
    client_version: Version
    target: Version
    upstream_kind: str = "docker"
    upstream_version: str = ""  # the daemon's product version, as its /version said
    notes: dict[str, Any] = field(default_factory=dict)  # passed from request to answer
    warnings: list[str] = field(default_factory=list)  # for the log: what could not be translated
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # added to the request
    default_headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # added where absent
    memory: Memory = field(default_factory=Memory)


class ChangeError(ValueError):
    pass


# JSON pointers with wildcards ------------------------------------------------

@lru_cache(maxsize=4096)  # the pointers are those of the change files: few, and parsed once each
def _tokens(pointer: str) -> tuple[str, ...]:
    if pointer in ("", "/"):
        return ()
    if not pointer.startswith("/"):
        raise ChangeError(f"a pointer starts with '/': {pointer!r}")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def select(document: Any, pointer: str) -> Iterator[Any]:
    """Every object `pointer` names in `document` (wildcards expand, misses are skipped)."""
    tokens = _tokens(pointer)
    if not tokens:  # the document itself, what most steps name: no walk
        return iter((document,))
    return _walk(document, tokens)


def _walk(node: Any, tokens: tuple[str, ...]) -> Iterator[Any]:
    if not tokens:
        yield node
        return
    head, rest = tokens[0], tokens[1:]
    if head == "*":
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in list(children):
            yield from _walk(child, rest)
    elif isinstance(node, dict) and head in node:
        yield from _walk(node[head], rest)
    elif isinstance(node, list) and head.isdigit() and int(head) < len(node):
        yield from _walk(node[int(head)], rest)


MISSING = object()


def get(node: Any, pointer: str) -> Any:
    for token in _tokens(pointer):
        if isinstance(node, dict) and token in node:
            node = node[token]
        else:
            return MISSING
    return node


def put(node: dict[str, Any], pointer: str, value: Any) -> None:
    tokens = _tokens(pointer)
    for token in tokens[:-1]:
        child = node.get(token)
        if not isinstance(child, dict):
            child = node[token] = {}
        node = child
    node[tokens[-1]] = value


def pop(node: Any, pointer: str) -> Any:
    tokens = _tokens(pointer)
    parent = node
    for token in tokens[:-1]:
        parent = parent.get(token, MISSING) if isinstance(parent, dict) else MISSING
    if isinstance(parent, dict) and tokens and tokens[-1] in parent:
        return parent.pop(tokens[-1])
    return MISSING


def replace_each(document: Any, pointer: str, function: Callable[[Any], Any]) -> Any:
    """`document` with every value `pointer` names replaced by `function(value)`."""
    tokens = _tokens(pointer)
    if not tokens:
        return function(document)
    _replace_in(document, tokens, function)
    return document


def _replace_in(node: Any, tokens: tuple[str, ...], function: Callable[[Any], Any]) -> None:
    head, rest = tokens[0], tokens[1:]
    keys: Iterable[Any]
    if head != "*":
        if not isinstance(node, dict) or head not in node:
            return  # what most walks meet: the member is absent
        keys = (head,)
    elif isinstance(node, dict):
        keys = list(node)
    elif isinstance(node, list):
        keys = range(len(node))
    else:
        return
    for key in keys:
        if rest:
            _replace_in(node[key], rest, function)
        else:
            node[key] = function(node[key])
