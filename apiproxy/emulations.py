"""Emulations of what today's daemons no longer do, named from version-change files. Pure.

Each takes the legacy request and the exchange's Context and is a generator
(see emulation.py).  Paths are the target version's, without the prefix.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from .access import redact_url
from .changes import Context
from .emulation import Call, Emulation, EmulationFailed, Fetch, Pass, Park, Reply, Unpark, WebSocket, expect
from .functions import docker_image_name, encode_registry_header, lxc_conf_to_settings, remembered_credentials
from .ids import LABEL
from .links import link_environment, link_host
from .translate import json_values

NEVER_STARTED = "0001-01-01T00:00:00Z"
_TRUE = {"1", "true", "True"}
RAW_STREAM = "application/vnd.docker.raw-stream"


@dataclass
class LegacyRequest:
    method: str
    params: dict[str, str]  # from the path template, ids already the daemon's
    query: dict[str, str]
    body: Any  # the legacy JSON body, validated; None when there is none
    context: Context
    headers: dict[str, str] = field(default_factory=dict)  # the client's, names lowercased

    @property
    def legacy_id(self) -> str:
        return self.context.params.get("id", "")


# Keys of a start HostConfig that today's create takes as they are.
_START_HOST_KEYS = ("Binds", "PortBindings", "Links", "Privileged", "PublishAllPorts", "Dns",
                    "VolumesFrom", "DnsSearch", "NetworkMode", "CapAdd", "CapDrop", "RestartPolicy")


# Daemons that refuse HostConfig.Links at create: links are set up as the variables they gave.
_NO_LINKS = {"podman"}


def _has_host_settings(body: Any) -> bool:
    return isinstance(body, dict) and any(body.get(key) for key in (*_START_HOST_KEYS, "LxcConf"))


def start_with_host_config(request: LegacyRequest) -> Emulation:
    """start with host settings, where the daemon takes them only at create: recreate, then start.

    The new container keeps the name and configuration and carries the id the
    client knows in a label; attaches the client opened before are connected
    to it before it starts.
    """
    real = request.params["id"]
    if not _has_host_settings(request.body):
        yield Unpark(request.legacy_id, real)
        return Pass("POST", f"/containers/{real}/start")
    inspect = expect((yield Call("GET", f"/containers/{real}/json")), 200).body
    if inspect.get("State", {}).get("Running"):
        return Pass("POST", f"/containers/{real}/start")  # the daemon says 304, the client 204
    body = dict(inspect.get("Config") or {})
    host = dict(inspect.get("HostConfig") or {})
    settings = {key: value for key, value in request.body.items() if key in _START_HOST_KEYS}
    if isinstance(settings.get("VolumesFrom"), str):
        settings["VolumesFrom"] = [v.strip() for v in settings["VolumesFrom"].split(",") if v.strip()]
    host.update(settings)
    # Podman's inspect names ulimits as the kernel does (RLIMIT_NOFILE); its create wants "nofile".
    host["Ulimits"] = [{**limit, "Name": str(limit.get("Name", "")).lower().removeprefix("rlimit_")}
                       for limit in host.get("Ulimits") or [] if isinstance(limit, dict)] or None
    body["HostConfig"] = host
    if request.body.get("LxcConf"):
        body["HostConfig"]["LxcConf"] = request.body["LxcConf"]
        lxc_conf_to_settings(body, request.context)
    name = inspect.get("Name", "").lstrip("/")
    if host.get("Links") and request.context.upstream_kind in _NO_LINKS:
        # What a link gave the container, set directly: variables and a hosts entry.
        for link in host.pop("Links"):
            target, _, alias = str(link).partition(":")
            target = target.strip("/")
            linked = expect((yield Call("GET", f"/containers/{quote(target, safe='')}/json")), 200).body
            body["Env"] = [*(body.get("Env") or []), *link_environment(alias or target, name, linked)]
            hosts_entry = link_host(alias or target, linked)
            if hosts_entry:
                host["ExtraHosts"] = [*(host.get("ExtraHosts") or []), hosts_entry]
    body["Labels"] = {**(body.get("Labels") or {}), LABEL: request.legacy_id or real}
    # The old container steps aside under another name until its successor
    # exists: a create the daemon refuses leaves the client's container as it was.
    aside = f"{name}-apiproxy-{real[:12]}"
    expect((yield Call("POST", f"/containers/{real}/rename?{urlencode({'name': aside})}")), 204)
    created = yield Call("POST", f"/containers/create?{urlencode({'name': name})}", body)
    if created.status != 201:
        yield Call("POST", f"/containers/{real}/rename?{urlencode({'name': name})}")
        raise EmulationFailed(created)
    expect((yield Call("DELETE", f"/containers/{real}?force=1")), 204)
    yield Unpark(request.legacy_id or real, created.body["Id"])
    return Pass("POST", f"/containers/{created.body['Id']}/start")


def attach_until_started(request: LegacyRequest, logs_when_stopped: bool = False) -> Emulation:
    """An attach to a container not started yet waits in apiproxy (start may recreate it).

    With `logs_when_stopped`, an attach that can only replay the logs of a
    container that is not running is served from the logs endpoint.
    """
    real = request.params["id"]
    attach = Pass(request.method, f"/containers/{real}/attach?{urlencode(request.query)}")
    if request.query.get("stream") in _TRUE:
        answer = yield Call("GET", f"/containers/{real}/json")
        state = answer.body.get("State", {}) if answer.status == 200 and isinstance(answer.body, dict) else {}
        if answer.status != 200 or state.get("Running"):
            return attach
        if state.get("StartedAt", NEVER_STARTED) == NEVER_STARTED:
            return Park(request.legacy_id or real)
    if logs_when_stopped and request.query.get("logs") in _TRUE:
        streams = {name: "1" for name in ("stdout", "stderr") if request.query.get(name) in _TRUE}
        if not streams:
            return Reply(200, "", content_type=RAW_STREAM)
        return Pass("GET", f"/containers/{real}/logs?{urlencode(streams)}", as_attach=True)
    return attach


def attach_from_logs(request: LegacyRequest) -> Emulation:
    """Podman never ends an attach replaying a stopped container's logs: the logs endpoint serves it."""
    return (yield from attach_until_started(request, logs_when_stopped=True))


def containers_between(request: LegacyRequest, as_endpoint: str | None = None) -> Emulation:
    """since/before as filters, each id (12-character prefixes too) made whole first.

    Daemons since Docker 1.12 ignore the parameters; the filters take only
    whole ids or names.  Like the parameters, they include stopped containers.
    """
    query = dict(request.query)
    try:
        filters: dict[str, list[str]] = json.loads(query.get("filters") or "{}")
    except (ValueError, RecursionError):
        return Reply(400, "invalid filter: the filters parameter is not JSON")
    if not isinstance(filters, dict):
        return Reply(400, "invalid filter: the filters parameter is not a JSON object")
    for key in ("since", "before"):
        value = query.pop(key, None)
        if not value:
            continue
        real = request.context.memory.ids.to_real(value)
        found = expect((yield Call("GET", f"/containers/{quote(real, safe='')}/json")), 200).body
        filters[key] = [found["Id"]]
        query["all"] = "1"
    if filters:
        query["filters"] = json.dumps(filters)
    encoded = f"?{urlencode(query)}" if query else ""
    return Pass("GET", f"/containers/json{encoded}", as_endpoint=as_endpoint)


def containers_ps(request: LegacyRequest) -> Emulation:
    """0.3 clients list containers at /containers/ps, an alias of /containers/json."""
    return (yield from containers_between(request, as_endpoint="GET /containers/json"))


def copy_via_archive(request: LegacyRequest) -> Emulation:
    """copy is gone; the archive endpoint answers the same tar of the resource."""
    resource = (request.body or {}).get("Resource", "") if isinstance(request.body, dict) else ""
    if not resource:
        return Reply(500, "Path cannot be empty")
    path = "/" + resource.lstrip("/")
    # The archive endpoint compresses for a client that accepts gzip; copy never did.
    request.context.extra_headers.append((b"Accept-Encoding", b"identity"))
    return Pass("GET", f"/containers/{request.params['id']}/archive?path={quote(path)}")
    yield


def no_build_cache(request: LegacyRequest) -> Emulation:
    """The 0.3 client-side builder asks for a cached image; there is none to offer."""
    return Reply(404, "No cached image")
    yield


def untag_by_id(request: LegacyRequest) -> Emulation:
    """rmi, after noting the image's id: 2013 daemons reported untagging by id, not by name."""
    name = request.params["name"]
    answer = yield Call("GET", f"/images/{quote(name, safe='/:@')}/json")
    if answer.status == 200 and isinstance(answer.body, dict):
        request.context.notes["image_id"] = str(answer.body.get("Id", "")).removeprefix("sha256:")
    query = f"?{urlencode(request.query)}" if request.query else ""
    return Pass("DELETE", f"/images/{quote(name, safe='/:@')}{query}")


def remembered_login(request: LegacyRequest) -> Emulation:
    """GET /auth of 1.0/1.1: the login the daemon kept, here the one apiproxy kept."""
    from .memory import DEFAULT_REGISTRY

    found = request.context.memory.credentials.get(DEFAULT_REGISTRY) or {}
    return Reply(200, {"username": found.get("username", ""), "email": found.get("email", "")})
    yield


def images_viz(request: LegacyRequest) -> Emulation:
    """The image tree as Graphviz text, from the image list (the CLI draws it itself since 0.6.7)."""
    images = expect((yield Call("GET", "/images/json?all=1")), 200).body or []
    lines = ["digraph docker {"]
    labels: dict[str, list[str]] = {}
    for image in images:
        ident = str(image.get("Id", "")).removeprefix("sha256:")[:12]
        parent = str(image.get("ParentId") or "").removeprefix("sha256:")[:12]
        lines.append(f' "{parent}" -> "{ident}"' if parent else f' base -> "{ident}" [style=invis]')
        tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
        if tags:
            labels[ident] = tags
    for ident, tags in labels.items():
        label = "\\n".join([ident, *tags])
        lines.append(f' "{ident}" [label="{label}",shape=box,fillcolor="paleturquoise",'
                     'style="filled,rounded"];')
    lines.append(" base [style=invisible]")
    lines.append("}")
    return Reply(200, "\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


def insert_file(request: LegacyRequest) -> Emulation:
    """insert: download a URL into a new image built on `name`, as Docker 0.3-0.11 did.

    A helper container from the image receives the file, is committed without
    a repository (keeping the image's author and comment) and removed; the
    answer is a progress stream ending with the new image's id in the form of
    the client's version.
    """
    name, url, path = request.params["name"], request.query.get("url", ""), request.query.get("path", "")
    if not url or not path:
        return Reply(500, "Bad parameter: insert needs url and path")
    if not request.context.memory.insert_fetch_urls:
        return Reply(403, "apiproxy does not download URLs for insert here (insert_fetch_urls = false)")
    quoted = quote(name, safe="/:@")
    image = expect((yield Call("GET", f"/images/{quoted}/json")), 200).body
    fetched = yield Fetch(url, path.lstrip("/"))
    assert fetched is not None
    if fetched.status != 200:
        return Reply(200, items=[{"status": f"Downloading from {url}"},
                                 {"error": f"{fetched.body}", "errorDetail": {"message": f"{fetched.body}"}}])
    # The helper's command never runs; it only says what the container is for, without a URL's password.
    created = expect((yield Call("POST", "/containers/create",
                                 {"Image": name, "Cmd": ["echo", "insert", redact_url(url), path]})), 201).body["Id"]
    expect((yield Call("PUT", f"/containers/{created}/archive?path=/", raw_body=fetched.body)), 200)
    config = image.get("Config") or {}
    query = urlencode({"container": created, "comment": image.get("Comment", ""), "author": image.get("Author", "")})
    new_id = str(expect((yield Call("POST", f"/commit?{query}", config)), 201).body["Id"]).removeprefix("sha256:")
    yield Call("DELETE", f"/containers/{created}")
    version = request.context.client_version
    final: dict[str, Any] = {"Id": new_id} if version.minor <= 6 else \
        {"status": "", "id": new_id} if version.minor <= 8 else {"status": new_id}
    return Reply(200, items=[{"status": f"Downloading from {url}"}, {"status": "Inserting file"}, final])


def attach_websocket(request: LegacyRequest) -> Emulation:
    """attach/ws: apiproxy answers the websocket and attaches upstream with a raw hijack.

    stdout and stderr reach the client merged in text frames; its frames are stdin.
    """
    query = {key: request.query[key] for key in ("logs", "stream", "stdin", "stdout", "stderr")
             if key in request.query}
    return WebSocket(f"/containers/{request.params['id']}/attach?{urlencode(query)}")
    yield


def _progress_error(body: Any) -> str | None:
    """The error a finished progress stream (a pull's, a push's) ended with, if any."""
    items = (json_values(body) or []) if isinstance(body, bytes) else [body]  # one item comes decoded
    return next((str(item["error"]) for item in items if isinstance(item, dict) and item.get("error")), None)


def push_every_tag(request: LegacyRequest) -> Emulation:
    """A push naming a repository without a tag pushes each of its tags, as Docker did.

    Podman pushes only "latest" then.  The other tags go first, with the
    credentials the client gave (X-Registry-Auth, or the AuthConfig body of
    1.2-1.4); the last is the client's request itself, its progress streamed.
    """
    name = request.params["name"]
    path = f"/images/{quote(name, safe='/:')}/push"
    query = dict(request.query)
    if not query.get("tag"):
        filters = json.dumps({"reference": [name]})
        images = expect((yield Call("GET", f"/images/json?{urlencode({'filters': filters})}")), 200).body
        tags = sorted({tag.rpartition(":")[2] for image in images or [] for tag in image.get("RepoTags") or []
                       if docker_image_name(tag.rpartition(":")[0], request.context) ==
                       docker_image_name(name, request.context)})
        credentials = remembered_credentials(request.body, request.context)
        auth = request.headers.get("x-registry-auth") or (encode_registry_header(credentials) if credentials else "")
        for tag in tags[:-1]:
            headers = {"X-Registry-Auth": auth} if auth else {}
            pushed = expect((yield Call("POST", f"{path}?{urlencode({**query, 'tag': tag})}", headers=headers)), 200)
            failure = _progress_error(pushed.body)
            if failure is not None:  # the client learns of it, as it would have from one push of every tag
                return Reply(200, items=[{"status": f"Pushing tag {tag}"},
                                         {"error": failure, "errorDetail": {"message": failure}}])
        query["tag"] = tags[-1] if tags else "latest"
    return Pass("POST", f"{path}?{urlencode(query)}", client_body=True)
