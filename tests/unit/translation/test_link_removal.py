"""Removing a 2013 link (DELETE /containers/parent/alias?link=1, API 1.6-1.9): the route, the
words of an unknown link on dockerd, and the emulation where the daemon has no links (Podman)."""
from __future__ import annotations

from typing import Any

import pytest

from apiproxy.api.routes import match_legacy
from apiproxy.api.versions import Version
from apiproxy.translation.document import Context
from apiproxy.translation.emulations.commands import Answer, Call, LegacyRequest, Pass, Reply
from apiproxy.api.upstream_info import choose_target, parse_upstream_info
from apiproxy.translation.emulations.containers import (DEFAULT_NAME_CONFLICT, link_removal_by_own_name,
                                                         link_removal_without_links, start_with_host_config)
from apiproxy.translation.memory import REMEMBERED, Memory, forget_oldest
from apiproxy.translation.routing import Forward, Settings, plan
from apiproxy.translation.steps.containers import note_link_removal, unknown_link_as_2013


def test_a_link_name_has_its_route_from_1_6() -> None:
    route = match_legacy("DELETE", "/containers/web/db")
    assert route is not None and route.key == "DELETE /containers/{parent}/{alias}"
    assert route.params("/containers/web/db") == {"parent": "web", "alias": "db"}
    assert not route.exists_in(Version(1, 5)) and route.exists_in(Version(1, 6)) and route.exists_in(Version(1, 9))
    assert match_legacy("DELETE", "/containers/web").key == "DELETE /containers/{id}"  # type: ignore[union-attr]


def test_an_unknown_link_is_named_as_2013_daemons_named_it_only_when_removing_a_link() -> None:
    context = Context("DELETE", "/containers/{parent}/{alias}", {}, Version(1, 9), Version(1, 41))
    assert unknown_link_as_2013("No such container: web/nope\n", context) == "No such container: web/nope\n"
    note_link_removal({"v": "False", "link": "True"}, context)  # docker-py 0.x's spelling
    assert unknown_link_as_2013("No such container: web/nope\n", context) == "No such link: web/nope\n"
    assert unknown_link_as_2013({"message": "No such container: web/nope"}, context) == {
        "message": "No such link: web/nope"}
    assert unknown_link_as_2013("Cannot get parent /web for link name /web/x\n", context).startswith("Cannot")


def _context(memory: Memory) -> Context:
    return Context("DELETE", "/containers/{parent}/{alias}", {}, Version(1, 9), Version(1, 41),
                   upstream_kind="podman", memory=memory)


def _drive(emulation: Any, answers: dict[str, Answer]) -> tuple[list[Any], Any]:
    calls: list[Any] = []
    answer = None
    try:
        while True:
            step = emulation.send(answer) if calls else next(emulation)
            calls.append(step)
            answer = answers[f"{step.method} {step.path.split('?')[0]}"] if isinstance(step, Call) else None
    except StopIteration as stop:
        return calls, stop.value


def test_a_link_set_up_on_podman_is_remembered_then_removed_once() -> None:
    memory = Memory()
    start = Context("POST", "/containers/{id}/start", {"id": "web1"}, Version(1, 9), Version(1, 41),
                    upstream_kind="podman", memory=memory)
    _drive(start_with_host_config(LegacyRequest("POST", {"id": "web1"}, {}, {"Links": ["/pg:db"]}, start)), {
        "GET /containers/web1/json": Answer(200, {"Name": "/web", "State": {}, "Config": {}, "HostConfig": {}}),
        "GET /containers/pg/json": Answer(200, {"Id": "pg1", "Config": {}, "NetworkSettings": {}}),
        "POST /containers/web1/rename": Answer(204, None),
        "POST /containers/create": Answer(201, {"Id": "web2"}),
        "DELETE /containers/web1": Answer(204, None),
    })
    assert memory.links == {"web2": {"db": "pg1"}}
    inspect = {"GET /containers/web/json": Answer(200, {"Id": "web2"})}
    request = LegacyRequest("DELETE", {"parent": "web", "alias": "db"}, {"v": "False", "link": "True"}, None,
                            _context(memory))
    calls, result = _drive(link_removal_without_links(request), inspect)
    assert calls == [Call("GET", "/containers/web/json")] and result == Reply(204)
    assert memory.links == {"web2": {}}
    _, again = _drive(link_removal_without_links(request), inspect)
    assert again == Reply(404, "No such link: web/db")


def test_without_link_the_container_the_link_names_is_removed() -> None:
    memory = Memory(links={"web2": {"db": "pg1"}})
    request = LegacyRequest("DELETE", {"parent": "web", "alias": "db"}, {"v": "1"}, None, _context(memory))
    _, result = _drive(link_removal_without_links(request), {"GET /containers/web/json": Answer(200, {"Id": "web2"})})
    assert result == Pass("DELETE", "/containers/pg1?v=1", as_endpoint="DELETE /containers/{id}")
    unknown = LegacyRequest("DELETE", {"parent": "nobody", "alias": "db"}, {}, None, _context(memory))
    _, result = _drive(link_removal_without_links(unknown), {"GET /containers/nobody/json": Answer(404, {})})
    assert result == Reply(404, "No such container: nobody/db")


def test_the_links_memory_keeps_the_newest_containers() -> None:
    memory = Memory()
    for number in range(REMEMBERED + 3):
        memory.links[f"c{number}"] = {"alias": "target"}
        forget_oldest(memory.links)
    assert len(memory.links) == REMEMBERED and "c0" not in memory.links and f"c{REMEMBERED + 2}" in memory.links


def test_a_link_named_without_its_parent_is_refused_as_2013_daemons_refused_it() -> None:
    """0.6.5-1.1: 409 for a container's own name, 404 "No such link" for no container; nothing removed."""
    context = Context("DELETE", "/containers/{id}", {"id": "web"}, Version(1, 9), Version(1, 41))
    request = LegacyRequest("DELETE", {"id": "web"}, {"v": "False", "link": "True"}, None, context)
    calls, result = _drive(link_removal_by_own_name(request), {"GET /containers/web/json": Answer(200, {"Id": "w"})})
    assert calls == [Call("GET", "/containers/web/json")] and result == Reply(409, DEFAULT_NAME_CONFLICT)
    _, result = _drive(link_removal_by_own_name(request), {"GET /containers/web/json": Answer(404, {})})
    assert result == Reply(404, "No such link: web")
    keep = LegacyRequest("DELETE", {"id": "web"}, {"v": "1", "link": "False"}, None, context)
    assert _drive(link_removal_by_own_name(keep), {}) == ([], Pass("DELETE", "/containers/web?v=1"))


@pytest.mark.parametrize(("target", "emulated"), [
    ("/v1.9/containers/web?link=1", True), ("/v1.6/containers/web?link=true&v=0", True),
    ("/v1.9/containers/web?v=1", False), ("/v1.5/containers/web?link=1", False)])
def test_only_a_1_6_to_1_9_link_removal_by_one_name_is_emulated(target: str, emulated: bool) -> None:
    info = parse_upstream_info({"Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12", "Os": "linux"})
    decision = plan("DELETE", target, info, choose_target(info, None), Settings(Version(1, 9)))
    assert isinstance(decision, Forward)
    emulation = decision.exchange.emulation()
    assert (emulation is link_removal_by_own_name) if emulated else emulation is None
