"""Emulations run on made-up answers: the plan of upstream calls they make."""
from __future__ import annotations

from typing import Any

import pytest

from apiproxy.translation.document import Context
from apiproxy.translation.emulations.commands import Answer, Call, EmulationFailed, Fetch, Pass, Reply, Unpark
from apiproxy.translation.emulations.commands import LegacyRequest
from apiproxy.translation.emulations.containers import containers_between, start_with_host_config
from apiproxy.translation.emulations.images import insert_file
from apiproxy.api.versions import Version


def _run(emulation: Any, answers: dict[str, Answer]) -> tuple[list[Any], Any]:
    """Drive an emulation, answering each call by its method and path; returns (steps, result)."""
    steps: list[Any] = []
    answer = None
    try:
        while True:
            step = emulation.send(answer) if steps else next(emulation)
            steps.append(step)
            answer = answers.get(f"{step.method} {step.path.split('?')[0]}") if isinstance(step, Call) else None
    except StopIteration as stop:
        return steps, stop.value


def test_start_with_binds_recreates_with_the_legacy_id_in_a_label() -> None:
    context = Context("POST", "/containers/{id}/start", {"id": "legacy1"}, Version(1, 3), Version(1, 41))
    context.memory.ids.record("legacy1", "real1")  # recreated once already: the client knows legacy1
    request = LegacyRequest("POST", {"id": "real1"}, {}, {"Binds": ["/h:/c"], "ContainerIDFile": "/x"}, context)
    inspect = {"Name": "/web", "State": {"Running": False}, "Config": {"Image": "busybox", "Cmd": ["true"]},
               "HostConfig": {"Memory": 5, "Ulimits": [{"Name": "RLIMIT_NOFILE", "Soft": 1, "Hard": 2}]}}
    steps, result = _run(start_with_host_config(request), {
        "GET /containers/real1/json": Answer(200, inspect),
        "POST /containers/real1/rename": Answer(204, None),
        "DELETE /containers/real1": Answer(204, None),
        "POST /containers/create": Answer(201, {"Id": "real2"}),
    })
    calls = [(s.method, s.path) for s in steps if isinstance(s, Call)]
    assert calls == [("GET", "/containers/real1/json"), ("POST", "/containers/real1/rename?name=web-apiproxy-real1"),
                     ("POST", "/containers/create?name=web"), ("DELETE", "/containers/real1?force=1")]
    created = steps[2].body
    assert created["HostConfig"]["Binds"] == ["/h:/c"] and created["HostConfig"]["Memory"] == 5
    assert created["HostConfig"]["Ulimits"] == [{"Name": "nofile", "Soft": 1, "Hard": 2}]
    assert created["Labels"] == {"apiproxy.legacy-id": "legacy1"} and "ContainerIDFile" not in created["HostConfig"]
    assert steps[4] == Unpark("legacy1", "real2", "legacy1")
    assert result == Pass("POST", "/containers/real2/start")


def test_a_container_started_by_name_is_renamed_and_removed_by_its_id() -> None:
    """The name moves to the new container: the old one is renamed, and removed, by the id inspect gave."""
    context = Context("POST", "/containers/{id}/start", {"id": "web"}, Version(1, 9), Version(1, 41))
    request = LegacyRequest("POST", {"id": "web"}, {}, {"Links": ["db:db"]}, context)
    inspect = {"Id": "real1", "Name": "/web", "State": {"Running": False}, "Config": {"Image": "busybox"},
               "HostConfig": {}}
    steps, result = _run(start_with_host_config(request), {
        "GET /containers/web/json": Answer(200, inspect),
        "POST /containers/real1/rename": Answer(204, None),
        "DELETE /containers/real1": Answer(204, None),
        "POST /containers/create": Answer(201, {"Id": "real2"}),
    })
    calls = [(s.method, s.path) for s in steps if isinstance(s, Call)]
    assert calls == [("GET", "/containers/web/json"), ("POST", "/containers/real1/rename?name=web-apiproxy-real1"),
                     ("POST", "/containers/create?name=web"), ("DELETE", "/containers/real1?force=1")]
    assert steps[2].body["Labels"] == {"apiproxy.legacy-id": "real1"}  # the id, not the name
    assert steps[4] == Unpark("web", "real2", "real1")
    assert result == Pass("POST", "/containers/real2/start")


def test_start_without_host_settings_only_connects_waiting_attaches() -> None:
    context = Context("POST", "/containers/{id}/start", {"id": "abc"}, Version(1, 9), Version(1, 41))
    steps, result = _run(start_with_host_config(LegacyRequest("POST", {"id": "abc"}, {}, None, context)), {})
    assert steps == [Unpark("abc", "abc")] and result == Pass("POST", "/containers/abc/start")


def test_a_refused_create_gives_the_old_container_its_name_back() -> None:
    context = Context("POST", "/containers/{id}/start", {"id": "real1"}, Version(1, 7), Version(1, 41),
                      upstream_kind="podman")
    request = LegacyRequest("POST", {"id": "real1"}, {}, {"Links": ["/pg:db"], "Privileged": True}, context)
    emulation = start_with_host_config(request)
    assert next(emulation) == Call("GET", "/containers/real1/json")
    linked = emulation.send(Answer(200, {"Name": "/web", "State": {}, "Config": {"Env": ["A=1"]}, "HostConfig": {}}))
    assert linked == Call("GET", "/containers/pg/json")
    rename = emulation.send(Answer(200, {"Config": {"Env": ["PGDATA=/d"], "ExposedPorts": {"5432/tcp": {}}},
                                         "NetworkSettings": {"IPAddress": "10.0.0.7"}}))
    assert rename.path == "/containers/real1/rename?name=web-apiproxy-real1"
    create = emulation.send(Answer(204, None))
    host = create.body["HostConfig"]
    assert "Links" not in host and host["Privileged"] is True and host["ExtraHosts"] == ["db:10.0.0.7"]
    assert create.body["Env"] == ["A=1", "DB_PORT=tcp://10.0.0.7:5432", "DB_PORT_5432_TCP=tcp://10.0.0.7:5432",
                                  "DB_PORT_5432_TCP_ADDR=10.0.0.7", "DB_PORT_5432_TCP_PORT=5432",
                                  "DB_PORT_5432_TCP_PROTO=tcp", "DB_NAME=/web/db", "DB_ENV_PGDATA=/d"]
    assert emulation.send(Answer(500, {"message": "no"})) == Call("POST", "/containers/real1/rename?name=web")
    with pytest.raises(EmulationFailed) as failed:
        emulation.send(Answer(204, None))
    assert failed.value.answer == Answer(500, {"message": "no"})


@pytest.mark.parametrize("filters", ["{not json", "[1, 2]", "[" * 5000])
def test_since_with_filters_that_are_not_a_json_object_gets_400(filters: str) -> None:
    context = Context("GET", "/containers/json", {}, Version(1, 9), Version(1, 41))
    request = LegacyRequest("GET", {}, {"since": "abc", "filters": filters}, None, context)
    steps, result = _run(containers_between(request), {})
    assert steps == [] and isinstance(result, Reply) and result.status == 400


def test_insert_names_its_url_in_the_helper_container_without_a_password() -> None:
    context = Context("POST", "/images/{name}/insert", {"name": "base"}, Version(1, 5), Version(1, 41))
    url = "http://joe:s3cret@files.example/greeting.txt"
    emulation = insert_file(LegacyRequest("POST", {"name": "base"}, {"url": url, "path": "/opt/g.txt"}, None, context))
    assert next(emulation) == Call("GET", "/images/base/json")
    assert emulation.send(Answer(200, {"Config": {"Cmd": ["sh"]}, "Author": "me"})) == Fetch(url, "opt/g.txt")
    create = emulation.send(Answer(200, "/tmp/fetched.tar"))
    assert create.body == {"Image": "base", "Cmd": ["echo", "insert", "http://***@files.example/greeting.txt",
                                                    "/opt/g.txt"]}
