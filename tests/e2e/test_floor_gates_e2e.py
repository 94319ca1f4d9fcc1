"""Gates between a modern client's version (1.10 on) and the daemon's floor, re-created by apiproxy.

Each test asks through apiproxy at the client's version what moby's router gates gave that version
(v28.5.2's `versions.LessThan` gates; v20.10's for those Docker 26 dropped). On a daemon that
accepts the version itself the same answers come from the daemon: the checks hold on every upstream.
"""
from __future__ import annotations

import json
import os
import socket
import uuid
from typing import Any, Iterator
from urllib.parse import quote

import pytest
import wsproto
import wsproto.events

from support import DEBIAN_CLI, DIRECT_API, ON_PODMAN, api_number, docker, request

pytestmark = pytest.mark.skipif(ON_PODMAN, reason="Podman ignores the path's version: no version gates")

MUX = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


@pytest.fixture
def network(docker_sock: str) -> Iterator[str]:
    """A user-defined bridge network (the test daemons run with --bridge=none: no default one)."""
    name = f"apiproxy-e2e-gates-{uuid.uuid4().hex[:8]}"
    reply = request(docker_sock, "POST", f"/v{DIRECT_API}/networks/create", {"Name": name})
    assert reply.status == 201, reply
    yield name
    request(docker_sock, "DELETE", f"/v{DIRECT_API}/networks/{name}", validate=False)


@pytest.fixture
def made(docker_sock: str) -> Iterator[list[tuple[str, str]]]:
    """(kind, id) of what a test made, removed after it."""
    things: list[tuple[str, str]] = []
    yield things
    for kind, ident in reversed(things):
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/{kind}/{ident}?force=1", validate=False)


def needs(docker_sock: str, version: str) -> None:
    """Skip where the daemon is older than `version` (dockerd 20.10 serves up to 1.41)."""
    newest = request(docker_sock, "GET", "/version").json()["ApiVersion"]
    if api_number(version) > api_number(newest):
        pytest.skip(f"the daemon serves API {newest} at most")


def create(sock: str, version: str, made: list[tuple[str, str]], body: dict[str, Any], start: bool = False) -> str:
    reply = request(sock, "POST", f"/v{version}/containers/create", body)
    assert reply.status == 201, reply
    cid = str(reply.json()["Id"])
    made.append(("containers", cid))
    if start:
        assert request(sock, "POST", f"/v{version}/containers/{cid}/start").status == 204
    return cid


def inspect(docker_sock: str, cid: str) -> Any:
    return request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{cid}/json").json()


def open_head(sock: str, head: str) -> tuple[socket.socket, bytes]:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(60)
    conn.connect(sock)
    conn.sendall(head.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"closed before the head: {data!r}"
        data += chunk
    return conn, data.partition(b"\r\n\r\n")[0]


def content_type(head: bytes) -> str:
    return next(line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-type:"))


@pytest.mark.parametrize(("version", "expected"), [("1.41", RAW), ("1.44", MUX)])
def test_stream_content_types_below_1_42(proxy_sock: str, docker_sock: str, image: str, made: list[tuple[str, str]],
                                         version: str, expected: str) -> None:
    needs(docker_sock, version)
    cid = create(proxy_sock, version, made, {"Image": image, "Cmd": ["sleep", "60"]}, start=True)
    conn, head = open_head(proxy_sock, f"POST /v{version}/containers/{cid}/attach?stream=1&stdout=1 HTTP/1.1\r\n"
                                       "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    with conn:
        assert head.startswith(b"HTTP/1.1 101") and content_type(head) == expected, head
    reply = request(proxy_sock, "POST", f"/v{version}/containers/{cid}/exec",
                    {"Cmd": ["echo", "x"], "AttachStdout": True})
    exec_id = reply.json()["Id"]
    conn, head = open_head(proxy_sock, f"POST /v{version}/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
                                       "Content-Type: application/json\r\nContent-Length: 16\r\n"
                                       "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n{\"Detach\":false}")
    with conn:
        assert head.startswith(b"HTTP/1.1 101") and content_type(head) == expected, head
    logs = request(proxy_sock, "GET", f"/v{version}/containers/{cid}/logs?stdout=1")
    # Docker 20.10 sent logs with no Content-Type; the gate of Docker 22-29 says raw-stream below 1.42.
    assert logs.status == 200 and logs.header("Content-Type") in ((expected, None) if expected == RAW else (expected,))


def test_create_below_1_41_gets_the_host_cgroup_namespace_on_cgroup_v1(proxy_sock: str, docker_sock: str,
                                                                      image: str, made: list[tuple[str, str]]) -> None:
    cgroup_version = request(docker_sock, "GET", f"/v{DIRECT_API}/info").json().get("CgroupVersion", "1")
    old = create(proxy_sock, "1.40", made, {"Image": image, "Cmd": ["true"]})
    given = create(proxy_sock, "1.40", made, {"Image": image, "Cmd": ["true"],
                                              "HostConfig": {"CgroupnsMode": "private"}})
    assert inspect(docker_sock, old)["HostConfig"]["CgroupnsMode"] == ("host" if cgroup_version == "1" else "private")
    assert inspect(docker_sock, given)["HostConfig"]["CgroupnsMode"] == "private"


def test_the_20_10_cli_at_1_40_runs_in_the_hosts_cgroup_namespace(proxy_sock: str, docker_sock: str,
                                                                 image: str) -> None:
    if request(docker_sock, "GET", f"/v{DIRECT_API}/info").json().get("CgroupVersion", "1") != "1":
        pytest.skip("cgroup v2: every version gets the daemon's default")
    shown = docker(proxy_sock, "run", "--rm", image, "readlink", "/proc/1/ns/cgroup", cli=DEBIAN_CLI,
                   env={"DOCKER_API_VERSION": "1.40"}).stdout.decode().strip()
    assert shown == os.readlink("/proc/self/ns/cgroup")  # the daemon's, which tests/run starts in ours


def test_wait_below_1_30_ignores_the_condition(proxy_sock: str, image: str, made: list[tuple[str, str]]) -> None:
    cid = create(proxy_sock, "1.29", made, {"Image": image, "Cmd": ["sh", "-c", "exit 3"]}, start=True)
    # next-exit would wait for a next run at 1.30 on; below, wait returns once the container is stopped.
    reply = request(proxy_sock, "POST", f"/v1.29/containers/{cid}/wait?condition=next-exit", timeout=60)
    assert reply.status == 200 and reply.json()["StatusCode"] == 3


def test_the_network_list_below_1_28_names_its_containers(proxy_sock: str, image: str, network: str,
                                                          made: list[tuple[str, str]]) -> None:
    cid = create(proxy_sock, "1.27", made, {"Image": image, "Cmd": ["sleep", "60"],
                                            "HostConfig": {"NetworkMode": network}}, start=True)
    filters = quote(json.dumps({"name": [network]}))
    [listed] = request(proxy_sock, "GET", f"/v1.27/networks?filters={filters}").json()
    assert list(listed["Containers"]) == [cid]
    [today] = request(proxy_sock, "GET", f"/v1.28/networks?filters={filters}").json()
    assert today["Containers"] == {}


def _websocket(sock: str, path: str) -> tuple[str, type]:
    """The output of an attach/ws and the kind of frame it came in."""
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    out, kinds = "", set()
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(60)
        conn.connect(sock)
        conn.sendall(client.send(wsproto.events.Request(host="docker", target=path)))
        while "err" not in out or "out" not in out:
            data = conn.recv(65536)
            assert data, f"closed early: {out!r}"
            client.receive_data(data)
            for event in client.events():
                if isinstance(event, (wsproto.events.TextMessage, wsproto.events.BytesMessage)):
                    kinds.add(type(event))
                    out += event.data if isinstance(event.data, str) else event.data.decode()
    [kind] = kinds
    return out, kind


@pytest.mark.parametrize(("version", "frames"), [("1.27", wsproto.events.TextMessage),
                                                 ("1.41", wsproto.events.BytesMessage)])
def test_attach_ws_frames_and_streams(proxy_sock: str, image: str, made: list[tuple[str, str]],
                                      version: str, frames: type) -> None:
    cid = create(proxy_sock, version, made, {"Image": image, "Cmd": ["sh", "-c", "echo out; echo err >&2; sleep 60"],
                                             "AttachStdout": True, "AttachStderr": True}, start=True)
    # stderr=0: ignored below 1.42, the output of both streams comes
    out, kind = _websocket(proxy_sock, f"/v{version}/containers/{cid}/attach/ws?logs=1&stream=1&stdout=1&stderr=0")
    assert "out" in out and "err" in out and kind is frames


def test_kill_of_a_stopped_container_below_1_20(proxy_sock: str, image: str, made: list[tuple[str, str]]) -> None:
    cid = create(proxy_sock, "1.19", made, {"Image": image, "Cmd": ["true"]})
    reply = request(proxy_sock, "POST", f"/v1.19/containers/{cid}/kill")
    assert reply.status == 204 and reply.body == b""
    assert request(proxy_sock, "POST", f"/v1.20/containers/{cid}/kill").status == 409


def test_stats_below_1_21_sum_the_network(proxy_sock: str, image: str, network: str,
                                          made: list[tuple[str, str]]) -> None:
    cid = create(proxy_sock, "1.20", made, {"Image": image, "Cmd": ["sleep", "60"],
                                            "HostConfig": {"NetworkMode": network}}, start=True)
    stats = request(proxy_sock, "GET", f"/v1.20/containers/{cid}/stats?stream=0").json()
    assert "networks" not in stats and set(stats["network"]) >= {"rx_bytes", "tx_bytes"}
    assert "networks" in request(proxy_sock, "GET", f"/v1.21/containers/{cid}/stats?stream=0").json()


def test_cpu_shares_are_clamped_below_1_19(proxy_sock: str, docker_sock: str, image: str,
                                           made: list[tuple[str, str]]) -> None:
    cid = create(proxy_sock, "1.18", made, {"Image": image, "Cmd": ["true"], "HostConfig": {"CpuShares": 1}})
    assert inspect(docker_sock, cid)["HostConfig"]["CpuShares"] == 2


def test_update_below_1_40_ignores_pids_limit(proxy_sock: str, docker_sock: str, image: str,
                                              made: list[tuple[str, str]]) -> None:
    cid = create(proxy_sock, "1.39", made, {"Image": image, "Cmd": ["true"]})
    assert request(proxy_sock, "POST", f"/v1.39/containers/{cid}/update", {"PidsLimit": 7}).status == 200
    assert inspect(docker_sock, cid)["HostConfig"]["PidsLimit"] in (None, 0)


def test_create_below_1_44(proxy_sock: str, docker_sock: str, image: str, made: list[tuple[str, str]]) -> None:
    needs(docker_sock, "1.43")
    cid = create(proxy_sock, "1.43", made, {"Image": image, "Cmd": ["true"], "HostConfig": {
        "Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/t", "ReadOnly": True}]}})
    [shown] = request(proxy_sock, "GET", f"/v1.43/containers/{cid}/json").json()["HostConfig"]["Mounts"]
    assert "BindOptions" not in shown  # as a 1.43 client saw it
    if api_number(DIRECT_API) >= (1, 44):  # the daemon's own record: apiproxy asked for the old behaviour
        [mount] = inspect(docker_sock, cid)["HostConfig"]["Mounts"]
        assert mount["BindOptions"]["ReadOnlyNonRecursive"] is True
    refused = request(proxy_sock, "POST", "/v1.43/containers/create", {
        "Image": image, "NetworkingConfig": {"EndpointsConfig": {"bridge": {}, "host": {}}}})
    assert refused.status == 400 and "multiple network endpoints" in refused.json()["message"]


def test_the_20_10_cli_sets_a_mac_address_without_a_warning(proxy_sock: str, image: str, network: str) -> None:
    result = docker(proxy_sock, "run", "--rm", "--network", network, "--mac-address", "02:42:ac:11:00:29", image, "cat",
                    "/sys/class/net/eth0/address", cli=DEBIAN_CLI, env={"DOCKER_API_VERSION": "1.41"})
    assert result.stdout.decode().strip() == "02:42:ac:11:00:29"
    assert b"MacAddress" not in result.stderr, result.stderr


KERNEL_MEMORY_DISCARDED = ("Your kernel does not support kernel memory limit capabilities or the cgroup is not "
                           "mounted. Limitation discarded.")


def test_a_kernel_memory_limit_below_1_42_is_warned_of_once(proxy_sock: str, docker_sock: str, image: str,
                                                            made: list[tuple[str, str]]) -> None:
    """Below 1.42 dockerd 20.10-28 applied a kernel memory limit, or warned on create and on update where the
    host cannot limit kernel memory (cgroup v2); from 1.42 on it is ignored without a word. A daemon that
    serves 1.41 answers for itself; climbing to a higher floor, apiproxy warns that the limit was discarded."""
    body = {"Image": image, "Cmd": ["true"], "HostConfig": {"KernelMemory": 8 << 20}}
    floor = request(docker_sock, "GET", "/version").json().get("MinAPIVersion", "1.12")
    sock = proxy_sock
    if api_number(floor) <= api_number("1.41"):  # the daemon's own answer is the reference
        direct = request(docker_sock, "POST", "/v1.41/containers/create", body)
        assert direct.status == 201, direct
        made.append(("containers", direct.json()["Id"]))
        expected = direct.json()["Warnings"] or []
    else:
        expected = [KERNEL_MEMORY_DISCARDED]
    reply = request(sock, "POST", "/v1.41/containers/create", body)
    assert reply.status == 201, reply
    made.append(("containers", reply.json()["Id"]))
    assert (reply.json()["Warnings"] or []) == expected
    updated = request(sock, "POST", f"/v1.41/containers/{reply.json()['Id']}/update", {"KernelMemory": 8 << 20})
    assert updated.status == 200, updated
    assert (updated.json()["Warnings"] or []) == expected
