"""Ports of a container with none, as docker-py 0.x read them (issue 14): inspect's NetworkSettings.Ports was
null while a container was not running (v0.6.5-v0.8.1 releaseNetwork reset NetworkSettings; it was set only at
start), and the list's Ports null when empty at API 1.5-1.8 (v0.7.6 PortMappingAPI, a nil []APIPort), [] at
1.9 (v0.8.1 engine.Table). Today's daemons say {} and []."""
from __future__ import annotations

import pytest

from clients.dockerpy import Worker
from test_fidelity_echoes_dockerpy import _named, busybox, dockerpy  # noqa: F401


@pytest.mark.parametrize("dockerpy, empty_list", [(("0.2.3", "1.6"), None), (("0.3.0", "1.8"), None),
                                                  (("0.3.1", "1.9"), [])],
                         indirect=["dockerpy"], ids=["api1.6", "api1.8", "api1.9"])
def test_a_container_not_running_has_null_ports(dockerpy: Worker, busybox: str, made: list[str],
                                                empty_list: list[str] | None) -> None:
    created = dockerpy.call("create_container", busybox, ["true"], ports=["80"], name=_named("ports", made))
    assert dockerpy.call("inspect_container", created["Id"])["NetworkSettings"]["Ports"] is None  # never started
    dockerpy.call("start", created["Id"])
    assert dockerpy.call("wait", created["Id"]) == 0
    assert dockerpy.call("inspect_container", created["Id"])["NetworkSettings"]["Ports"] is None  # stopped
    listed = [row for row in dockerpy.call("containers", all=True) if created["Id"].startswith(row["Id"])]
    assert len(listed) == 1 and listed[0]["Ports"] == empty_list, listed
