"""Value steps of container bodies: ports, volumes, LXC settings, ids, processes. Pure."""
from __future__ import annotations

import re
from typing import Any

from apiproxy.api.query import GO_TRUE
from apiproxy.translation.document import MISSING, Context, pop, put
from apiproxy.translation.registry import value_step


@value_step
def ports_to_display_string(ports: Any, context: Context) -> Any:
    """[{IP, PrivatePort, PublicPort, Type}] → "49153->22, 49154->53/udp": PortMappingHuman() of 0.3-0.6.1.

    Only published ports, public->private, "/udp" after a UDP port and nothing after a TCP one, sorted
    as strings; an IPv4 and an IPv6 binding of one port show once (the 2013 daemons had no IPv6).
    """
    if not isinstance(ports, list):
        return "" if ports is None else ports  # no port: null from 1.5-1.8 (1.9.json)
    shown = {f"{port['PublicPort']}->{port.get('PrivatePort')}" + ("/udp" if port.get("Type") == "udp" else "")
             for port in ports if isinstance(port, dict) and port.get("PublicPort")}
    return ", ".join(sorted(shown))


@value_step
def port_specs_to_bindings(body: Any, context: Context) -> Any:
    """PortSpecs ("[[ip:]hostPort:]containerPort[/proto]") → ExposedPorts + PortBindings.

    A bare "80" exposed 80/tcp and published it on a random host port, as 0.6.5
    daemons did in migratePortMappings.
    """
    if not isinstance(body, dict) or not body.get("PortSpecs"):
        if isinstance(body, dict):
            body.pop("PortSpecs", None)
        return body
    exposed = body.setdefault("ExposedPorts", {}) or {}
    body["ExposedPorts"] = exposed
    bindings = body.setdefault("PortBindings", {}) or {}
    body["PortBindings"] = bindings
    for spec in body.pop("PortSpecs"):
        parts = str(spec).split(":")
        container, _, proto = parts[-1].partition("/")
        key = f"{container}/{proto or 'tcp'}"
        host_ip, host_port = ("", "") if len(parts) == 1 else \
            ("", parts[0]) if len(parts) == 2 else (":".join(parts[:-2]), parts[-2])
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": host_port})
    return body


@value_step
def mounts_to_volumes(inspect: Any, context: Context) -> Any:
    """Volumes {destination: source} and VolumesRW {destination: bool} from Mounts (API < 1.20)."""
    if not isinstance(inspect, dict):
        return inspect
    mounts = [m for m in inspect.get("Mounts") or [] if isinstance(m, dict)]
    inspect["Volumes"] = {m.get("Destination"): m.get("Source") for m in mounts}
    inspect["VolumesRW"] = {m.get("Destination"): bool(m.get("RW")) for m in mounts}
    return inspect


@value_step
def ports_to_port_mapping(settings: Any, context: Context) -> Any:
    """NetworkSettings.PortMapping {"Tcp": {private: public}, "Udp": {...}} (API 1.3-1.5) from Ports.

    Null where Ports is (a container not running, change 1.28's ports_null_unless_running): 2013's
    daemons reset NetworkSettings at a stop and set PortMapping only at a start."""
    if not isinstance(settings, dict):
        return settings
    if "Ports" in settings and settings["Ports"] is None:
        settings["PortMapping"] = None
        return settings
    mapping: dict[str, dict[str, str]] = {"Tcp": {}, "Udp": {}}
    for port, bindings in (settings.get("Ports") or {}).items():
        private, _, proto = port.partition("/")
        for binding in bindings or []:
            mapping["Udp" if proto == "udp" else "Tcp"].setdefault(private, binding.get("HostPort", ""))
    settings["PortMapping"] = mapping
    return settings


@value_step
def flatten_port_mapping(settings: Any, context: Context) -> Any:
    """PortMapping as one {private: public} map (API 1.2, TCP only)."""
    if isinstance(settings, dict) and isinstance(settings.get("PortMapping"), dict):
        settings["PortMapping"] = dict(settings["PortMapping"].get("Tcp", {}))
    return settings


_LXC_SETTINGS = {
    "lxc.utsname": ("/Hostname", str),
    "lxc.cgroup.cpuset.cpus": ("/HostConfig/CpusetCpus", str),
    "lxc.cgroup.cpu.shares": ("/HostConfig/CpuShares", int),
    "lxc.cgroup.memory.limit_in_bytes": ("/HostConfig/Memory", int),
}


@value_step
def lxc_conf_to_settings(body: Any, context: Context, where: str = "/HostConfig/LxcConf") -> Any:
    """LxcConf (gone with the LXC driver) → the settings that replaced the keys that matter."""

    if not isinstance(body, dict):
        return body
    entries = pop(body, where)
    if entries is MISSING or not entries:
        return body
    pairs = entries.items() if isinstance(entries, dict) else \
        ((e.get("Key"), e.get("Value")) for e in entries if isinstance(e, dict))
    for key, value in pairs:
        setting = _LXC_SETTINGS.get(str(key))
        if setting is None:
            context.warnings.append(f"LxcConf {key} is ignored: today's daemons have no LXC driver")
            continue
        path, kind = setting
        try:
            put(body, path, kind(value))
        except (TypeError, ValueError):
            context.warnings.append(f"LxcConf {key} is ignored: its value is not valid")
    return body


@value_step
def lxc_conf_as_list(body: Any, context: Context) -> Any:
    """LxcConf as a map {key: value}, the form the 1.6-1.9 documentation showed, → the list of
    {Key, Value} that every daemon with an LXC driver reads."""
    if isinstance(body, dict) and isinstance(body.get("LxcConf"), dict):
        body["LxcConf"] = [{"Key": key, "Value": value} for key, value in body["LxcConf"].items()]
    return body


@value_step
def real_container_id(value: Any, context: Context) -> Any:
    """The daemon's id for a legacy id (or a prefix of one) a client names in a parameter."""
    return context.memory.ids.to_real(value) if isinstance(value, str) else value


@value_step
def legacy_container_id(value: Any, context: Context) -> Any:
    """The id a legacy client knows for a container apiproxy recreated."""
    return context.memory.ids.to_legacy(value)


@value_step
def processes_to_rows(top: Any, context: Context) -> Any:
    """{Titles, Processes} → [{PID, Tty, Time, Cmd}], the answer of top at API 1.3."""
    if not isinstance(top, dict):
        return top
    titles = [str(title).upper() for title in top.get("Titles") or []]

    def column(row: list[Any], *names: str) -> str:
        for name in names:
            if name in titles and titles.index(name) < len(row):
                return str(row[titles.index(name)])
        return ""
    return [{"PID": column(row, "PID"), "Tty": column(row, "TTY", "TT"), "Time": column(row, "TIME"),
             "Cmd": column(row, "CMD", "COMMAND")} for row in top.get("Processes") or []]


_OPTIONS_OF = {"VolumeOptions": "volume", "TmpfsOptions": "tmpfs"}


@value_step
def options_of_another_mount_type(mount: Any, context: Context) -> Any:
    """A mount's VolumeOptions or TmpfsOptions on a mount of another type, which daemons before API 1.42
    dropped and today's refuse, dropped."""
    if isinstance(mount, dict):
        for key, kind in _OPTIONS_OF.items():
            if key in mount and mount.get("Type") != kind:
                del mount[key]
    return mount


_ENDPOINT_SYSCTLS = "com.docker.network.endpoint.sysctls"


@value_step
def eth0_sysctls_as_endpoint_options(body: Any, context: Context) -> Any:
    """HostConfig.Sysctls for eth0 → the endpoint's DriverOpts sysctls, as daemons below API 1.48
    migrated them themselves ("net.ipv4.conf.eth0.x" becomes "net.ipv4.conf.IFNAME.x"); from 1.48
    on the daemon refuses them. Anything it could not migrate is left for the daemon to refuse."""
    if not isinstance(body, dict) or not isinstance(body.get("HostConfig"), dict):
        return body
    host = body["HostConfig"]
    sysctls, mode = host.get("Sysctls"), host.get("NetworkMode") or "default"
    if not isinstance(sysctls, dict) or not isinstance(mode, str) or mode == "host" or mode.startswith("container:"):
        return body
    moved = {k: v for k, v in sysctls.items() if k.split(".")[0] == "net" and len(k.split(".", 4)) == 5
             and k.split(".", 4)[3] == "eth0"}
    if not moved:
        return body
    networking = body.get("NetworkingConfig") or {}
    endpoints = networking.get("EndpointsConfig") or {}
    name = "bridge" if mode == "default" else mode
    if endpoints and name not in endpoints:
        if len(endpoints) != 1:
            return body  # which network they were meant for is not known: the daemon says so
        name = next(iter(endpoints))  # clients below 1.44 could name only one network
    endpoint = endpoints.get(name) or {}
    endpoints[name], networking["EndpointsConfig"], body["NetworkingConfig"] = endpoint, endpoints, networking
    options = endpoint.get("DriverOpts") or {}
    migrated = ",".join(f"net.{'.'.join(k.split('.', 4)[1:3])}.IFNAME.{k.split('.', 4)[4]}={v}"
                        for k, v in moved.items())
    old = options.get(_ENDPOINT_SYSCTLS)
    options[_ENDPOINT_SYSCTLS] = f"{migrated},{old}" if old else migrated
    endpoint["DriverOpts"] = options
    for key in moved:
        del sysctls[key]
    return body


@value_step
def without_volume_driver_warning(warnings: Any, context: Context) -> Any:
    """The daemon warns from API 1.48 that VolumeDriver misses volumes given as Mounts; the CLI did."""
    if not isinstance(warnings, list):
        return warnings
    return [w for w in warnings if not (isinstance(w, str) and "container-wide volume-driver" in w)]


# Docker 25 reworded the refusal to remove a running container (moby 2b583c0923, no version gate).
_REMOVAL_REFUSED = re.compile(r'cannot remove container "(?P<name>[^"]*)": container is '
                              r'(?:(?P<state>\w+): stop the container before removing or force remove'
                              r'|paused and must be unpaused first)')


@value_step
def removal_refusal_wording(error: Any, context: Context) -> Any:
    """{"message": "cannot remove container "X": container is running: stop ..."} → as Docker 24 and
    earlier worded it: "You cannot remove a running container X. Stop the container before attempting
    removal or force remove" (they named its full id; X is what the client named)."""
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return error
    found = _REMOVAL_REFUSED.fullmatch(error["message"])
    if found is None:
        return error
    state = found["state"] or "paused"
    procedure = "Stop the container before attempting removal or force remove"
    if state == "paused":
        procedure = "Unpause and then " + procedure.lower()
    error["message"] = f"You cannot remove a {state} container {found['name']}. {procedure}"
    return error


_RUNNING_REFUSAL = re.compile(r"You cannot remove a running container .*|cannot remove container .*: container is running: .*"
                              r"|cannot remove container .* as it is running .*")


@value_step
def removal_refusal_as_2013(error: Any, context: Context) -> Any:
    """Removing a running container, refused in the words of 0.3-0.8 (which 2013 clients matched):
    "Impossible to remove a running container, please stop it first". Below 1.24 the error is
    already plain text when this step sees it."""
    words = "Impossible to remove a running container, please stop it first"
    if isinstance(error, str) and _RUNNING_REFUSAL.fullmatch(error.rstrip("\n")):
        return words + "\n"
    if isinstance(error, dict) and isinstance(error.get("message"), str) and _RUNNING_REFUSAL.fullmatch(error["message"]):
        error["message"] = words
    return error


_NO_SUCH_CONTAINER = "No such container: "


@value_step
def note_link_removal(query: Any, context: Context) -> Any:
    """Remembers that a DELETE of /parent/alias asked to remove the link (link=1), for its error."""
    if isinstance(query, dict) and query.get("link") in GO_TRUE:
        context.notes["removing_link"] = True
    return query


@value_step
def unknown_link_as_2013(error: Any, context: Context) -> Any:
    """A link that does not exist, in 0.6.5-1.1's words: "No such link: parent/alias" (404). Docker 1.2
    (API 1.14) looks the name up as a container's first, and says "No such container: parent/alias"."""
    if not context.notes.get("removing_link"):
        return error
    if isinstance(error, str) and error.startswith(_NO_SUCH_CONTAINER):
        return "No such link: " + error.removeprefix(_NO_SUCH_CONTAINER)
    if isinstance(error, dict) and str(error.get("message", "")).startswith(_NO_SUCH_CONTAINER):
        error["message"] = "No such link: " + str(error["message"]).removeprefix(_NO_SUCH_CONTAINER)
    return error


@value_step
def ports_null_unless_running(inspect: Any, context: Context) -> Any:
    """NetworkSettings.Ports null for a container that is not running, as 0.6.5-Docker 17.03 showed it:
    its network settings were reset when it stopped (releaseNetwork) and set only when it started.
    Today's daemons show {} (dockerd) or the exposed ports (Podman). Paused was running to 2013."""
    state = inspect.get("State") if isinstance(inspect, dict) else None
    if isinstance(state, dict) and isinstance(inspect.get("NetworkSettings"), dict) \
            and not (state.get("Running") or state.get("Paused")):
        inspect["NetworkSettings"]["Ports"] = None
    return inspect


@value_step
def no_ports_unless_running(container: Any, context: Context) -> Any:
    """A list item's Ports empty for a container that is not running (its State today), as every 2013
    daemon listed it: the ports came from network settings set at start and reset at stop. Podman lists
    the mappings a container is configured with whatever its state."""
    if isinstance(container, dict) and container.get("State") not in (None, "running", "paused") \
            and container.get("Ports"):
        container["Ports"] = []
    return container
