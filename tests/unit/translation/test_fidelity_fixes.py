"""The strings and fields 2013 clients parse (issue 14): state words, insert's last items, the events
2013 daemons logged, sizes written as 0. Each pins the daemon version whose source says so."""
from __future__ import annotations

import json
from typing import Any

import pytest

from apiproxy.api.routes import match_legacy
from apiproxy.api.versions import Version
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.document import Context
from apiproxy.translation.emulations.commands import Answer, LegacyRequest, Reply
from apiproxy.translation.emulations.images import insert_file, insert_last_items
from apiproxy.translation.steps.events import legacy_event
from apiproxy.translation.steps.progress import progress_to_text
from apiproxy.translation.steps.states import legacy_duration, legacy_state_string

CONTEXT = Context("GET", "/containers/json", {}, Version(1, 9), Version(1, 41))
NEW_ID = "f" * 64


def _exchange(method: str, path: str, client: Version, kind: str = "docker",
              target: Version = Version(1, 41), upstream_api: Version | None = None) -> ChainExchange:
    plain, _, query = path.partition("?")
    route = match_legacy(method, plain)
    assert route is not None
    exchange = ChainExchange.build(route, client, target, plain, kind, upstream_api=upstream_api or target)
    exchange.request_target(plain, query)
    return exchange


def _answered(exchange: ChainExchange, body: Any) -> Any:
    transform = exchange.response_body(200, [(b"Content-Type", b"application/json")])
    if transform is None:
        return body
    return json.loads(transform.feed(json.dumps(body).encode()) + transform.close())


def _streamed(exchange: ChainExchange, items: list[Any]) -> list[Any]:
    transform = exchange.response_body(200, [(b"Content-Type", b"application/json")])
    assert transform is not None
    text = transform.feed(b"".join(json.dumps(item).encode() + b"\n" for item in items)) + transform.close()
    return [json.loads(line) for line in text.decode().replace("}{", "}\n{").splitlines() if line.strip()]


# State strings: v0.3.3-v0.9.1 state.go State.String(), utils.HumanDuration ---------------------------

@pytest.mark.parametrize(("today", "legacy"), [
    ("Up Less than a second", "Up Less than a second"),
    ("Up 1 second", "Up 1 seconds"),  # 0.8's HumanDuration had no singular
    ("Up 5 seconds", "Up 5 seconds"),
    ("Up About a minute", "Up About a minute"),
    ("Up 2 hours (Paused)", "Up 2 hours"),  # paused: Running in 2013's terms, no suffix then
    ("Up 3 minutes (healthy)", "Up 3 minutes"),
    ("Up 3 minutes (health: starting)", "Up 3 minutes"),
    ("Up 3 years", "Up 3.000000 years"),  # "%f years" from 0.4.7 on
    ("Exited (0) 3 seconds ago", "Exit 0"),
    ("Exited (2) About an hour ago", "Exit 2"),
    ("Exited (137) 5 days ago", "Exit 137"),
    ("Exited (-1) 1 second ago", "Exit -1"),
    ("Created", "Exit 0"),  # never started: ExitCode 0, and 2013 wrote "Exit 0"
    ("Restarting (1) 2 seconds ago", "Exit 1"),  # between runs: not running, its last code
    ("Removal In Progress", "Exit 0"),
    ("Dead", "Exit 0"),
    ("", "Exit 0"),
    ("Removing", "Exit 0"),  # Podman's words
    ("Stopping", "Exit 0"),
    ("Unknown", "Exit 0"),
])
def test_state_strings_are_up_or_exit(today: str, legacy: str) -> None:
    assert legacy_state_string(today, CONTEXT) == legacy


def test_durations_keep_the_words_both_daemons_share() -> None:
    for words in ("Less than a second", "59 seconds", "About a minute", "59 minutes", "About an hour",
                  "47 hours", "13 days", "8 weeks", "23 months"):
        assert legacy_duration(words) == words
    assert legacy_state_string(None, CONTEXT) is None


@pytest.mark.parametrize("kind", ["docker", "podman"])
@pytest.mark.parametrize("client", [Version(1, 0), Version(1, 5), Version(1, 9)])
def test_a_legacy_container_list_says_up_or_exit(client: Version, kind: str) -> None:
    listed = [{"Id": "a" * 64, "Status": "Exited (3) 2 minutes ago", "Ports": []},
              {"Id": "b" * 64, "Status": "Created", "Ports": []},
              {"Id": "c" * 64, "Status": "Up 1 second (Paused)", "Ports": []}]
    answer = _answered(_exchange("GET", "/containers/json?all=1", client, kind), listed)
    assert [c["Status"] for c in answer] == ["Exit 3", "Exit 0", "Up 1 seconds"]


# Insert's last items: v0.4.0-v0.6.6 api.go postImagesInsert (FormatStatus(img.ID), then APIID{ShortID}),
# v0.6.7-v0.7.6 FormatStatus(img.ID, "") (status omitempty), v0.8.1 FormatStatus("", img.ID) ----------

@pytest.mark.parametrize(("minor", "last"), [
    (0, [{"status": NEW_ID}]),
    (1, [{"status": NEW_ID}, {"Id": NEW_ID[:12]}]),
    (3, [{"status": NEW_ID}, {"Id": NEW_ID[:12]}]),
    (6, [{"status": NEW_ID}, {"Id": NEW_ID[:12]}]),
    (7, [{"id": NEW_ID}]),
    (8, [{"id": NEW_ID}]),
    (9, [{"status": NEW_ID}]),
])
def test_insert_ends_as_the_daemon_of_the_version_did(minor: int, last: list[dict[str, str]]) -> None:
    assert insert_last_items(NEW_ID, minor) == last


def test_insert_at_1_0_ends_with_the_id_as_a_text_line() -> None:
    assert progress_to_text({"status": NEW_ID}, CONTEXT) == f"{NEW_ID}\r\n"  # v0.8.1, version 1.0: plain text


def test_the_insert_emulation_ends_with_those_items() -> None:
    context = Context("POST", "/images/{name}/insert", {"name": "base"}, Version(1, 7), Version(1, 41))
    memory = context.memory
    memory.insert_fetch_urls = True
    request = LegacyRequest("POST", {"name": "base"}, {"url": "http://x/f", "path": "/f"}, None, context)
    emulation = insert_file(request)
    next(emulation)
    emulation.send(Answer(200, {"Config": {}}))
    emulation.send(Answer(200, "/tmp/f.tar"))
    emulation.send(Answer(201, {"Id": "helper"}))
    emulation.send(Answer(200, None))
    emulation.send(Answer(201, {"Id": "sha256:" + NEW_ID}))
    with pytest.raises(StopIteration) as stop:
        emulation.send(Answer(204, None))
    reply = stop.value.value
    assert isinstance(reply, Reply) and reply.items is not None
    assert reply.items[-1] == {"id": NEW_ID} and len(reply.items) == 3


# Events: the LogEvent calls of v0.5.3-v0.8.1 (create, start, stop, restart, kill, die, destroy,
# export; untag, delete with an empty from) ---------------------------------------------------------

def _event(kind: str, action: str, ident: str = "x1", image: str = "busybox") -> dict[str, Any]:
    return {"status": action, "id": ident, "from": image, "Type": kind, "Action": action,
            "Actor": {"ID": ident, "Attributes": {"image": image}}, "time": 7}


@pytest.mark.parametrize("kind,action", [
    ("image", "tag"), ("image", "pull"), ("image", "push"), ("image", "import"), ("image", "save"),
    ("container", "pause"), ("container", "unpause"), ("container", "exec_create: sh"),
    ("container", "exec_start: sh"), ("container", "attach"), ("container", "rename"),
    ("container", "health_status: healthy"), ("container", "oom"), ("container", "commit"),
    ("container", "init"), ("container", "cleanup"), ("network", "connect"), ("volume", "mount"),
    ("daemon", "reload"), ("builder", "prune"),
])
def test_events_no_2013_daemon_logged_are_dropped(kind: str, action: str) -> None:
    assert legacy_event(_event(kind, action), CONTEXT) is None


@pytest.mark.parametrize("action", ["create", "start", "stop", "restart", "kill", "die", "destroy", "export"])
def test_container_events_keep_their_image(action: str) -> None:
    assert legacy_event(_event("container", action), CONTEXT) == \
        {"status": action, "id": "x1", "from": "busybox", "time": 7}


@pytest.mark.parametrize("action", ["untag", "delete"])
def test_image_events_have_no_from(action: str) -> None:
    assert legacy_event(_event("image", action, "sha256:" + NEW_ID), CONTEXT) == \
        {"status": action, "id": "sha256:" + NEW_ID, "time": 7}


@pytest.mark.parametrize("kind", ["docker", "podman"])
def test_a_since_replay_carries_only_those_events(kind: str) -> None:
    replay = [_event("image", "pull", "busybox:latest"), _event("image", "tag", "sha256:" + NEW_ID),
              _event("container", "create", "c" * 64), _event("container", "attach", "c" * 64),
              _event("network", "connect", "n1"), _event("container", "start", "c" * 64),
              _event("image", "untag", "sha256:" + NEW_ID)]
    if kind == "podman":
        replay.append(_event("container", "remove", "c" * 64))
    events = _streamed(_exchange("GET", "/events?since=1", Version(1, 9), kind), replay)
    assert [(e["status"], "from" in e) for e in events] == \
        [("create", True), ("start", True), ("untag", False)] + ([("destroy", True)] if kind == "podman" else [])
    assert events[-1]["id"] == ("c" * 64 if kind == "podman" else NEW_ID)


# Sizes: v0.7.6 APIContainers always wrote SizeRw/SizeRootFs; v0.8.1 wrote them with size=1, 0 included;
# Docker 1.8's types.Container made them omitempty ------------------------------------------------

def test_sizes_asked_for_are_written_as_0() -> None:
    listed = [{"Id": "a" * 64, "Status": "Created", "SizeRootFs": 1234}, {"Id": "b" * 64, "Status": "Created"}]
    answer = _answered(_exchange("GET", "/containers/json?size=1&all=1", Version(1, 9)), listed)
    assert [(c["SizeRw"], c["SizeRootFs"]) for c in answer] == [(0, 1234), (0, 0)]
    for spelling in ("true", "True", "t"):
        answer = _answered(_exchange("GET", f"/containers/json?size={spelling}", Version(1, 9), "podman"), listed)
        assert answer[1]["SizeRw"] == 0


def test_sizes_not_asked_for_are_left_out_from_1_9_and_0_before() -> None:
    listed = [{"Id": "a" * 64, "Status": "Created"}]
    assert "SizeRw" not in _answered(_exchange("GET", "/containers/json?size=0", Version(1, 9)), listed)[0]
    assert _answered(_exchange("GET", "/containers/json", Version(1, 8)), listed)[0]["SizeRw"] == 0
    assert _answered(_exchange("GET", "/containers/json", Version(1, 2)), listed)[0]["SizeRootFs"] == 0


# Ports: v0.7.6/v0.8.1 PortMappingAPI wrote an unbound port's number in PublicPort (PrivatePort 0); fixed
# in 0.12; types.Port made PublicPort and IP omitempty in Docker 1.7 ---------------------------------

def test_ports_carry_every_field_and_unpublished_ones_as_2013_listed_them() -> None:
    listed = [{"Id": "a" * 64, "Status": "Created", "Ports": [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}, {"PrivatePort": 22, "Type": "tcp"}]}]
    for client in (Version(1, 6), Version(1, 9)):
        ports = _answered(_exchange("GET", "/containers/json", client), json.loads(json.dumps(listed)))[0]["Ports"]
        assert ports == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                         {"IP": "", "PrivatePort": 0, "PublicPort": 22, "Type": "tcp"}]
    shown = _answered(_exchange("GET", "/containers/json", Version(1, 4)), listed)[0]["Ports"]
    assert shown == "8080->80"  # 0.3-0.6.1's display string, made from today's numbers: published ports only


def test_an_image_without_created_says_the_zero_time_on_docker_26_and_later() -> None:
    """Docker 26's image inspect made Created omitempty at every version; v0.8.1 wrote time.Time{}."""
    inspect = {"Id": "sha256:" + NEW_ID, "Config": {}, "ContainerConfig": {}, "Size": 5}
    answer = _answered(_exchange("GET", "/images/x/json", Version(1, 9), target=Version(1, 24),
                                 upstream_api=Version(1, 45)), inspect)
    assert answer["created"] == "0001-01-01T00:00:00Z"
