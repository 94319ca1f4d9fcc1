"""docker-py 0.1.0-0.3.1 read the strings 2013 daemons wrote (issue 14), through apiproxy on a real daemon.

Each test names the daemon version whose source it pins: state words from v0.8.1's State.String()
(the same in every 0.3.3-0.9.1 tag), insert's last items from v0.4.5-v0.6.6 / v0.6.7-v0.7.6 / v0.8.1
postImagesInsert, events from the LogEvent calls of v0.5.3-v0.8.1, sizes from v0.7.6's APIContainers
and v0.8.1's engine.Env list.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any


from support import DIRECT_API, ON_PODMAN, UnixHTTPConnection, request
from test_dockerpy import (Cleanup, Worker, _number, client, cleanup, create, skip_unless_able, tcp_proxy,  # noqa: F401
                           text, unique, venvs, wait_collected, workers)

# "Up " + utils.HumanDuration of v0.8.1: a container started moments ago.
UP_2013 = re.compile(r"Up (Less than a second|\d+ seconds|About a minute|\d+ minutes)")
LOGGED_2013 = {"create", "start", "stop", "restart", "kill", "die", "destroy", "export", "untag", "delete"}


def _listed(client: Worker, cid: str) -> dict[str, Any]:
    rows = [row for row in client.call("containers", all=True) if cid.startswith(row["Id"])]
    assert len(rows) == 1, rows
    return rows[0]


def _daemon(docker_sock: str, method: str, path: str) -> int:
    return request(docker_sock, method, f"/v{DIRECT_API}{path}", validate=False).status


def test_container_list_says_up_or_exit_as_2013_daemons_did(client: Worker, cleanup: Cleanup, docker_sock: str,
                                                             proxy_sock: str, image: str) -> None:
    never_started = create(client, cleanup, image, ["true"])
    exited = create(client, cleanup, image, ["sh", "-c", "exit 3"])
    client.call("start", exited)
    assert client.call("wait", exited) == 3
    running = create(client, cleanup, image, ["sleep", "300"], ports=["80"])  # exposed, not published
    client.call("start", running)

    assert _listed(client, never_started)["Status"] == "Exit 0"  # "Created" today
    assert _listed(client, exited)["Status"] == "Exit 3"  # "Exited (3) N seconds ago" today
    assert UP_2013.fullmatch(_listed(client, running)["Status"]), _listed(client, running)
    # v0.6.5-v0.11 PortMappingAPI: an unbound port's number in PublicPort, PrivatePort 0, every field written.
    ports = _listed(client, running)["Ports"]
    # Podman lists no port that is not published; dockerd here (no bridge) lists none.
    if _number(client.version) >= (1, 5):
        # No port at all: null from v0.6.2-v0.7.6 (a nil []APIPort, API 1.5-1.8), [] from v0.8.1.
        assert ports != [] if _number(client.version) < (1, 9) else ports is not None, ports
        ports = ports or []
        # 0.1.0-0.2.2 send PortSpecs ["80"], which before 0.6.5 published the port on a random host port.
        published = [port for port in ports if port["PrivatePort"] == 80 and port["PublicPort"] > 0]
        assert all(set(port) == {"PrivatePort", "PublicPort", "Type", "IP"} for port in ports), ports
        assert published or ports in ([], [{"PrivatePort": 0, "PublicPort": 80, "Type": "tcp", "IP": ""}]), ports
    # 2013 knew no pause: a paused container was running to it, with no "(Paused)" suffix.
    if _daemon(docker_sock, "POST", f"/containers/{running}/pause") == 204:
        try:
            assert UP_2013.fullmatch(_listed(client, running)["Status"]), _listed(client, running)
        finally:
            _daemon(docker_sock, "POST", f"/containers/{running}/unpause")
    client.call("kill", running)
    client.call("wait", running)
    assert re.fullmatch(r"Exit -?\d+", _listed(client, running)["Status"])

    # 0.3 clients listed at /containers/ps (API 1.0-1.8), the same list.
    aliased = request(proxy_sock, "GET", "/v1.0/containers/ps?all=1").json()
    assert next(row for row in aliased if never_started.startswith(row["Id"]))["Status"] == "Exit 0", aliased

    # No 0.x docker-py asks for sizes: a 2013 script's own request, at the client's version.
    with_sizes = request(proxy_sock, "GET", f"/v{client.version}/containers/json?all=1&size=1").json()
    row = next(row for row in with_sizes if never_started.startswith(row["Id"]))
    assert row["SizeRw"] == 0 and isinstance(row["SizeRootFs"], int), row  # omitempty today
    without = request(proxy_sock, "GET", f"/v{client.version}/containers/json?all=1").json()
    row = next(row for row in without if never_started.startswith(row["Id"]))
    if _number(client.version) < (1, 9):  # v0.7.6 always wrote them, 0 when not asked
        assert (row["SizeRw"], row["SizeRootFs"]) == (0, 0), row
    else:  # v0.8.1 only when asked
        assert "SizeRw" not in row and "SizeRootFs" not in row, row


def _json_items(stream: str) -> list[Any]:
    """The JSON objects of a stream, however they were separated (2013 daemons used nothing)."""
    decoder, items, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(stream) and stream[at].isspace():
            at += 1
        if at >= len(stream):
            return items
        item, at = decoder.raw_decode(stream, at)
        items.append(item)


def _insert_ends(minor: int, new_id: str) -> list[dict[str, str]]:
    if minor <= 6:  # v0.4.5-v0.6.6: FormatStatus(img.ID), then writeJSON(APIID{img.ShortID()})
        return [{"status": new_id}, {"Id": new_id[:12]}]
    if minor <= 8:  # v0.6.7-v0.7.6: FormatStatus(img.ID, ""), status omitempty
        return [{"id": new_id}]
    return [{"status": new_id}]  # v0.8.1: FormatStatus("", img.ID)


def test_insert_ends_with_the_new_id_as_its_daemon_wrote_it(client: Worker, cleanup: Cleanup, docker_sock: str,
                                                            file_server: str, image: str) -> None:
    answer = client.call("insert", image, f"{file_server}/greeting.txt", "/opt/greeting.txt", _within=120)
    items = _json_items(text(answer))
    ends = len(_insert_ends(_number(client.version)[1], "x"))
    new_id = str(items[-ends].get("status") or items[-ends].get("id"))
    cleanup.images.append(new_id)
    assert re.fullmatch("[0-9a-f]{64}", new_id), items
    assert items[-ends:] == _insert_ends(_number(client.version)[1], new_id), items
    made = request(docker_sock, "GET", f"/v{DIRECT_API}/images/{new_id}/json", validate=False)
    assert made.status == 200 and made.json()["Id"].removeprefix("sha256:") == new_id


def test_insert_at_1_0_ends_with_the_id_as_a_text_line(proxy_sock: str, docker_sock: str, cleanup: Cleanup,
                                                       file_server: str, image: str) -> None:
    """v0.8.1 serving API 1.0: FormatStatus("", img.ID) of a text StreamFormatter, "<id>\\r\\n"."""
    reply = request(proxy_sock, "POST", f"/v1.0/images/{image}/insert?url={file_server}/greeting.txt&path=/g")
    assert reply.status == 200
    last = reply.text.split("\r\n")[-2]
    cleanup.images.append(last)
    assert re.fullmatch("[0-9a-f]{64}", last) and reply.text.endswith(f"{last}\r\n"), reply.text


def _events_until(sock: str, path: str, done: Any) -> list[dict[str, Any]]:
    """The events of a stream read until `done(events)` holds (the stream itself never ends)."""
    conn = UnixHTTPConnection(sock, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200
        seen = ""
        while not done(_json_items(seen)):
            chunk = response.read1(65536)
            assert chunk, f"the event stream ended: {seen}"
            seen += chunk.decode()
        return _json_items(seen)
    finally:
        conn.close()


def test_events_carry_only_what_2013_daemons_logged(client: Worker, cleanup: Cleanup, proxy_sock: str,
                                                    image: str) -> None:
    skip_unless_able(client, "events")
    since = int(time.time()) - 1
    handle = client.background("events")
    cid = create(client, cleanup, image, ["true"])
    client.call("start", cid)
    client.call("wait", cid)
    repo = unique("events")
    cleanup.images.append(f"{repo}:e")
    assert client.call("tag", image, repo, tag="e") is True  # a tag event today; none in 2013
    client.call("remove_image", f"{repo}:e")  # untag
    client.call("remove_container", cid)

    def destroyed(events: list[dict[str, Any]]) -> bool:
        return any(event.get("id") == cid and event.get("status") == "destroy" for event in events)
    found = wait_collected(client, handle, lambda found: destroyed([json.loads(text(i)) for i in found["items"]]))
    live = [json.loads(text(item)) for item in found["items"]]
    # And the same from a replay of the daemon's log since before the test, at the client's version.
    replayed = _events_until(proxy_sock, f"/v{client.version}/events?since={since}", destroyed)
    for events in (live, replayed):
        assert {event["status"] for event in events} <= LOGGED_2013, events
        assert [event["status"] for event in events if event.get("id") == cid][:2] == ["create", "start"], events
        mine = [event for event in events if event.get("id") == cid]
        assert all(event.get("from") for event in mine), mine  # the image's name, on container events
        untagged = [event for event in events if event["status"] in ("untag", "delete")]
        assert all("from" not in event for event in untagged), untagged  # image events: from omitted
        if not ON_PODMAN:  # dockerd untags a second name of an image; Podman 4.3 logs no untag for it
            assert untagged, events
