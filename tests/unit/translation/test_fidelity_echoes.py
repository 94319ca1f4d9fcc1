"""Create and start fields shown as the legacy client gave them, and Podman's build and search answers
in Docker's words (issue 14), without a daemon. Each test names the 2013 daemon whose answer it pins."""
from __future__ import annotations

import json
from typing import Any

from apiproxy.api.routes import match_legacy
from apiproxy.api.versions import Version
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.document import Context
from apiproxy.translation.emulations.commands import Answer, Call, LegacyRequest, Pass, Unpark
from apiproxy.translation.emulations.containers import commit_noting_container, start_with_host_config
from apiproxy.translation.memory import Memory
from apiproxy.translation.steps.echoes import (command_as_2013, echo_given_config, echo_given_host_config,
                                               listed_image_name, note_given_config, remember_given_config)
from apiproxy.translation.steps.podman import built_image_line

CID = "c" * 64


def _exchange(method: str, path: str, client: Version, memory: Memory, kind: str = "docker") -> ChainExchange:
    route = match_legacy(method, path)
    assert route is not None
    return ChainExchange.build(route, client, Version(1, 41), path, kind, memory, upstream_api=Version(1, 41))


def _through(transform: Any, body: bytes) -> bytes:
    return transform.feed(body) + transform.close()


def _create(memory: Memory, client: Version, body: dict[str, Any], kind: str = "docker") -> dict[str, Any]:
    """A create through the chain: the body sent up, and the answer {"Id": CID} brought down."""
    exchange = _exchange("POST", "/containers/create", client, memory, kind)
    transform = exchange.request_body([])
    assert transform is not None
    sent = json.loads(_through(transform, json.dumps(body).encode()))
    answer = exchange.response_body(201, [])
    assert answer is not None
    _through(answer, json.dumps({"Id": CID, "Warnings": None}).encode())
    return sent


def _inspect(memory: Memory, client: Version, daemon: dict[str, Any], kind: str = "docker") -> dict[str, Any]:
    exchange = _exchange("GET", f"/containers/{CID}/json", client, memory, kind)
    answer = exchange.response_body(200, [])
    assert answer is not None
    return json.loads(_through(answer, json.dumps(daemon).encode()))


def _daemon_inspect(**config: Any) -> dict[str, Any]:
    """Today's inspect of the container, trimmed to what the steps read."""
    return {"Id": CID, "Name": "/web", "State": {"Running": False}, "Mounts": [], "NetworkSettings": {"Ports": {}},
            "Config": {"Image": "busybox", "ExposedPorts": {"1111/tcp": {}}, "Env": None, **config},
            "HostConfig": {"Memory": 0, "MemorySwap": 0, "CpuShares": 0, "Dns": [], "VolumesFrom": None,
                           "Links": None, "Binds": None, "PortBindings": {}, "Privileged": False,
                           "PublishAllPorts": False}}


def test_port_specs_echoed_at_1_5_as_0_6_3_kept_them() -> None:
    """Docker 0.6.3 (newest of API 1.5) merged the client's PortSpecs with the image's and kept them."""
    memory = Memory()
    sent = _create(memory, Version(1, 5), {"Image": "busybox", "Cmd": ["true"], "PortSpecs": ["1111", "2222/udp"]})
    assert "PortSpecs" not in sent and set(sent["ExposedPorts"]) == {"1111/tcp", "2222/udp"}
    shown = _inspect(memory, Version(1, 5), _daemon_inspect())
    assert shown["Config"]["PortSpecs"] == ["1111", "2222/udp"]


def test_port_specs_null_at_1_6_as_0_6_6_cleared_them() -> None:
    """Docker 0.6.6 (newest of API 1.6) moved PortSpecs into ExposedPorts and cleared them (0.6.5)."""
    memory = Memory()
    _create(memory, Version(1, 6), {"Image": "busybox", "Cmd": ["true"], "PortSpecs": ["1111"]})
    assert _inspect(memory, Version(1, 6), _daemon_inspect())["Config"]["PortSpecs"] is None


def test_memory_swap_as_given_as_0_8_1_kept_it() -> None:
    """Docker 0.8.1 kept MemorySwap as given (0 with Memory): today's daemons double the memory."""
    memory = Memory()
    _create(memory, Version(1, 9), {"Image": "busybox", "Cmd": ["true"], "Memory": 64 << 20})
    daemon = _daemon_inspect()
    daemon["HostConfig"].update(Memory=64 << 20, MemorySwap=128 << 20)
    assert _inspect(memory, Version(1, 9), daemon)["Config"]["MemorySwap"] == 0
    # Without swap accounting the 2013 daemons set -1 too.
    daemon["HostConfig"]["MemorySwap"] = -1
    assert _inspect(memory, Version(1, 9), daemon)["Config"]["MemorySwap"] == -1


def test_cpu_shares_as_given_as_0_4_0_kept_them() -> None:
    """Docker 0.4.0 (API 1.1) kept CpuShares as given; apiproxy brings them into today's range."""
    memory = Memory()
    sent = _create(memory, Version(1, 1), {"Image": "busybox", "Cmd": ["true"], "CpuShares": 1})
    assert sent["HostConfig"]["CpuShares"] == 2
    daemon = _daemon_inspect()
    daemon["HostConfig"]["CpuShares"] = 2
    assert _inspect(memory, Version(1, 1), daemon)["Config"]["CpuShares"] == 1


def test_image_as_given_on_podman_as_every_2013_daemon_kept_it() -> None:
    """Docker 0.3.3 to 0.8.1 kept Config.Image "as it was passed by the operator"; Podman resolves it."""
    memory = Memory()
    _create(memory, Version(1, 9), {"Image": "busybox", "Cmd": ["true"]}, kind="podman")
    shown = _inspect(memory, Version(1, 9), _daemon_inspect(Image="docker.io/library/busybox:latest"), "podman")
    assert shown["Config"]["Image"] == "busybox"
    # A container apiproxy did not create keeps the name as Docker would write it.
    other = _daemon_inspect(Image="docker.io/library/busybox:latest")
    other["Id"] = "d" * 64
    assert _inspect(memory, Version(1, 9), other, "podman")["Config"]["Image"] == "busybox:latest"


def _started(memory: Memory, body: dict[str, Any], kind: str) -> None:
    """start_with_host_config, driven with made-up answers to its end."""
    route = match_legacy("POST", f"/containers/{CID}/start")
    assert route is not None
    context = Context("POST", route.template, {"id": CID}, Version(1, 9), Version(1, 41), upstream_kind=kind,
                      memory=memory)
    emulation = start_with_host_config(LegacyRequest("POST", {"id": CID}, {}, body, context))
    step = next(emulation)
    answers = {"GET": Answer(200, {"Id": CID, "Name": "/app", "State": {}, "Config": {}, "HostConfig": {}}),
               "POST": Answer(201, {"Id": "e" * 64}), "DELETE": Answer(204, None)}
    try:
        while True:
            if isinstance(step, Call):
                answer = answers[step.method]
                if "/rename" in step.path:
                    answer = Answer(204, None)
                if step.path.startswith("/containers/db"):
                    answer = Answer(200, {"Id": "f" * 64, "Name": "/db", "Config": {"Env": []},
                                          "NetworkSettings": {"IPAddress": "10.0.0.2"}})
                step = emulation.send(answer)
            else:
                assert isinstance(step, Unpark)
                step = emulation.send(None)
    except StopIteration as stop:
        assert isinstance(stop.value, Pass)


def test_host_config_as_the_start_gave_it_as_0_7_6_kept_it() -> None:
    """Docker 0.7.6 (newest of API 1.8) kept the start's HostConfig as given: links as "name:alias"."""
    for kind in ("docker", "podman"):
        memory = Memory()
        _started(memory, {"Links": ["db:mylink"], "PublishAllPorts": False, "Privileged": False}, kind)
        daemon = _daemon_inspect()
        daemon["HostConfig"]["Links"] = ["/db:/app/mylink"] if kind == "docker" else None
        host = _inspect(memory, Version(1, 8), daemon, kind)["HostConfig"]
        assert {key: host[key] for key in ("Links", "Binds", "PortBindings", "LxcConf", "ContainerIDFile")} == {
            "Links": ["db:mylink"], "Binds": None, "PortBindings": None, "LxcConf": None, "ContainerIDFile": ""}
        # API 1.7 had no HostConfig in inspect (0.7.0): nothing is echoed there.
        assert _inspect(memory, Version(1, 7), daemon, kind)["HostConfig"]["Links"] == daemon["HostConfig"]["Links"]


def test_steps_leave_unknown_containers_and_other_bodies_alone() -> None:
    context = Context("GET", "/containers/{id}/json", {"id": CID}, Version(1, 9), Version(1, 41))
    inspect = _daemon_inspect()
    assert echo_given_config(json.loads(json.dumps(inspect)), context, fields=["Image"]) == inspect
    assert echo_given_host_config(json.loads(json.dumps(inspect)), context) == inspect
    assert echo_given_config("text", context, fields=["Image"]) == "text"
    assert note_given_config(None, context) is None and remember_given_config(None, context) is None


def test_podman_build_ends_as_docker_0_8_1_ended_it() -> None:
    """Docker 0.8.1's build ended with "Successfully built <12 hex>"; buildah writes the id alone."""
    image = "a" * 64
    context = Context("POST", "/build", {}, Version(1, 9), Version(1, 41), upstream_kind="podman")
    assert built_image_line({"stream": "COMMIT\n"}, context) == {"stream": "COMMIT\n"}
    assert built_image_line({"stream": f"{image}\n"}, context) == {"stream": f"Successfully built {image[:12]}\n"}
    aux = {"aux": {"ID": f"sha256:{image}"}}
    assert built_image_line(aux, context) == aux  # said once
    assert built_image_line({"stream": f"Successfully built {image[:12]}\n"}, context) is None
    own = Context("POST", "/build", {}, Version(1, 9), Version(1, 41), upstream_kind="podman")
    line = {"stream": f"Successfully built {image[:12]}\n"}
    assert built_image_line(dict(line), own) == line and built_image_line(aux, own) == aux
    fresh = Context("POST", "/build", {}, Version(1, 9), Version(1, 41), upstream_kind="podman")
    assert built_image_line(aux, fresh) == {"stream": f"Successfully built {image[:12]}\n"}
    # Through the chain: a 1.7 client reads text, a 1.9 client JSON items.
    for client, expected in ((Version(1, 7), f"Successfully built {image[:12]}\n".encode()),
                             (Version(1, 9), json.dumps({"stream": f"Successfully built {image[:12]}\n"},
                                                        separators=(",", ":")).encode())):  # bare: 0.8.1
        build = _exchange("POST", "/build", client, Memory(), "podman")
        out = _through(build.response_body(200, []), json.dumps({"stream": f"{image}\n"}).encode() +
                       b"\n" + json.dumps(aux).encode() + b"\n")
        assert out == expected, out


def test_podman_search_without_its_index_is_500_as_in_0_8_1() -> None:
    """Docker 0.8.1's httpError answered 500 for an unreachable index (nothing "No such" missing)."""
    search = _exchange("GET", "/images/search", Version(1, 9), Memory(), "podman")
    assert search.response_head(404, [], b'{"message":"dial tcp: lookup index.docker.io"}')[0] == 500
    docker = _exchange("GET", "/images/search", Version(1, 9), Memory(), "docker")
    assert docker.response_head(404, [], b"{}")[0] == 404


def test_command_as_0_8_1_listed_it() -> None:
    """Docker 0.8.1 (and 0.3.3 before it) listed Command as Sprintf("%s %s", Path, Args joined)."""
    context = Context("GET", "/containers/json", {}, Version(1, 9), Version(1, 41))
    assert command_as_2013("true", context) == "true "
    assert command_as_2013("sh -c 'echo hi there' x", context) == "sh -c echo hi there x"
    assert command_as_2013("echo it's", context) == "echo it's"
    assert command_as_2013(None, context) is None
    listed = _exchange("GET", "/containers/json", Version(1, 4), Memory())
    rows = json.loads(_through(listed.response_body(200, []), json.dumps(
        [{"Id": CID, "Image": "busybox", "Command": "true;", "Created": 1, "Status": "Exited (0) 1 second ago",
          "Ports": [], "Names": ["/x"]}]).encode()))
    assert rows[0]["Command"] == "true; "


def test_start_of_a_command_not_found_is_204_as_0_8_1_answered() -> None:
    """Docker 0.8.1 (lxc) started the container and answered 204; its process then exited 127."""
    docker = (b'{"message":"failed to create shim task: OCI runtime create failed: runc create failed: unable to '
              b'start container process: exec: \\"true;\\": executable file not found in $PATH: unknown"}')
    podman = b'{"cause":"executable file `true;` not found in $PATH","message":"... not found in $PATH"}'
    for kind, status, body in (("docker", 400, docker), ("podman", 500, podman)):
        start = _exchange("POST", f"/containers/{CID}/start", Version(1, 8), Memory(), kind)
        assert start.status_depends_on_message(status)
        assert start.response_head(status, [], body)[0] == 204
    other = _exchange("POST", f"/containers/{CID}/start", Version(1, 8), Memory())
    assert other.response_head(500, [], b'{"message":"cannot start: no such file or directory"}')[0] == 500


def test_committed_image_names_its_container_as_0_8_1_did() -> None:
    """Docker 0.8.1's image JSON kept the committed container's id and Config (container,
    container_config); Podman leaves them empty, Docker from API 1.45 leaves them out."""
    memory = Memory()
    memory.echoes[CID] = {"Config": {"Image": "busybox", "MemorySwap": 0}}
    context = Context("POST", "/commit", {}, Version(1, 9), Version(1, 41), upstream_kind="podman", memory=memory)
    emulation = commit_noting_container(LegacyRequest("POST", {}, {"container": CID[:12]}, None, context))
    assert next(emulation) == Call("GET", f"/containers/{CID[:12]}/json")
    try:
        emulation.send(Answer(200, {"Id": CID, "Config": {"Image": "docker.io/library/busybox:latest", "Cmd": ["x"]}}))
    except StopIteration as stop:
        assert stop.value == Pass("POST", f"/commit?container={CID[:12]}", client_body=True)
    image = "b" * 64
    commit = _exchange("POST", f"/commit", Version(1, 9), memory, "podman")
    commit.context.notes.update(context.notes)
    _through(commit.response_body(201, []), json.dumps({"Id": f"sha256:{image}"}).encode())
    inspect = _exchange("GET", f"/images/{image}/json", Version(1, 9), memory, "podman")
    raw = json.loads(_through(inspect.response_body(200, []), json.dumps(
        {"Id": f"sha256:{image}", "Parent": "", "Container": "", "ContainerConfig": {"Image": "", "Cmd": None},
         "Config": {"Cmd": ["x"]}, "Created": "2026-12-07T07:48:06Z", "Size": 1, "VirtualSize": 1,
         "DockerVersion": "", "Architecture": "amd64", "Os": "linux"}).encode()))
    assert raw["container"] == CID, raw
    assert {key: raw["container_config"][key] for key in ("Image", "Cmd")} == {"Image": "busybox", "Cmd": ["x"]}, raw


def test_listed_image_as_0_6_1_named_it() -> None:
    """Docker 0.6.1 (and every 2013 daemon) listed TagStore.ImageName: repository:tag, else a 12-hex id."""
    context = Context("GET", "/containers/json", {}, Version(1, 4), Version(1, 41))
    assert listed_image_name("busybox", context) == "busybox:latest"
    assert listed_image_name("busybox:1.36", context) == "busybox:1.36"
    assert listed_image_name("127.0.0.1:5000/app", context) == "127.0.0.1:5000/app:latest"
    assert listed_image_name("sha256:" + "a" * 64, context) == "a" * 12
    assert listed_image_name("1234", context) == "1234"
    assert listed_image_name("busybox@sha256:" + "a" * 64, context) == "busybox@sha256:" + "a" * 64
    listed = _exchange("GET", "/containers/json", Version(1, 9), Memory(), "podman")
    rows = json.loads(_through(listed.response_body(200, []), json.dumps(
        [{"Id": CID, "Image": "docker.io/library/busybox:latest", "Command": "true", "Created": 1,
          "Status": "Exited (0) 1 second ago", "Ports": [], "Names": ["/x"]}]).encode()))
    assert rows[0]["Image"] == "busybox:latest"
