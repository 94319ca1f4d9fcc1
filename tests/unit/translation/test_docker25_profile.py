"""The docker25 profile (schemas/upstreams/docker25.json): what Docker 25 changed at every API version,
given back to requests a daemon with a floor below 1.44 gets below 1.44 (found by docker-py 4.3.1's suite
at 1.39 on dockerd 28.5 with Docker 29.3's floor, 1.40: the 1.44 change file is never crossed there)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from apiproxy.api.upstream_info import choose_target, parse_upstream_info
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.exchange import Exchange
from apiproxy.api.versions import Version
from apiproxy.translation.routing import Forward, Settings, plan

SETTINGS = Settings(unversioned_version=Version(1, 9))


def _version(version: str, api: str, minimum: str) -> dict[str, Any]:
    return {"Version": version, "ApiVersion": api, "MinAPIVersion": minimum,
            "Components": [{"Name": "Engine", "Version": version}]}


JSON = [(b"Content-Type", b"application/json")]
FLOOR_1_40 = parse_upstream_info(_version("28.5.2", "1.51", "1.40"))  # Docker 29.3's floor on dockerd 28.5
FLOOR_1_44 = parse_upstream_info(_version("28.5.2", "1.51", "1.44"))
DOCKER_26 = parse_upstream_info(_version("26.1.5", "1.45", "1.24"))
DOCKER_29_3 = parse_upstream_info(_version("29.3.0", "1.54", "1.40"))
RUNNING = {"message": 'cannot remove container "c1": container is running: stop the container before removing '
                      "or force remove"}
OLD_RUNNING = "You cannot remove a running container c1. Stop the container before attempting removal or force remove"
NETWORK = {"Name": "n", "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "2001:389::1/64"}]}}


def _plan(info: Any, method: str, path: str) -> Forward:
    decision = plan(method, path, info, choose_target(info, None), SETTINGS)
    assert isinstance(decision, Forward)
    return decision


def _refused(exchange: Exchange, body: Any) -> Any:
    transform = exchange.response_body(409, JSON)
    assert transform is not None
    return json.loads(transform.feed(json.dumps(body).encode()) + transform.close())


def _sent(exchange: Exchange, body: Any) -> Any:
    transform = exchange.request_body(JSON)
    assert transform is not None
    return json.loads(transform.feed(json.dumps(body).encode()) + transform.close())


@pytest.mark.parametrize("info, client, sent_at", [
    (FLOOR_1_40, "1.39", "1.40"),  # climbs to the floor, below 1.44
    (FLOOR_1_40, "1.41", "1.41"),  # passes through
    (DOCKER_26, "1.24", "1.24"),
    (DOCKER_29_3, "1.41", "1.41"),  # Docker 29's profile includes Docker 25's
    (FLOOR_1_44, "1.41", "1.44"),  # climbs across schemas/changes/1.44.json instead
])
def test_a_request_below_1_44_gets_docker_24s_answers_whatever_the_floor(info: Any, client: str,
                                                                        sent_at: str) -> None:
    removal = _plan(info, "DELETE", f"/v{client}/containers/c1")
    assert removal.target == f"/v{sent_at}/containers/c1"
    assert isinstance(removal.exchange, ChainExchange)
    assert _refused(removal.exchange, RUNNING) == {"message": OLD_RUNNING}
    create = _plan(info, "POST", f"/v{client}/networks/create")
    assert _sent(create.exchange, NETWORK)["IPAM"]["Config"] == [{"Subnet": "2001:389::/64"}]


def test_other_endpoints_below_1_44_pass_through_untouched_on_a_lower_floor() -> None:
    decision = _plan(FLOOR_1_40, "GET", "/v1.41/containers/json")
    assert decision.target == "/v1.41/containers/json" and type(decision.exchange) is Exchange


def test_the_profile_is_crossed_once() -> None:
    passing = _plan(FLOOR_1_40, "DELETE", "/v1.41/containers/c1").exchange
    assert isinstance(passing, ChainExchange) and passing.changes_crossed() == ["docker25"]
    climbing = _plan(FLOOR_1_44, "DELETE", "/v1.41/containers/c1").exchange
    assert isinstance(climbing, ChainExchange) and "docker25" not in climbing.changes_crossed()


@pytest.mark.parametrize("info", [FLOOR_1_40, FLOOR_1_44, DOCKER_29_3])
def test_requests_at_1_44_and_later_and_other_endpoints_pass_through_untouched(info: Any) -> None:
    for method, path in (("DELETE", "/v1.44/containers/c1"), ("POST", "/v1.45/networks/create"),
                         ("GET", "/v1.44/containers/json")):
        decision = _plan(info, method, path)
        assert decision.target == path and type(decision.exchange) is Exchange, path
