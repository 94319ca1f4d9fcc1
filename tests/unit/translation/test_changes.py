"""The version-change engine: steps, the chain's order, the shipped change files."""
from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from apiproxy.translation import changes
from apiproxy.translation.steps.containers import ports_to_display_string
from apiproxy.translation.steps.registry_auth import encode_registry_header
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.document import ChangeError, Context
from apiproxy.translation.changes import compile_step, run_steps
from apiproxy.api.routes import legacy_routes, match_legacy, modern_routes
from apiproxy.api.versions import Version

CONTEXT = Context("GET", "/x", {}, Version(1, 3), Version(1, 41))


def apply(spec: dict[str, Any], document: Any) -> Any:
    return compile_step(spec)(document, CONTEXT)


def test_move_creates_the_destination_and_skips_what_is_absent() -> None:
    body = {"Memory": 5, "Image": "a"}
    assert apply({"op": "move", "from": "/Memory", "to": "/HostConfig/Memory"}, body) == \
        {"Image": "a", "HostConfig": {"Memory": 5}}
    assert apply({"op": "move", "from": "/Nope", "to": "/X"}, {"a": 1}) == {"a": 1}


def test_at_with_a_wildcard_reaches_every_item() -> None:
    rows = [{"name": "a", "x": 1}, {"name": "b"}]
    assert apply({"op": "move", "at": "/*", "from": "/name", "to": "/Name"}, rows) == \
        [{"Name": "a", "x": 1}, {"Name": "b"}]
    assert apply({"op": "keep", "at": "/*", "keys": ["Name"]}, rows) == [{"Name": "a"}, {"Name": "b"}]


def test_default_set_remove_copy_split_join_strip() -> None:
    assert apply({"op": "default", "path": "/A", "value": 1}, {"A": 2}) == {"A": 2}
    assert apply({"op": "set", "path": "/A", "value": 1}, {"A": 2}) == {"A": 1}
    assert apply({"op": "remove", "paths": ["/A", "/B/C"]}, {"A": 1, "B": {"C": 2, "D": 3}}) == {"B": {"D": 3}}
    assert apply({"op": "copy", "from": "/Id", "to": "/ID"}, {"Id": "x"}) == {"Id": "x", "ID": "x"}
    assert apply({"op": "split", "path": "/V", "separator": ","}, {"V": "a, b,"}) == {"V": ["a", "b"]}
    assert apply({"op": "split", "path": "/V", "separator": ","}, {"V": ""}) == {"V": []}
    assert apply({"op": "join", "path": "/V", "separator": ","}, {"V": ["a", "b"]}) == {"V": "a,b"}
    assert apply({"op": "strip_prefix", "path": "/Id", "prefix": "sha256:"}, {"Id": "sha256:ab"}) == {"Id": "ab"}


def test_call_replaces_each_selected_value() -> None:
    rows = [{"Image": "sha256:1"}, {"Image": "busybox"}, {}]
    assert apply({"op": "call", "function": "strip_sha256", "at": "/*/Image"}, rows) == \
        [{"Image": "1"}, {"Image": "busybox"}, {}]


def test_unknown_ops_and_functions_are_refused_when_compiled() -> None:
    with pytest.raises(ChangeError):
        compile_step({"op": "teleport"})
    with pytest.raises(ChangeError):
        compile_step({"op": "call", "function": "no_such_function"})


KNOWN_ENDPOINTS = {"*"} | {route.key for route in (*legacy_routes(), *modern_routes())}


def test_every_shipped_change_file_compiles_and_describes_each_change() -> None:
    loaded = changes.all_changes()
    assert [str(c.version) for c in loaded] == sorted((str(c.version) for c in loaded),
                                                     key=lambda v: tuple(map(int, v.split("."))))
    for change in loaded:
        for endpoint_change in change.endpoints:
            assert endpoint_change.description.strip(), change.source
            assert endpoint_change.endpoint in KNOWN_ENDPOINTS, f"{change.source}: {endpoint_change.endpoint}"


def test_between_crosses_only_the_versions_above_the_client_up_to_the_target() -> None:
    crossed = [str(c.version) for c, _ in changes.between(Version(1, 4), Version(1, 41), "GET /containers/json")]
    # Ports, sizes left out and no port as [], state words and Command, zero ports left out, zero sizes left
    # out, the error format (the 1.12 change on unpublished ports is crossed only by clients of 1.5 and later)
    assert crossed == ["1.5", "1.9", "1.9", "1.10", "1.10", "1.19", "1.20", "1.24"]  # 1.10: Command and Image, Status
    assert changes.between(Version(1, 5), Version(1, 41), "GET /containers/json")[0][0].version == Version(1, 9)


def _exchange(method: str, path: str, client: str, target: str = "1.41") -> ChainExchange:
    route = match_legacy(method, path)
    assert route is not None
    major, minor = map(int, client.split("."))
    tmajor, tminor = map(int, target.split("."))
    return ChainExchange.build(route, Version(major, minor), Version(tmajor, tminor), path, "docker")


def _through(transform: Any, body: bytes) -> bytes:
    return transform.feed(body) + transform.close()


def test_ports_become_a_string_for_a_1_4_client_and_stay_a_list_for_1_5() -> None:
    modern = b'[{"Id":"a","Image":"sha256:ff","Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},' \
             b'{"IP":"::","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"PrivatePort":22,"Type":"tcp"}]}]'
    old = _exchange("GET", "/containers/json", "1.4")
    assert _through(old.response_body(200, []), modern) == \
        b'[{"Id":"a","Image":"ff","Ports":"8080->80",' \
        b'"SizeRw":0,"SizeRootFs":0}]'
    newer = _exchange("GET", "/containers/json", "1.5")
    assert b'"Ports":[{' in _through(newer.response_body(200, []), modern)


def test_errors_become_plain_text_below_1_24() -> None:
    exchange = _exchange("GET", "/containers/abc/json", "1.9")
    status, headers = exchange.response_head(404, [(b"Content-Type", b"application/json")])
    assert (status, headers) == (404, [(b"Content-Type", b"text/plain; charset=utf-8")])
    assert _through(exchange.response_body(404, headers), b'{"message":"No such container: abc"}\n') == \
        b"No such container: abc\n"


def test_status_changes_replace_the_body() -> None:
    rmi = _exchange("DELETE", "/images/abc", "1.1")
    assert rmi.response_head(200, [])[0] == 204
    kill = _exchange("POST", "/containers/abc/kill", "1.9")
    assert kill.response_head(409, [])[0] == 204
    assert _through(kill.response_body(204, []), b'{"message":"not running"}') == b""


def test_images_list_per_tag_below_1_7() -> None:
    exchange = _exchange("GET", "/images/json", "1.6")
    modern = b'[{"Id":"sha256:aa","RepoTags":["busybox:latest","127.0.0.1:5000/team/bb:v1"],"Created":1,' \
             b'"Size":2,"VirtualSize":2,"ParentId":""},{"Id":"sha256:bb","RepoTags":null}]'
    rows = __import__("json").loads(_through(exchange.response_body(200, []), modern))
    assert [(r["Repository"], r["Tag"], r["Id"]) for r in rows] == [
        ("busybox", "latest", "aa"), ("127.0.0.1:5000/team/bb", "v1", "aa"), ("<none>", "<none>", "bb")]


def test_image_inspect_is_raw_below_1_12() -> None:
    exchange = _exchange("GET", "/images/busybox/json", "1.9")
    raw = __import__("json").loads(_through(exchange.response_body(200, []),
                                            b'{"Id":"sha256:aa","Parent":"","ContainerConfig":{},"DockerVersion":"20",'
                                            b'"Created":"t","Size":3,"Config":{}}'))
    assert raw["id"] == "aa" and raw["container_config"]["Memory"] == 0 and raw["docker_version"] == "20" \
        and "Id" not in raw


def test_attach_is_demultiplexed_below_1_6_unless_the_stream_is_raw() -> None:
    frames = struct.pack(">BxxxL", 1, 3) + b"out" + struct.pack(">BxxxL", 2, 3) + b"err"
    to_client, _ = _exchange("POST", "/containers/abc/attach", "1.5").hijacked_streams()
    assert to_client is not None
    assert b"".join(to_client.feed(frames[i:i + 1]) for i in range(len(frames))) + to_client.close() == b"outerr"
    tty, _ = _exchange("POST", "/containers/abc/attach", "1.5").hijacked_streams()
    assert tty.feed(b"$ ls\r\nbin  etc\r\n") + tty.close() == b"$ ls\r\nbin  etc\r\n"
    assert _exchange("POST", "/containers/abc/attach", "1.6").hijacked_streams() == (None, None)


def test_ports_display_string_matches_the_0_3_to_0_6_1_daemons() -> None:
    assert ports_to_display_string([], CONTEXT) == ""
    assert ports_to_display_string([{"PrivatePort": 53, "Type": "udp"}], CONTEXT) == ""  # exposed only: not shown
    published = [{"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 49154, "Type": "udp"},
                 {"IP": "0.0.0.0", "PrivatePort": 22, "PublicPort": 49153, "Type": "tcp"},
                 {"IP": "::", "PrivatePort": 22, "PublicPort": 49153, "Type": "tcp"}]
    assert ports_to_display_string(published, CONTEXT) == "49153->22, 49154->53/udp"


def test_search_below_1_7_keeps_only_name_and_description() -> None:
    exchange = _exchange("GET", "/images/search", "1.6")
    body = b'[{"name":"a","description":"d","is_official":false,"star_count":3}]'
    assert _through(exchange.response_body(200, []), body) == b'[{"Name":"a","Description":"d"}]'


def test_version_has_memory_and_swap_limits_below_1_2() -> None:
    exchange = _exchange("GET", "/version", "1.1")
    body = __import__("json").loads(_through(exchange.response_body(200, []), b'{"Version":"20.10"}'))
    assert body == {"Version": "20.10", "MemoryLimit": True, "SwapLimit": True}
    assert run_steps([], {"a": 1}, CONTEXT) == {"a": 1}


def test_registry_config_of_1_9_builds_is_unwrapped_for_today() -> None:
    import base64
    import json

    wrapped = base64.urlsafe_b64encode(json.dumps({"configs": {"reg:5000": {"username": "u"}}}).encode())
    exchange = _exchange("POST", "/build", "1.9")
    headers = dict(exchange.request_headers([(b"X-Registry-Config", wrapped)]))
    assert json.loads(base64.urlsafe_b64decode(headers[b"x-registry-config"])) == {"reg:5000": {"username": "u"}}
    single = base64.urlsafe_b64encode(json.dumps({"username": "u", "serveraddress": "reg:5000"}).encode())
    headers = dict(_exchange("POST", "/build", "1.8").request_headers([(b"X-Registry-Auth", single)]))
    assert json.loads(base64.urlsafe_b64decode(headers[b"x-registry-config"])) == \
        {"reg:5000": {"username": "u", "serveraddress": "reg:5000"}}


@pytest.mark.parametrize("target", ["1.12", "1.41"])
def test_a_push_body_of_a_1_7_client_goes_into_x_registry_auth_unless_it_gave_the_header(target: str) -> None:
    credentials = {"username": "u", "password": "p", "email": "", "serveraddress": "https://index.docker.io/v1/"}
    for given, expected in (([], credentials), ([(b"X-Registry-Auth", b"e30")], None)):
        exchange = _exchange("POST", "/images/busybox/push", "1.7", target)
        transform = exchange.request_body([])
        assert transform is not None and _through(transform, json.dumps(credentials).encode()) == b""
        sent = [value for name, value in exchange.request_headers(given) if name.lower() == b"x-registry-auth"]
        assert sent == ([encode_registry_header(expected).encode()] if expected else [b"e30"])


def test_an_untranslatable_entry_needs_its_reason() -> None:
    entry = {"endpoint": "POST /containers/create", "description": "d", "untranslatable": "  "}
    with pytest.raises(ChangeError, match="untranslatable must be a reason"):
        changes._compile_change({"version": "1.42", "changes": [entry]}, "changes/1.42.json")
    loaded = changes._compile_change({"version": "1.42", "changes": [{**entry, "untranslatable": "gone",
                                                                       "client_since": "1.21"}]}, "x/1.42.json")
    assert loaded.endpoints[0].untranslatable == "gone" and loaded.endpoints[0].client_since == Version(1, 21)


def test_a_change_with_client_since_is_crossed_only_by_clients_that_could_ask_it() -> None:
    def lost(client: Version) -> list[str]:
        return [change.untranslatable for _, change in changes.between(client, Version(1, 44), "POST /containers/create")
                if change.untranslatable and "KernelMemory" in change.untranslatable]
    assert lost(Version(1, 30)) and lost(Version(1, 21)) and not lost(Version(1, 20))


def test_container_list_command_as_the_2013_daemons_wrote_it() -> None:
    """0.3-0.8: fmt.Sprintf("%s %s", Path, strings.Join(Args, " ")), unquoted, a space after a bare path."""
    exchange = _exchange("GET", "/containers/json", "1.9")
    body = (b'[{"Id":"a","Command":"true","Image":"busybox"},{"Id":"b","Command":"sh -c \'echo hi; sleep 1\' x"},'
            b'{"Id":"c","Command":"echo it\'s"}]')
    rows = json.loads(_through(exchange.response_body(200, []), body))
    assert [row["Command"] for row in rows] == ["true ", "sh -c echo hi; sleep 1 x", "echo it's"]
    assert rows[0]["Image"] == "busybox:latest"
    old = _exchange("GET", "/containers/json", "1.0")
    assert json.loads(_through(old.response_body(200, []), body))[0]["Command"] == "true "


def test_container_list_image_names_a_tag_as_the_2013_daemons_did() -> None:
    from apiproxy.translation.steps.echoes import listed_image_name
    full = "ab" * 32
    assert [listed_image_name(name, CONTEXT) for name in
            ("busybox", "busybox:1.36", "localhost:5000/team/app", "localhost:5000/app:v2", full, "app@sha256:" + full)] \
        == ["busybox:latest", "busybox:1.36", "localhost:5000/team/app:latest", "localhost:5000/app:v2", full[:12],
            "app@sha256:" + full]


def test_image_configs_get_the_config_fields_of_2013_back() -> None:
    exchange = _exchange("GET", "/images/busybox/json", "1.9")
    body = (b'{"Id":"sha256:' + b"ab" * 32 + b'","Created":"2024-01-01T00:00:00Z","Size":1,'
            b'"ContainerConfig":{"Hostname":"","Cmd":null},"Config":{"Cmd":["sh"]}}')
    raw = json.loads(_through(exchange.response_body(200, []), body))
    for config in (raw["container_config"], raw["config"]):
        assert {key: config[key] for key in ("Memory", "MemorySwap", "CpuShares", "Dns", "VolumesFrom", "PortSpecs")} \
            == {"Memory": 0, "MemorySwap": 0, "CpuShares": 0, "Dns": None, "VolumesFrom": "", "PortSpecs": None}


def test_history_ids_below_1_6_are_short() -> None:
    body = json.dumps([{"Id": "sha256:" + "ab" * 32, "Tags": ["busybox:latest"], "CreatedBy": "x"},
                       {"Id": "<missing>", "Tags": None}]).encode()
    old = json.loads(_through(_exchange("GET", "/images/busybox/history", "1.5").response_body(200, []), body))
    assert [item["Id"] for item in old] == ["ab" * 6, "<missing>"]
    newer = json.loads(_through(_exchange("GET", "/images/busybox/history", "1.6").response_body(200, []), body))
    assert [item["Id"] for item in newer] == ["ab" * 32, "<missing>"]


@pytest.mark.parametrize("message", [
    "You cannot remove a running container 0123abcd. Stop the container before attempting removal or force remove",
    'cannot remove container "/web": container is running: stop the container before removing or force remove',
])
def test_removing_a_running_container_is_refused_in_the_2013_words(message: str) -> None:
    exchange = _exchange("DELETE", "/containers/web", "1.9")
    body = json.dumps({"message": message}).encode()
    status, _ = exchange.response_head(409, [], body)
    assert status == 500
    assert _through(exchange.response_body(500, []), body) == \
        b"Impossible to remove a running container, please stop it first\n"


def test_rmi_names_short_ids_below_1_7() -> None:
    body = json.dumps([{"Untagged": "busybox:latest"}, {"Deleted": "sha256:" + "ab" * 32}]).encode()
    old = json.loads(_through(_exchange("DELETE", "/images/busybox", "1.6").response_body(200, []), body))
    newer = json.loads(_through(_exchange("DELETE", "/images/busybox", "1.7").response_body(200, []), body))
    assert old[1] == {"Deleted": "ab" * 6} and newer[1] == {"Deleted": "ab" * 32}
