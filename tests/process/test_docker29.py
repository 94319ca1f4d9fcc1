"""apiproxy in front of a Docker 29 daemon (API 1.44-1.52), played by fake29 from recorded answers.

Docker 29 dropped some fields at every API version (schemas/upstreams/docker29.json): a client
below 1.52 gets them back as Docker 28 answered them, whether it is served at its own version
(1.44), climbs to the daemon's floor (1.41 goes at 1.44) or is a legacy client (1.9); a 1.52
client gets the daemon's answer untouched.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from fake29 import FakeDocker29
from support import Apiproxy, Reply, request, start_apiproxy

WEB, QUIET = "0b8ee5c2e1d7", "4c1a7d2e9f0b"  # on the default bridge; with no network
DROPPED = {"Bridge": "", "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
           "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None}
BRIDGE_AT_TOP = ("EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen",
                 "IPv6Gateway", "MacAddress")


@dataclass
class Setup:
    fake: FakeDocker29
    proxy: Apiproxy

    def through(self, path: str, validate: bool = False) -> Reply:
        reply = request(self.proxy.sock, "GET", path, validate=validate, timeout=20)
        assert reply.status == 200, reply
        return reply

    def direct(self, path: str) -> Reply:
        reply = request(self.fake.path, "GET", path, validate=False, timeout=20)
        assert reply.status == 200, reply
        return reply

    def reached(self, mark: int) -> list[str]:
        """What reached the daemon since `mark`, apiproxy's own probes aside (/version, recreated containers)."""
        return [item.target for item in self.fake.since(mark)
                if item.target not in ("/version", "/_ping") and "apiproxy.legacy-id" not in item.target]


def _running(release: str) -> Iterator[Setup]:
    workdir = tempfile.mkdtemp(prefix="ap29-")
    fake = FakeDocker29(f"{workdir}/docker29.sock", release)
    proxy = start_apiproxy(fake.path, workdir=workdir)
    yield Setup(fake, proxy)
    code = proxy.stop()
    fake.close()
    log = proxy.log
    shutil.rmtree(workdir, ignore_errors=True)
    assert code == 0, log
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def docker29() -> Iterator[Setup]:
    """Docker 29.1.3: API 1.44-1.52."""
    yield from _running("29.1.3")


@pytest.fixture(scope="module")
def docker29_3() -> Iterator[Setup]:
    """Docker 29.3.1: API 1.40-1.54, VirtualSize given back below 1.44."""
    yield from _running("29.3.1")


def _restored(settings: dict[str, Any]) -> dict[str, Any]:
    return {key: settings.get(key, "absent") for key in DROPPED}


# a 1.44 client: served at its own version, with what Docker 29 dropped given back -------------

def test_a_1_44_client_gets_the_network_settings_docker_28_sent(docker29: Setup) -> None:
    mark = len(docker29.fake.requests)
    web = docker29.through(f"/v1.44/containers/{WEB}/json").json()
    assert docker29.reached(mark) == [f"/v1.44/containers/{WEB}/json"]  # at its own version
    assert "Bridge" not in docker29.direct(f"/v1.44/containers/{WEB}/json").json()["NetworkSettings"]
    settings = web["NetworkSettings"]
    assert _restored(settings) == DROPPED
    assert settings["IPAddress"] == "172.17.0.2" and settings["Networks"]["bridge"]["IPAddress"] == "172.17.0.2"
    assert web["Config"]["OnBuild"] is None

    quiet = docker29.through(f"/v1.44/containers/{QUIET}/json").json()
    assert _restored(quiet["NetworkSettings"]) == DROPPED
    assert {key: quiet["NetworkSettings"][key] for key in BRIDGE_AT_TOP} == {
        "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
        "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": ""}


def test_a_1_44_client_gets_what_docker_29_did_not_change_untouched(docker29: Setup) -> None:
    for path in ("/v1.44/images/json", "/v1.44/images/busybox/json", "/v1.44/info", "/v1.44/containers/nosuch/json"):
        direct = request(docker29.fake.path, "GET", path, validate=False, timeout=20)
        through = request(docker29.proxy.sock, "GET", path, validate=False, timeout=20)
        assert (through.status, through.body) == (direct.status, direct.body), path
    images = docker29.through("/v1.44/images/json").json()
    assert "VirtualSize" not in images[0]  # Docker 28 at 1.44 did not send it either
    df = docker29.through("/v1.44/system/df").json()
    assert df == docker29.direct("/v1.44/system/df").json() and "BuilderSize" not in df


# a 1.41 client: climbs to 1.44 and gets 1.41's shapes and what Docker 29 dropped -----------------

def test_a_1_41_client_climbs_and_gets_the_dropped_fields(docker29: Setup) -> None:
    mark = len(docker29.fake.requests)
    web = docker29.through(f"/v1.41/containers/{WEB}/json").json()
    images = docker29.through("/v1.41/images/json").json()
    df = docker29.through("/v1.41/system/df").json()
    assert docker29.reached(mark) == [f"/v1.44/containers/{WEB}/json", "/v1.44/images/json", "/v1.44/system/df"]
    assert _restored(web["NetworkSettings"]) == DROPPED
    assert images[0]["VirtualSize"] == images[0]["Size"] == 4422144
    assert df["BuilderSize"] == 1024 + 2048
    assert [(item["ID"], item["Parent"]) for item in df["BuildCache"]] == [
        ("hw53o5aio51xtltp5xjp8v7fx", "ndlpt0hhvkqcdfkputsk4cq9c"), ("ndlpt0hhvkqcdfkputsk4cq9c", "")]
    assert not any("Parents" in key for item in df["BuildCache"] for key in item)
    assert df["Images"][0]["VirtualSize"] == df["Images"][0]["Size"]


def test_a_1_41_client_is_refused_by_the_daemon_itself_only_without_apiproxy(docker29: Setup) -> None:
    direct = request(docker29.fake.path, "GET", "/v1.41/info", validate=False, timeout=20)
    assert direct.status == 400 and "Minimum supported API version is 1.44" in direct.json()["message"]
    assert docker29.through("/v1.41/info").json()["ServerVersion"] == "29.1.3"


# a 1.9 client: the legacy chain, then the profiles ------------------------------------------------

def test_a_legacy_client_gets_its_shapes_with_the_dropped_fields(docker29: Setup) -> None:
    mark = len(docker29.fake.requests)
    web = docker29.through(f"/v1.9/containers/{WEB}/json", validate=True).json()
    assert docker29.reached(mark)[0].startswith("/v1.45/containers/")
    assert web["NetworkSettings"]["Bridge"] == "" and web["NetworkSettings"]["IPAddress"] == "172.17.0.2"
    images = docker29.through("/v1.9/images/json", validate=True).json()
    assert images[0]["VirtualSize"] == images[0]["Size"]
    info = docker29.through("/v1.9/info", validate=True).json()
    assert info["KernelVersion"] == "<unknown>"


# a 1.52 client: Docker 29's own answers --------------------------------------------------------

@pytest.mark.parametrize("path", [f"/v1.52/containers/{WEB}/json", f"/v1.52/containers/{QUIET}/json", "/v1.52/info",
                                  "/v1.52/images/json", "/v1.52/images/busybox/json", "/v1.52/system/df"])
def test_a_1_52_client_gets_the_answer_untouched(docker29: Setup, path: str) -> None:
    assert docker29.through(path).body == docker29.direct(path).body


# Docker 29.3 (floor 1.40): a 1.41 client is served at its own version -----------------------------

def test_on_29_3_a_1_41_client_is_served_at_its_version_with_the_dropped_fields(docker29_3: Setup) -> None:
    mark = len(docker29_3.fake.requests)
    web = docker29_3.through(f"/v1.41/containers/{WEB}/json").json()
    df = docker29_3.through("/v1.41/system/df").json()
    assert docker29_3.reached(mark) == [f"/v1.41/containers/{WEB}/json", "/v1.41/system/df"]
    assert _restored(web["NetworkSettings"]) == DROPPED
    assert df["BuilderSize"] == 1024 + 2048 and df["BuildCache"][0]["Parent"] == "ndlpt0hhvkqcdfkputsk4cq9c"
    assert df["Images"] == docker29_3.direct("/v1.41/system/df").json()["Images"]  # VirtualSize: 29.3's own
    for path in ("/v1.41/images/json", "/v1.41/images/busybox/json", "/v1.41/info"):
        assert docker29_3.through(path).body == docker29_3.direct(path).body, path
    assert docker29_3.through("/v1.41/images/json").json()[0]["VirtualSize"] == 4422144


def test_on_29_3_a_1_39_client_climbs_to_1_40(docker29_3: Setup) -> None:
    mark = len(docker29_3.fake.requests)
    web = docker29_3.through(f"/v1.39/containers/{QUIET}/json").json()
    assert docker29_3.reached(mark) == [f"/v1.40/containers/{QUIET}/json"]
    assert _restored(web["NetworkSettings"]) == DROPPED
