"""apiproxy.routes, .routing and .upstream: which endpoint, which version, which target."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from apiproxy.api import routes
from apiproxy.api.datafiles import load_json
from apiproxy.translation import changes
from apiproxy.translation.advertise import ADVERTISING, Advertising
from apiproxy.translation.routing import Forward, Refuse, Settings, address, plan
from apiproxy.api.upstream_info import (TargetChoice, UpstreamInfo, advertised_version, choose_target, newest_known,
                                        parse_upstream_info)
from apiproxy.api.versions import Version, parse_version

ENDPOINTS: list[dict[str, Any]] = load_json("endpoints.json")["endpoints"]
LEGACY_DEFAULT = Settings(unversioned_version=Version(1, 9))


def docker_version(api: str, minimum: str | None, version: str = "20.10.24") -> dict[str, Any]:
    """A dockerd `GET /version` answer."""
    body: dict[str, Any] = {"Version": version, "ApiVersion": api, "Os": "linux",
                            "Components": [{"Name": "Engine", "Version": version}]}
    if minimum is not None:
        body["MinAPIVersion"] = minimum
    return body


DOCKER_20_10 = parse_upstream_info(docker_version("1.41", "1.12"))
DOCKER_26 = parse_upstream_info(docker_version("1.45", "1.24", "26.1.0"))
DOCKER_28 = parse_upstream_info(docker_version("1.50", "1.24", "28.3.0"))
PODMAN = parse_upstream_info({"Version": "4.9.3", "ApiVersion": "1.41", "MinAPIVersion": "1.24",
                              "Components": [{"Name": "Podman Engine", "Version": "4.9.3"}]})
DOCKER_2013 = parse_upstream_info({"Version": "0.7.0", "ApiVersion": "1.7", "GoVersion": "go1.2"})


def example_path(template: str) -> str:
    return template.replace("{id}", "4fa6e0f0c678").replace("{name}", "127.0.0.1:5000/team/app")


# routes -----------------------------------------------------------------------

@pytest.mark.parametrize("entry", ENDPOINTS, ids=lambda entry: f"{entry['method']} {entry['path']}")
def test_every_legacy_endpoint_matches_itself(entry: dict[str, Any]) -> None:
    for path in (example_path(entry["path"]), example_path(entry["path"]) + "/"):
        route = routes.match_legacy(entry["method"], path)
        assert route is not None
        assert (route.method, route.template, route.group) == (entry["method"], entry["path"], entry["group"])
        assert route.since == parse_version(entry["since"]) and route.until == parse_version(entry["until"])
        assert route.websocket == entry.get("websocket", False)


@pytest.mark.parametrize(("method", "path", "template"), [
    ("GET", "/images/json", "/images/json"),  # the list, not image "json"
    ("GET", "/images/search", "/images/search"),
    ("GET", "/images/viz", "/images/viz"),
    ("POST", "/images/create", "/images/create"),
    ("POST", "/images/load", "/images/load"),
    ("GET", "/containers/json", "/containers/json"),
    ("GET", "/images/json/json", "/images/{name}/json"),
    ("GET", "/images/ubuntu/json", "/images/{name}/json"),
    ("POST", "/images/127.0.0.1:5000/team/app/push", "/images/{name}/push"),
    ("POST", "/images/registry:5000/app/tag", "/images/{name}/tag"),
    ("DELETE", "/images/127.0.0.1:5000/team/app", "/images/{name}"),
    ("GET", "/containers/4fa6e0f0c678/attach/ws", "/containers/{id}/attach/ws"),
    ("DELETE", "/containers/4fa6e0f0c678", "/containers/{id}"),
])
def test_match_legacy_prefers_static_paths_and_allows_slashes_in_image_names(
        method: str, path: str, template: str) -> None:
    route = routes.match_legacy(method, path)
    assert route is not None and route.template == template


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/images/json"),  # wrong method
    ("GET", "/containers/a/b/json"),  # a container id has no slash
    ("DELETE", "/containers/a/b/c"),  # a link name is /parent/alias, one slash
    ("GET", "/containers/x/logs"),  # later APIs
    ("GET", "/networks"),
    ("GET", "/_ping"),
    ("GET", "/"),
    ("GET", "/info/extra"),
    ("GET", "/v1.9/info"),  # the prefix is split off before matching
])
def test_match_legacy_knows_only_2013_endpoints(method: str, path: str) -> None:
    assert routes.match_legacy(method, path) is None


def test_route_exists_in_its_version_range() -> None:
    viz = routes.match_legacy("GET", "/images/viz")
    assert viz is not None
    assert viz.exists_in(Version(1, 0)) and viz.exists_in(Version(1, 6))
    assert not viz.exists_in(Version(1, 7))


@pytest.mark.parametrize(("method", "path", "hijack"), [
    ("POST", "/containers/abc/attach", True),
    ("POST", "/v1.9/containers/abc/attach", True),
    ("POST", "/v1.000000/containers/abc/attach/", True),
    ("POST", "/v1.41/exec/abc/start", True),
    ("POST", "/exec/abc/start", True),
    ("GET", "/containers/abc/attach", False),
    ("GET", "/containers/abc/attach/ws", False),
    ("POST", "/containers/abc/start", False),
    ("POST", "/containers/a/b/attach", False),
    ("POST", "/v1.9/containers/abc/attachx", False),
])
def test_is_hijack_endpoint(method: str, path: str, hijack: bool) -> None:
    assert routes.is_hijack_endpoint(method, path) is hijack


# routing.address --------------------------------------------------------------

def test_address_reads_the_prefix_and_the_endpoint() -> None:
    addressed = address("GET", "/v1.9/images/json", LEGACY_DEFAULT)
    assert (addressed.version, addressed.path, addressed.prefixed) == (Version(1, 9), "/images/json", True)
    assert addressed.route is not None and addressed.route.template == "/images/json"


def test_address_gives_a_bare_legacy_endpoint_the_unversioned_version() -> None:
    addressed = address("GET", "/info", Settings(Version(1, 4)))
    assert (addressed.version, addressed.path, addressed.prefixed) == (Version(1, 4), "/info", False)
    assert addressed.route is not None


@pytest.mark.parametrize("path", ["/_ping", "/networks", "/containers/x/archive", "/v4.0.0/libpod/info"])
def test_address_leaves_other_bare_paths_uninterpreted(path: str) -> None:
    assert address("GET", path, LEGACY_DEFAULT).version is None


# routing.plan -----------------------------------------------------------------

def plan_for(method: str, target: str, info: UpstreamInfo = DOCKER_20_10,
             configured: Version | None = None, settings: Settings = LEGACY_DEFAULT) -> Forward | Refuse:
    return plan(method, target, info, choose_target(info, configured), settings)


@pytest.mark.parametrize(("method", "target", "upstream_target", "client_version"), [
    ("GET", "/v1.9/containers/json?all=1&size=0", "/v1.41/containers/json?all=1&size=0", Version(1, 9)),
    ("GET", "/v1.9/x?a=b", "/v1.41/x?a=b", Version(1, 9)),
    ("GET", "/v1.000000/version", "/v1.41/version", Version(1, 0)),
    ("GET", "/v1.9", "/v1.41/", Version(1, 9)),
    ("POST", "/v1.4/images/127.0.0.1:5000/team/app/push?tag=1", "/v1.41/images/127.0.0.1:5000/team/app/push?tag=1",
     Version(1, 4)),
    ("GET", "/containers/json?all=1", "/v1.41/containers/json?all=1", Version(1, 9)),
    ("GET", "/version", "/v1.41/version", Version(1, 9)),
    ("GET", "/_ping", "/_ping", None),
    ("HEAD", "/_ping", "/_ping", None),
    ("GET", "/containers/x/archive?path=/etc", "/containers/x/archive?path=/etc", None),
    ("GET", "/networks", "/networks", None),
    ("GET", "/vfoo/x", "/vfoo/x", None),
    ("GET", "/v4.0.0/libpod/info", "/v4.0.0/libpod/info", None),
    ("GET", "/v1.24/info", "/v1.24/info", Version(1, 24)),
    ("GET", "/v1.41/containers/json?all=1", "/v1.41/containers/json?all=1", Version(1, 41)),
    ("GET", "/v1.11/info", "/v1.12/info", Version(1, 11)),  # below the floor: climbs to it
    ("GET", "/v1.11/networks?x=1", "/v1.12/networks?x=1", Version(1, 11)),
])
def test_plan_forwards(method: str, target: str, upstream_target: str, client_version: Version | None) -> None:
    decision = plan_for(method, target)
    assert isinstance(decision, Forward)
    assert decision.target == upstream_target
    assert decision.exchange.client_version == client_version


def test_plan_translates_legacy_requests_to_the_target() -> None:
    decision = plan_for("GET", "/v1.9/images/json")
    assert isinstance(decision, Forward)
    exchange = decision.exchange
    assert (exchange.client_version, exchange.target, exchange.translated) == (Version(1, 9), Version(1, 41), True)
    assert exchange.route is not None and exchange.route.template == "/images/json"


def test_plan_passes_modern_and_bare_requests_through_untranslated() -> None:
    for target in ("/v1.24/info", "/_ping"):
        decision = plan_for("GET", target)
        assert isinstance(decision, Forward) and not decision.exchange.translated


@pytest.mark.parametrize(("query", "emulated"), [
    ("all=1", False), ("", False), ("since=", False), ("since=abc", True), ("before=abc&all=1", True)])
def test_plan_emulates_since_and_before_only_when_given(query: str, emulated: bool) -> None:
    decision = plan_for("GET", f"/v1.9/containers/json?{query}")
    assert isinstance(decision, Forward)
    assert (decision.exchange.emulation() is not None) == emulated  # type: ignore[attr-defined]


def test_plan_sends_a_modern_unversioned_version_explicitly() -> None:
    decision = plan_for("GET", "/info?x=1", settings=Settings(Version(1, 24)))
    assert isinstance(decision, Forward) and decision.target == "/v1.24/info?x=1"


def test_plan_refuses_a_version_above_the_daemons() -> None:
    assert plan_for("GET", "/v1.50/info") == Refuse(
        400, "client version 1.50 is too new. Maximum supported API version is 1.41", Version(1, 50))


def test_plan_refuses_legacy_requests_when_the_configured_target_is_out_of_range() -> None:
    decision = plan_for("GET", "/v1.9/info", configured=Version(1, 45))
    assert isinstance(decision, Refuse)
    assert (decision.status, decision.client_version) == (502, Version(1, 9))
    assert "1.45" in decision.message and "1.12–1.41" in decision.message
    assert decision.message.startswith("apiproxy cannot serve API 1.9 requests: ")


def test_plan_forwards_at_a_configured_target_in_range() -> None:
    decision = plan_for("GET", "/v1.9/info", configured=Version(1, 24))
    assert isinstance(decision, Forward) and decision.target == "/v1.24/info"


def test_plan_forwards_to_podman_at_its_own_version() -> None:
    decision = plan_for("GET", "/v1.7/containers/json", info=PODMAN)
    assert isinstance(decision, Forward) and decision.target == "/v1.41/containers/json"


# upstream ---------------------------------------------------------------------

def test_parse_upstream_info_reads_dockerd() -> None:
    assert DOCKER_20_10 == UpstreamInfo("docker", "20.10.24", Version(1, 41), Version(1, 12))
    assert DOCKER_20_10.describe() == "docker 20.10.24 (API 1.12–1.41)"


def test_parse_upstream_info_recognises_podman() -> None:
    assert (PODMAN.kind, PODMAN.api_version, PODMAN.min_api_version) == ("podman", Version(1, 41), Version(1, 24))


def test_parse_upstream_info_tolerates_missing_and_malformed_fields() -> None:
    info = parse_upstream_info({"ApiVersion": "one", "Components": [None, "x", {"Version": 1}]})
    assert info == UpstreamInfo("docker", "unknown", None, None)
    assert info.describe() == "docker unknown (API unknown)"


@pytest.mark.parametrize(("info", "expected"), [
    (DOCKER_20_10, TargetChoice(Version(1, 41))),
    (DOCKER_26, TargetChoice(Version(1, 45))),
    (DOCKER_28, TargetChoice(Version(1, 45))),  # the highest apiproxy can translate to
    (PODMAN, TargetChoice(Version(1, 41))),
    (DOCKER_2013, TargetChoice(Version(1, 7))),
    (parse_upstream_info(docker_version("1.24", None, "1.12.6")), TargetChoice(Version(1, 24))),
])
def test_choose_target_automatically(info: UpstreamInfo, expected: TargetChoice) -> None:
    assert choose_target(info, None) == expected


def test_choose_target_takes_podmans_own_version_even_if_untranslatable() -> None:
    podman = parse_upstream_info({"ApiVersion": "1.43", "MinAPIVersion": "1.24",
                                  "Components": [{"Name": "Podman Engine"}]})
    assert podman.kind == "podman" and choose_target(podman, None) == TargetChoice(Version(1, 43))


def test_choose_target_reports_a_range_it_reaches_nothing_in() -> None:
    choice = choose_target(parse_upstream_info(docker_version("1.50", "1.46")), None)
    assert choice.version is None
    assert choice.problem is not None and "1.46–1.50" in choice.problem


def test_choose_target_reports_a_daemon_that_does_not_say_its_version() -> None:
    choice = choose_target(parse_upstream_info({"Version": "0.4.0"}), None)
    assert choice.version is None and choice.problem is not None


@pytest.mark.parametrize(("configured", "version"), [("1.12", Version(1, 12)), ("1.41", Version(1, 41)),
                                                     ("1.24", Version(1, 24))])
def test_choose_target_takes_a_configured_version_in_range(configured: str, version: Version) -> None:
    assert choose_target(DOCKER_20_10, parse_version(configured)) == TargetChoice(version)


@pytest.mark.parametrize("configured", ["1.11", "1.42", "1.9"])
def test_choose_target_refuses_a_configured_version_out_of_range(configured: str) -> None:
    choice = choose_target(DOCKER_20_10, parse_version(configured))
    assert choice.version is None and choice.problem is not None
    assert re.search(rf"\b{re.escape(configured)}\b.*\(1\.12–1\.41\)", choice.problem)


# Modern clients below the daemon's floor ---------------------------------------

DOCKER_29 = parse_upstream_info(docker_version("1.52", "1.44", "29.0.0"))


@pytest.mark.parametrize(("info", "client", "sent"), [
    (DOCKER_29, "1.41", "/v1.44/containers/json?all=1"),  # Docker 29.0's floor
    (DOCKER_29, "1.24", "/v1.44/containers/json?all=1"),
    (DOCKER_26, "1.12", "/v1.24/containers/json?all=1"),
    (DOCKER_26, "1.23", "/v1.24/containers/json?all=1"),
    (PODMAN, "1.24", "/v1.41/containers/json?all=1"),  # Podman answers as its own version whatever the path
])
def test_a_modern_client_below_the_floor_climbs_to_exactly_the_floor(info: UpstreamInfo, client: str,
                                                                      sent: str) -> None:
    decision = plan_for("GET", f"/v{client}/containers/json?all=1", info=info)
    assert isinstance(decision, Forward)
    assert decision.target == sent
    assert decision.exchange.client_version == parse_version(client)
    assert decision.exchange.target == parse_version(sent[2:6])


@pytest.mark.parametrize(("info", "client"), [(DOCKER_29, "1.44"), (DOCKER_29, "1.50"), (DOCKER_26, "1.24"),
                                              (DOCKER_20_10, "1.12"), (PODMAN, "1.41")])
def test_a_modern_client_the_daemon_accepts_passes_untouched(info: UpstreamInfo, client: str) -> None:
    decision = plan_for("GET", f"/v{client}/containers/json?all=1", info=info)
    assert isinstance(decision, Forward)
    assert decision.target == f"/v{client}/containers/json?all=1"
    assert not decision.exchange.translated


def test_an_endpoint_apiproxy_has_no_route_for_climbs_untranslated() -> None:
    decision = plan_for("GET", "/v1.41/plugins/x/unknown", info=DOCKER_29)
    assert isinstance(decision, Forward)
    assert decision.target == "/v1.44/plugins/x/unknown"
    assert decision.exchange.route is None


def test_a_climbing_client_crosses_the_changes_of_its_endpoint_and_no_profile() -> None:
    decision = plan_for("GET", "/v1.41/images/json", info=DOCKER_29)
    assert isinstance(decision, Forward)
    assert decision.exchange.changes_crossed() == ["1.42", "1.43", "1.44"]


# advertised version -------------------------------------------------------------

AUTO = Settings(unversioned_version=None)
DOCKER_29 = parse_upstream_info(docker_version("1.52", "1.44", "29.0.0"))


@pytest.mark.parametrize(("info", "pinned", "advertised"), [
    (DOCKER_20_10, None, Version(1, 41)),  # the daemon's own, below the newest known
    (DOCKER_29, None, Version(1, 51)),  # capped at the newest known
    (DOCKER_29, Version(1, 41), Version(1, 41)),
    (DOCKER_20_10, Version(1, 44), Version(1, 41)),  # never above the daemon's own
    (PODMAN, None, Version(1, 41)),
    (parse_upstream_info({"Version": "0.5.3"}), None, None),
])
def test_advertised_version(info: UpstreamInfo, pinned: Version | None, advertised: Version | None) -> None:
    assert advertised_version(info, pinned) == advertised


def test_newest_known_is_at_least_the_newest_change() -> None:
    assert newest_known() >= max(change.version for change in changes.all_changes())


def test_no_modern_change_touches_version_or_ping() -> None:
    # routing replaces a climbing client's /version and /_ping exchange with Advertising.
    touched = [(change.version, endpoint.endpoint) for change in changes.all_changes()
               for endpoint in change.endpoints if change.version >= Version(1, 10)
               and endpoint.endpoint in {f"{method} {path}" for method, path in ADVERTISING}]
    assert touched == []


def test_address_reads_a_bare_path_at_the_advertised_version_under_auto() -> None:
    assert address("GET", "/containers/json", AUTO, DOCKER_29).version == Version(1, 51)
    assert address("GET", "/containers/json", Settings(None, Version(1, 41)), DOCKER_29).version == Version(1, 41)
    assert address("GET", "/containers/json", AUTO).version is None  # the daemon not read yet
    assert address("GET", "/networks", AUTO, DOCKER_29).version is None


@pytest.mark.parametrize(("info", "settings", "upstream_target", "translated"), [
    (DOCKER_20_10, AUTO, "/v1.41/containers/json?all=1", False),
    (DOCKER_29, AUTO, "/v1.51/containers/json?all=1", False),  # the daemon serves 1.51 itself
    (PODMAN, AUTO, "/v1.41/containers/json?all=1", False),
    (DOCKER_29, Settings(None, Version(1, 41)), "/v1.44/containers/json?all=1", True),  # below the floor: climbs
    (DOCKER_2013, AUTO, "/v1.7/containers/json?all=1", False),  # a 2013 daemon answers bare paths as its own
    (DOCKER_29, LEGACY_DEFAULT, "/v1.45/containers/json?all=1", True),  # 1.9 configured: the 2013 shapes
])
def test_plan_of_a_bare_path(info: UpstreamInfo, settings: Settings, upstream_target: str, translated: bool) -> None:
    decision = plan_for("GET", "/containers/json?all=1", info, settings=settings)
    assert isinstance(decision, Forward), decision
    assert (decision.target, decision.exchange.translated) == (upstream_target, translated)


@pytest.mark.parametrize(("method", "target", "settings", "upstream_target"), [
    ("GET", "/version", AUTO, "/v1.51/version"),
    ("GET", "/v1.45/version", LEGACY_DEFAULT, "/v1.45/version"),
    ("GET", "/v1.41/version", LEGACY_DEFAULT, "/v1.44/version"),  # climbing to the floor
    ("GET", "/_ping", LEGACY_DEFAULT, "/_ping"),
    ("HEAD", "/_ping", AUTO, "/_ping"),
    ("HEAD", "/v1.50/_ping", AUTO, "/v1.50/_ping"),
])
def test_plan_advertises_to_modern_and_unversioned_clients(method: str, target: str, settings: Settings,
                                                            upstream_target: str) -> None:
    decision = plan_for(method, target, DOCKER_29, settings=settings)
    assert isinstance(decision, Forward) and isinstance(decision.exchange, Advertising)
    assert (decision.target, decision.exchange.advertised) == (upstream_target, Version(1, 51))


@pytest.mark.parametrize(("target", "settings"), [
    ("/v1.9/version", AUTO), ("/version", LEGACY_DEFAULT), ("/v1.0/version", AUTO), ("/v1.9/_ping", AUTO),
    ("/v4.0.0/libpod/_ping", AUTO), ("/v1.45/info", AUTO)])
def test_plan_leaves_legacy_clients_and_other_endpoints_alone(target: str, settings: Settings) -> None:
    decision = plan_for("GET", target, DOCKER_29, settings=settings)
    assert isinstance(decision, Forward) and not isinstance(decision.exchange, Advertising)


def _answer(exchange: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[Any, Any]:
    status, headers = exchange.response_head(status, headers)
    transform = exchange.response_body(status, headers)
    return headers, json.loads(transform.feed(body) + transform.close()) if transform else None


def test_advertising_rewrites_only_the_two_versions_of_version() -> None:
    decision = plan_for("GET", "/version", PODMAN, settings=AUTO)
    assert isinstance(decision, Forward)
    podman = {"Platform": {"Name": "linux/amd64"}, "Version": "4.3.1", "ApiVersion": "1.41", "MinAPIVersion": "1.24",
              "Components": [{"Name": "Podman Engine", "Version": "4.3.1",
                              "Details": {"APIVersion": "4.3.1", "MinAPIVersion": "4.0.0"}}]}
    headers, body = _answer(decision.exchange, 200, [(b"Content-Type", b"application/json")],
                            json.dumps(podman).encode())
    assert body == {**podman, "ApiVersion": "1.41", "MinAPIVersion": "1.0"}
    assert list(body) == list(podman)  # in the daemon's order


def test_advertising_caps_pings_api_version_header() -> None:
    decision = plan_for("HEAD", "/_ping", DOCKER_29, settings=AUTO)
    assert isinstance(decision, Forward)
    upstream = [(b"Api-Version", b"1.52"), (b"Docker-Experimental", b"false"), (b"Content-Length", b"2")]
    headers, body = _answer(decision.exchange, 200, upstream, b"OK")
    assert sorted(headers) == sorted([(b"API-Version", b"1.51"), (b"Docker-Experimental", b"false"),
                                      (b"Content-Length", b"2")])
    assert body is None


def test_advertising_leaves_errors_alone() -> None:
    decision = plan_for("GET", "/version", DOCKER_29, settings=AUTO)
    assert isinstance(decision, Forward)
    assert decision.exchange.response_body(500, []) is None
