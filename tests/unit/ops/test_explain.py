"""apiproxy.explain: a translation shown step by step, on plain data, with no daemon."""
from __future__ import annotations

import json

import pytest

from apiproxy.translation.changes import between
from apiproxy.api.datafiles import load_json
from apiproxy.api.errors import error_reply
from apiproxy.ops.explain import (NEW_CONTAINER, Explanation, Question, default_target, explain, highest_target,
                                  parse_header, with_version)
from apiproxy.api.routes import legacy_routes, modern_routes
from apiproxy.translation.routing import Forward, Settings, plan
from apiproxy.api.upstream_info import TargetChoice, UpstreamInfo, known_versions
from apiproxy.api.versions import Version, parse_version

V1_24 = Version(1, 24)


def ask(method: str, path: str, body: object = None, *, client: str = "1.3", target: Version = V1_24,
        headers: tuple[str, ...] = (), **options: object) -> Explanation:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    version = Version(*map(int, client.split(".")))
    return explain(Question(method, with_version(path, version), target, headers=[parse_header(h) for h in headers],
                            body=raw, **options))  # type: ignore[arg-type]


def text(answer: Explanation) -> str:
    return "\n".join(answer.lines)


def block(answer: Explanation, title: str) -> list[str]:
    """The lines under `title`, up to the next line that is not indented."""
    start = answer.lines.index(title) + 1
    end = next((i for i in range(start, len(answer.lines)) if not answer.lines[i].startswith(" ")), len(answer.lines))
    return answer.lines[start:end]


def shown_json(lines: list[str]) -> object:
    """The JSON document a block shows as its body."""
    return json.loads("\n".join(lines[lines.index("    body:") + 1:]))


def test_create_from_1_3_shows_every_change_crossed_and_the_body_sent() -> None:
    answer = ask("POST", "/containers/create", {"Image": "busybox", "Dns": ["8.8.8.8"], "VolumesFrom": "a, b",
                                                "Memory": 1000})
    assert answer.exit_code == 0
    descriptions = [change.description for _, change in between(Version(1, 3), V1_24, "POST /containers/create")]
    numbered = [line for line in answer.lines if line[:1].isdigit() and not line.startswith("0.")]
    assert [line.split("] ", 1)[1] for line in numbered] == descriptions
    sent = block(answer, "apiproxy sends (API 1.24):")
    assert sent[:2] == ["    POST /v1.24/containers/create", "    header Content-Type: application/json"]
    assert shown_json(sent) == {"Image": "busybox", "HostConfig": {"Dns": ["8.8.8.8"], "VolumesFrom": ["a", "b"],
                                                                   "Memory": 1000}}


def test_a_step_shows_the_body_as_that_change_left_it() -> None:
    answer = ask("POST", "/containers/create", {"Image": "busybox", "Dns": ["8.8.8.8"]})
    after_1_10 = next(line for line in answer.lines if line.startswith("1. [1.10]"))
    body = shown_json(block(answer, after_1_10))
    assert body == {"Image": "busybox"}  # host settings leave create at 1.10, to come back in HostConfig at 1.15


def test_a_change_that_does_not_touch_the_request_says_so() -> None:
    answer = ask("POST", "/containers/create", {"Image": "busybox"})
    errors = next(line for line in answer.lines if line[:1].isdigit() and line.partition(". ")[2].startswith("[1.24]"))
    assert block(answer, errors) == ["    (no change)"]


def test_an_answer_comes_down_to_what_the_legacy_client_gets() -> None:
    listed = [{"Id": "abc", "Image": "sha256:1234", "Ports": [{"PrivatePort": 80, "PublicPort": 8080,
                                                                "Type": "tcp", "IP": "0.0.0.0"}]}]
    answer = ask("GET", "/containers/json", listed, response=True)
    assert answer.exit_code == 0 and answer.lines[1] == "the daemon answers (API 1.24):"
    got = block(answer, "the client gets (API 1.3):")
    assert got[0] == "    200"
    assert shown_json(got) == [{"Id": "abc", "Image": "1234", "Ports": "8080->80",
                                "SizeRw": 0, "SizeRootFs": 0}]


def test_an_error_answer_becomes_plain_text_below_1_24() -> None:
    answer = ask("GET", "/containers/abc/json", {"message": "No such container: abc"}, response=True, status=404)
    assert block(answer, "the client gets (API 1.3):") == [
        "    404", "    header Content-Type: text/plain; charset=utf-8", "    body:", "        No such container: abc"]


def test_a_status_change_shows_at_its_step() -> None:
    answer = ask("POST", "/containers/abc/start", response=True, status=304)
    assert block(answer, "the client gets (API 1.3):") == ["    204", "    (no body)"]
    assert any(line.startswith("note: an emulation serves this request") for line in answer.lines)


def test_start_with_host_settings_plans_inspect_rename_create_delete_then_start() -> None:
    answer = ask("POST", "/containers/4fa6e0f0c678/start", {"Binds": ["/srv:/data"]})
    assert answer.exit_code == 0
    assert "its plan, on ASSUMED upstream answers (no daemon is asked):" in answer.lines
    steps = [line for line in answer.lines if line[:1].isdigit()]
    assert steps == [
        "1. GET /v1.24/containers/4fa6e0f0c678/json",
        "2. POST /v1.24/containers/4fa6e0f0c678/rename?name=web-apiproxy-4fa6e0f0c678",
        "3. POST /v1.24/containers/create?name=web",
        "4. DELETE /v1.24/containers/4fa6e0f0c678?force=1",
        f"5. any attach waiting for 4fa6e0f0c678 is connected; {NEW_CONTAINER} stands for 4fa6e0f0c678 from now on",
    ]
    create = shown_json(block(answer, steps[2])[:-1])  # the last line is the assumed answer
    assert create["HostConfig"]["Binds"] == ["/srv:/data"]  # type: ignore[index]
    assert create["Labels"] == {"apiproxy.legacy-id": "4fa6e0f0c678"}  # type: ignore[index]
    assert block(answer, "then apiproxy forwards the request:") == [
        f"    POST /v1.24/containers/{NEW_CONTAINER}/start", "    (no body)"]


def test_start_without_host_settings_only_forwards() -> None:
    answer = ask("POST", "/containers/abc/start")
    assert "its plan, on ASSUMED upstream answers (no daemon is asked):" in answer.lines
    assert block(answer, "then apiproxy forwards the request:") == ["    POST /v1.24/containers/abc/start",
                                                                    "    (no body)"]


def test_insert_plans_download_helper_container_commit_and_cleanup() -> None:
    answer = ask("POST", "/images/busybox/insert?url=http://example.com/f.txt&path=/etc/f.txt")
    steps = [line.split(" ", 1)[1] for line in answer.lines if line[:1].isdigit()]
    assert [step.split("?")[0] for step in steps] == [
        "GET /v1.24/images/busybox/json", "apiproxy downloads http://example.com/f.txt into a tar holding etc/f.txt",
        "POST /v1.24/containers/create", f"PUT /v1.24/containers/{NEW_CONTAINER}/archive",
        "POST /v1.24/commit", f"DELETE /v1.24/containers/{NEW_CONTAINER}"]
    got = block(answer, "the client gets:")
    # 0.4.5's form: the full id as the last status, then the short id (v0.4.5 api.go postImagesInsert)
    assert [line.strip() for line in got[-2:]] == ['{"status": "' + "1ced" * 16 + '"}', '{"Id": "1ced1ced1ced"}']


def test_copy_is_forwarded_to_the_archive_endpoint() -> None:
    answer = ask("POST", "/containers/abc/copy", {"Resource": "/etc/hosts"}, client="1.7")
    assert "its plan, on ASSUMED upstream answers (no daemon is asked):" not in answer.lines  # no upstream call
    assert block(answer, "then apiproxy forwards the request:") == [
        "    GET /v1.24/containers/abc/archive?path=/etc/hosts", "    header Accept-Encoding: identity",
        "    (no body)"]


@pytest.mark.parametrize(("client", "body", "message"), [
    ("1.3", b'{"Image": 5}', "invalid request body for API 1.3: Image: 5 is not of type 'string', 'null'"),
    ("1.9", b'{"Image": ', "invalid JSON body: Expecting value: line 1 column 11 (char 10)"),
])
def test_an_invalid_body_gets_the_proxys_400_word_for_word(client: str, body: bytes, message: str) -> None:
    answer = ask("POST", "/containers/create", body, client=client)
    status, headers, sent = error_reply(Version(*map(int, client.split("."))), 400, message)
    assert answer.exit_code == 1
    assert answer.lines[-2:] == [f"apiproxy answers 400 ({dict(headers)[b'Content-Type'].decode()}):",
                                 "    " + sent.decode().rstrip("\n")]


def test_an_invalid_body_to_an_emulation_gets_the_same_400() -> None:
    answer = ask("POST", "/containers/abc/start", b'{"Binds": "not a list"}')
    assert answer.exit_code == 1 and answer.lines[-2] == "apiproxy answers 400 (text/plain; charset=utf-8):"
    assert answer.lines[-1].startswith("    invalid request body for API 1.3: Binds:")


def test_registry_credentials_never_show() -> None:
    answer = ask("POST", "/images/create?fromSrc=http://user:pw@host/x", client="1.5",
                 headers=("X-Registry-Auth: c2VjcmV0", "X-Registry-Config: e30"))
    shown = text(answer)
    assert "pw" not in shown and "c2VjcmV0" not in shown and "e30" not in shown
    assert "    header X-Registry-Auth: <redacted>" in answer.lines
    assert "    header X-Registry-Config: <redacted>" in answer.lines
    assert "    POST /v1.24/images/create?fromSrc=http://***@host/x" in answer.lines


def test_a_password_in_a_body_or_a_url_of_a_plan_never_shows() -> None:
    push = ask("POST", "/images/team/app/push", {"username": "u", "password": "hunter2", "email": "e"}, client="1.2")
    insert = ask("POST", "/images/busybox/insert?url=http://user:hunter2@example.com/f&path=/f")
    assert "hunter2" not in text(push) and "hunter2" not in text(insert)
    assert "    header X-Registry-Auth: <redacted>" in block(push, "apiproxy sends (API 1.24):")


@pytest.mark.parametrize(("client", "target"), [("1.41", Version(1, 45)), ("1.24", V1_24), ("1.7", Version(1, 7))])
def test_a_request_apiproxy_does_not_translate_passes_through(client: str, target: Version) -> None:
    answer = ask("GET", "/containers/json", client=client, target=target)
    assert answer.exit_code == 0
    assert answer.lines == [f"GET /v{client}/containers/json: apiproxy passes the request through untouched, "
                            f"as GET /v{client}/containers/json."]


def test_a_client_newer_than_the_target_gets_the_proxys_400() -> None:
    answer = ask("GET", "/containers/json", client="1.45")
    assert answer.exit_code == 1
    assert answer.lines[-1] == '    {"message":"client version 1.45 is too new. Maximum supported API version is 1.24"}'


def test_a_path_no_legacy_endpoint_matches_is_said_so() -> None:
    answer = ask("GET", "/nothing/here")
    assert answer.exit_code == 1 and "no v1.0-v1.9 endpoint apiproxy knows" in answer.lines[0]
    assert "/v1.24/nothing/here" in answer.lines[0]


def test_a_target_the_proxy_refuses_gets_its_400() -> None:
    answer = ask("GET", "/containers/%2F/json")
    assert answer.exit_code == 1 and answer.lines[-1] == "    encoded / in request path"


def test_the_client_version_comes_from_the_path_or_the_option() -> None:
    assert with_version("/v1.3/containers/json", None) == with_version("/containers/json", Version(1, 3))
    with pytest.raises(ValueError):
        with_version("/containers/json", None)
    with pytest.raises(ValueError):
        with_version("/v1.3/containers/json", Version(1, 4))


def test_the_default_target_is_the_highest_apiproxy_translates_to() -> None:
    assert highest_target() == max(parse_version(v) for v in load_json("versions.json")["targets"])
    assert explain(Question("GET", "/v1.3/version", highest_target())).lines[0].startswith(
        f"GET /v1.3/version: API 1.3 -> {highest_target()} (docker)")


def test_what_explain_says_is_sent_is_what_the_proxys_exchange_sends() -> None:
    body = {"Image": "busybox", "PortSpecs": ["80"], "VolumesFrom": "a", "Memory": 5, "LxcConf": {"lxc.x": "1"}}
    decision = plan("POST", "/v1.3/containers/create", UpstreamInfo("docker", "", V1_24, None), TargetChoice(V1_24),
                    Settings(Version(1, 3)))
    assert isinstance(decision, Forward)
    transform = decision.exchange.request_body([])
    assert transform is not None
    sent = json.loads(transform.feed(json.dumps(body).encode()) + transform.close())
    assert shown_json(block(ask("POST", "/containers/create", body), "apiproxy sends (API 1.24):")) == sent


@pytest.mark.parametrize("target, kind", [(Version(1, 12), "docker"), (V1_24, "docker"), (Version(1, 45), "docker"),
                                          (Version(1, 41), "podman")])
def test_every_legacy_endpoint_at_every_version_is_explained_both_ways(target: Version, kind: str) -> None:
    """No body, no query: explained, or refused as the proxy would refuse it; never an exception."""
    for route in legacy_routes():
        path = route.template.replace("{id}", "4fa6e0f0c678").replace("{name}", "team/app")
        for version in known_versions()[0]:
            for response in (False, True):
                answer = explain(Question(route.method, f"/v{version}{path}", target, kind, response=response))
                assert answer.exit_code == 0 or answer.lines[-2].startswith("apiproxy answers 4"), answer.lines


# Clients of 1.10 on, below the daemon's floor ----------------------------------------------------

V1_44 = Version(1, 44)
DOCKER_29 = Version(1, 52)  # its own version; its floor is 1.44


def test_a_1_30_create_climbs_to_the_floor_with_its_rewrites() -> None:
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": 0}}
    answer = explain(Question("POST", "/v1.30/containers/create", DOCKER_29, body=json.dumps(body).encode(),
                              floor=V1_44))
    assert answer.exit_code == 0, answer.lines
    assert answer.lines[0] == "POST /v1.30/containers/create: API 1.30 -> 1.44 (docker), endpoint POST /containers/create"
    assert "below the daemon's floor" in answer.lines[1]
    crossed = [line.split("[")[1].split("]")[0] for line in block(answer, "changes crossed:")
               if line.startswith("    [")]
    assert crossed[0] == "1.40" and all(Version(1, 40) <= parse_version(v) <= V1_44 for v in crossed)
    # Below 1.41 the create is emulated: apiproxy asks the daemon's cgroup version first.
    assert "1. GET /v1.44/info" in answer.lines
    sent = block(answer, "then apiproxy forwards the request:")
    assert sent[0] == "    POST /v1.44/containers/create"
    assert shown_json(sent) == {**body, "HostConfig": {"Memory": 0, "IpcMode": "shareable"}}  # 1.40's default


def test_what_cannot_be_translated_is_said_where_it_is_crossed() -> None:
    body = {"Image": "busybox", "HostConfig": {"KernelMemory": 4194304}}
    answer = explain(Question("POST", "/v1.30/containers/create", DOCKER_29, body=json.dumps(body).encode(),
                              floor=V1_44))
    lost = [number for number, line in enumerate(answer.lines) if line.lstrip().startswith("not translated: ")]
    assert any("KernelMemory" in answer.lines[number] for number in lost)
    assert all("[1.4" in answer.lines[number - 1] for number in lost)  # right under its change


def test_a_climbed_answer_comes_down_to_the_clients_version() -> None:
    answer = explain(Question("GET", "/v1.41/images/json", DOCKER_29, body=b'[{"Id": "sha256:a", "RepoTags": [], '
                              b'"Size": 5}]', response=True, floor=V1_44))
    assert answer.exit_code == 0
    assert shown_json(block(answer, "the client gets (API 1.41):")) == [
        {"Id": "sha256:a", "RepoTags": ["<none>:<none>"], "Size": 5, "VirtualSize": 5}]


def test_a_client_at_or_above_the_floor_passes_through() -> None:
    for client in ("1.44", "1.51"):
        answer = explain(Question("POST", f"/v{client}/containers/create", DOCKER_29, body=b"{}", floor=V1_44))
        assert answer.lines == [f"POST /v{client}/containers/create: apiproxy passes the request through "
                                f"untouched, as POST /v{client}/containers/create."]


def test_docker_29s_profile_shows_for_a_client_it_accepts() -> None:
    answer = explain(Question("POST", "/v1.41/containers/create", Version(1, 52), body=b'{"HostConfig": '
                              b'{"KernelMemory": 8388608}}', floor=Version(1, 40), daemon_version="29.3.0"))
    assert answer.exit_code == 0
    assert "its release (29.3.0) changed answers at every version" in text(answer)
    assert "[docker29] a kernel memory limit" in text(answer)
    assert explain(Question("POST", "/v1.41/containers/create", Version(1, 52), body=b"{}", floor=Version(1, 40),
                            daemon_version="28.5.2")).lines[0].endswith("untouched, as POST /v1.41/containers/create.")


def test_the_default_daemon_version_serves_every_client() -> None:
    assert default_target(Version(1, 3)) == default_target(Version(1, 30)) == highest_target()
    assert default_target(Version(1, 51)) == Version(1, 51)


def test_every_modern_endpoint_at_every_version_is_explained_both_ways() -> None:
    """Clients of 1.10-1.51 on a floor-1.44 daemon: explained, passed through, or refused as the proxy
    would refuse them; never an exception."""
    for route in modern_routes():
        path = route.template.replace("{id}", "4fa6e0f0c678").replace("{name}", "team/app")
        for minor in range(10, 52):
            for response in (False, True):
                answer = explain(Question(route.method, f"/v1.{minor}{path}", DOCKER_29, response=response,
                                          floor=V1_44))
                assert answer.exit_code == 0 or answer.lines[-2].startswith("apiproxy answers 4"), answer.lines


@pytest.mark.parametrize(("path", "told"), [("/version", "ApiVersion says 1.51 (MinAPIVersion: 1.0)"),
                                            ("/_ping", "API-Version header says 1.51")])
def test_version_and_ping_tell_the_advertised_version(path: str, told: str) -> None:
    answer = ask("GET", path, client="1.41", target=Version(1, 52))
    assert answer.exit_code == 0
    assert answer.lines == [f"GET /v1.41{path}: apiproxy passes the request through as GET /v1.41{path}; "
                            f"the answer's {told}, the daemon's own capped at the newest version apiproxy knows "
                            f"the changes of."]


def test_an_answers_headers_come_down_as_the_client_gets_them() -> None:
    answer = ask("GET", "/containers/x/logs?stdout=1", b"", client="1.41", target=Version(1, 44),
                 floor=Version(1, 44), response=True,
                 headers=("Content-Type: application/vnd.docker.multiplexed-stream",))
    assert "    header Content-Type: application/vnd.docker.raw-stream" in block(answer, "the client gets (API 1.41):")
