"""The pure translation core on its own: microseconds per request and per response.

    python bench/core.py [--samples FILE.json] [--json]

No reactor and no daemon: each endpoint family's legacy request goes through
routing (`plan`) and the version chain's request side, and a dockerd 20.10
answer through its response side, in a timeit loop. `run.py` passes answers it
captured from its daemon; alone, this uses the small made-up ones below.
With --floor: 1.41 and 1.24 clients' requests climbing to a daemon whose floor
is 1.44 (dockerd 28.5 as Docker 29.0), and 1.44 clients' passing through.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import timeit
from dataclasses import dataclass
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apiproxy.api.upstream_info import UpstreamInfo, choose_target, parse_upstream_info  # noqa: E402
from apiproxy.api.versions import Version  # noqa: E402
from apiproxy.translation.exchange import Exchange  # noqa: E402
from apiproxy.translation.memory import Memory  # noqa: E402
from apiproxy.translation.routing import Forward, Settings, plan  # noqa: E402

CLIENT = "1.9"
DOCKER_20_10 = parse_upstream_info({"Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12",
                                    "Components": [{"Name": "Engine", "Version": "20.10.24"}]})
# dockerd 28.5 with DOCKER_MIN_API_VERSION=1.44: Docker 29.0's floor.
DOCKER_FLOOR_1_44 = parse_upstream_info({"Version": "28.5.2", "ApiVersion": "1.51", "MinAPIVersion": "1.44",
                                         "Components": [{"Name": "Engine", "Version": "28.5.2"}]})
SETTINGS = Settings(unversioned_version=Version(1, 9))
REQUEST_HEADERS = [(b"Host", b"docker"), (b"User-Agent", b"docker-py/0.2.3"),
                   (b"Content-Type", b"application/json")]
RESPONSE_HEADERS = [(b"Content-Type", b"application/json"), (b"Api-Version", b"1.41"),
                    (b"Server", b"Docker/20.10.24 (linux)")]
CONTAINER_ID = "4fa6e0f0c6786287e131c3852c58a2e01cc697a68231826813597e4994f1d6e2"

# What a 0.7-era (API 1.9) client sends to create a container.
CREATE_BODY = {"Hostname": "", "User": "", "Memory": 0, "MemorySwap": 0, "CpuShares": 0, "AttachStdin": False,
               "AttachStdout": True, "AttachStderr": True, "PortSpecs": None, "ExposedPorts": {"80/tcp": {}},
               "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": ["A=1"], "Cmd": ["date"],
               "Dns": None, "Image": "busybox", "Volumes": {}, "VolumesFrom": "", "WorkingDir": "",
               "Entrypoint": None, "NetworkDisabled": False}
# What docker CLI 1.12 (API 1.24) sends for `docker create busybox true`, and the 25.0 CLI (1.44).
_HOST_1_24 = {"Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
              "NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
              "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None,
              "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "",
              "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
              "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "",
              "UsernsMode": "", "ShmSize": 0, "ConsoleSize": [0, 0], "Isolation": "", "CpuShares": 0, "Memory": 0,
              "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": None, "CpuPeriod": 0, "CpuQuota": 0,
              "CpusetCpus": "", "CpusetMems": "", "Devices": [], "DiskQuota": 0, "KernelMemory": 0,
              "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": -1, "OomKillDisable": False,
              "PidsLimit": 0, "Ulimits": None}
CREATE_1_24 = {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
               "AttachStderr": True, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": [],
               "Cmd": ["true"], "Image": "busybox", "Volumes": {}, "WorkingDir": "", "Entrypoint": None,
               "OnBuild": None, "Labels": {}, "HostConfig": _HOST_1_24,
               "NetworkingConfig": {"EndpointsConfig": {}}}
CREATE_1_44 = {**CREATE_1_24, "HostConfig": {
    **{k: v for k, v in _HOST_1_24.items() if k not in ("DiskQuota", "KernelMemory", "PidsLimit")},
    "CgroupnsMode": "", "Mounts": None, "MaskedPaths": None, "ReadonlyPaths": None, "PidsLimit": None}}


def made_up_samples() -> dict[str, Any]:
    """dockerd 20.10 shapes, trimmed; run.py uses real answers instead."""
    network = {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "", "EndpointID": "",
               "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
               "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": None}
    container = {"Id": CONTAINER_ID, "Names": ["/idle"], "Image": "bench/busybox:latest",
                 "ImageID": "sha256:" + "ab" * 32, "Command": "sleep 1d", "Created": 1700000000, "Ports": [],
                 "Labels": {}, "State": "created", "Status": "Created", "HostConfig": {"NetworkMode": "default"},
                 "NetworkSettings": {"Networks": {"bridge": network}}, "Mounts": []}
    image = {"Containers": -1, "Created": 1700000000, "Id": "sha256:" + "ab" * 32, "Labels": None,
             "ParentId": "", "RepoDigests": None, "RepoTags": ["bench/busybox:latest"], "SharedSize": -1,
             "Size": 2000000, "VirtualSize": 2000000}
    inspect = {"Id": CONTAINER_ID, "Created": "2023-11-14T22:13:20.0Z", "Path": "sleep", "Args": ["1d"],
               "State": {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
                         "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                         "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"},
               "Image": "sha256:" + "ab" * 32, "Name": "/idle", "RestartCount": 0, "Driver": "vfs",
               "HostConfig": {"Binds": None, "NetworkMode": "default", "PortBindings": {}, "Privileged": False},
               "Mounts": [], "Config": {"Hostname": "4fa6e0f0c678", "Env": ["PATH=/bin"], "Cmd": ["sleep", "1d"],
                                        "Image": "bench/busybox", "Labels": {}, "ExposedPorts": None},
               "NetworkSettings": {"Ports": {}, "Networks": {"bridge": network}}}
    image_inspect = {"Id": image["Id"], "RepoTags": image["RepoTags"], "RepoDigests": [], "Parent": "",
                     "Created": "2023-11-14T22:13:20.0Z", "Container": "", "DockerVersion": "20.10.24",
                     "Author": "", "Config": inspect["Config"], "Architecture": "amd64", "Os": "linux",
                     "Size": 2000000, "VirtualSize": 2000000, "RootFS": {"Type": "layers", "Layers": []}}
    return {"containers": [container] * 50, "images": [image], "container": inspect, "image": image_inspect}


@dataclass
class Family:
    name: str
    method: str
    path: str  # after the version prefix
    request_body: Any  # JSON, or None
    response: Any  # the daemon's answer, JSON
    items: int  # response items (a list's length, or 1)
    stream: bool = False  # the response is a JSON stream of items, fed one at a time
    client: str = ""  # the client's version; "" for the run's legacy one
    status: int = 200


def families(samples: dict[str, Any]) -> list[Family]:
    event = {"status": "start", "id": CONTAINER_ID, "from": "bench/busybox:latest", "Type": "container",
             "Action": "start", "Actor": {"ID": CONTAINER_ID, "Attributes": {"image": "bench/busybox:latest",
                                                                              "name": "idle"}},
             "scope": "local", "time": 1700000000, "timeNano": 1700000000000000000}
    containers, images = samples["containers"], samples["images"]
    return [
        Family("containers list", "GET", "/containers/json?all=1&limit=50", None, containers, len(containers)),
        Family("container inspect", "GET", f"/containers/{CONTAINER_ID}/json", None, samples["container"], 1),
        Family("container create", "POST", "/containers/create", CREATE_BODY,
               {"Id": CONTAINER_ID, "Warnings": None}, 1),
        Family("images list", "GET", "/images/json", None, images, len(images)),
        Family("image inspect", "GET", "/images/bench/busybox/json", None, samples["image"], 1),
        Family("events item", "GET", "/events", None, event, 1, stream=True),
        Family("ping (pass-through)", "GET", "/_ping", None, "OK", 1),
    ]


def floor_families(samples: dict[str, Any]) -> list[Family]:
    """Modern clients below the 1.44 floor (climbing) and at it (passing through)."""
    containers, images = samples["containers"], samples["images"]
    rows = []
    for client, body in (("1.41", CREATE_1_44), ("1.24", CREATE_1_24), ("1.44", CREATE_1_44)):
        if client != "1.24":
            rows += [Family(f"containers list v{client}", "GET", "/containers/json?all=1&limit=50", None,
                            containers, len(containers), client=client),
                     Family(f"images list v{client}", "GET", "/images/json", None, images, len(images),
                            client=client)]
        if client != "1.41":
            rows += [Family(f"container create v{client}", "POST", "/containers/create", body,
                            {"Id": CONTAINER_ID, "Warnings": []}, 1, client=client, status=201),
                     Family(f"container start v{client}", "POST", f"/containers/{CONTAINER_ID}/start", None, "",
                            1, client=client, status=204)]
    return rows


def _request(family: Family, prefix: str, info: UpstreamInfo = DOCKER_20_10) -> Callable[[], Exchange]:
    choice = choose_target(info, None)
    body = json.dumps(family.request_body).encode() if family.request_body is not None else b""
    target = family.path if family.path == "/_ping" else prefix + family.path

    def run() -> Exchange:
        decision = plan(family.method, target, info, choice, SETTINGS, Memory())
        assert isinstance(decision, Forward), decision
        exchange = decision.exchange
        transform = exchange.request_body(REQUEST_HEADERS)
        if transform is not None:
            transform.feed(body)
            transform.close()
        exchange.request_headers(REQUEST_HEADERS)
        return exchange

    return run


def _response(family: Family, exchange: Exchange) -> Callable[[], bytes]:
    raw = family.response.encode() if isinstance(family.response, str) else \
        json.dumps(family.response, separators=(",", ":")).encode() + (b"\r\n" if family.stream else b"")

    def run() -> bytes:
        status, headers = exchange.response_head(family.status, RESPONSE_HEADERS)
        transform = exchange.response_body(status, headers)
        if transform is None:
            return raw
        return transform.feed(raw) + transform.close()

    return run


def _best_us(function: Callable[[], Any], budget: float) -> float:
    """The best of five timeit rounds, in microseconds per call (best: least disturbed by other load).

    CPU time of this process, not wall time: on a shared machine, time spent waiting for a core is not ours.
    """
    timer = timeit.Timer(function, timer=time.process_time)
    number, elapsed = timer.autorange()
    number = max(1, int(number * budget / max(elapsed, 1e-9) / 5))
    return min(timer.repeat(5, number)) / number * 1e6


def measure(samples: dict[str, Any], client: str = CLIENT, budget: float = 0.5,
            floor: bool = False) -> list[dict[str, Any]]:
    """Legacy families at `client` on dockerd 20.10, or (floor) the floor families on Docker 29.0's floor."""
    rows = []
    info = DOCKER_FLOOR_1_44 if floor else DOCKER_20_10
    for family in floor_families(samples) if floor else families(samples):
        request = _request(family, f"/v{family.client or client}", info)
        exchange = request()
        response = _response(family, exchange)
        response()  # fails loudly here if the sample does not translate
        request_us, response_us = _best_us(request, budget), _best_us(response, budget)
        rows.append({"family": family.name, "client": family.client or client,
                     "translated": exchange.translated, "items": family.items,
                     "request_us": request_us, "response_us": response_us,
                     "response_item_us": response_us / max(family.items, 1)})
    return rows


def profile(samples: dict[str, Any], name: str, client: str = CLIENT, calls: int = 2000,
            floor: bool = False) -> None:
    """Where one family's request and response translation spend their time (cumulative)."""
    import cProfile
    import pstats

    family = next(f for f in (floor_families if floor else families)(samples) if f.name == name)
    request = _request(family, f"/v{family.client or client}", DOCKER_FLOOR_1_44 if floor else DOCKER_20_10)
    response = _response(family, request())

    def loop() -> None:
        for _ in range(calls):
            response()
            request()

    profiler = cProfile.Profile()
    profiler.runcall(loop)
    pstats.Stats(profiler).strip_dirs().sort_stats("cumulative").print_stats(25)


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = [f"  {'family':<26} {'request µs':>11} {'response µs':>12} {'items':>6} {'µs/item':>9}  translated"]
    for row in rows:
        lines.append(f"  {row['family']:<26} {row['request_us']:>11.1f} {row['response_us']:>12.1f} "
                     f"{row['items']:>6} {row['response_item_us']:>9.1f}  {'yes' if row['translated'] else 'no'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", help="JSON of real daemon answers (written by run.py)")
    parser.add_argument("--client", default=CLIENT, help=f"legacy client version (default {CLIENT})")
    parser.add_argument("--floor", action="store_true", help="1.41/1.24 clients on a 1.44 floor, and 1.44 ones")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--profile", metavar="FAMILY", help="cProfile one family (e.g. 'container create')")
    options = parser.parse_args()
    samples = made_up_samples()
    if options.samples:
        with open(options.samples) as f:
            samples = json.load(f)
    if options.profile:
        profile(samples, options.profile, options.client, floor=options.floor)
        return 0
    rows = measure(samples, options.client, floor=options.floor)
    print(json.dumps(rows, indent=1) if options.json else format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
