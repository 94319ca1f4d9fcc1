"""The version changes a modern client (1.10 on) crosses climbing to a daemon's floor (Docker 26-29)."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest

from climbing import answered, climb, sent_body

from apiproxy.api.versions import Version
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.document import Context
from apiproxy.translation.steps.containers import options_of_another_mount_type
from apiproxy.translation.steps.kernel_memory import KERNEL_MEMORY_DISCARDED
from apiproxy.translation.steps.system import builder_size, security_option_names

JSON = [(b"Content-Type", b"application/json")]








def sent_query(exchange: ChainExchange, path: str) -> dict[str, str]:
    plain, _, query = path.partition("?")
    return dict(parse_qsl(exchange.request_target(plain, query).partition("?")[2]))


def test_a_1_39_create_keeps_the_ipc_namespace_shareable_and_drops_what_it_did_not_know() -> None:
    body = {"Image": "busybox", "HostConfig": {"IpcMode": "", "AutoRemove": True, "Annotations": {"a": "b"},
                                              "Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/t",
                                                          "BindOptions": {"NonRecursive": True},
                                                          "VolumeOptions": {"NoCopy": True}}]},
            "Healthcheck": {"Test": ["NONE"], "StartInterval": 5}}
    sent = sent_body(climb("POST", "/containers/create", "1.39"), body)
    assert sent["HostConfig"]["IpcMode"] == "shareable"
    assert "Annotations" not in sent["HostConfig"] and "StartInterval" not in sent["Healthcheck"]
    assert sent["HostConfig"]["Mounts"] == [{"Type": "bind", "Source": "/tmp", "Target": "/t", "BindOptions": {}}]
    assert sent["HostConfig"]["AutoRemove"] is True  # a 1.39 client asks the daemon to remove it (since 1.25)


def test_a_1_24_create_leaves_removal_to_its_client_and_a_1_40_one_keeps_a_private_ipc_namespace() -> None:
    assert "AutoRemove" not in sent_body(climb("POST", "/containers/create", "1.24"),
                                         {"Image": "b", "HostConfig": {"AutoRemove": True}})["HostConfig"]
    assert sent_body(climb("POST", "/containers/create", "1.40"),
                     {"Image": "b", "HostConfig": {"IpcMode": ""}})["HostConfig"]["IpcMode"] == ""


def test_images_filter_becomes_the_reference_filter_below_1_41() -> None:
    path = "/images/json?filter=busy*&filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D"
    query = sent_query(climb("GET", "/images/json", "1.40"), path)
    assert "filter" not in query
    assert json.loads(query["filters"]) == {"dangling": ["false"], "reference": ["busy*"]}
    assert sent_query(climb("GET", "/images/json", "1.41"), path)["filter"] == "busy*"


def test_volume_prune_below_1_42_prunes_every_unused_volume() -> None:
    assert json.loads(sent_query(climb("POST", "/volumes/prune", "1.41"), "/volumes/prune")["filters"]) == \
        {"all": ["true"]}
    given = sent_query(climb("POST", "/volumes/prune", "1.41"), '/volumes/prune?filters={"all":["false"]}')
    assert json.loads(given["filters"]) == {"all": ["false"]}  # the client's own choice stands


def test_image_answers_get_virtual_size_and_untagged_names_below_1_44() -> None:
    images = answered(climb("GET", "/images/json", "1.41"), [{"Id": "sha256:1", "Size": 7, "RepoTags": []}])
    assert images == [{"Id": "sha256:1", "Size": 7, "VirtualSize": 7, "RepoTags": ["<none>:<none>"]}]
    inspect = answered(climb("GET", "/images/{name}/json", "1.43"), {"Id": "sha256:1", "Size": 7})
    assert inspect["VirtualSize"] == 7 and inspect["Created"] == "0001-01-01T00:00:00Z"


def test_system_df_below_1_42() -> None:
    exchange = climb("GET", "/system/df", "1.41")
    assert "type" not in sent_query(exchange, "/system/df?type=image")
    usage = answered(exchange, {"Images": [{"Size": 3}], "BuildCache": [{"Size": 2, "Parents": ["p"]}, {"Size": 5}]})
    assert usage == {"Images": [{"Size": 3, "VirtualSize": 3}], "BuilderSize": 7,
                     "BuildCache": [{"Size": 2, "Parent": "p"}, {"Size": 5, "Parent": ""}]}


def test_info_below_1_39_and_1_25() -> None:
    info = answered(climb("GET", "/info", "1.24"), {"KernelVersion": "", "OperatingSystem": "Debian",
                                                   "SecurityOptions": ["name=seccomp,profile=builtin"]})
    assert info == {"KernelVersion": "<unknown>", "OperatingSystem": "Debian", "SecurityOptions": ["seccomp"]}


@pytest.mark.parametrize(("method", "path"), [("POST", "/containers/{id}/exec"), ("POST", "/exec/{id}/start")])
def test_console_size_is_dropped_below_1_42(method: str, path: str) -> None:
    assert sent_body(climb(method, path, "1.41"), {"Tty": True, "ConsoleSize": [24, 80]}) == {"Tty": True}


@pytest.mark.parametrize(("path", "limit"), [("/containers/create", {"HostConfig": {"KernelMemory": 8 << 20}}),
                                           ("/containers/{id}/update", {"KernelMemory": 8 << 20})])
def test_a_kernel_memory_limit_climbing_past_1_42_is_answered_with_the_old_warning(path: str, limit: Any) -> None:
    exchange = climb("POST", path, "1.41")
    assert sent_body(exchange, limit) == limit  # the daemon ignores it; the answer says so
    assert answered(exchange, {"Warnings": None})["Warnings"] == [KERNEL_MEMORY_DISCARDED]
    unlimited = climb("POST", path, "1.41")
    sent_body(unlimited, {"HostConfig": {"Memory": 8 << 20}} if "create" in path else {"Memory": 8 << 20})
    assert answered(unlimited, {"Warnings": []})["Warnings"] == []
    at_1_42 = climb("POST", path, "1.42", target="1.44")
    sent_body(at_1_42, limit)
    assert answered(at_1_42, {"Warnings": []})["Warnings"] == []


def test_the_steps_leave_what_they_do_not_know() -> None:
    context = Context("GET", None, {}, Version(1, 41), Version(1, 44))
    assert security_option_names(None, context) is None
    assert builder_size([], context) == []
    assert options_of_another_mount_type({"Type": "volume", "VolumeOptions": {}}, context) == \
        {"Type": "volume", "VolumeOptions": {}}
