"""Value steps for what Podman says in its own words. Pure."""
from __future__ import annotations

import re
from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step
from apiproxy.translation.steps.images import strip_sha256

# Podman's names for events a Docker daemon names otherwise, per event type.
_PODMAN_EVENT_NAMES = {"container": {"remove": "destroy"}, "image": {"remove": "delete"}}


# What Podman puts before an image's name that Docker left out.
_FULL_NAME_PREFIXES = ("docker.io/library/", "docker.io/", "localhost/")


@value_step
def docker_image_name(name: Any, context: Context) -> Any:
    """An image or repository named as Docker wrote it: busybox, not docker.io/library/busybox."""
    if isinstance(name, str):
        for prefix in _FULL_NAME_PREFIXES:
            if name.startswith(prefix):
                return name[len(prefix):]
    return name


@value_step
def docker_event_names(event: Any, context: Context) -> Any:
    """A Podman event under the name Docker gives the same event (remove → destroy)."""
    if isinstance(event, dict):
        names = _PODMAN_EVENT_NAMES.get(event.get("Type", "container"), {})
        for key in ("status", "Action"):
            if event.get(key) in names:
                event[key] = names[event[key]]
    return event


@value_step
def import_result_without_id(item: Any, context: Context) -> Any:
    """Podman's import result repeats the new image's id in `id`; Docker said it once, in `status`."""
    if isinstance(item, dict) and item.get("id") and \
            strip_sha256(item.get("id"), context) == strip_sha256(item.get("status"), context):
        return {key: value for key, value in item.items() if key not in ("id", "progress", "progressDetail")}
    return item


@value_step
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


@value_step
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


_NO_SUCH_CONTAINER = re.compile(r'no container with (?:name or )?ID "?(?P<name>[^" ]+)"? found: no such container')
_NO_SUCH_IMAGE = re.compile(r"(?:.*: )?(?P<name>\S+): image not known")


@value_step
def docker_not_found_words(error: Any, context: Context) -> Any:
    """Podman's "no container with name or ID "x" found: no such container" and "x: image not known"
    in the words every Docker daemon used, which 2013 clients matched: "No such container: x",
    "No such image: x"."""
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return error
    container = _NO_SUCH_CONTAINER.fullmatch(error["message"])
    image = _NO_SUCH_IMAGE.fullmatch(error["message"])
    if container is not None:
        error["message"] = f"No such container: {container['name']}"
    elif image is not None:
        error["message"] = f"No such image: {image['name']}"
    return error


@value_step
def args_without_path(inspect: Any, context: Context) -> Any:
    """Podman's inspect repeats the command's path as the first of Args (Path "date", Args ["date"]);
    Docker's daemons gave the arguments after it (Args [])."""
    if isinstance(inspect, dict) and isinstance(inspect.get("Args"), list) and inspect["Args"] \
            and inspect["Args"][0] == inspect.get("Path"):
        inspect["Args"] = inspect["Args"][1:]
    return inspect


_IMAGE_ID = re.compile(r"(?:sha256:)?([0-9a-f]{64})\n?")


@value_step
def built_image_line(item: Any, context: Context) -> Any:
    """A build's end as Docker wrote it: "Successfully built <12 hex>", the line 2013 clients search
    for the new image's id.  Podman (buildah) ends with the id alone, then an aux item {"ID": ...}
    that no legacy client reads: whichever comes first says it, once."""
    if not isinstance(item, dict):
        return item
    stream, aux = item.get("stream"), item.get("aux")
    if isinstance(stream, str) and stream.startswith("Successfully built "):
        said, context.notes["built_line"] = context.notes.get("built_line"), True
        return None if said else item  # Podman said it itself (the compat API does on some builds)
    if context.notes.get("built_line"):
        return item
    if isinstance(stream, str):
        found = _IMAGE_ID.fullmatch(stream)
    elif isinstance(aux, dict) and isinstance(aux.get("ID"), str) and not {"status", "error"} & set(item):
        found = _IMAGE_ID.fullmatch(aux["ID"])
    else:
        found = None
    if found is None:
        return item
    context.notes["built_line"] = True
    return {"stream": f"Successfully built {found[1][:12]}\n"}
