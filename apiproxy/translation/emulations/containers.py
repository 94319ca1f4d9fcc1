"""Emulations of container endpoints today's daemons changed: start with host settings, lists, copy. Pure."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from apiproxy.api.ids import LABEL
from apiproxy.api.links import link_environment, link_host
from apiproxy.api.query import GO_TRUE
from apiproxy.translation.emulations.commands import (Call, Emulation, EmulationFailed, LegacyRequest, Pass, Reply,
                                                      Unpark, expect)
from apiproxy.translation.memory import forget_oldest
from apiproxy.translation.registry import emulation
from apiproxy.translation.steps.containers import lxc_conf_to_settings
from apiproxy.translation.steps.echoes import remember_given_host_config

# Keys of a start HostConfig that today's create takes as they are.
_START_HOST_KEYS = ("Binds", "PortBindings", "Links", "Privileged", "PublishAllPorts", "Dns",
                    "VolumesFrom", "DnsSearch", "NetworkMode", "CapAdd", "CapDrop", "RestartPolicy")


# Daemons that refuse HostConfig.Links at create: links are set up as the variables they gave.
_NO_LINKS = {"podman"}


def _has_host_settings(body: Any) -> bool:
    return isinstance(body, dict) and any(body.get(key) for key in (*_START_HOST_KEYS, "LxcConf"))


@emulation
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
    # The old container by its id from here on: the client may have named it, and the name moves
    # to its successor.
    old = str(inspect.get("Id") or real)
    known = str(request.context.memory.ids.to_legacy(old))  # the id its create gave the client
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
    links: dict[str, str] = {}
    if host.get("Links") and request.context.upstream_kind in _NO_LINKS:
        # What a link gave the container, set directly: variables and a hosts entry.
        for link in host.pop("Links"):
            target, _, alias = str(link).partition(":")
            target = target.strip("/")
            linked = expect((yield Call("GET", f"/containers/{quote(target, safe='')}/json")), 200).body
            links[alias or target] = str(linked.get("Id", ""))
            body["Env"] = [*(body.get("Env") or []), *link_environment(alias or target, name, linked)]
            hosts_entry = link_host(alias or target, linked)
            if hosts_entry:
                host["ExtraHosts"] = [*(host.get("ExtraHosts") or []), hosts_entry]
    body["Labels"] = {**(body.get("Labels") or {}), LABEL: known}
    # The old container steps aside under another name until its successor
    # exists: a create the daemon refuses leaves the client's container as it was.
    aside = f"{name}-apiproxy-{old[:12]}"
    expect((yield Call("POST", f"/containers/{old}/rename?{urlencode({'name': aside})}")), 204)
    created = yield Call("POST", f"/containers/create?{urlencode({'name': name})}", body)
    assert created is not None  # a Call is always answered
    if created.status != 201:
        yield Call("POST", f"/containers/{old}/rename?{urlencode({'name': name})}")
        raise EmulationFailed(created)
    expect((yield Call("DELETE", f"/containers/{old}?force=1")), 204)
    # Inspect shows the settings as given (API 1.8-1.9), under the id the client knows.
    remember_given_host_config(request.context, known, request.body)
    if links:
        request.context.memory.links[created.body["Id"]] = links
        forget_oldest(request.context.memory.links)
    yield Unpark(request.legacy_id or real, created.body["Id"], known)
    return Pass("POST", f"/containers/{created.body['Id']}/start")


@emulation
def link_removal_without_links(request: LegacyRequest) -> Emulation:
    """DELETE /containers/parent/alias where the daemon has no links (Podman), as 0.6.5-0.8.1 did it.

    With link=1 the link's name goes (204) and the linked container stays: what the link gave the
    container (variables, a hosts entry) stays too, as a 2013 container's environment did. Without,
    the container the link names is removed. A link apiproxy did not set up is "No such link".
    """
    parent, alias = request.params["parent"], request.params["alias"]
    name = f"{parent}/{alias}"
    removing_link = request.query.get("link") in GO_TRUE
    found = yield Call("GET", f"/containers/{quote(parent, safe='')}/json")
    assert found is not None  # a Call is always answered
    links = request.context.memory.links.get(str(found.body.get("Id", ""))) \
        if found.status == 200 and isinstance(found.body, dict) else None
    if not links or alias not in links:
        return Reply(404, f"No such link: {name}" if removing_link else f"No such container: {name}")
    if removing_link:
        del links[alias]
        return Reply(204)
    return Pass("DELETE", f"/containers/{links[alias]}{_query_without_link(request)}",
                as_endpoint="DELETE /containers/{id}")


def _query_without_link(request: LegacyRequest) -> str:
    """The client's query for a removal that goes on as a container's: `link` said it was none."""
    query = {key: value for key, value in request.query.items() if key != "link"}
    return f"?{urlencode(query)}" if query else ""


DEFAULT_NAME_CONFLICT = "Conflict, cannot remove the default name of the container"


@emulation
def link_removal_by_own_name(request: LegacyRequest) -> Emulation:
    """DELETE /containers/name?link=1, a link named without its parent, as 0.6.5-1.1 refused it: 409
    DEFAULT_NAME_CONFLICT for a container's own name, 404 "No such link" when no container has it.
    dockerd answers 500 in other words, Podman 400 "Link is not supported" even for no container; neither
    removes anything, and neither does this. Without link=1 the container goes, as the client asked."""
    name = request.params["id"]
    path = f"/containers/{quote(name, safe='')}"
    if request.query.get("link") not in GO_TRUE:
        return Pass("DELETE", path + _query_without_link(request))
    found = yield Call("GET", f"{path}/json")
    assert found is not None  # a Call is always answered
    if found.status == 404:
        return Reply(404, f"No such link: {name}")
    expect(found, 200)
    return Reply(409, DEFAULT_NAME_CONFLICT)


@emulation
def containers_between(request: LegacyRequest) -> Emulation:
    """since/before as filters, each id (12-character prefixes too) made whole first.

    Daemons since Docker 1.12 ignore the parameters; the filters take only
    whole ids or names.  Like the parameters, they include stopped containers.
    """
    return (yield from _containers_between(request, as_endpoint=None))


@emulation
def containers_ps(request: LegacyRequest) -> Emulation:
    """0.3 clients list containers at /containers/ps, an alias of /containers/json."""
    return (yield from _containers_between(request, as_endpoint="GET /containers/json"))


def _containers_between(request: LegacyRequest, as_endpoint: str | None) -> Emulation:
    """containers_between, its answer translated as `as_endpoint`'s."""
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


@emulation
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


@emulation
def create_knowing_cgroup_version(request: LegacyRequest) -> Emulation:
    """A create below API 1.41 without CgroupnsMode depends on the daemon's cgroup version: asked once
    (/info CgroupVersion; daemons before Docker 20.10 do not say and ran cgroup v1), then forwarded."""
    memory = request.context.memory
    host = request.body.get("HostConfig") if isinstance(request.body, dict) else None
    if memory.cgroup_version is None and not (isinstance(host, dict) and host.get("CgroupnsMode")):
        info = yield Call("GET", "/info")
        if info is not None and info.status == 200 and isinstance(info.body, dict):
            memory.cgroup_version = str(info.body.get("CgroupVersion") or "1").removeprefix("v")  # Podman: "v1"
    query = f"?{urlencode(request.query)}" if request.query else ""
    return Pass("POST", f"/containers/create{query}", client_body=True)


@emulation
def commit_noting_container(request: LegacyRequest) -> Emulation:
    """commit, after noting the container it commits and its Config (the image as its create named it):
    the image JSON of 2013 said them, and Podman and Docker 26+ no longer do (steps/echoes.py)."""
    query = dict(request.query)
    memory = request.context.memory
    if query.get("container"):
        query["container"] = memory.ids.to_real(query["container"])
        found = yield Call("GET", f"/containers/{quote(query['container'], safe='')}/json")
        if found is not None and found.status == 200 and isinstance(found.body, dict):
            legacy = str(memory.ids.to_legacy(found.body.get("Id", "")))
            config = dict(found.body.get("Config") or {})
            given = memory.echoes.get(legacy, {}).get("Config", {})
            if "Image" in given:
                config["Image"] = given["Image"]
            request.context.notes["committed_from"] = {"container": legacy, "config": config}
    return Pass("POST", f"/commit?{urlencode(query)}", client_body=True)
