"""Value steps re-creating the version gates of API 1.19-1.44 for clients below the daemon's floor. Pure.

Each does what the daemon's router did for a client of the older version (moby's
`versions.LessThan` gates), where a declaration cannot say it.
"""
from __future__ import annotations

from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step
from apiproxy.translation.transforms import TranslationError

CPU_SHARES_RANGE = (2, 262144)  # the kernel's bounds, which daemons clamped to below API 1.19
NETWORK_COUNTERS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                    "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
_NO_ENDPOINT_MODES = ("host", "none")  # and container:<id>: a MAC address is refused with these


@value_step
def clamp_cpu_shares(host: Any, context: Context) -> Any:
    """HostConfig.CpuShares outside the kernel's range, brought into it as daemons did below API 1.19."""
    if isinstance(host, dict):
        shares = host.get("CpuShares")
        if isinstance(shares, int) and not isinstance(shares, bool) and shares > 0:
            host["CpuShares"] = min(max(shares, CPU_SHARES_RANGE[0]), CPU_SHARES_RANGE[1])
    return host


@value_step
def network_totals(stats: Any, context: Context) -> Any:
    """A stats item as below API 1.21: one `network` object summing every interface of `networks`,
    and no name or id (the 1.20 answer had neither)."""
    if not isinstance(stats, dict):
        return stats
    interfaces = stats.pop("networks", None) or {}  # none without a network: the sums are 0
    stats.pop("name", None)
    stats.pop("id", None)
    stats["network"] = {counter: sum(int(interface.get(counter) or 0) for interface in interfaces.values()
                                     if isinstance(interface, dict))
                        for counter in NETWORK_COUNTERS} if isinstance(interfaces, dict) else {}
    return stats


@value_step
def cgroupns_host_on_cgroup_v1(body: Any, context: Context) -> Any:
    """A create without CgroupnsMode on a cgroup v1 daemon gets the host's cgroup namespace, as below API 1.41
    (daemons on cgroup v2 gave their default, private, at every version). Unknown: left to the daemon."""
    if isinstance(body, dict) and context.memory.cgroup_version == "1":
        host = body.get("HostConfig")
        if host is None:
            body["HostConfig"] = host = {}
        if isinstance(host, dict) and not host.get("CgroupnsMode"):
            host["CgroupnsMode"] = "host"
    return body


@value_step
def refuse_forced_recursive_read_only(mount: Any, context: Context) -> Any:
    """The daemon's answer below API 1.44 to a bind that forces recursive read-only (an option of 1.44)."""
    if isinstance(mount, dict) and mount.get("Type") == "bind" and \
            isinstance(mount.get("BindOptions"), dict) and mount["BindOptions"].get("ReadOnlyForceRecursive"):
        raise TranslationError("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")
    return mount


@value_step
def refuse_several_endpoints(endpoints: Any, context: Context) -> Any:
    """The daemon's answer below API 1.44 to a create naming more than one network."""
    if isinstance(endpoints, dict) and len(endpoints) > 1:
        raise TranslationError("Container cannot be created with multiple network endpoints: "
                               + ", ".join(endpoints))
    return endpoints


@value_step
def read_only_bind_non_recursive(mount: Any, context: Context) -> Any:
    """A read-only bind mount stays read-only at its top only, as every read-only mount was below API 1.44
    (today's daemons make it recursively read-only where the kernel can)."""
    if isinstance(mount, dict) and mount.get("Type") == "bind" and mount.get("ReadOnly"):
        options = mount.get("BindOptions")
        if not isinstance(options, dict):
            mount["BindOptions"] = options = {}
        options["ReadOnlyNonRecursive"] = True
    return mount


@value_step
def container_mac_to_endpoint(body: Any, context: Context) -> Any:
    """The container-wide MacAddress moved to the endpoint of its network, as daemons did silently
    below API 1.44 (today's do it with a deprecation warning); without it, endpoint MAC addresses,
    which those daemons ignored, are dropped."""
    if not isinstance(body, dict):
        return body
    networking = body.get("NetworkingConfig")
    endpoints = networking.get("EndpointsConfig") if isinstance(networking, dict) else None
    mac = body.get("MacAddress")
    if not mac:
        for endpoint in endpoints.values() if isinstance(endpoints, dict) else ():
            if isinstance(endpoint, dict):
                endpoint.pop("MacAddress", None)
        return body
    host = body.get("HostConfig")
    mode = str(host.get("NetworkMode") or "default") if isinstance(host, dict) else "default"
    if mode in _NO_ENDPOINT_MODES or mode.startswith("container:") or \
            isinstance(endpoints, dict) and len(endpoints) > 1:
        return body  # the daemon refuses these as it did then
    name = "bridge" if mode == "default" else mode
    if not isinstance(endpoints, dict) or not endpoints:
        endpoints = {name: {}}
        body["NetworkingConfig"] = {**(networking if isinstance(networking, dict) else {}),
                                    "EndpointsConfig": endpoints}
    endpoint = next(iter(endpoints.values()))  # the only one: below 1.44 it was the container's, whatever its key
    if isinstance(endpoint, dict):
        endpoint["MacAddress"] = body.pop("MacAddress")
    return body


@value_step
def without_read_only_recursion(mount: Any, context: Context) -> Any:
    """A mount as inspect showed it below API 1.44: without ReadOnlyNonRecursive and ReadOnlyForceRecursive
    (of 1.44), and without the BindOptions they alone made (apiproxy sets the first on read-only binds)."""
    options = mount.get("BindOptions") if isinstance(mount, dict) else None
    if isinstance(options, dict):
        options.pop("ReadOnlyNonRecursive", None)
        options.pop("ReadOnlyForceRecursive", None)
        if not options:
            del mount["BindOptions"]
    return mount


@value_step
def refuse_templating(spec: Any, context: Context, kind: str) -> Any:
    """The daemon's answer below API 1.37 to a secret or config with Templating (an option of 1.37)."""
    if isinstance(spec, dict) and spec.get("Templating") is not None:
        raise TranslationError(f"{kind} templating is not supported on the specified API version: "
                               f"{context.client_version}")
    return spec
