"""Emulations of image endpoints today's daemons dropped or changed: insert, viz, untag, push, login. Pure."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from apiproxy.api.redaction import redact_url
from apiproxy.translation.emulations.commands import Call, Emulation, Fetch, LegacyRequest, Pass, Reply, expect
from apiproxy.translation.memory import DEFAULT_REGISTRY
from apiproxy.translation.registry import emulation
from apiproxy.translation.steps.podman import docker_image_name
from apiproxy.translation.steps.registry_auth import encode_registry_header, remembered_credentials
from apiproxy.translation.transforms import json_values


@emulation
def no_build_cache(request: LegacyRequest) -> Emulation:
    """The 0.3 client-side builder asks for a cached image; there is none to offer."""
    return Reply(404, "No cached image")
    yield


@emulation
def untag_by_id(request: LegacyRequest) -> Emulation:
    """rmi, after noting the image's id: 2013 daemons reported untagging by id, not by name."""
    name = request.params["name"]
    answer = yield Call("GET", f"/images/{quote(name, safe='/:@')}/json")
    assert answer is not None  # a Call is always answered
    if answer.status == 200 and isinstance(answer.body, dict):
        request.context.notes["image_id"] = str(answer.body.get("Id", "")).removeprefix("sha256:")
    query = f"?{urlencode(request.query)}" if request.query else ""
    return Pass("DELETE", f"/images/{quote(name, safe='/:@')}{query}")


@emulation
def remembered_login(request: LegacyRequest) -> Emulation:
    """GET /auth of 1.0/1.1: the login the daemon kept, here the one apiproxy kept."""
    found = request.context.memory.credentials.get(DEFAULT_REGISTRY) or {}
    return Reply(200, {"username": found.get("username", ""), "email": found.get("email", "")})
    yield


@emulation
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


@emulation
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
    return Reply(200, items=[{"status": f"Downloading from {url}"}, {"status": "Inserting file"},
                             *insert_last_items(new_id, request.context.client_version.minor)])


def insert_last_items(new_id: str, minor: int) -> list[dict[str, Any]]:
    """The items ending an insert, as the daemon of the client's version (1.`minor`) wrote them.

    0.4.0-0.6.6 (1.1-1.6) wrote FormatStatus(id) then the short APIID; 0.6.7-0.7.6 (1.7, 1.8)
    FormatStatus(id, ""), whose empty status is omitempty; 0.8 (1.9) FormatStatus("", id). At 1.0
    the status line is the text line progress_to_text renders ("<id>\\r\\n").
    """
    if 1 <= minor <= 6:
        return [{"status": new_id}, {"Id": new_id[:12]}]
    if minor in (7, 8):
        return [{"id": new_id}]
    return [{"status": new_id}]


def _progress_error(body: Any) -> str | None:
    """The error a finished progress stream (a pull's, a push's) ended with, if any."""
    items = (json_values(body) or []) if isinstance(body, bytes) else [body]  # one item comes decoded
    return next((str(item["error"]) for item in items if isinstance(item, dict) and item.get("error")), None)


@emulation
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
