"""docker-py 0.x removes a link by its name, DELETE /containers/parent/alias?link=1 (API 1.6-1.9, Docker
0.6.5-0.8.1 ContainerDestroy): forwarded to dockerd, which still does it, and emulated on Podman, which has
no links (issue 14). The answers pinned are Docker 0.8.1's: 204, and 404 "No such link: parent/alias"."""
from __future__ import annotations

import pytest

from clients.dockerpy import Worker
from support import DIRECT_API, request
from test_fidelity_echoes_dockerpy import _named, busybox, dockerpy  # noqa: F401


@pytest.mark.parametrize("dockerpy", [("0.2.3", "1.6"), ("0.3.1", "1.9")], indirect=True, ids=["api1.6", "api1.9"])
def test_a_link_is_removed_by_its_name_and_the_containers_stay(dockerpy: Worker, busybox: str, made: list[str],
                                                               docker_sock: str) -> None:
    db = dockerpy.call("create_container", busybox, ["sleep", "60"], name=_named("db", made))
    dockerpy.call("start", db["Id"])
    app = dockerpy.call("create_container", busybox, ["sleep", "60"], name=_named("app", made))
    app_name, db_name = made[-1], made[-2]
    dockerpy.call("start", app["Id"], links={db_name: "db"})

    assert dockerpy.call("remove_container", f"{app_name}/db", link=True) is None  # 204
    again = dockerpy.try_call("remove_container", f"{app_name}/db", link=True)
    assert "404" in again["error"] and f"No such link: {app_name}/db" in again["error"], again
    for name in (app_name, db_name):
        assert request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{name}/json").status == 200


@pytest.mark.parametrize("dockerpy", [("0.3.1", "1.9")], indirect=True, ids=["api1.9"])
def test_without_link_the_linked_container_is_removed_by_the_links_name(dockerpy: Worker, busybox: str,
                                                                        made: list[str], docker_sock: str) -> None:
    """0.8.1 resolved /parent/alias to the container it names and, without link=1, removed that one."""
    db = dockerpy.call("create_container", busybox, ["sleep", "60"], name=_named("db", made))
    dockerpy.call("start", db["Id"])
    app = dockerpy.call("create_container", busybox, ["sleep", "60"], name=_named("app", made))
    app_name = made[-1]
    dockerpy.call("start", app["Id"], links={made[-2]: "db"})
    running = dockerpy.try_call("remove_container", f"{app_name}/db")
    assert "Impossible to remove a running container, please stop it first" in running["error"], running
    dockerpy.call("kill", db["Id"])
    dockerpy.call("wait", db["Id"])
    assert dockerpy.call("remove_container", f"{app_name}/db") is None
    assert request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{db['Id']}/json").status == 404
    assert request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{app_name}/json").status == 200


@pytest.mark.parametrize("dockerpy", [("0.3.1", "1.9")], indirect=True, ids=["api1.9"])
def test_a_link_named_without_its_parent_is_refused_and_nothing_is_removed(dockerpy: Worker, busybox: str,
                                                                           made: list[str], docker_sock: str) -> None:
    """0.8.1's ContainerDestroy: 409 for a container's own name, 404 "No such link" for no container."""
    dockerpy.call("create_container", busybox, ["true"], name=_named("alone", made))
    own = dockerpy.try_call("remove_container", made[-1], link=True)
    assert "409" in own["error"] and "Conflict, cannot remove the default name of the container" in own["error"], own
    assert request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{made[-1]}/json").status == 200
    missing = dockerpy.try_call("remove_container", "apiproxy-no-such-container", link=True)
    assert "404" in missing["error"] and "No such link: apiproxy-no-such-container" in missing["error"], missing
