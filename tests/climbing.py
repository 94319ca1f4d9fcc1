"""A modern client's request climbing the version chain to a floor, for the unit tests of version
changes: the exchange, what it sends up and what comes back down. No daemon, no reactor."""
from __future__ import annotations

import json
from typing import Any

from apiproxy.api.routes import match_modern
from apiproxy.api.versions import parse_version
from apiproxy.translation.chain import ChainExchange, exchange_for
from apiproxy.translation.memory import Memory

JSON = [(b"Content-Type", b"application/json")]


def climb(method: str, path: str, client: str, target: str = "1.44", memory: Memory | None = None) -> ChainExchange:
    """The exchange of `client`'s request for `path` (a query after it is left out) sent at `target`."""
    plain = path.partition("?")[0]
    route = match_modern(method, plain)
    assert route is not None
    exchange = exchange_for(route, parse_version(client), parse_version(target), path=plain, memory=memory)
    assert isinstance(exchange, ChainExchange)
    return exchange


def sent_body(exchange: ChainExchange, body: Any) -> Any:
    """`body` as the daemon gets it (unchanged where no change crossed touches it)."""
    transform = exchange.request_body(JSON)
    if transform is None:
        return body
    return json.loads(transform.feed(json.dumps(body).encode()) + transform.close())


def answered(exchange: ChainExchange, body: Any) -> Any:
    """The daemon's 200 answer `body` as the client gets it (unchanged where nothing touches it)."""
    transform = exchange.response_body(200, JSON)
    if transform is None:
        return body
    return json.loads(transform.feed(json.dumps(body).encode()) + transform.close())
