"""The steps a declaration cannot say, each named from a version-change file. Pure.

A step function takes the value it works on and the exchange's Context (and
any arguments the file gives) and returns the new value.  Functions whose
name ends in `_stream` instead make the transform of a hijacked stream.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from .changes import MISSING, Context, pop, put
from .http1 import Headers, header
from .memory import DEFAULT_REGISTRY
from .multipart import MultipartToTar, boundary_of
from .translate import FRAME_HEADER, FrameStream, Transform, TranslationError


def json_error_to_text(document: Any, context: Context) -> Any:
    """{"message": "..."} → the message as plain text with a final newline."""
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        return document["message"] + "\n"
    return document


def ports_to_display_string(ports: Any, context: Context) -> Any:
    """[{IP, PrivatePort, PublicPort, Type}] → "0.0.0.0:49153->22/tcp, 80/tcp" (0.6 daemons' form)."""
    if not isinstance(ports, list):
        return ports
    shown = []
    for port in ports:
        if not isinstance(port, dict):
            continue
        private = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
        if port.get("PublicPort"):
            ip = port.get("IP")
            shown.append(f"{ip + ':' if ip else ''}{port['PublicPort']}->{private}")
        else:
            shown.append(private)
    return ", ".join(dict.fromkeys(shown))  # IPv4 and IPv6 bindings of one port show once


def images_per_tag(images: Any, context: Context) -> Any:
    """One entry per image with RepoTags → one entry per repository:tag (API ≤ 1.6)."""
    if not isinstance(images, list):
        return images
    rows = []
    for image in images:
        if not isinstance(image, dict):
            continue
        base = {key: value for key, value in image.items() if key not in ("RepoTags", "RepoDigests")}
        tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
        if not tags:
            rows.append({**base, "Repository": "<none>", "Tag": "<none>"})
        for tag in tags:
            repository, _, name = tag.rpartition(":")
            if "/" in name:  # a registry port, not a tag: "host:5000/repo"
                repository, name = tag, "latest"
            rows.append({**base, "Repository": repository, "Tag": name})
    return rows


_RAW_IMAGE_KEYS = {
    "Id": "id", "Parent": "parent", "Comment": "comment", "Created": "created",
    "Container": "container", "ContainerConfig": "container_config",
    "DockerVersion": "docker_version", "Author": "author", "Config": "config",
    "Architecture": "architecture", "Os": "os", "Size": "Size",
}


def image_to_raw(image: Any, context: Context) -> Any:
    """Image inspect as the image's on-disk JSON, with the snake_case keys of API < 1.12."""
    if not isinstance(image, dict):
        return image
    raw = {raw_key: image[key] for key, raw_key in _RAW_IMAGE_KEYS.items() if key in image}
    for key in ("parent", "container", "comment", "author"):  # omitempty in the image JSON
        if not raw.get(key):
            raw.pop(key, None)
    return raw


def strip_sha256(value: Any, context: Context) -> Any:
    """Image ids lost their "sha256:" prefix: old clients print its first 12 characters."""
    if isinstance(value, str) and value.startswith("sha256:"):
        return value[len("sha256:"):]
    return value


class _Demultiplex:
    """Merges stdout and stderr frames into one raw stream (attach before API 1.6).

    A container with a TTY sends a raw stream already; its first bytes tell:
    a frame header is a stream type 0–2 followed by three zero bytes.
    """

    def __init__(self) -> None:
        self.decided: Transform | None = None
        self.head = b""

    def feed(self, data: bytes) -> bytes:
        if self.decided is None:
            self.head += data
            if len(self.head) < FRAME_HEADER.size:
                return b""
            framed = self.head[0] in (0, 1, 2) and self.head[1:4] == b"\0\0\0"
            self.decided = FrameStream(lambda kind, payload: payload) if framed else _Identity()
            data, self.head = self.head, b""
        return self.decided.feed(data)

    def close(self) -> bytes:
        if self.decided is None:
            return self.head
        return self.decided.close()


class _Identity:
    def feed(self, data: bytes) -> bytes:
        return data

    def close(self) -> bytes:
        return b""


def demultiplex_stream(context: Context) -> Transform:
    return _Demultiplex()


# Container create and inspect ----------------------------------------------

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


def mounts_to_volumes(inspect: Any, context: Context) -> Any:
    """Volumes {destination: source} and VolumesRW {destination: bool} from Mounts (API < 1.20)."""
    if not isinstance(inspect, dict):
        return inspect
    mounts = [m for m in inspect.get("Mounts") or [] if isinstance(m, dict)]
    inspect["Volumes"] = {m.get("Destination"): m.get("Source") for m in mounts}
    inspect["VolumesRW"] = {m.get("Destination"): bool(m.get("RW")) for m in mounts}
    return inspect


def ports_to_port_mapping(settings: Any, context: Context) -> Any:
    """NetworkSettings.PortMapping {"Tcp": {private: public}, "Udp": {...}} (API 1.3-1.5) from Ports."""
    if not isinstance(settings, dict):
        return settings
    mapping: dict[str, dict[str, str]] = {"Tcp": {}, "Udp": {}}
    for port, bindings in (settings.get("Ports") or {}).items():
        private, _, proto = port.partition("/")
        for binding in bindings or []:
            mapping["Udp" if proto == "udp" else "Tcp"].setdefault(private, binding.get("HostPort", ""))
    settings["PortMapping"] = mapping
    return settings


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


def lxc_conf_as_list(body: Any, context: Context) -> Any:
    """LxcConf as a map {key: value}, the form the 1.6-1.9 documentation showed, → the list of
    {Key, Value} that every daemon with an LXC driver reads."""
    if isinstance(body, dict) and isinstance(body.get("LxcConf"), dict):
        body["LxcConf"] = [{"Key": key, "Value": value} for key, value in body["LxcConf"].items()]
    return body


def real_container_id(value: Any, context: Context) -> Any:
    """The daemon's id for a legacy id (or a prefix of one) a client names in a parameter."""
    return context.memory.ids.to_real(value) if isinstance(value, str) else value


def legacy_container_id(value: Any, context: Context) -> Any:
    """The id a legacy client knows for a container apiproxy recreated."""
    return context.memory.ids.to_legacy(value)


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


# Statuses of the events 2013 daemons sent; anything else they never produced.
_LEGACY_EVENTS = {
    "container": {"create", "start", "die", "stop", "kill", "restart", "destroy", "export"},
    "image": {"untag", "delete", "pull", "push", "tag"},
}


def legacy_event(event: Any, context: Context) -> Any:
    """{status, id, from, time} of a container or image event; None drops any other."""
    if not isinstance(event, dict):
        return None
    kind = event.get("Type", "container")
    status = event.get("status") or event.get("Action", "")
    if status not in _LEGACY_EVENTS.get(kind, ()):
        return None
    actor = event.get("Actor") or {}
    legacy = {"status": status, "id": event.get("id") or actor.get("ID", ""), "time": event.get("time", 0)}
    if kind == "container":
        legacy["from"] = event.get("from") or (actor.get("Attributes") or {}).get("image", "")
    return legacy


# Progress and build streams --------------------------------------------------

def progress_to_text(item: Any, context: Context) -> Any:
    """A JSON progress item as the plain text 0.3 daemons wrote (API 1.0).

    Progress updates end in a carriage return so a terminal redraws the line.
    """
    if not isinstance(item, dict):
        return item
    if item.get("error"):
        return f"Error: {item['error']}\r\n"
    if "Id" in item:  # the last line of a 0.3 insert: the new image
        return f"{item['Id']}\r\n"
    prefix = f"{item['id']}: " if item.get("id") else ""
    if item.get("progress"):
        return f"{prefix}{item.get('status', '')} {item['progress']}\r"
    return f"{prefix}{item.get('status', '')}\r\n"


def build_item_to_text(item: Any, context: Context) -> Any:
    """A JSON build item as the plain text builds streamed before API 1.8."""
    if not isinstance(item, dict):
        return item
    if item.get("error"):
        return f"Error: {item['error']}\n"
    if "stream" in item:
        return str(item["stream"])
    if item.get("status"):  # a pull of FROM's image inside the build
        return progress_to_text(item, context)
    return None


def without_aux(item: Any, context: Context) -> Any:
    """Items carrying `aux` data (a built image's id, a pushed digest) and nothing to show
    are news to older clients."""
    if isinstance(item, dict) and "aux" in item and not ({"status", "stream", "error"} & set(item)):
        return None
    return item


def untagged_as_id(entries: Any, context: Context) -> Any:
    """[{"Untagged": "repo:tag"}] → [{"Untagged": "<image id>"}], with the id noted before rmi."""
    image_id = context.notes.get("image_id")
    if not isinstance(entries, list) or not image_id:
        return entries
    return [{"Untagged": image_id} if isinstance(e, dict) and "Untagged" in e else e for e in entries]


# Credentials -----------------------------------------------------------------

def remember_credentials(body: Any, context: Context) -> Any:
    """POST /auth of a 1.0/1.1 client: the daemon kept the credentials for later pushes."""
    if isinstance(body, dict) and body.get("username"):
        registry = body.get("serveraddress") or DEFAULT_REGISTRY
        context.memory.credentials[registry] = dict(body)
        context.memory.credentials[DEFAULT_REGISTRY] = dict(body)
    return body


def remembered_credentials(body: Any, context: Context) -> Any:
    """The credentials a 1.0/1.1 client gave POST /auth, as the AuthConfig body of 1.2-1.4."""
    if body:
        return body
    name = context.params.get("name", "") or context.notes.get("image", "")
    registry = name.split("/", 1)[0] if "/" in name and ("." in name.split("/", 1)[0]
                                                         or ":" in name.split("/", 1)[0]) else None
    found = context.memory.credentials.get(registry or "") if registry else None
    return found or context.memory.credentials.get(DEFAULT_REGISTRY) or None


def encode_registry_header(document: Any) -> str:
    """The value of an X-Registry-Auth or X-Registry-Config header: URL-safe base64 of JSON."""
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


def decode_registry_header(value: str) -> Any:
    """The JSON of an X-Registry-* header (clients may leave out the base64 padding); None if it is not."""
    try:
        return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        return None


def _has_default(context: Context, name: bytes) -> bool:
    return any(given.lower() == name for given, _ in context.default_headers)


def anonymous_registry_auth(body: Any, context: Context) -> Any:
    """Today's daemons refuse a push without X-Registry-Auth; 2013 ones pushed anonymously."""
    if not _has_default(context, b"x-registry-auth"):
        context.default_headers.append((b"X-Registry-Auth", encode_registry_header({}).encode()))
    return body


def auth_body_as_default_header(body: Any, context: Context) -> Any:
    """A push's AuthConfig body (1.5-1.9 clients could still send one: the daemons read it when
    X-Registry-Auth was absent) → that header, where the client gave none.  No body is sent."""
    if isinstance(body, dict):
        context.default_headers.append((b"X-Registry-Auth", encode_registry_header(body).encode()))
    return None


def auth_body_to_header(body: Any, context: Context) -> Any:
    """An AuthConfig body (API 1.2-1.4) becomes the X-Registry-Auth header of 1.5."""
    if isinstance(body, dict) and body:
        context.extra_headers.append((b"X-Registry-Auth", encode_registry_header(body).encode()))
    return None


def multipart_to_tar(context: Context, headers: Headers) -> Transform:
    """A 0.4 client's multipart build body, repacked into the tar today's build takes."""
    boundary = boundary_of(header(headers, b"content-type") or b"")
    if boundary is None:
        raise TranslationError("Multipart upload for build needs a multipart/form-data Content-Type with a boundary")
    context.extra_headers.append((b"Content-Type", b"application/x-tar"))
    return MultipartToTar(boundary)


def untagged_as_none(tags: Any, context: Context) -> Any:
    """An untagged image's RepoTags as 1.7-1.42 daemons wrote them."""
    return tags if tags else ["<none>:<none>"]


def info_version(info: Any, context: Context) -> Any:
    """/info of 0.3 daemons named their Version: today's say ServerVersion, 2013's none."""
    if isinstance(info, dict):
        info.setdefault("Version", info.get("ServerVersion") or context.upstream_version)
        info.setdefault("GoVersion", "")
    return info


# Host settings between create and start (API 1.10-1.14) ---------------------

_HOST_SETTINGS = ("Dns", "VolumesFrom", "PortBindings", "PublishAllPorts", "Privileged", "Binds", "Links",
                  "LxcConf")


# Resource limits create keeps, repeated at start: a daemon since Docker 1.10
# keeps them in the HostConfig that a start body replaces whole.
_KEPT_AT_START = ("Memory", "MemorySwap", "CpuShares")


def stash_host_settings(body: Any, context: Context) -> Any:
    """Host settings leave the create body (API 1.10): kept for the start that follows."""
    if isinstance(body, dict):
        stashed = {key: body.pop(key) for key in _HOST_SETTINGS if key in body}
        stashed |= {key: body[key] for key in _KEPT_AT_START if body.get(key)}
        if any(stashed.values()):
            context.notes["host_settings"] = stashed
    return body


def unstash_host_settings(body: Any, context: Context) -> Any:
    """create takes HostConfig again (API 1.15): the settings stashed at 1.10 go there."""
    stashed = context.notes.pop("host_settings", None)
    if isinstance(body, dict) and stashed:
        body["HostConfig"] = {**stashed, **(body.get("HostConfig") or {})}
    return body


def remember_host_settings(created: Any, context: Context) -> Any:
    """The created container's id, for the start that will carry its stashed settings."""
    stashed = context.notes.get("host_settings")
    if stashed and isinstance(created, dict) and created.get("Id"):
        context.memory.host_settings[created["Id"]] = stashed
    return created


def pending_host_settings(body: Any, context: Context) -> Any:
    """A start body (API 1.10-1.14) with the settings its container's create carried."""
    real = context.memory.ids.to_real(context.params.get("id", ""))
    matches = [key for key in context.memory.host_settings if key.startswith(real)] if real else []
    if len(matches) != 1:
        return body
    stashed = context.memory.host_settings.pop(matches[0])
    return {**stashed, **(body if isinstance(body, dict) else {})}


def unwrap_registry_config(headers: Any, context: Context) -> Any:
    """X-Registry-Config of 1.9 clients wraps its map in {"configs": ...}; daemons since
    Docker 1.8 read the map itself.  A 1.8 client's single X-Registry-Auth becomes that map."""
    if not isinstance(headers, dict):
        return headers
    if headers.get("x-registry-config"):
        decoded = decode_registry_header(headers["x-registry-config"])
        if isinstance(decoded, dict) and isinstance(decoded.get("configs"), dict):
            headers["x-registry-config"] = encode_registry_header(decoded["configs"])
    elif headers.get("x-registry-auth"):
        auth = decode_registry_header(headers["x-registry-auth"])
        if isinstance(auth, dict):
            registry = auth.get("serveraddress") or DEFAULT_REGISTRY
            headers["x-registry-config"] = encode_registry_header({registry: auth})
    return headers


# What Podman says in its own words ------------------------------------------

# Podman's names for events a Docker daemon names otherwise, per event type.
_PODMAN_EVENT_NAMES = {"container": {"remove": "destroy"}, "image": {"remove": "delete"}}


# What Podman puts before an image's name that Docker left out.
_FULL_NAME_PREFIXES = ("docker.io/library/", "docker.io/", "localhost/")


def docker_image_name(name: Any, context: Context) -> Any:
    """An image or repository named as Docker wrote it: busybox, not docker.io/library/busybox."""
    if isinstance(name, str):
        for prefix in _FULL_NAME_PREFIXES:
            if name.startswith(prefix):
                return name[len(prefix):]
    return name


def docker_event_names(event: Any, context: Context) -> Any:
    """A Podman event under the name Docker gives the same event (remove → destroy)."""
    if isinstance(event, dict):
        names = _PODMAN_EVENT_NAMES.get(event.get("Type", "container"), {})
        for key in ("status", "Action"):
            if event.get(key) in names:
                event[key] = names[event[key]]
    return event


def import_result_without_id(item: Any, context: Context) -> Any:
    """Podman's import result repeats the new image's id in `id`; Docker said it once, in `status`."""
    if isinstance(item, dict) and item.get("id") and \
            strip_sha256(item.get("id"), context) == strip_sha256(item.get("status"), context):
        return {key: value for key, value in item.items() if key not in ("id", "progress", "progressDetail")}
    return item


def top_columns(top: Any, context: Context) -> Any:
    """top's titles and rows as columns; Podman sends busybox ps's header and lines as single strings."""
    if not isinstance(top, dict) or len(top.get("Titles") or []) != 1:
        return top
    titles = str(top["Titles"][0]).split()
    # The last column (the command) may hold spaces: it takes the rest of the line.
    top["Processes"] = [str(row[0]).split(None, len(titles) - 1) if len(row) == 1 else row
                        for row in top.get("Processes") or []]
    top["Titles"] = titles
    return top


def registry_host(address: Any, context: Context) -> Any:
    """A login's server address as Podman can check it.

    Podman takes the whole address for the registry's host, so the /v1/ path
    of 2013's index URLs goes.  It checks a login over plain HTTP only for an
    address written "localhost:PORT" (registries.conf's insecure list does not
    count there), so a plain-HTTP loopback registry is named that way.
    """
    if not isinstance(address, str):
        return address
    scheme, separator, rest = address.rpartition("://")
    host = rest.split("/", 1)[0]
    if scheme == "http" and host.rpartition(":")[0] in ("127.0.0.1", "localhost"):
        return f"localhost:{host.rpartition(':')[2]}"
    return f"{scheme}{separator}{host}"


def empty_object(body: Any, context: Context) -> Any:
    """An absent JSON body as {}: Podman's commit refuses a request without one (Decode(): EOF)."""
    return {} if body is None else body
