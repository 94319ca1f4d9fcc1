"""Fixtures for tests against the real dockerd that tests/run starts."""
from __future__ import annotations

import os
from typing import Iterator

import pytest

from support import Apiproxy, start_apiproxy


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
