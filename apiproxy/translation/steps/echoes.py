"""Value steps that show a container's create and start fields as its legacy client gave them. Pure.

The 2013 daemons kept the Config a create gave (merged with the image's for
what it left empty) and, from 0.7.1 (API 1.8), the HostConfig a start gave,
and inspect showed both as they were; today's daemons rewrite some of them
(PortSpecs into ExposedPorts, MemorySwap doubled, links spelt /name:/alias,
Podman's resolved image names).  apiproxy keeps what a client gave in its
memory, by the id create answered, and inspect echoes it back.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.memory import forget_oldest
from apiproxy.translation.registry import value_step

# Config fields whose given value an echo may restore (each change file says where it held).
ECHOED_CONFIG = ("Image", "PortSpecs", "MemorySwap", "CpuShares")
# HostConfig as 0.7.1-0.8.1 kept it: exactly these keys, from the start's body, zero where not given.
HOST_CONFIG_2013 = {"Binds": None, "ContainerIDFile": "", "LxcConf": None, "Privileged": False,
                    "PortBindings": None, "Links": None, "PublishAllPorts": False}


def _remember(context: Context, ident: str, part: str, given: dict[str, Any]) -> None:
    echoes = context.memory.echoes
    echoes.setdefault(ident, {})[part] = given
    forget_oldest(echoes)


@value_step
def note_given_config(body: Any, context: Context) -> Any:
    """A create's echoed fields as the client gave them, for its answer's step to remember."""
    if isinstance(body, dict):
        given = {key: copy.deepcopy(body[key]) for key in ECHOED_CONFIG if body.get(key) is not None}
        given.setdefault("MemorySwap", 0)  # Go's zero value: what a create without it kept
        context.notes["given_config"] = given
    return body


@value_step
def remember_given_config(created: Any, context: Context) -> Any:
    """The created container's id, with the fields its create gave."""
    given = context.notes.get("given_config")
    if given and isinstance(created, dict) and isinstance(created.get("Id"), str):
        _remember(context, created["Id"], "Config", given)
    return created


def remember_given_host_config(context: Context, ident: str, body: Any) -> None:
    """A start's body (API < 1.10), kept as the HostConfig of the container the client knows as `ident`."""
    if isinstance(body, dict) and ident:
        _remember(context, ident, "HostConfig", {key: copy.deepcopy(body.get(key, zero))
                                                 for key, zero in HOST_CONFIG_2013.items()})


def _given(inspect: Any, context: Context, part: str) -> dict[str, Any] | None:
    if not isinstance(inspect, dict):
        return None
    ident = inspect.get("Id") or inspect.get("ID")
    return context.memory.echoes.get(ident, {}).get(part) if isinstance(ident, str) else None


@value_step
def echo_given_config(inspect: Any, context: Context, fields: list[str]) -> Any:
    """Config's `fields` as the container's create gave them.

    A MemorySwap the daemon set to -1 stays: a 2013 daemon without swap
    accounting set it so too (a given 0 it kept only where it could limit swap).
    """
    given = _given(inspect, context, "Config")
    config = inspect.get("Config") if isinstance(inspect, dict) else None
    if not given or not isinstance(config, dict):
        return inspect
    for key in fields:
        if key not in given or (key == "MemorySwap" and config.get(key) == -1):
            continue
        config[key] = copy.deepcopy(given[key])
    return inspect


@value_step
def echo_given_host_config(inspect: Any, context: Context) -> Any:
    """HostConfig's 2013 keys as the container's last start with a body gave them."""
    given = _given(inspect, context, "HostConfig")
    if given and isinstance(inspect.get("HostConfig"), dict):
        inspect["HostConfig"].update(copy.deepcopy(given))
    return inspect


# An argument today's daemons quoted because it holds a space: 'echo hi', between spaces or the ends.
_QUOTED_ARGUMENT = re.compile(r"(?<![^ ])'([^']* [^']*)'(?![^ ])")


@value_step
def command_as_2013(command: Any, context: Context) -> Any:
    """A listed container's Command as 0.3-0.9 wrote it: the path, a space, the arguments joined by
    spaces as they were ("true " for a command without arguments, sh -c echo hi unquoted).  Today's
    daemons write a path without arguments alone and quote an argument that holds a space."""
    if not isinstance(command, str):
        return command
    path, space, arguments = command.partition(" ")
    return f"{path} {_QUOTED_ARGUMENT.sub(lambda found: found[1], arguments)}" if space else f"{command} "


@value_step
def remember_commit(committed: Any, context: Context) -> Any:
    """The new image's id, with the container it came from as commit_noting_container noted it."""
    origin = context.notes.get("committed_from")
    if origin and isinstance(committed, dict) and isinstance(committed.get("Id"), str):
        context.memory.commits[committed["Id"].removeprefix("sha256:")] = origin
        forget_oldest(context.memory.commits)
    return committed


@value_step
def commit_origin(image: Any, context: Context) -> Any:
    """Container and ContainerConfig of an image a legacy client committed, where the daemon no longer
    says them (Podman; Docker from API 1.45, where apiproxy shows Config and ""): as 0.3-0.8 kept them."""
    if not isinstance(image, dict) or image.get("Container") or not isinstance(image.get("Id"), str):
        return image
    origin = context.memory.commits.get(image["Id"].removeprefix("sha256:"))
    if origin:
        image["Container"], image["ContainerConfig"] = origin["container"], copy.deepcopy(origin["config"])
    return image


# An id or id prefix (a name of hex digits alone is taken for one, as the daemons look ids up first).
_IMAGE_ID_FORM = re.compile(r"(?:sha256:)?([0-9a-f]{1,64})")


@value_step
def listed_image_name(image: Any, context: Context) -> Any:
    """A listed container's Image as 0.3-0.9 wrote it (TagStore.ImageName): a repository:tag of the
    image, else its id cut to 12. Today's Docker lists the name the create gave ("busybox") or the
    whole id; a name without a tag meant its latest tag. (Of an image with several tags the 2013
    daemons named the first in sort order; apiproxy names the one the create gave.)"""
    if not isinstance(image, str) or not image or "@" in image:
        return image
    found = _IMAGE_ID_FORM.fullmatch(image)
    if found is not None:
        return found[1][:12]
    return image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"
