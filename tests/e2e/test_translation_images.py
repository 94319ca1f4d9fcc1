"""Legacy image requests and streams translated for the real daemon."""
from __future__ import annotations

import re
import uuid
from typing import Iterator

import pytest

from support import DIRECT_API, UnixHTTPConnection, json_stream_items, legacy_problem, one_file_tar, request


@pytest.fixture
def repos(docker_sock: str) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{name}?force=1")


def _stream(sock: str, method: str, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(sock, timeout=300)
    conn.request(method, path, body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    problem = legacy_problem(method, path, response.status, data)
    assert problem is None, problem
    return response.status, data


@pytest.mark.parametrize("version", ["1.0", "1.5", "1.9"])
def test_import_progress_in_each_versions_form(proxy_sock: str, rootfs: bytes, version: str,
                                               repos: list[str]) -> None:
    repo = f"apiproxy-import-{uuid.uuid4().hex[:8]}"
    repos.append(f"{repo}:v1")
    status, data = _stream(proxy_sock, "POST", f"/v{version}/images/create?fromSrc=-&repo={repo}&tag=v1",
                           rootfs, "application/x-tar")
    assert status == 200
    if version == "1.0":
        assert not data.lstrip().startswith(b"{") and re.search(rb"^[0-9a-f]{64}\r\n", data, re.M), data
    else:
        items = json_stream_items(data)
        assert re.fullmatch("[0-9a-f]{64}", items[-1]["status"]), items


def _context(image: str, extra: str = "") -> bytes:
    dockerfile = f"FROM {image}\nRUN echo built > /built{extra}\n".encode()
    return one_file_tar("Dockerfile", dockerfile)


@pytest.mark.parametrize("version", ["1.3", "1.7", "1.8", "1.9"])
def test_build_output_in_each_versions_form(proxy_sock: str, image: str, version: str, repos: list[str]) -> None:
    tag = f"apiproxy-build-{uuid.uuid4().hex[:8]}"
    repos.append(tag)
    status, data = _stream(proxy_sock, "POST", f"/v{version}/build?t={tag}&rm=1", _context(image), "application/tar")
    assert status == 200
    text = data.decode()
    if version in ("1.3", "1.7"):
        assert re.search("^step 1", text, re.I | re.M) and "Successfully built" in text and '{"stream"' not in text, text
    else:
        items = json_stream_items(data)
        assert all(set(item) <= {"stream", "error", "errorDetail", "status", "progress", "id",
                                 "progressDetail"} for item in items), items
        assert any("Successfully built" in item.get("stream", "") for item in items)


def test_build_error_is_reported_in_the_stream(proxy_sock: str, image: str) -> None:
    status, data = _stream(proxy_sock, "POST", "/v1.7/build?rm=1", _context(image, "; exit 3"), "application/tar")
    assert status == 200 and "Error" in data.decode() and '"errorDetail"' not in data.decode()


def test_image_commands_through_legacy_versions(proxy_sock: str, docker_sock: str, image: str,
                                                repos: list[str]) -> None:
    repo = f"apiproxy-tag-{uuid.uuid4().hex[:8]}"
    repos.append(f"{repo}:v2")
    assert request(proxy_sock, "POST", f"/v1.9/images/{image}/tag?repo={repo}&tag=v2").status == 201
    history = request(proxy_sock, "GET", f"/v1.9/images/{repo}:v2/history").json()
    assert not history[0]["Id"].startswith("sha256:")
    per_tag = request(proxy_sock, "GET", "/v1.6/images/json").json()
    assert any(row["Repository"] == repo and row["Tag"] == "v2" for row in per_tag)
    raw = request(proxy_sock, "GET", f"/v1.9/images/{repo}:v2/json").json()
    assert "container_config" in raw and re.fullmatch("[0-9a-f]{64}", raw["id"])
    cid = request(proxy_sock, "POST", "/v1.9/containers/create", {"Image": image, "Cmd": ["touch", "/x"]}).json()["Id"]
    committed = request(proxy_sock, "POST", f"/v1.9/commit?container={cid}&repo={repo}&tag=c&comment=legacy")
    repos.append(f"{repo}:c")
    assert committed.status == 201 and re.fullmatch("[0-9a-f]{64}", committed.json()["Id"])
    request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}")
    assert request(docker_sock, "GET", f"/v{DIRECT_API}/images/{repo}:c/json").json()["Comment"] == "legacy"
    old_rmi = request(proxy_sock, "DELETE", f"/v1.1/images/{repo}:c")
    assert (old_rmi.status, old_rmi.body) == (204, b"")
    new_rmi = request(proxy_sock, "DELETE", f"/v1.9/images/{repo}:v2")
    assert new_rmi.status == 200 and isinstance(new_rmi.json(), list)


def test_search_without_a_registry_fails_in_the_legacy_style(proxy_sock: str) -> None:
    reply = request(proxy_sock, "GET", "/v1.6/images/search?term=busybox", timeout=120)
    assert reply.status >= 400 and reply.header("Content-Type").startswith("text/plain")
