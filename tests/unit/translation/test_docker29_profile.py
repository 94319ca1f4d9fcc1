"""The docker29 profile (schemas/upstreams/docker29.json): which daemons get it, which requests it touches."""
from __future__ import annotations

import json
from typing import Any

import pytest

from apiproxy.api.datafiles import load_json
from apiproxy.api.upstream_info import choose_release, choose_target, parse_upstream_info
from apiproxy.api.versions import Version, parse_version
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.changes import release_ceiling
from apiproxy.translation.steps.kernel_memory import KERNEL_MEMORY_DISCARDED
from apiproxy.translation.exchange import Exchange
from apiproxy.translation.routing import Forward, Settings, plan

SETTINGS = Settings(unversioned_version=Version(1, 9))


def _version(version: str, api: str, minimum: str, engine: str = "Engine") -> dict[str, Any]:
    return {"Version": version, "ApiVersion": api, "MinAPIVersion": minimum,
            "Components": [{"Name": engine, "Version": version}]}


DOCKER_29_1 = parse_upstream_info(_version("29.1.3", "1.52", "1.44"))
DOCKER_29_0_LOW_FLOOR = parse_upstream_info(_version("29.0.0", "1.52", "1.24"))  # DOCKER_MIN_API_VERSION=1.24
DOCKER_29_3 = parse_upstream_info(_version("29.3.0", "1.54", "1.40"))
DOCKER_28 = parse_upstream_info(_version("28.5.2", "1.51", "1.44"))


@pytest.mark.parametrize("version, api, kind, expected", [
    ("29.0.0", "1.52", "Engine", "docker29"),
    ("29.1.3", "1.52", "Engine", "docker29"),
    ("29.3.0-rc.1", "1.54", "Engine", "docker29"),
    ("30.0.0", "1.56", "Engine", "docker29"),
    ("28.5.2", "1.51", "Engine", "docker25"),  # what Docker 25 changed at every version (docker25.json)
    ("25.0.0", "1.44", "Engine", "docker25"),
    ("24.0.9", "1.43", "Engine", None),
    ("20.10.24+dfsg1", "1.41", "Engine", None),
    ("1.13.1", "1.26", "Engine", None),
    ("0.7.0", "1.7", "Engine", None),
    ("dev", "1.52", "Engine", "docker29"),  # a build naming no release: placed by its ApiVersion
    ("dev", "1.51", "Engine", "docker25"),
    ("dev", "1.43", "Engine", None),
    ("29.0.0", "1.52", "Podman Engine", None),  # Podman never, whatever it calls itself
    ("5.4.0", "1.41", "Podman Engine", None),
])
def test_the_profile_is_chosen_by_the_daemons_release(version: str, api: str, kind: str,
                                                      expected: str | None) -> None:
    assert parse_upstream_info(_version(version, api, "1.24", kind)).release == expected


def test_the_release_needs_a_docker_kind() -> None:
    assert choose_release("podman", "29.1.0", Version(1, 52)) is None
    assert choose_release("docker", "v29.1.0", None) == "docker29"


def _plan(info: Any, path: str) -> Forward:
    decision = plan("GET", path, info, choose_target(info, None), SETTINGS)
    assert isinstance(decision, Forward)
    return decision


def _body(exchange: Exchange, document: Any) -> Any:
    transform = exchange.response_body(200, [])
    assert transform is not None
    return json.loads(transform.feed(json.dumps(document).encode()) + transform.close())


INSPECT = {"Id": "c" * 64, "Config": {"Image": "busybox"},
           "NetworkSettings": {"SandboxID": "s", "SandboxKey": "/var/run/docker/netns/x", "Ports": {},
                               "Networks": {"none": {"NetworkID": "n"}}}}


@pytest.mark.parametrize("client", ["1.44", "1.45", "1.51"])
def test_a_modern_client_in_the_daemons_range_gets_the_dropped_fields(client: str) -> None:
    decision = _plan(DOCKER_29_1, f"/v{client}/containers/abc/json?size=1")
    assert decision.target == f"/v{client}/containers/abc/json?size=1"
    assert isinstance(decision.exchange, ChainExchange)
    assert decision.exchange.changes_crossed() == ["docker29"]
    settings = _body(decision.exchange, INSPECT)["NetworkSettings"]
    assert {key: settings[key] for key in ("Bridge", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen",
                                           "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID",
                                           "IPAddress", "IPPrefixLen", "MacAddress")} == {
        "Bridge": "", "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "", "IPAddress": "",
        "IPPrefixLen": 0, "MacAddress": ""}
    assert settings["Networks"] == {"none": {"NetworkID": "n"}}


def test_clients_at_1_52_and_later_pass_through_untouched() -> None:
    for path in ("/v1.52/containers/abc/json", "/v1.52/info", "/v1.52/system/df"):
        decision = _plan(DOCKER_29_1, path)
        assert decision.target == path and type(decision.exchange) is Exchange


def test_a_modern_client_pays_nothing_new_on_other_daemons_and_elsewhere() -> None:
    for info in (DOCKER_28, parse_upstream_info(_version("26.1.5", "1.45", "1.24"))):
        decision = _plan(info, "/v1.45/containers/abc/json")
        assert type(decision.exchange) is Exchange
    # an endpoint Docker 29 lost nothing of passes through on Docker 29 too
    decision = _plan(DOCKER_29_1, "/v1.44/containers/json?all=1")
    assert decision.target == "/v1.44/containers/json?all=1" and type(decision.exchange) is Exchange
    # and so does an endpoint that lost nothing at the client's version (VirtualSize: below 1.44)
    assert type(_plan(DOCKER_29_1, "/v1.44/images/json").exchange) is Exchange


def test_a_climbing_client_gets_the_chain_and_the_profile() -> None:
    decision = _plan(DOCKER_29_1, "/v1.41/images/json")
    assert decision.target == "/v1.44/images/json"
    assert isinstance(decision.exchange, ChainExchange)
    # VirtualSize comes from the 1.44 change; the profile's copy is for requests sent below 1.44
    listed = _body(decision.exchange, [{"Id": "sha256:" + "a" * 64, "RepoTags": [], "Size": 7}])
    assert listed[0]["VirtualSize"] == 7 and listed[0]["RepoTags"] == ["<none>:<none>"]
    inspect = _plan(DOCKER_29_1, "/v1.41/containers/abc/json")
    assert isinstance(inspect.exchange, ChainExchange) and "docker29" in inspect.exchange.changes_crossed()
    assert _body(inspect.exchange, INSPECT)["NetworkSettings"]["HairpinMode"] is False


def test_a_legacy_client_gets_the_chain_the_kind_and_the_release() -> None:
    decision = _plan(DOCKER_29_1, "/v1.9/containers/abc/json")
    assert isinstance(decision.exchange, ChainExchange)
    assert decision.exchange.changes_crossed()[-2:] == ["all", "docker29"]


def test_below_a_lowered_floor_each_dropped_shape_comes_back_at_its_own_versions() -> None:
    """Docker 29.0 with DOCKER_MIN_API_VERSION=1.24 serves 1.24 clients itself, without their shapes."""
    info = {"SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"], "KernelVersion": "",
            "OperatingSystem": "Debian"}
    old = _body(_plan(DOCKER_29_0_LOW_FLOOR, "/v1.24/info").exchange, info)
    assert old["SecurityOptions"] == ["seccomp", "cgroupns"] and old["KernelVersion"] == "<unknown>"
    mid = _body(_plan(DOCKER_29_0_LOW_FLOOR, "/v1.30/info").exchange, info)
    assert mid["SecurityOptions"] == info["SecurityOptions"] and mid["KernelVersion"] == "<unknown>"
    assert type(_plan(DOCKER_29_0_LOW_FLOOR, "/v1.39/info").exchange) is Exchange

    usage = {"LayersSize": 5, "Images": [{"Id": "sha256:x", "Size": 5}], "Containers": [], "Volumes": [],
             "BuildCache": [{"ID": "b1", " Parents": ["b0"], "Size": 3}, {"ID": "b0", "Size": 4}]}
    df = _body(_plan(DOCKER_29_0_LOW_FLOOR, "/v1.41/system/df").exchange, json.loads(json.dumps(usage)))
    assert df["BuilderSize"] == 7 and df["Images"][0]["VirtualSize"] == 5
    assert [(item["Parent"], " Parents" in item) for item in df["BuildCache"]] == [("b0", False), ("", False)]
    images = _body(_plan(DOCKER_29_0_LOW_FLOOR, "/v1.43/images/json").exchange, [{"Id": "x", "Size": 9}])
    assert images == [{"Id": "x", "Size": 9, "VirtualSize": 9}]


def test_virtual_size_is_left_to_docker_29_3_which_gave_it_back() -> None:
    assert type(_plan(DOCKER_29_3, "/v1.41/images/json").exchange) is Exchange
    df = _body(_plan(DOCKER_29_3, "/v1.41/system/df").exchange,
               {"LayersSize": 1, "Images": [{"Id": "x", "Size": 1, "VirtualSize": 1}]})
    assert df["Images"] == [{"Id": "x", "Size": 1, "VirtualSize": 1}] and df["BuilderSize"] == 0


def test_system_df_keeps_the_lists_docker_28_always_sent() -> None:
    df = _body(_plan(DOCKER_29_1, "/v1.45/system/df?type=image").exchange, {"Images": []})
    assert df == {"Images": [], "LayersSize": 0, "Containers": None, "Volumes": None, "BuildCache": None}


def test_every_entry_names_the_versions_it_restores() -> None:
    data = load_json("upstreams/docker29.json")
    assert all(parse_version(entry["below"]) <= Version(1, 52) for entry in data["changes"])


def test_a_kernel_memory_limit_is_answered_with_docker_28s_warning() -> None:
    decision = plan("POST", "/v1.41/containers/create?name=x", DOCKER_29_3, choose_target(DOCKER_29_3, None), SETTINGS)
    assert isinstance(decision, Forward) and isinstance(decision.exchange, ChainExchange)
    assert decision.target == "/v1.41/containers/create?name=x"
    request = decision.exchange.request_body([])
    assert request is not None
    sent = json.loads(request.feed(b'{"Image": "busybox", "HostConfig": {"KernelMemory": 8388608}}') + request.close())
    assert sent["HostConfig"]["KernelMemory"] == 8388608  # the daemon ignores it; apiproxy says so
    created = _body(decision.exchange, {"Id": "c" * 64, "Warnings": []})
    assert created["Warnings"] == [KERNEL_MEMORY_DISCARDED]
    quiet = plan("POST", "/v1.41/containers/create", DOCKER_29_3, choose_target(DOCKER_29_3, None), SETTINGS)
    assert isinstance(quiet, Forward) and isinstance(quiet.exchange, ChainExchange)
    body = quiet.exchange.request_body([])
    assert body is not None
    body.feed(b'{"Image": "busybox", "HostConfig": {"Memory": 8388608}}')
    body.close()
    assert _body(quiet.exchange, {"Id": "c" * 64, "Warnings": None})["Warnings"] is None
    climbing = plan("POST", "/v1.39/containers/create", DOCKER_29_3, choose_target(DOCKER_29_3, None), SETTINGS)
    assert isinstance(climbing, Forward) and isinstance(climbing.exchange, ChainExchange)
    limited = climbing.exchange.request_body([])
    assert limited is not None
    limited.feed(b'{"Image": "busybox", "HostConfig": {"KernelMemory": 8388608}}')
    limited.close()
    assert _body(climbing.exchange, {"Id": "c" * 64, "Warnings": []})["Warnings"] == [KERNEL_MEMORY_DISCARDED]  # once
    at_floor = plan("POST", "/v1.42/containers/create", DOCKER_29_3, choose_target(DOCKER_29_3, None), SETTINGS)
    assert isinstance(at_floor, Forward) and type(at_floor.exchange) is Exchange


def test_the_profile_says_from_which_version_it_restores_nothing() -> None:
    assert release_ceiling("docker29") == Version(1, 52)
    assert release_ceiling("no-such-release") is None
