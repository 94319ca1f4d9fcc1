"""AcceptFailures: Twisted's accept errors for lack of descriptors, told once per burst."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twisted.logger import formatEvent, globalLogPublisher

from apiproxy.ops.metrics import REGISTRY
from apiproxy.shell.logs import AcceptFailures

EMFILE = {"log_namespace": "twisted.internet.unix.Port", "log_format": "EMFILE encountered; releasing reserved file "
                                                                       "descriptor."}
CLOSED = {"log_namespace": "twisted.internet.unix.Port", "log_format": "EMFILE recovery: Closed socket from {address}"}
ENFILE = {"log_namespace": "twisted.internet.tcp.Port", "log_format": "Could not accept new connection ({acceptError})",
          "acceptError": "ENFILE"}


@pytest.fixture
def said() -> Iterator[list[str]]:
    lines: list[str] = []

    def observe(event: dict[str, Any]) -> None:
        if event.get("log_namespace") == "apiproxy.listeners":
            lines.append(f"{event['log_level'].name} {formatEvent(event)}")
    globalLogPublisher.addObserver(observe)
    yield lines
    globalLogPublisher.removeObserver(observe)


def test_a_burst_is_warned_once_and_its_end_counted(said: list[str]) -> None:
    now = [100.0]
    watch = AcceptFailures(clock=lambda: now[0])
    for _ in range(50):
        watch.observe(EMFILE)
        watch.observe(CLOSED)
        watch.observe(CLOSED)
        watch.accepted()  # accepting between failures is still the burst
        now[0] += 1
    assert [line.split()[0] for line in said] == ["warn"] and "out of file descriptors (EMFILE)" in said[0]
    now[0] += AcceptFailures.QUIET
    watch.accepted()
    assert len(said) == 2 and said[1].startswith("info accepting again")
    assert watch.closed == 0
    watch.observe(ENFILE)  # the next burst
    assert len(said) == 3 and "(ENFILE)" in said[2]


def test_other_events_are_no_failures(said: list[str]) -> None:
    watch = AcceptFailures()
    watch.observe({"log_namespace": "apiproxy.listeners", "log_format": "EMFILE encountered"})
    watch.observe({**ENFILE, "acceptError": "ECONNABORTED"})
    watch.observe({"log_namespace": "twisted.internet.tcp.Port", "log_format": "listening"})
    assert said == [] and watch.last_failure is None


def test_each_connection_closed_unanswered_is_counted() -> None:
    def closed() -> float:
        return REGISTRY.get_sample_value("apiproxy_refused_connections_total", {"reason": "out_of_descriptors"}) or 0
    before = closed()
    watch = AcceptFailures()
    watch.observe(EMFILE)
    watch.observe(CLOSED)
    watch.observe(CLOSED)
    assert closed() == before + 2
