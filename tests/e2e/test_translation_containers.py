"""Legacy container requests translated for the real daemon, checked where they take effect."""
from __future__ import annotations

import json
import uuid
from typing import Iterator

import pytest

from support import DIRECT_API, ON_PODMAN, request, start_apiproxy

MEMORY = 64 * 1024 * 1024



def _run_to_end(sock: str, version: str, cid: str) -> str:
    assert request(sock, "POST", f"/v{version}/containers/{cid}/start").status in (200, 204)
    assert request(sock, "POST", f"/v{version}/containers/{cid}/wait").json()["StatusCode"] == 0
    logs = request(sock, "POST", f"/v{version}/containers/{cid}/attach?logs=1&stdout=1&stderr=1")
    return logs.body.decode(errors="replace")


@pytest.mark.parametrize("version", ["1.0", "1.3", "1.5", "1.9"])
def test_flat_create_fields_take_effect(proxy_sock: str, docker_sock: str, image: str, version: str,
                                        made: list[str]) -> None:
    source = f"apiproxy-src-{uuid.uuid4().hex[:8]}"
    made.append(source)
    shared = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create?name={source}",
                     {"Image": image, "Cmd": ["sh", "-c", "echo shared > /data/file"], "Volumes": {"/data": {}}})
    assert shared.status == 201
    assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{source}/start").status == 204
    assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{source}/wait").json()["StatusCode"] == 0

    body = {"Image": image, "Memory": MEMORY, "MemorySwap": -1, "CpuShares": 512, "Dns": ["10.9.9.9"],
            "VolumesFrom": source, "PortSpecs": ["80", "8080:81/udp"],
            "Cmd": ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /etc/resolv.conf /data/file"]}
    created = request(proxy_sock, "POST", f"/v{version}/containers/create", body,
                      headers={"Content-Type": "application/json"})
    assert created.status == 201, created
    cid = created.json()["Id"]
    made.append(cid)
    host = request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{cid}/json").json()["HostConfig"]
    assert (host["Memory"], host["CpuShares"], host["Dns"], host["VolumesFrom"]) == \
        (MEMORY, 512, ["10.9.9.9"], [source])
    # "80" asks for any host port: Docker keeps it empty until start, Podman picks one at create.
    any_port = host["PortBindings"].get("80/tcp", [{}])[0].get("HostPort") if ON_PODMAN else ""
    assert any_port.isdigit() or not ON_PODMAN
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": any_port}],
                                    "81/udp": [{"HostIp": "", "HostPort": "8080"}]}
    output = _run_to_end(proxy_sock, version, cid)
    assert str(MEMORY) in output and "nameserver 10.9.9.9" in output and "shared" in output


def test_privileged_in_config_reaches_host_config(proxy_sock: str, docker_sock: str, image: str,
                                                   made: list[str]) -> None:
    created = request(proxy_sock, "POST", "/v1.5/containers/create",
                      {"Image": image, "Cmd": ["true"], "Privileged": True})
    assert created.status == 201
    made.append(created.json()["Id"])
    assert request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{created.json()['Id']}/json").json()[
        "HostConfig"]["Privileged"] is True


def test_lxc_conf_keys_become_settings(proxy_sock: str, docker_sock: str, image: str, made: list[str]) -> None:
    created = request(proxy_sock, "POST", "/v1.9/containers/create", {
        "Image": image, "Cmd": ["hostname"], "LxcConf": [{"Key": "lxc.utsname", "Value": "legacyhost"},
                                                         {"Key": "lxc.cgroup.cpu.shares", "Value": "256"},
                                                         {"Key": "lxc.aa_profile", "Value": "unconfined"}]})
    assert created.status == 201, created
    cid = created.json()["Id"]
    made.append(cid)
    inspect = request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{cid}/json").json()
    assert inspect["Config"]["Hostname"] == "legacyhost" and inspect["HostConfig"]["CpuShares"] == 256


@pytest.mark.parametrize("version", ["1.1", "1.4", "1.9"])
def test_inspect_has_the_legacy_fields(proxy_sock: str, docker_sock: str, image: str, version: str,
                                       made: list[str]) -> None:
    created = request(proxy_sock, "POST", f"/v{version}/containers/create",
                      {"Image": image, "Cmd": ["true"], "Memory": MEMORY, "Dns": ["10.9.9.9"], "Volumes": {"/v": {}}})
    cid = created.json()["Id"]
    made.append(cid)
    inspect = request(proxy_sock, "GET", f"/v{version}/containers/{cid}/json").json()
    assert inspect["ID"] == cid and inspect["State"]["Ghost"] is False
    assert inspect["Config"]["Memory"] == MEMORY and inspect["Config"]["Dns"] == ["10.9.9.9"]
    assert inspect["Config"]["VolumesFrom"] == ""
    assert "/v" in inspect["Volumes"] and inspect["VolumesRW"]["/v"] is True
    assert not inspect["Image"].startswith("sha256:")
    # Never started: the 2013 daemons had set no network settings yet, so no port mapping either.
    assert inspect["NetworkSettings"]["PortMapping"] is None


def test_errors_are_plain_text_for_legacy_clients(proxy_sock: str) -> None:
    missing = request(proxy_sock, "GET", "/v1.9/containers/no-such-container/json")
    assert missing.status == 404
    assert missing.header("Content-Type").startswith("text/plain")
    modern = request(proxy_sock, "GET", "/v1.41/containers/no-such-container/json")
    message = json.loads(modern.body)["message"]  # in the daemon's own words (Podman's: Docker's, for legacy clients)
    assert "no-such-container" in message
    assert missing.text == ("No such container: no-such-container\n" if ON_PODMAN else f"{message}\n")


def test_kill_of_a_stopped_container_and_stop_of_a_stopped_one_answer_204(proxy_sock: str, image: str,
                                                                          made: list[str]) -> None:
    cid = request(proxy_sock, "POST", "/v1.9/containers/create", {"Image": image, "Cmd": ["true"]}).json()["Id"]
    made.append(cid)
    kill = request(proxy_sock, "POST", f"/v1.9/containers/{cid}/kill")
    assert (kill.status, kill.body) == (204, b"")
    stop = request(proxy_sock, "POST", f"/v1.9/containers/{cid}/stop?t=1")
    assert (stop.status, stop.body) == (204, b"")


# A container never started has no port: "" (v0.6.1), null (a nil []APIPort, v0.6.2-v0.7.6), [] (v0.8.1).
@pytest.mark.parametrize(("version", "shape"), [("1.4", str), ("1.5", type(None)), ("1.9", list)])
def test_container_list_ports_shape(proxy_sock: str, image: str, version: str, shape: type,
                                    made: list[str]) -> None:
    cid = request(proxy_sock, "POST", "/v1.9/containers/create",
                  {"Image": image, "Cmd": ["true"], "PortSpecs": ["80"]}).json()["Id"]
    made.append(cid)
    rows = request(proxy_sock, "GET", f"/v{version}/containers/json?all=1").json()
    row = next(r for r in rows if r["Id"] == cid)
    assert isinstance(row["Ports"], shape)
    assert not row["Image"].startswith("sha256:")


@pytest.mark.parametrize("path", ["/v1.9/containers/json", "/v1.0/containers/ps"])
def test_since_and_before_list_the_containers_between(proxy_sock: str, image: str, made: list[str],
                                                      path: str) -> None:
    created = [request(proxy_sock, "POST", "/v1.9/containers/create", {"Image": image, "Cmd": ["true"]})
               .json()["Id"] for _ in range(3)]
    made.extend(created)
    between = request(proxy_sock, "GET", f"{path}?since={created[0][:12]}&before={created[2]}").json()
    assert [row["Id"] for row in between] == [created[1]]


@pytest.fixture(scope="module")
def proxy_at_1_12(docker_sock: str) -> Iterator[str]:
    """apiproxy told to speak API 1.12, where create took no host settings (dockerd ≤ 24)."""
    floor = request(docker_sock, "GET", "/version").json().get("MinAPIVersion", "1.24")
    if tuple(map(int, floor.split("."))) > (1, 12):
        pytest.skip(f"the daemon's floor is {floor}")
    running = start_apiproxy(docker_sock, "--target-version", "1.12")
    assert running.sock is not None
    yield running.sock
    assert running.stop() == 0


@pytest.mark.parametrize("version", ["1.0", "1.3", "1.9"])
def test_at_target_1_12_create_settings_reach_the_start(proxy_at_1_12: str, docker_sock: str, image: str,
                                                        version: str, made: list[str]) -> None:
    body = {"Image": image, "Dns": ["10.9.9.9"], "PortSpecs": ["80"], "Memory": MEMORY, "CpuShares": 512,
            "Cmd": ["cat", "/etc/resolv.conf"]}
    cid = request(proxy_at_1_12, "POST", f"/v{version}/containers/create", body).json()["Id"]
    made.append(cid)
    output = _run_to_end(proxy_at_1_12, version, cid)
    host = request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{cid}/json").json()["HostConfig"]
    assert host["Dns"] == ["10.9.9.9"] and "80/tcp" in host["PortBindings"]
    assert "nameserver 10.9.9.9" in output
    # dockerd 20.10 keeps Memory in the HostConfig a 1.12 start replaces whole: apiproxy repeats it there.
    assert (host["Memory"], host["CpuShares"]) == (MEMORY, 512)
