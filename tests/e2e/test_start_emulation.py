"""Start with host settings where the daemon takes them only at create (API ≥ 1.24)."""
from __future__ import annotations

import socket
import uuid
from pathlib import Path

from support import DIRECT_API, ON_PODMAN, Apiproxy, request, start_apiproxy

from test_streams import _frames_payload, _open_attach, _read_to_end



def _legacy_create(sock: str, version: str, body: dict, name: str) -> str:
    created = request(sock, "POST", f"/v{version}/containers/create?name={name}", body)
    assert created.status == 201, created
    return created.json()["Id"]


def test_binds_given_at_start_take_effect_and_the_id_stays(proxy_sock: str, docker_sock: str, image: str,
                                                           tmp_path: Path, made: list[str]) -> None:
    host_dir = tmp_path / "bound"
    host_dir.mkdir()
    (host_dir / "hello").write_text("from the host\n")
    name = f"apiproxy-bind-{uuid.uuid4().hex[:8]}"
    made.append(name)
    legacy_id = _legacy_create(proxy_sock, "1.3", {"Image": image, "Cmd": ["cat", "/mnt/hello"],
                                                   "Volumes": {"/mnt": {}}}, name)
    started = request(proxy_sock, "POST", f"/v1.3/containers/{legacy_id}/start", {"Binds": [f"{host_dir}:/mnt:ro"]})
    assert started.status == 204, started
    assert request(proxy_sock, "POST", f"/v1.3/containers/{legacy_id[:12]}/wait").json() == {"StatusCode": 0}
    logs = request(proxy_sock, "POST", f"/v1.3/containers/{legacy_id}/attach?logs=1&stdout=1")
    assert b"from the host" in logs.body
    inspect = request(proxy_sock, "GET", f"/v1.3/containers/{legacy_id}/json").json()
    assert inspect["ID"] == inspect["Id"] == legacy_id
    listed = [row["Id"] for row in request(proxy_sock, "GET", "/v1.3/containers/json?all=1").json()]
    assert legacy_id in listed
    real = request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{name}/json").json()
    assert real["Id"] != legacy_id and real["Config"]["Labels"]["apiproxy.legacy-id"] == legacy_id
    # Podman adds its default propagation options: ",rprivate,rbind".
    assert [bind.split(",")[0] for bind in real["HostConfig"]["Binds"]] == [f"{host_dir}:/mnt:ro"]
    assert request(proxy_sock, "DELETE", f"/v1.3/containers/{legacy_id[:12]}").status == 204


def test_port_bindings_links_and_privileged_reach_host_config(proxy_sock: str, docker_sock: str, image: str,
                                                              made: list[str]) -> None:
    target = f"apiproxy-linked-{uuid.uuid4().hex[:8]}"
    made.append(target)
    request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create?name={target}",
            {"Image": image, "Cmd": ["sleep", "30"]})
    name = f"apiproxy-ports-{uuid.uuid4().hex[:8]}"
    made.append(name)
    legacy_id = _legacy_create(proxy_sock, "1.7", {"Image": image, "Cmd": ["true"],
                                                   "ExposedPorts": {"80/tcp": {}, "81/tcp": {}}}, name)
    request(proxy_sock, "POST", f"/v1.7/containers/{legacy_id}/start", {
        "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "18080"}]}, "PublishAllPorts": True,
        "Links": [f"{target}:db"], "Privileged": True})
    host = request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{name}/json").json()["HostConfig"]
    assert host["PortBindings"]["80/tcp"] == [{"HostIp": "", "HostPort": "18080"}]
    assert host["Privileged"] is True
    if ON_PODMAN:  # Podman publishes the other exposed ports at create and keeps no flag
        assert host["PortBindings"]["81/tcp"][0]["HostPort"].isdigit()
    else:
        assert host["PublishAllPorts"] is True and set(host["PortBindings"]) == {"80/tcp"}
    if ON_PODMAN:  # Podman has no links: apiproxy sets up what they gave (the test below)
        assert not host.get("Links")
    else:
        assert host["Links"] == [f"/{target}:/{name}/db"]


def test_an_attach_opened_before_start_keeps_working(proxy_sock: str, docker_sock: str, image: str,
                                                     tmp_path: Path, made: list[str]) -> None:
    (tmp_path / "data").write_text("bound and attached\n")
    name = f"apiproxy-attach-{uuid.uuid4().hex[:8]}"
    made.append(name)
    legacy_id = _legacy_create(proxy_sock, "1.7", {"Image": image, "Cmd": ["sh", "-c", "cat /mnt/data; cat"],
                                                   "OpenStdin": True, "StdinOnce": True, "AttachStdin": True,
                                                   "AttachStdout": True, "Volumes": {"/mnt": {}}}, name)
    conn, head, rest = _open_attach(proxy_sock, f"/v1.7/containers/{legacy_id}/attach?stream=1&stdin=1&stdout=1",
                                    upgrade=False, early=b"typed before start\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert request(proxy_sock, "POST", f"/v1.7/containers/{legacy_id}/start",
                   {"Binds": [f"{tmp_path}:/mnt"]}).status == 204
    with conn:
        conn.shutdown(socket.SHUT_WR)
        output = _frames_payload(_read_to_end(conn, rest))
    assert output == b"bound and attached\ntyped before start\n"


def test_a_restart_between_create_and_start_changes_nothing(docker_sock: str, image: str, tmp_path: Path,
                                                            made: list[str]) -> None:
    (tmp_path / "f").write_text("after restart\n")
    name = f"apiproxy-restart-{uuid.uuid4().hex[:8]}"
    made.append(name)
    first: Apiproxy = start_apiproxy(docker_sock)
    try:
        legacy_id = _legacy_create(first.sock, "1.5", {"Image": image, "Cmd": ["cat", "/mnt/f"],
                                                       "Volumes": {"/mnt": {}}}, name)
    finally:
        assert first.stop() == 0
    second = start_apiproxy(docker_sock)
    try:
        assert request(second.sock, "POST", f"/v1.5/containers/{legacy_id}/start",
                       {"Binds": [f"{tmp_path}:/mnt"]}).status == 204
        assert request(second.sock, "POST", f"/v1.5/containers/{legacy_id}/wait").json()["StatusCode"] == 0
    finally:
        assert second.stop() == 0
    third = start_apiproxy(docker_sock)  # the mapping is read back from the label
    try:
        inspect = request(third.sock, "GET", f"/v1.5/containers/{legacy_id[:12]}/json")
        assert inspect.status == 200 and inspect.json()["ID"] == legacy_id
        assert b"after restart" in request(third.sock, "POST",
                                           f"/v1.5/containers/{legacy_id}/attach?logs=1&stdout=1").body
    finally:
        assert third.stop() == 0


def test_start_without_host_settings_keeps_the_container(proxy_sock: str, docker_sock: str, image: str,
                                                         made: list[str]) -> None:
    name = f"apiproxy-plain-{uuid.uuid4().hex[:8]}"
    made.append(name)
    legacy_id = _legacy_create(proxy_sock, "1.9", {"Image": image, "Cmd": ["true"]}, name)
    assert request(proxy_sock, "POST", f"/v1.9/containers/{legacy_id}/start", body=b"null",
                   headers={"Content-Type": "application/json"}).status == 204
    assert request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{name}/json").json()["Id"] == legacy_id


def test_copy_answers_the_resource_as_a_tar(proxy_sock: str, image: str, made: list[str]) -> None:
    name = f"apiproxy-copy-{uuid.uuid4().hex[:8]}"
    made.append(name)
    legacy_id = _legacy_create(proxy_sock, "1.4", {"Image": image, "Cmd": ["true"]}, name)
    copied = request(proxy_sock, "POST", f"/v1.4/containers/{legacy_id}/copy", {"Resource": "etc/passwd"})
    assert copied.status == 200 and b"root:x:0:0" in copied.body and copied.body[257:262] == b"ustar"
    empty = request(proxy_sock, "POST", f"/v1.4/containers/{legacy_id}/copy", {"Resource": ""})
    assert empty.status in (400, 500)


def test_containers_ps_lists_like_containers_json(proxy_sock: str) -> None:
    reply = request(proxy_sock, "GET", "/v1.0/containers/ps?all=1")
    assert reply.status == 200 and isinstance(reply.json(), list)


def test_links_given_at_start_show_inside_the_container(proxy_sock: str, docker_sock: str, image: str,
                                                        made: list[str]) -> None:
    target = f"apiproxy-db-{uuid.uuid4().hex[:8]}"
    made.append(target)
    request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create?name={target}",
            {"Image": image, "Cmd": ["sleep", "60"], "Env": ["SECRET=s3"], "ExposedPorts": {"5432/tcp": {}}})
    assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{target}/start").status == 204
    name = f"apiproxy-web-{uuid.uuid4().hex[:8]}"
    made.append(name)
    legacy_id = _legacy_create(proxy_sock, "1.6", {"Image": image, "Cmd": ["env"]}, name)
    started = request(proxy_sock, "POST", f"/v1.6/containers/{legacy_id}/start", {"Links": [f"{target}:db"]})
    assert started.status == 204, started
    assert request(proxy_sock, "POST", f"/v1.6/containers/{legacy_id}/wait").json() == {"StatusCode": 0}
    logs = request(proxy_sock, "POST", f"/v1.6/containers/{legacy_id}/attach?logs=1&stdout=1")
    # The environment a 2013 link gave, read from the container's own output
    # (the address is empty where containers have no network, as here).
    env = _frames_payload(logs.body).decode().splitlines()
    assert {f"DB_NAME=/{name}/db", "DB_ENV_SECRET=s3", "DB_PORT_5432_TCP_PORT=5432"} <= set(env), env
