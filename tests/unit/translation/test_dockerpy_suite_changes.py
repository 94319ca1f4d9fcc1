"""Changes found by docker-py's own integration suites through apiproxy on a 1.44-floor daemon."""
from __future__ import annotations

import json
from typing import Any

from apiproxy.api.routes import match_modern
from apiproxy.api.versions import parse_version
from apiproxy.translation.chain import ChainExchange, exchange_for

JSON = [(b"Content-Type", b"application/json")]


def climb(method: str, path: str, client: str) -> ChainExchange:
    route = match_modern(method, path)
    assert route is not None
    exchange = exchange_for(route, parse_version(client), parse_version("1.44"), path=path)
    assert isinstance(exchange, ChainExchange)
    return exchange


def refused(exchange: ChainExchange, status: int, body: Any) -> Any:
    transform = exchange.response_body(status, JSON)
    assert transform is not None
    return json.loads(transform.feed(json.dumps(body).encode()) + transform.close())


def test_a_refused_removal_is_worded_as_docker_24_worded_it_below_1_44() -> None:
    running = {"message": 'cannot remove container "c1": container is running: stop the container before '
                          "removing or force remove"}
    paused = {"message": 'cannot remove container "c1": container is paused and must be unpaused first'}
    exchange = climb("DELETE", "/containers/c1", "1.41")
    assert refused(exchange, 409, running) == {
        "message": "You cannot remove a running container c1. Stop the container before attempting removal or "
                   "force remove"}
    assert refused(exchange, 409, paused)["message"] == (
        "You cannot remove a paused container c1. Unpause and then stop the container before attempting removal "
        "or force remove")
    assert refused(exchange, 404, {"message": "No such container: c1"}) == {"message": "No such container: c1"}


def test_a_1_41_network_create_sends_its_pools_as_networks() -> None:
    exchange = climb("POST", "/networks/create", "1.41")
    transform = exchange.request_body(JSON)
    assert transform is not None
    body = {"Name": "n", "EnableIPv6": True, "IPAM": {"Driver": "default", "Config": [
        {"Subnet": "2001:389::1/64", "IPRange": "2001:389::0/96", "Gateway": "2001:389::ffff"},
        {"Subnet": "172.28.5.7/16"}, {"Subnet": "not a prefix"}]}}
    sent = json.loads(transform.feed(json.dumps(body).encode()) + transform.close())
    assert sent["IPAM"]["Config"] == [
        {"Subnet": "2001:389::/64", "IPRange": "2001:389::/96", "Gateway": "2001:389::ffff"},
        {"Subnet": "172.28.0.0/16"}, {"Subnet": "not a prefix"}]
