"""The version changes of API 1.46-1.51 (Docker 27.0-28.3) a client below them crosses to a newer floor."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest

from climbing import answered, climb as climb_to, sent_body

from apiproxy.api.versions import Version
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.document import Context
from apiproxy.translation.steps.containers import eth0_sysctls_as_endpoint_options
from apiproxy.translation.steps.progress import progress_strings

JSON = [(b"Content-Type", b"application/json")]
CONTEXT = Context("POST", None, {}, Version(1, 45), Version(1, 51))


def climb(method: str, path: str, client: str, target: str = "1.51") -> ChainExchange:
    """To a daemon whose floor is above every change of 1.46-1.51."""
    return climb_to(method, path, client, target)


DESCRIPTOR = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:ab", "size": 9}








def streamed(exchange: ChainExchange, items: list[Any]) -> list[Any]:
    transform = exchange.response_body(200, JSON)
    if transform is None:
        return items
    text = transform.feed(b"".join(json.dumps(item).encode() + b"\r\n" for item in items)) + transform.close()
    return [json.loads(line) for line in text.decode().splitlines() if line.strip()]


def sent_query(exchange: ChainExchange, path: str) -> dict[str, str]:
    plain, _, query = path.partition("?")
    return dict(parse_qsl(exchange.request_target(plain, query).partition("?")[2]))


def test_container_lists_lose_annotations_below_1_46_and_descriptors_below_1_48() -> None:
    listed = [{"Id": "c", "HostConfig": {"NetworkMode": "bridge", "Annotations": {"a": "b"}},
               "ImageManifestDescriptor": DESCRIPTOR}]
    assert answered(climb("GET", "/containers/json", "1.45"), listed) == \
        [{"Id": "c", "HostConfig": {"NetworkMode": "bridge"}}]
    assert answered(climb("GET", "/containers/json", "1.47"), listed)[0]["HostConfig"]["Annotations"] == {"a": "b"}
    assert "ImageManifestDescriptor" not in answered(climb("GET", "/containers/{id}/json", "1.47"),
                                                     {"Id": "c", "ImageManifestDescriptor": DESCRIPTOR})
    assert "ImageManifestDescriptor" in answered(climb("GET", "/containers/{id}/json", "1.48"),
                                                 {"Id": "c", "ImageManifestDescriptor": DESCRIPTOR})


def test_image_answers_below_1_48_1_50_and_1_51() -> None:
    images = answered(climb("GET", "/images/json", "1.47"), [{"Id": "sha256:1", "Containers": 2,
                                                               "Descriptor": DESCRIPTOR}])
    assert images == [{"Id": "sha256:1", "Containers": -1}]
    assert answered(climb("GET", "/images/json", "1.50"), [{"Id": "1", "Containers": 2, "Descriptor": DESCRIPTOR}]) == \
        [{"Id": "1", "Containers": -1, "Descriptor": DESCRIPTOR}]
    inspected = answered(climb("GET", "/images/{name}/json", "1.47"),
                         {"Id": "sha256:1", "Descriptor": DESCRIPTOR, "Config": {"Cmd": ["sh"], "Tty": True}})
    assert "Descriptor" not in inspected
    assert inspected["Config"] == {"Cmd": ["sh"], "Tty": True, "Hostname": "", "Domainname": "", "Image": "",
                                   "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
                                   "OpenStdin": False, "StdinOnce": False}
    assert answered(climb("GET", "/images/{name}/json", "1.50"), {"Config": {}}) == {"Config": {}}


@pytest.mark.parametrize(("method", "path", "client", "dropped"), [
    ("POST", "/images/busybox/push?platform=x&tag=1", "1.45", "platform"),
    ("GET", "/images/json?manifests=1&all=1", "1.46", "manifests"),
    ("GET", "/images/busybox/json?manifests=1&all=1", "1.47", "manifests"),
    ("GET", "/images/busybox/history?platform=x&all=1", "1.47", "platform"),
    ("GET", "/images/busybox/get?platform=x&all=1", "1.47", "platform"),
    ("GET", "/images/get?platform=x&names=a", "1.47", "platform"),
    ("POST", "/images/load?platform=x&quiet=1", "1.47", "platform"),
    ("POST", "/build/prune?reserved-space=1&keep-storage=2", "1.47", "reserved-space"),
    ("GET", "/images/busybox/json?platform=x&all=1", "1.48", "platform"),
    ("DELETE", "/images/busybox?platforms=x&force=1", "1.49", "platforms")])
def test_parameters_an_older_daemon_ignored_are_not_sent(method: str, path: str, client: str, dropped: str) -> None:
    query = sent_query(climb(method, path, client), path)
    assert dropped not in query and len(query) == 1  # what the client's version knew stays
    newer = f"1.{int(client.split('.')[1]) + 1}"
    assert dropped in sent_query(climb(method, path, newer), path)


def test_info_below_1_46_to_1_50() -> None:
    info = {"Containerd": {"Address": "/run/containerd.sock"}, "FirewallBackend": {"Driver": "iptables"},
            "DiscoveredDevices": [], "RegistryConfig": {"IndexConfigs": {}},
            "ContainerdCommit": {"ID": "abc"}, "RuncCommit": {"ID": "def"}, "InitCommit": {"ID": "ghi"}}
    old = answered(climb("GET", "/info", "1.45"), info)
    assert not {"Containerd", "FirewallBackend", "DiscoveredDevices"} & set(old)
    assert old["RegistryConfig"] == {"IndexConfigs": {}, "AllowNondistributableArtifactsCIDRs": None,
                                     "AllowNondistributableArtifactsHostnames": None}
    assert old["RuncCommit"] == {"ID": "def", "Expected": "def"} and old["BridgeNfIptables"] is False
    newer = {key: value for key, value in info.items() if key != "DiscoveredDevices"}
    assert answered(climb("GET", "/info", "1.49"), info) == {**newer, "BridgeNfIptables": False,
                                                               "BridgeNfIp6tables": False}


def test_image_create_events_are_news_below_1_46() -> None:
    events = [{"Type": "image", "Action": "create", "Actor": {"ID": "sha256:1"}},
              {"Type": "image", "Action": "tag", "Actor": {"ID": "sha256:1"}}]
    assert [e["Action"] for e in streamed(climb("GET", "/events", "1.45"), events)] == ["tag"]
    assert len(streamed(climb("GET", "/events", "1.46"), events)) == 2


def test_create_below_1_48_and_1_46() -> None:
    body = {"Image": "busybox", "HostConfig": {"Sysctls": {"net.ipv4.conf.eth0.log_martians": "1", "kernel.x": "1"},
                                              "Mounts": [{"Type": "tmpfs", "Target": "/t",
                                                          "TmpfsOptions": {"SizeBytes": 1, "Options": [["exec"]]}}]},
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {"GwPriority": 5}}}}
    sent = sent_body(climb("POST", "/containers/create", "1.45"), body)
    assert sent["HostConfig"]["Sysctls"] == {"kernel.x": "1"}
    assert sent["NetworkingConfig"]["EndpointsConfig"] == {
        "bridge": {"DriverOpts": {"com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.log_martians=1"}}}
    assert sent["HostConfig"]["Mounts"][0]["TmpfsOptions"] == {"SizeBytes": 1}
    assert sent_body(climb("POST", "/containers/create", "1.48"), body) == body
    warned = answered(climb("POST", "/containers/create", "1.47"),
                      {"Id": "c", "Warnings": ["WARNING: the container-wide volume-driver configuration is ignored"]})
    assert warned == {"Id": "c", "Warnings": []}


def test_eth0_sysctls_go_to_the_one_network_a_create_names() -> None:
    def migrated(mode: str | None, endpoints: dict[str, Any] | None) -> Any:
        body: dict[str, Any] = {"HostConfig": {"NetworkMode": mode, "Sysctls": {"net.ipv6.conf.eth0.mtu": "9"}}}
        if endpoints is not None:
            body["NetworkingConfig"] = {"EndpointsConfig": endpoints}
        return eth0_sysctls_as_endpoint_options(body, CONTEXT)
    assert migrated("net1", None)["NetworkingConfig"]["EndpointsConfig"]["net1"]["DriverOpts"] == \
        {"com.docker.network.endpoint.sysctls": "net.ipv6.conf.IFNAME.mtu=9"}
    given = {"DriverOpts": {"com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.x=1"}}
    assert migrated("default", {"other": given})["NetworkingConfig"]["EndpointsConfig"]["other"]["DriverOpts"] == \
        {"com.docker.network.endpoint.sysctls": "net.ipv6.conf.IFNAME.mtu=9,net.ipv4.conf.IFNAME.x=1"}
    assert migrated("host", None)["HostConfig"]["Sysctls"] == {"net.ipv6.conf.eth0.mtu": "9"}
    assert "NetworkingConfig" not in migrated("container:c", None)
    unknown = migrated("a", {"b": {}, "c": {}})  # no telling which network: the daemon refuses it
    assert unknown["HostConfig"]["Sysctls"] == {"net.ipv6.conf.eth0.mtu": "9"}


def test_networks_below_1_48() -> None:
    assert sent_body(climb("POST", "/networks/create", "1.47"), {"Name": "n", "EnableIPv4": False}) == {"Name": "n"}
    assert sent_body(climb("POST", "/networks/{id}/connect", "1.47"),
                     {"Container": "c", "EndpointConfig": {"GwPriority": 1}}) == {"Container": "c",
                                                                                  "EndpointConfig": {}}


def test_service_tmpfs_options_below_1_46() -> None:
    spec = {"TaskTemplate": {"ContainerSpec": {"Mounts": [{"Type": "tmpfs", "TmpfsOptions": {"Options": []}}]}}}
    assert sent_body(climb("POST", "/services/create", "1.45"), spec) == \
        {"TaskTemplate": {"ContainerSpec": {"Mounts": [{"Type": "tmpfs", "TmpfsOptions": {}}]}}}


def test_progress_strings_are_rebuilt_below_1_48() -> None:
    items = [{"status": "Downloading", "id": "l1", "progressDetail": {"current": 500000, "total": 1000000}},
             {"errorDetail": {"message": "manifest unknown"}},
             {"status": "Downloading", "progress": "[=>  ] kept", "progressDetail": {"current": 1, "total": 9}}]
    shown = streamed(climb("POST", "/images/create", "1.47"), items)
    assert shown[0]["progress"] == "[" + "=" * 25 + ">" + " " * 24 + "]    500kB/1MB"
    assert shown[1]["error"] == "manifest unknown" and shown[2]["progress"] == "[=>  ] kept"
    assert "progress" not in progress_strings({"status": "Pulling fs layer", "progressDetail": {}}, CONTEXT)
