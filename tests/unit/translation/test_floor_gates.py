"""Gates of API 1.18-1.44 a modern client (1.10 on) crosses climbing to a daemon's floor: headers, statuses,
emulations and the create checks (moby v28.5.2's router gates; v20.10's for those Docker 26 dropped)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from climbing import climb, sent_body

from apiproxy.api.versions import Version
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.document import Context
from apiproxy.translation.emulations.attach import attach_websocket, attach_websocket_every_stream
from apiproxy.translation.emulations.commands import Answer, Call, LegacyRequest, Pass, Reply, WebSocket
from apiproxy.translation.emulations.containers import create_knowing_cgroup_version
from apiproxy.translation.emulations.networks import networks_with_containers
from apiproxy.translation.memory import Memory
from apiproxy.translation.steps.gates import network_totals
from apiproxy.translation.transforms import TranslationError

JSON = [(b"Content-Type", b"application/json")]
MUX = b"application/vnd.docker.multiplexed-stream"
RAW = b"application/vnd.docker.raw-stream"






def sent_query(exchange: ChainExchange, path: str, query: str) -> str:
    return exchange.request_target(path, query).partition("?")[2]


def run(emulation: Any, answers: dict[str, Answer]) -> tuple[list[Call], Any]:
    calls: list[Call] = []
    answer = None
    try:
        while True:
            step = emulation.send(answer) if calls else next(emulation)
            calls.append(step)
            answer = answers.get(f"{step.method} {step.path}")
    except StopIteration as stop:
        return calls, stop.value


@pytest.mark.parametrize(("method", "path"), [("POST", "/containers/c1/attach"), ("POST", "/exec/e1/start"),
                                              ("GET", "/containers/c1/logs")])
def test_multiplexed_streams_are_labelled_raw_below_1_42(method: str, path: str) -> None:
    headers = [(b"Content-Type", MUX), (b"Connection", b"Upgrade"), (b"Upgrade", b"tcp")]
    assert climb(method, path, "1.41").response_headers(headers) == \
        [(b"Content-Type", RAW), (b"Connection", b"Upgrade"), (b"Upgrade", b"tcp")]
    status, sent = climb(method, path, "1.41").response_head(200, [(b"Api-Version", b"1.44"), (b"Content-Type", MUX)])
    assert status == 200 and sent == [(b"Api-Version", b"1.44"), (b"Content-Type", RAW)]
    assert climb(method, path, "1.42", "1.44").response_headers(headers) == headers  # 1.42 on: as the daemon says
    json_error = [(b"Content-Type", b"application/json")]
    assert climb(method, path, "1.41").response_head(404, json_error)[1] == json_error


def test_a_create_below_1_41_asks_the_cgroup_version_once_and_gets_the_host_namespace_on_v1() -> None:
    memory = Memory()
    exchange = climb("POST", "/containers/create", "1.40", memory=memory)
    assert exchange.emulation() is create_knowing_cgroup_version
    request = LegacyRequest("POST", {}, {"name": "web"}, {"Image": "busybox"}, exchange.context)
    calls, result = run(create_knowing_cgroup_version(request), {"GET /info": Answer(200, {"CgroupVersion": "1"})})
    assert [(c.method, c.path) for c in calls] == [("GET", "/info")]
    assert result == Pass("POST", "/containers/create?name=web", client_body=True)
    assert sent_body(exchange, {"Image": "busybox"})["HostConfig"]["CgroupnsMode"] == "host"
    assert sent_body(exchange, {"Image": "b", "HostConfig": {"CgroupnsMode": "private"}})["HostConfig"] == \
        {"CgroupnsMode": "private"}
    again = climb("POST", "/containers/create", "1.30", memory=memory)
    calls, _ = run(create_knowing_cgroup_version(LegacyRequest("POST", {}, {}, {"Image": "b"}, again.context)), {})
    assert calls == []  # known now
    podman = LegacyRequest("POST", {}, {}, {"Image": "b"}, climb("POST", "/containers/create", "1.30").context)
    run(create_knowing_cgroup_version(podman), {"GET /info": Answer(200, {"CgroupVersion": "v1"})})
    assert podman.context.memory.cgroup_version == "1"  # Podman says "v1"


def test_on_cgroup_v2_a_create_below_1_41_keeps_the_daemons_default() -> None:
    memory = Memory(cgroup_version="2")
    assert "CgroupnsMode" not in sent_body(climb("POST", "/containers/create", "1.40", memory=memory),
                                           {"Image": "b", "HostConfig": {}})["HostConfig"]
    assert sent_body(climb("POST", "/containers/create", "1.41", memory=Memory(cgroup_version="1")),
                     {"Image": "b", "HostConfig": {}})["HostConfig"] == {}


def test_legacy_clients_cross_neither_the_cgroup_nor_the_websocket_stream_gates() -> None:
    assert climb("POST", "/containers/create", "1.9").emulation() is None
    assert sent_query(climb("GET", "/containers/{id}/attach/ws", "1.9"), "/containers/c/attach/ws",
                      "stream=1&stdout=1") == "stream=1&stdout=1"


def test_wait_below_1_30_ignores_its_condition_and_answers_at_the_exit() -> None:
    exchange = climb("POST", "/containers/{id}/wait", "1.29")
    assert sent_query(exchange, "/containers/c/wait", "condition=removed") == ""
    assert exchange.status_depends_on_message(200) and not exchange.status_depends_on_message(101)
    assert not climb("POST", "/containers/{id}/wait", "1.30").status_depends_on_message(200)


def test_networks_below_1_28_list_their_containers() -> None:
    exchange = climb("GET", "/networks", "1.27")
    assert exchange.emulation() is networks_with_containers
    request = LegacyRequest("GET", {}, {"filters": '{"name":["n"]}'}, None, exchange.context)
    listed = [{"Name": "bridge", "Id": "b1", "Containers": {}}, {"Name": "gone", "Id": "g1", "Containers": {}}]
    calls, result = run(networks_with_containers(request), {
        "GET /networks?filters=%7B%22name%22%3A%5B%22n%22%5D%7D": Answer(200, listed),
        "GET /networks/b1": Answer(200, {"Id": "b1", "Containers": {"c1": {"Name": "web"}}}),
        "GET /networks/g1": Answer(404, {"message": "network g1 not found"})})
    assert [c.path for c in calls][1:] == ["/networks/b1", "/networks/g1"]
    assert result == Reply(200, [{"Name": "bridge", "Id": "b1", "Containers": {"c1": {"Name": "web"}}},
                                 {"Name": "gone", "Id": "g1", "Containers": {}}])
    assert climb("GET", "/networks", "1.28").emulation() is None


def test_attach_ws_sends_text_frames_below_1_28_and_every_stream_below_1_42() -> None:
    exchange = climb("GET", "/containers/{id}/attach/ws", "1.27", "1.40")
    assert exchange.emulation() is attach_websocket_every_stream
    request = LegacyRequest("GET", {"id": "c"}, {"stream": "1", "stdout": "1", "stderr": "0"}, None, exchange.context)
    assert run(attach_websocket_every_stream(request), {})[1] == \
        WebSocket("/containers/c/attach?stream=1&stdin=1&stdout=1&stderr=1")
    assert climb("GET", "/containers/{id}/attach/ws", "1.9").emulation() is attach_websocket  # reads the params
    exchange = climb("GET", "/containers/{id}/attach/ws", "1.41")
    assert exchange.emulation() is None  # binary frames as today's: only the stream parameters change
    assert sent_query(exchange, "/containers/c/attach/ws", "stream=1&stdout=1&stdin=0") == \
        "stream=1&stdout=1&stdin=1&stderr=1"


def test_kill_of_a_stopped_container_answers_204_below_1_20() -> None:
    exchange = climb("POST", "/containers/{id}/kill", "1.19")
    assert exchange.status_depends_on_message(409)
    message = b'{"message":"Cannot kill container: c: container 1f2e is not running"}'
    status, _ = exchange.response_head(409, JSON, message)
    assert status == 204 and exchange.response_body(status, JSON) is not None
    other = climb("POST", "/containers/{id}/kill", "1.19")
    assert other.response_head(409, JSON, b'{"message":"Container c is paused"}')[0] == 409
    assert climb("POST", "/containers/{id}/kill", "1.20").response_head(409, JSON, message)[0] == 409


def test_stats_below_1_21_sum_the_interfaces() -> None:
    item = {"read": "t", "name": "/web", "id": "c1", "memory_stats": {},
            "networks": {"eth0": {"rx_bytes": 5, "tx_bytes": 1}, "eth1": {"rx_bytes": 2, "tx_packets": 3}}}
    exchange = climb("GET", "/containers/{id}/stats", "1.20")
    transform = exchange.response_body(200, JSON)
    assert transform is not None
    out = transform.feed(json.dumps(item).encode() + b"\n") + transform.close()
    assert out.endswith(b"}\n") and not out.endswith(b"\r\n")
    got = json.loads(out)
    assert got["network"] == {"rx_bytes": 7, "rx_packets": 0, "rx_errors": 0, "rx_dropped": 0,
                              "tx_bytes": 1, "tx_packets": 3, "tx_errors": 0, "tx_dropped": 0}
    assert "networks" not in got and "name" not in got and "id" not in got
    context = Context("GET", None, {}, Version(1, 20), Version(1, 44))
    assert network_totals({"read": "t"}, context)["network"]["rx_bytes"] == 0  # no network: zeros, as then
    assert climb("GET", "/containers/{id}/stats", "1.21").response_body(200, JSON) is None


def test_old_create_fields_and_cpu_shares() -> None:
    sent = sent_body(climb("POST", "/containers/create", "1.17"),
                     {"Image": "b", "CpuShares": 1, "Cpuset": "0", "VolumeDriver": "local", "HostConfig": {}})
    assert {k: sent["HostConfig"][k] for k in ("CpuShares", "CpusetCpus", "VolumeDriver")} == \
        {"CpuShares": 2, "CpusetCpus": "0", "VolumeDriver": "local"}
    big = sent_body(climb("POST", "/containers/create", "1.18"), {"Image": "b", "HostConfig": {"CpuShares": 10**6}})
    assert big["HostConfig"]["CpuShares"] == 262144
    assert sent_body(climb("POST", "/containers/create", "1.19"),
                     {"Image": "b", "HostConfig": {"CpuShares": 1}})["HostConfig"]["CpuShares"] == 1


def test_update_below_1_40_ignores_pids_limit() -> None:
    assert sent_body(climb("POST", "/containers/{id}/update", "1.39"), {"PidsLimit": 5, "Memory": 9}) == {"Memory": 9}


def test_create_below_1_44_read_only_binds_and_one_network() -> None:
    exchange = climb("POST", "/containers/create", "1.43")
    body = {"Image": "b", "HostConfig": {"Mounts": [{"Type": "bind", "Source": "/s", "Target": "/t", "ReadOnly": True},
                                                  {"Type": "volume", "Source": "v", "Target": "/v", "ReadOnly": True}]}}
    mounts = sent_body(exchange, body)["HostConfig"]["Mounts"]
    assert mounts[0]["BindOptions"] == {"ReadOnlyNonRecursive": True} and "BindOptions" not in mounts[1]
    with pytest.raises(TranslationError, match="ReadOnlyForceRecursive needs API v1.44"):
        sent_body(climb("POST", "/containers/create", "1.43"), {"Image": "b", "HostConfig": {"Mounts": [
            {"Type": "bind", "Source": "/s", "Target": "/t", "BindOptions": {"ReadOnlyForceRecursive": True}}]}})
    with pytest.raises(TranslationError, match="multiple network endpoints: a, b"):
        sent_body(climb("POST", "/containers/create", "1.43"),
                  {"Image": "b", "NetworkingConfig": {"EndpointsConfig": {"a": {}, "b": {}}}})


@pytest.mark.parametrize(("body", "endpoints"), [
    ({"MacAddress": "02:42:ac:11:00:09"}, {"bridge": {"MacAddress": "02:42:ac:11:00:09"}}),
    ({"MacAddress": "02:42:ac:11:00:09", "HostConfig": {"NetworkMode": "net1"},
      "NetworkingConfig": {"EndpointsConfig": {"other-key": {"Aliases": ["a"], "MacAddress": "x"}}}},
     {"other-key": {"Aliases": ["a"], "MacAddress": "02:42:ac:11:00:09"}}),
    ({"NetworkingConfig": {"EndpointsConfig": {"net1": {"MacAddress": "02:42:ac:11:00:09"}}}}, {"net1": {}}),
])
def test_create_below_1_44_moves_the_container_mac_address_itself(body: dict[str, Any],
                                                                   endpoints: dict[str, Any]) -> None:
    sent = sent_body(climb("POST", "/containers/create", "1.43"), {"Image": "b", **body})
    assert "MacAddress" not in sent and sent["NetworkingConfig"]["EndpointsConfig"] == endpoints


def test_a_mac_address_with_the_host_network_is_left_for_the_daemon_to_refuse() -> None:
    sent = sent_body(climb("POST", "/containers/create", "1.43"),
                     {"Image": "b", "MacAddress": "02:42:ac:11:00:09", "HostConfig": {"NetworkMode": "host"}})
    assert sent["MacAddress"] == "02:42:ac:11:00:09"


def test_inspect_below_1_44_hides_the_read_only_recursion_options() -> None:
    exchange = climb("GET", "/containers/{id}/json", "1.43")
    transform = exchange.response_body(200, JSON)
    assert transform is not None
    mounts = [{"Type": "bind", "ReadOnly": True, "BindOptions": {"ReadOnlyNonRecursive": True}},
              {"Type": "bind", "BindOptions": {"Propagation": "rshared", "ReadOnlyForceRecursive": True}}]
    shown = json.loads(transform.feed(json.dumps({"HostConfig": {"Mounts": mounts}}).encode()) + transform.close())
    assert shown["HostConfig"]["Mounts"] == [{"Type": "bind", "ReadOnly": True},
                                             {"Type": "bind", "BindOptions": {"Propagation": "rshared"}}]


def test_inspect_below_1_21_has_no_networks_map_and_shows_old_config_fields() -> None:
    exchange = climb("GET", "/containers/{id}/json", "1.17")
    transform = exchange.response_body(200, JSON)
    assert transform is not None
    inspect = {"Config": {"Image": "b"}, "NetworkSettings": {"IPAddress": "", "Networks": {"n": {}}},
               "HostConfig": {"VolumeDriver": "local", "CpusetCpus": "0", "Memory": 0, "MemorySwap": 0,
                              "CpuShares": 0}}
    shown = json.loads(transform.feed(json.dumps(inspect).encode()) + transform.close())
    assert shown["NetworkSettings"] == {"IPAddress": ""}
    assert {k: shown["Config"][k] for k in ("VolumeDriver", "Cpuset")} == {"VolumeDriver": "local", "Cpuset": "0"}


@pytest.mark.parametrize("path", ["/services/create", "/services/{id}/update"])
def test_service_specs_lose_what_their_version_did_not_read(path: str) -> None:
    spec = {"Name": "s", "Mode": {"ReplicatedJob": {}},
            "TaskTemplate": {"ContainerSpec": {"Image": "b", "Sysctls": {"a": "1"}, "CapabilityAdd": ["X"],
                                               "Configs": [{"ConfigID": "c", "Runtime": {}}],
                                               "Privileges": {"NoNewPrivileges": True, "SELinuxContext": None},
                                               "Healthcheck": {"Test": ["NONE"], "StartInterval": 1}},
                             "Placement": {"MaxReplicas": 2}, "Resources": {"Limits": {"Pids": 5}}}}
    sent = sent_body(climb("POST", path, "1.39"), spec)
    assert sent == {"Name": "s", "Mode": {}, "TaskTemplate": {
        "ContainerSpec": {"Image": "b", "Configs": [{"ConfigID": "c"}], "Privileges": {"SELinuxContext": None},
                          "Healthcheck": {"Test": ["NONE"]}},
        "Placement": {}, "Resources": {"Limits": {}}}}


def test_small_query_and_info_gates() -> None:
    assert sent_query(climb("GET", "/services", "1.40"), "/services", "status=true") == ""
    assert sent_query(climb("GET", "/images/json", "1.41"), "/images/json", "shared-size=1") == ""
    exchange = climb("GET", "/info", "1.43")
    transform = exchange.response_body(200, JSON)
    assert transform is not None
    info = {"Runtimes": {"runc": {"path": "runc", "status": {"a": "b"}}}}
    assert json.loads(transform.feed(json.dumps(info).encode()) + transform.close()) == \
        {"Runtimes": {"runc": {"path": "runc"}}}


def test_a_repeated_query_parameter_keeps_every_value_through_query_steps() -> None:
    # docker-py 1.10.6 imports with changes=USER foobar&changes=CMD ["echo"]; 1.32's step drops `platform`.
    query = "fromSrc=-&changes=USER+foobar&changes=CMD+%5B%22echo%22%5D&platform=linux"
    assert sent_query(climb("POST", "/images/create", "1.24"), "/images/create", query) == \
        "fromSrc=-&changes=USER+foobar&changes=CMD+%5B%22echo%22%5D"


def test_build_pull_and_swarm_parameters_older_versions_ignored() -> None:
    assert sent_query(climb("POST", "/build", "1.31"), "/build", "t=x&platform=linux&outputs=%5B%5D") == "t=x"
    assert sent_query(climb("POST", "/build", "1.39"), "/build", "platform=linux&outputs=%5B%5D") == \
        "platform=linux"
    assert sent_query(climb("POST", "/images/create", "1.31"), "/images/create", "fromImage=b&platform=linux") == \
        "fromImage=b"
    assert sent_body(climb("POST", "/swarm/init", "1.38"), {"ListenAddr": "x", "SubnetSize": 24,
                                                           "DefaultAddrPool": ["10.0.0.0/8"], "DataPathPort": 7}) == \
        {"ListenAddr": "x"}
    assert sent_body(climb("POST", "/swarm/init", "1.39"), {"SubnetSize": 24, "DataPathPort": 7}) == {"SubnetSize": 24}


@pytest.mark.parametrize(("path", "kind"), [("/secrets/create", "secret"), ("/configs/create", "config")])
def test_templating_below_1_37_is_refused_as_the_daemon_refused_it(path: str, kind: str) -> None:
    refusal = f"{kind} templating is not supported on the specified API version: 1.36"
    with pytest.raises(TranslationError, match=refusal):
        sent_body(climb("POST", path, "1.36"), {"Name": "s", "Templating": {"Name": "golang"}})
    assert sent_body(climb("POST", path, "1.36"), {"Name": "s"}) == {"Name": "s"}
