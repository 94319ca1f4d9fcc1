"""apiproxy as a real process in front of an echo upstream (no daemon needed)."""
from __future__ import annotations

import tempfile
from typing import Iterator

import pytest

from echo_upstream import EchoUpstream
from support import Apiproxy, start_apiproxy


@pytest.fixture
def workdir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="ap-") as path:
        yield path


@pytest.fixture
def echo(workdir: str) -> Iterator[EchoUpstream]:
    server = EchoUpstream(f"{workdir}/echo.sock")
    yield server
    server.close()


@pytest.fixture
def echo_proxy(echo: EchoUpstream, workdir: str) -> Iterator[Apiproxy]:
    running = start_apiproxy(echo.path, workdir=workdir)
    yield running
    assert running.stop() == 0, running.log
    assert "Traceback" not in running.log, running.log
