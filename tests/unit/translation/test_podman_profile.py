"""What apiproxy does for Podman's own ways (schemas/upstreams/podman.json), without a daemon."""
from __future__ import annotations

import base64
import json
from typing import Any

from apiproxy.translation.steps.podman import registry_host, top_columns
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.document import Context
from apiproxy.translation.emulations.commands import Answer, Call, Pass, Reply
from apiproxy.translation.emulations.commands import LegacyRequest
from apiproxy.translation.emulations.attach import attach_from_logs
from apiproxy.translation.emulations.images import push_every_tag
from apiproxy.api.routes import match_legacy
from apiproxy.api.versions import Version

CONTEXT = Context("GET", "/x", {}, Version(1, 9), Version(1, 41), upstream_kind="podman")


def _exchange(method: str, path: str, client: Version) -> ChainExchange:
    route = match_legacy(method, path)
    assert route is not None
    return ChainExchange.build(route, client, Version(1, 41), path, "podman", upstream_api=Version(1, 41))


def _through(transform: Any, body: bytes) -> bytes:
    return transform.feed(body) + transform.close()


def test_kill_of_a_stopped_container_is_204_only_for_that_error() -> None:
    kill = _exchange("POST", "/containers/abc/kill", Version(1, 9))
    assert kill.status_depends_on_message(500) and not kill.status_depends_on_message(404)
    improper = b'{"cause":"container state improper","message":"can only kill running containers"}'
    assert kill.response_head(500, [], improper)[0] == 204
    assert _through(kill.response_body(204, []), improper) == b""
    other = _exchange("POST", "/containers/abc/kill", Version(1, 9))
    assert other.response_head(500, [], b'{"message":"runtime failed"}')[0] == 500


def test_image_names_lose_the_prefixes_podman_adds() -> None:
    images = _exchange("GET", "/images/json", Version(1, 9))
    body = [{"Id": "sha256:" + "a" * 64, "RepoTags": ["docker.io/library/busybox:latest", "localhost/web:1",
                                                   "docker.io/me/app:2", "127.0.0.1:5000/x:y"]},
            {"Id": "b" * 64, "RepoTags": None}]
    listed = json.loads(_through(images.response_body(200, []), json.dumps(body).encode()))
    assert listed[0]["RepoTags"] == ["busybox:latest", "web:1", "me/app:2", "127.0.0.1:5000/x:y"]
    assert listed[0]["Id"] == "a" * 64 and listed[1]["RepoTags"] == ["<none>:<none>"]


def test_events_say_destroy_and_name_the_image_as_docker_did() -> None:
    events = _exchange("GET", "/events", Version(1, 9))
    stream = events.response_body(200, [])
    line = {"status": "remove", "id": "c1", "from": "docker.io/library/busybox:latest", "Type": "container",
            "Action": "remove", "time": 5}
    cleanup = {**line, "status": "cleanup", "Action": "cleanup"}
    out = _through(stream, (json.dumps(line) + "\n" + json.dumps(cleanup) + "\n").encode())
    assert [json.loads(item) for item in out.split()] == [
        {"status": "destroy", "id": "c1", "from": "busybox:latest", "time": 5}]


def test_import_result_names_the_image_once() -> None:
    image = "c" * 64
    item = {"status": f"sha256:{image}", "progress": "", "progressDetail": {}, "id": f"sha256:{image}"}
    for client, expected in ((Version(1, 0), f"{image}\r\n".encode()),
                             (Version(1, 9), json.dumps({"status": image}, separators=(",", ":")).encode())):  # bare: 0.8.1
        created = _exchange("POST", "/images/create", client)
        assert _through(created.response_body(200, []), json.dumps(item).encode() + b"\n") == expected


def test_top_columns_split_busybox_ps_lines() -> None:
    top = {"Titles": ["PID   USER     COMMAND"], "Processes": [["1 root     sleep 300 -x"]]}
    assert top_columns(top, CONTEXT) == {"Titles": ["PID", "USER", "COMMAND"],
                                                   "Processes": [["1", "root", "sleep 300 -x"]]}
    columns = {"Titles": ["PID", "CMD"], "Processes": [["1", "sh"]]}
    assert top_columns(dict(columns), CONTEXT) == columns


def test_login_addresses_as_podman_checks_them() -> None:
    assert registry_host("http://127.0.0.1:5000/v1/", CONTEXT) == "localhost:5000"
    assert registry_host("https://index.docker.io/v1/", CONTEXT) == "https://index.docker.io"
    assert registry_host("registry.example:5000", CONTEXT) == "registry.example:5000"


def test_commit_without_a_body_sends_an_empty_object() -> None:
    commit = _exchange("POST", "/commit", Version(1, 9))
    assert _through(commit.request_body([]), b"") == b"{}"


def _request(method: str, params: dict[str, str], query: dict[str, str], body: Any = None,
             headers: dict[str, str] | None = None) -> LegacyRequest:
    return LegacyRequest(method, params, query, body, CONTEXT, headers or {})


def test_an_attach_replaying_a_stopped_containers_logs_reads_the_logs_endpoint() -> None:
    emulation = attach_from_logs(_request("POST", {"id": "c1"}, {"logs": "1", "stream": "1", "stdout": "1"}))
    assert next(emulation) == Call("GET", "/containers/c1/json")
    try:
        emulation.send(Answer(200, {"State": {"Running": False, "StartedAt": "2026-11-27T10:00:00Z"}}))
    except StopIteration as stop:
        assert stop.value == Pass("GET", "/containers/c1/logs?stdout=1", as_attach=True)
    running = attach_from_logs(_request("POST", {"id": "c1"}, {"logs": "1", "stream": "1", "stdout": "1"}))
    next(running)
    try:
        running.send(Answer(200, {"State": {"Running": True}}))
    except StopIteration as stop:
        assert stop.value.path == "/containers/c1/attach?logs=1&stream=1&stdout=1" and not stop.value.as_attach


def test_a_push_without_a_tag_pushes_every_tag_of_the_repository() -> None:
    credentials = {"username": "u", "password": "p"}
    emulation = push_every_tag(_request("POST", {"name": "127.0.0.1:5000/me/app"}, {}, credentials))
    listing = next(emulation)
    assert listing.path.startswith("/images/json?filters=")
    tags = [{"RepoTags": ["127.0.0.1:5000/me/app:v1", "127.0.0.1:5000/me/app:v2", "other:v3"]}]
    first = emulation.send(Answer(200, tags))
    assert first.path == "/images/127.0.0.1:5000/me/app/push?tag=v1"
    assert json.loads(base64.urlsafe_b64decode(first.headers["X-Registry-Auth"])) == credentials
    try:
        emulation.send(Answer(200, b'{"status":"pushed"}'))
    except StopIteration as stop:
        assert stop.value == Pass("POST", "/images/127.0.0.1:5000/me/app/push?tag=v2", client_body=True)


def test_a_failed_push_of_another_tag_reaches_the_client() -> None:
    emulation = push_every_tag(_request("POST", {"name": "127.0.0.1:5000/me/app"}, {}, None))
    next(emulation)
    emulation.send(Answer(200, [{"RepoTags": ["127.0.0.1:5000/me/app:v1", "127.0.0.1:5000/me/app:v2"]}]))
    denied = b'{"status":"The push refers to repository"}\r\n{"error":"unauthorized: authentication required"}\r\n'
    try:
        emulation.send(Answer(200, denied))
    except StopIteration as stop:
        assert stop.value == Reply(200, items=[
            {"status": "Pushing tag v1"},
            {"error": "unauthorized: authentication required",
             "errorDetail": {"message": "unauthorized: authentication required"}}])
    else:
        raise AssertionError("the emulation went on after a failed push")


def test_not_found_errors_in_the_words_docker_used() -> None:
    inspect = _exchange("GET", "/containers/nope/json", Version(1, 9))
    missing = b'{"cause":"no such container","message":"no container with name or ID \\"nope\\" found: no such container",' \
              b'"response":404}'
    assert _through(inspect.response_body(404, []), missing) == b"No such container: nope\n"
    create = _exchange("POST", "/containers/create", Version(1, 9))
    no_image = b'{"cause":"image not known","message":"nosuch:latest: image not known","response":404}'
    assert _through(create.response_body(404, []), no_image) == b"No such image: nosuch:latest\n"
    rmi = _exchange("DELETE", "/images/nosuch", Version(1, 9))
    longer = b'{"message":"failed to find image nosuch: nosuch: image not known"}'
    assert _through(rmi.response_body(404, []), longer) == b"No such image: nosuch\n"


def test_unset_dns_and_binds_are_null_as_docker_wrote_them() -> None:
    inspect = _exchange("GET", "/containers/abc/json", Version(1, 9))
    body = b'{"Id":"' + b"a" * 64 + b'","Config":{"Image":"busybox"},"HostConfig":{"Dns":[],"Binds":[],"VolumesFrom":null}}'
    got = json.loads(_through(inspect.response_body(200, []), body))
    assert got["Config"]["Dns"] is None and got["HostConfig"]["Binds"] is None


def test_args_do_not_repeat_the_path() -> None:
    for args, expected in ((["date"], []), (["echo", "echo"], ["echo"]), (["sleep", "30"], ["30"])):
        inspect = _exchange("GET", "/containers/abc/json", Version(1, 9))
        body = json.dumps({"Id": "a" * 64, "Path": args[0], "Args": args, "Config": {}, "HostConfig": {}}).encode()
        assert json.loads(_through(inspect.response_body(200, []), body))["Args"] == expected
