"""Fixtures for tests against the real dockerd that tests/run starts."""
from __future__ import annotations

import functools
import http.server
import os
import threading
from typing import Iterator

import pytest

from support import DIRECT_API, Apiproxy, request, start_apiproxy


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.daemon)


@pytest.fixture(scope="session")
def docker_sock() -> str:
    sock = os.environ.get("APXTEST_DOCKER_SOCK")
    if not sock:
        pytest.skip("no daemon: run the suite with tests/run (APXTEST_DOCKER_SOCK unset)")
    return sock


@pytest.fixture(scope="session")
def image() -> str:
    return os.environ.get("APXTEST_IMAGE", "busybox:latest")


@pytest.fixture(scope="session")
def proxy(docker_sock: str) -> Iterator[Apiproxy]:
    """One apiproxy in front of the test daemon, shared by the tests that need no special setup."""
    running = start_apiproxy(docker_sock)
    yield running
    assert running.stop() == 0, running.log
    assert "Traceback" not in running.log, running.log


@pytest.fixture
def proxy_sock(proxy: Apiproxy) -> str:
    assert proxy.sock is not None
    return proxy.sock


@pytest.fixture
def made(docker_sock: str) -> Iterator[list[str]]:
    """Containers (ids or names) a test made, removed afterwards through the daemon's own socket."""
    containers: list[str] = []
    yield containers
    for container in containers:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{container}?force=1&v=1")


@pytest.fixture(scope="session")
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A web server on loopback with one file, for insert to download."""
    root = tmp_path_factory.mktemp("www")
    (root / "greeting.txt").write_text("inserted from the web\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def rootfs(docker_sock: str, image: str) -> bytes:
    """The test image's filesystem as a tar, to import."""
    cid = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create",
                  {"Image": image, "Cmd": ["true"]}).json()["Id"]
    try:
        return request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{cid}/export").body
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}")
