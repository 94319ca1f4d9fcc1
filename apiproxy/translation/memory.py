"""What apiproxy remembers across requests, where 2013 daemons kept state it has to stand in for. Pure."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apiproxy.api.ids import LegacyIds

DEFAULT_REGISTRY = "https://index.docker.io/v1/"
# Containers (or images) remembered per kind; the oldest are forgotten first.
REMEMBERED = 4096


def forget_oldest(remembered: dict[str, Any]) -> None:
    """Keep the REMEMBERED newest entries of a by-id memory (a dict keeps insertion order)."""
    while len(remembered) > REMEMBERED:
        del remembered[next(iter(remembered))]


@dataclass
class Memory:
    ids: LegacyIds = field(default_factory=LegacyIds)
    # Credentials 1.0/1.1 clients gave POST /auth, by registry: those daemons kept them for push.
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Host settings a create carried, by container id, for its start (targets 1.10-1.14).
    host_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Configuration (insert_fetch_urls): whether insert may download the URL it names.
    insert_fetch_urls: bool = True
    # The daemon's /info CgroupVersion ("1" or "2"), asked once: creates below API 1.41 depend on it.
    cgroup_version: str | None = None
    # What legacy clients gave a container's create ("Config") and start ("HostConfig"), by the id
    # create answered: 2013 daemons kept both as given and inspect showed them so (steps/echoes.py).
    echoes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The container each image a legacy client committed came from, and its Config, by image id:
    # the 2013 image JSON said them (container, container_config); Podman and Docker 26+ do not.
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The links apiproxy set up itself where the daemon has none (Podman), by the real id of the
    # container given them: {alias: real id of the linked container}, for their removal (link=1).
    links: dict[str, dict[str, str]] = field(default_factory=dict)
