"""Endpoints today's daemons no longer have, served by apiproxy, and what it cannot serve yet."""
from __future__ import annotations

import datetime
import io
import tarfile
import json
import re
import socket
import uuid
from pathlib import Path
from typing import Callable

import pytest
import wsproto
import wsproto.events

from support import DIRECT_API, Apiproxy, UnixHTTPConnection, request
from test_streams import _create, _open_attach, _read_to_end


def test_images_viz_for_clients_before_1_7(proxy_sock: str, image: str) -> None:
    reply = request(proxy_sock, "GET", "/v1.6/images/viz")
    assert reply.status == 200 and reply.header("Content-Type").startswith("text/plain")
    assert reply.text.startswith("digraph docker {") and reply.text.rstrip().endswith("}")
    assert image.split("/")[-1].split(":")[0] in reply.text


def test_get_auth_answers_the_login_apiproxy_kept(proxy_sock: str) -> None:
    reply = request(proxy_sock, "GET", "/v1.1/auth")
    assert reply.status == 200 and set(reply.json()) == {"username", "email"}


def test_build_cache_lookup_of_the_0_3_builder_finds_nothing(proxy_sock: str) -> None:
    reply = request(proxy_sock, "POST", "/v1.0/images/getCache", {"Id": "abc", "Config": {}})
    assert reply.status == 404 and reply.header("Content-Type").startswith("text/plain")


def test_websocket_attach_sends_output_as_text_frames_and_frames_as_stdin(proxy_sock: str, docker_sock: str,
                                                                          image: str) -> None:
    cid = _create(docker_sock, image, ["sh", "-c", "read line; echo got $line; echo err >&2"], stdin=True)
    try:
        assert request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start").status == 204
        client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(30)
            conn.connect(proxy_sock)
            conn.sendall(client.send(wsproto.events.Request(
                host="docker", target=f"/v1.6/containers/{cid}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1")))
            text, accepted = "", False
            sent = False
            while "err" not in text or "got hello" not in text:  # stdout and stderr may come in either order
                data = conn.recv(65536)
                assert data, f"closed early: {text!r}"
                client.receive_data(data)
                for event in client.events():
                    if isinstance(event, wsproto.events.AcceptConnection):
                        accepted = True
                    elif isinstance(event, wsproto.events.TextMessage):
                        text += event.data
                if accepted and not sent:
                    conn.sendall(client.send(wsproto.events.TextMessage(data="hello\n")))
                    sent = True
        assert "got hello" in text and "err" in text
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


@pytest.mark.parametrize("with_context", [False, True])
def test_multipart_build_of_0_4_clients(proxy_sock: str, docker_sock: str, image: str, with_context: bool) -> None:
    tag = f"apiproxy-multipart-{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {image}\nRUN echo multipart > /m\n" + ("ADD note /note\n" if with_context else "")
    parts = [(b"Dockerfile", dockerfile.encode())]
    if with_context:
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            info = tarfile.TarInfo("note")
            info.size = 5
            tar.addfile(info, io.BytesIO(b"note\n"))
        parts.append((b"Context", context.getvalue()))
    body = b"".join(b"--xyz\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n\r\n%s\r\n"
                    % (name, name, data) for name, data in parts) + b"--xyz--\r\n"
    try:
        reply = request(proxy_sock, "POST", f"/v1.1/build?t={tag}", body=body,
                        headers={"Content-Type": "multipart/form-data; boundary=xyz"})
        assert reply.status == 200 and "Successfully built" in reply.text, reply.text
        cid = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create",
                      {"Image": tag, "Cmd": ["cat", "/m"] + (["/note"] if with_context else [])}).json()["Id"]
        request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start")
        request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/wait")
        output = request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{cid}/logs?stdout=1").body
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}")
        assert b"multipart" in output and (b"note" in output) == with_context
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{tag}?force=1")


def test_attach_of_a_1_5_client_gets_stdout_and_stderr_merged(proxy_sock: str, docker_sock: str, image: str) -> None:
    cid = _create(docker_sock, image, ["sh", "-c", "echo out; echo err >&2; echo out2"], stdin=False)
    try:
        conn, head, rest = _open_attach(proxy_sock, f"/v1.5/containers/{cid}/attach?stream=1&stdout=1&stderr=1",
                                        upgrade=False)
        assert head.startswith(b"HTTP/1.1 200")
        assert request(proxy_sock, "POST", f"/v1.5/containers/{cid}/start").status == 204
        with conn:
            merged = _read_to_end(conn, rest)
        assert sorted(merged.splitlines()) == [b"err", b"out", b"out2"]
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")


def _json_values(data: bytes) -> list[dict]:
    """Back-to-back JSON values, with or without separators (0.7 daemons wrote none)."""
    decoder, text, index, values = json.JSONDecoder(), data.decode(), 0, []
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        value, index = decoder.raw_decode(text, index)
        values.append(value)
    return values


def _unix_time(system_time: str) -> int:
    moment = datetime.datetime.fromisoformat(system_time[:19]).replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp())


def _events_until(sock: str, path: str, enough: Callable[[list[dict]], bool], timeout: float = 20.0) -> list[dict]:
    """Read an endless events stream until `enough` of it has come (2013 clients had no until)."""
    conn = UnixHTTPConnection(sock, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200, response.status
        data = b""
        while not enough(values := _json_values(data[:data.rfind(b"}") + 1])):
            chunk = response.read1(65536)
            assert chunk, f"the stream ended with {values}"
            data += chunk
        return values
    finally:
        conn.close()


def test_events_are_legacy_objects(proxy_sock: str, docker_sock: str, image: str) -> None:
    name = f"apiproxy-events-{uuid.uuid4().hex[:8]}"
    since = request(docker_sock, "GET", f"/v{DIRECT_API}/info").json()["SystemTime"]
    created = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create?name={name}",
                      {"Image": image, "Cmd": ["true"]})
    cid = created.json()["Id"]
    request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}")
    for version, keys in (("1.3", {"status", "id", "time"}), ("1.9", {"status", "id", "from", "time"})):
        events = _events_until(proxy_sock, f"/v{version}/events?since={_unix_time(since) - 1}",
                               lambda values: any(e.get("id") == cid and e.get("status") == "destroy"
                                                  for e in values))
        mine = [e for e in events if e["id"] == cid]
        assert [e["status"] for e in mine] == ["create", "destroy"]
        assert all(set(e) == keys for e in mine), mine
        assert all(set(e) <= keys | {"from"} for e in events), events  # image events have no from


@pytest.mark.parametrize("version", ["1.0", "1.6", "1.8", "1.9"])
def test_insert_downloads_the_file_into_a_new_image(proxy_sock: str, docker_sock: str, image: str,
                                                    file_server: str, version: str) -> None:
    reply = request(proxy_sock, "POST", f"/v{version}/images/{image}/insert?url={file_server}/greeting.txt"
                                        "&path=/opt/greeting.txt")
    assert reply.status == 200
    new_id = re.findall(r"[0-9a-f]{64}", reply.text)[-1]
    cid = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create",
                  {"Image": new_id, "Cmd": ["cat", "/opt/greeting.txt"]}).json()["Id"]
    try:
        request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start")
        request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/wait")
        logs = request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{cid}/logs?stdout=1").body
        assert b"inserted from the web" in logs
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}")
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{new_id}")


def test_insert_can_be_forbidden_to_download(docker_sock: str, image: str, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'insert_fetch_urls = false\n[upstream]\nendpoint = "unix:{docker_sock}"\n'
                      f'[[listeners]]\nendpoint = "unix:{tmp_path}/ap.sock"\n')
    proxy = Apiproxy(["--config", str(config)], f"{tmp_path}/ap.sock", str(tmp_path)).wait_listening()
    try:
        reply = request(proxy.sock, "POST", f"/v1.9/images/{image}/insert?url=http://127.0.0.1:9/x&path=/x")
        assert reply.status == 403 and "insert_fetch_urls" in reply.text
    finally:
        assert proxy.stop() == 0
