"""Real docker-py 0.x clients read create and start fields back as they gave them, and Podman's builds and
searches answer in Docker's words (issue 14). Each test names the 2013 daemon whose answer it pins: the
newest daemon that served the client's API version (schemas/changes/ says where each changed)."""
from __future__ import annotations

import re
import urllib.parse
import uuid
from typing import Any, Iterator

import pytest

from clients.dockerpy import Worker, data
from support import DIRECT_API, Apiproxy, request

MEMORY = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def busybox(docker_sock: str, image: str) -> str:
    """The offline test image as `busybox` (what 2013 users and docker-py's own suites named)."""
    query = urllib.parse.urlencode({"repo": "busybox", "tag": "latest"})
    if image not in ("busybox", "busybox:latest"):
        reply = request(docker_sock, "POST", f"/v{DIRECT_API}/images/{urllib.parse.quote(image)}/tag?{query}")
        assert reply.status == 201, reply
    return "busybox"



def client(proxy: Apiproxy, release: str, version: str) -> Iterator[Worker]:
    worker = Worker(release, f"unix://{proxy.sock}", version)
    try:
        yield worker
    finally:
        worker.close()


@pytest.fixture
def dockerpy(proxy: Apiproxy, request: pytest.FixtureRequest) -> Iterator[Worker]:
    release, version = request.param
    yield from client(proxy, release, version)


def _named(prefix: str, made: list[str]) -> str:
    name = f"apiproxy-echo-{prefix}-{uuid.uuid4().hex[:8]}"
    made.append(name)
    return name


@pytest.mark.parametrize("dockerpy, daemon", [(("0.2.2", "1.4"), "0.6.1"), (("0.2.2", "1.5"), "0.6.3")],
                         indirect=["dockerpy"], ids=["api1.4", "api1.5"])
def test_port_specs_echoed_below_1_6(dockerpy: Worker, busybox: str, made: list[str], docker_sock: str,
                                     daemon: str) -> None:
    """Docker 0.6.1 and 0.6.3 kept the PortSpecs a create gave and showed them in inspect."""
    created = dockerpy.call("create_container", busybox, ["true"], ports=["1111", "2222/udp"])
    made.append(created["Id"])
    inspect = dockerpy.call("inspect_container", created["Id"])
    assert inspect["Config"]["PortSpecs"] == ["1111", "2222/udp"], (daemon, inspect["Config"])
    exposed = request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{created['Id']}/json").json()
    assert set(exposed["Config"]["ExposedPorts"]) == {"1111/tcp", "2222/udp"}


@pytest.mark.parametrize("dockerpy", [("0.2.2", "1.6")], indirect=True, ids=["api1.6"])
def test_port_specs_null_from_1_6(dockerpy: Worker, busybox: str, made: list[str]) -> None:
    """Docker 0.6.6 (newest of API 1.6) moved PortSpecs into ExposedPorts and showed null."""
    created = dockerpy.call("create_container", busybox, ["true"], ports=["1111"])
    made.append(created["Id"])
    assert dockerpy.call("inspect_container", created["Id"])["Config"]["PortSpecs"] is None


@pytest.mark.parametrize("dockerpy", [("0.3.1", "1.9")], indirect=True, ids=["api1.9"])
def test_image_memory_swap_and_cpu_shares_as_given(dockerpy: Worker, busybox: str, made: list[str],
                                                   docker_sock: str) -> None:
    """Docker 0.8.1 kept Image as the user named it, MemorySwap 0 beside a memory limit (-1 without swap
    accounting) and CpuShares as given; today's daemons resolve, double and bound them."""
    created = dockerpy.call("create_container", busybox, ["true"], mem_limit=MEMORY, cpu_shares=1,
                            name=_named("config", made))
    config = dockerpy.call("inspect_container", created["Id"])["Config"]
    daemon = request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{created['Id']}/json").json()["HostConfig"]
    assert config["Image"] == "busybox" and config["CpuShares"] == 1 and config["Memory"] == MEMORY, config
    assert config["MemorySwap"] == (-1 if daemon["MemorySwap"] == -1 else 0), (config, daemon["MemorySwap"])


@pytest.mark.parametrize("dockerpy, daemon", [(("0.3.1", "1.8"), "0.7.6"), (("0.3.1", "1.9"), "0.8.1")],
                         indirect=["dockerpy"], ids=["api1.8", "api1.9"])
def test_host_config_as_the_start_gave_it(dockerpy: Worker, busybox: str, made: list[str], daemon: str,
                                          tmp_path: Any) -> None:
    """Docker 0.7.6 and 0.8.1 kept the start's HostConfig as given: links "name:alias", binds as written."""
    linked = dockerpy.call("create_container", busybox, ["sleep", "60"], name=_named("db", made))
    dockerpy.call("start", linked["Id"])
    app = dockerpy.call("create_container", busybox, ["true"], name=_named("app", made))
    db_name = made[-2]
    dockerpy.call("start", app["Id"], links={db_name: "db"}, binds={str(tmp_path): "/mnt"})
    host = dockerpy.call("inspect_container", app["Id"])["HostConfig"]
    assert host["Links"] == [f"{db_name}:db"], (daemon, host)
    assert host["Binds"] == [f"{tmp_path}:/mnt"] and host["PortBindings"] is None and host["LxcConf"] is None, host
    dockerpy.call("kill", linked["Id"])


@pytest.mark.parametrize("dockerpy", [("0.3.1", "1.6"), ("0.3.1", "1.9")], indirect=True, ids=["api1.6", "api1.9"])
def test_build_names_the_image_it_made(dockerpy: Worker, busybox: str, docker_sock: str) -> None:
    """Docker 0.8.1 (and every 2013 daemon) ended a build with "Successfully built <12 hex>", where
    docker-py 0.3.1 reads the new image's id (below API 1.8 it answers that id)."""
    output = dockerpy.call("build", fileobj={"file": f"FROM {busybox}\nRUN echo built >/built\n"}, rm=True,
                           stream=dockerpy.version == "1.9", _within=180)
    if dockerpy.version == "1.9":
        log = data(output).decode(errors="replace")
        found = re.search(r"Successfully built ([0-9a-f]{12})", log)
        assert found, log
        built = found.group(1)
    else:
        built, log = output
        assert built and re.fullmatch("[0-9a-f]{12}", built), output
    assert request(docker_sock, "GET", f"/v{DIRECT_API}/images/{built}/json").status == 200, log
    request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{built}?force=1")


@pytest.mark.parametrize("dockerpy", [("0.3.1", "1.9")], indirect=True, ids=["api1.9"])
def test_search_without_its_index_is_a_server_error(dockerpy: Worker) -> None:
    """Docker 0.8.1 answered 500 when the index could not be reached (httpError's default)."""
    answer = dockerpy.try_call("search", "busybox", _within=120)
    if "result" in answer:
        pytest.skip("the index answered: this machine reaches the network")
    assert re.search(r"\b500 Server Error\b", answer["error"]), answer["error"]


@pytest.mark.parametrize("dockerpy", [("0.2.2", "1.4"), ("0.3.1", "1.9")], indirect=True, ids=["api1.4", "api1.9"])
def test_listed_command_as_2013_wrote_it(dockerpy: Worker, busybox: str, made: list[str]) -> None:
    """Docker 0.6.1 and 0.8.1 listed Command as the path, a space and the arguments joined as they were:
    "true " (docker-py 0.2.2's own suite asserts it), "sh -c echo hi" (today's daemons quote 'echo hi')."""
    alone = dockerpy.call("create_container", busybox, ["true"])
    made.append(alone["Id"])
    spaced = dockerpy.call("create_container", busybox, ["sh", "-c", "echo hi"])
    made.append(spaced["Id"])
    rows = {row["Id"][:12]: row["Command"] for row in dockerpy.call("containers", all=True)}
    assert rows[alone["Id"][:12]] == "true " and rows[spaced["Id"][:12]] == "sh -c echo hi", rows


@pytest.mark.parametrize("dockerpy", [("0.3.1", "1.9")], indirect=True, ids=["api1.9"])
def test_committed_image_names_its_container(dockerpy: Worker, busybox: str, made: list[str],
                                             docker_sock: str) -> None:
    """Docker 0.8.1's image JSON said which container a commit came from and its Config (container,
    container_config: docker-py 0.2.2-0.3.1's suites read both); Podman and Docker 26+ no longer do."""
    created = dockerpy.call("create_container", busybox, ["touch", "/test"], name=_named("commit", made))
    dockerpy.call("start", created["Id"])
    dockerpy.call("wait", created["Id"])
    image = dockerpy.call("commit", created["Id"])["Id"]
    try:
        raw = dockerpy.call("inspect_image", image)
        assert raw["container"].startswith(created["Id"]) and raw["container_config"]["Image"] == "busybox", raw
        assert raw["container_config"]["Cmd"] == ["touch", "/test"], raw
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{image}?force=1")


@pytest.mark.parametrize("dockerpy", [("0.2.2", "1.4")], indirect=True, ids=["api1.4"])
def test_listed_image_names_its_tag(dockerpy: Worker, busybox: str, made: list[str]) -> None:
    """Docker 0.6.1 listed a container's image as a repository:tag of it (busybox:latest), as docker-py
    0.2.2-0.3.1's own suites assert; today's Docker lists the name the create gave (busybox)."""
    created = dockerpy.call("create_container", busybox, ["true"])
    made.append(created["Id"])
    rows = {row["Id"][:12]: row["Image"] for row in dockerpy.call("containers", all=True)}
    assert rows[created["Id"][:12]] == "busybox:latest", rows
