"""What apiproxy knows of its upstream daemon, and the version it talks to it. Pure."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from apiproxy.api.datafiles import load_json
from apiproxy.api.versions import BadVersion, Version, parse_version

OLDEST = Version(1, 0)


@dataclass(frozen=True)
class UpstreamInfo:
    """Read from the upstream's `GET /version`."""

    kind: str  # "docker" or "podman"
    version: str  # the product's own version, for the log
    api_version: Version | None  # None: a daemon too old to say (Docker 0.3-0.5)
    min_api_version: Version | None
    # The profile of the newest daemon release that changed answers at every API version ("docker25",
    # "docker29": it includes the older ones), applied to every request sent below the versions it
    # names; None for every other daemon.
    release: str | None = None

    @property
    def lowest(self) -> Version:
        return self.min_api_version or self.api_version or OLDEST

    @property
    def highest(self) -> Version | None:
        return self.api_version

    def describe(self) -> str:
        low, high = self.lowest, self.highest
        api = f"API {low}–{high}" if high and low != high else f"API {high or 'unknown'}"
        return f"{self.kind} {self.version} ({api})"


def _version_or_none(value: Any) -> Version | None:
    try:
        return parse_version(str(value)) if value is not None else None
    except BadVersion:
        return None


DOCKER29_API = Version(1, 52)  # Docker 29.0's ApiVersion: a build that names no release is placed by it
# The releases that changed answers at every API version, oldest first: (first release, its first
# ApiVersion, profile in schemas/upstreams/). A daemon gets the newest it has reached, which includes
# the older ones (release_profiles).
RELEASES = ((25, Version(1, 44), "docker25"), (29, DOCKER29_API, "docker29"))


@lru_cache(maxsize=64)  # asked for every translated request, of the one daemon
def choose_release(kind: str, version: str, api_version: Version | None) -> str | None:
    """A daemon's release profile: "docker25" for Docker 25-28, "docker29" for Docker 29 and later
    (schemas/upstreams/); Podman never.  The release is the version's first number; a build that
    names none ("dev") is placed by its ApiVersion."""
    if kind != "docker":
        return None
    major = re.match(r"v?(\d+)\.", version)
    reached = [name for first, api, name in RELEASES
               if (int(major.group(1)) >= first if major is not None else api_version is not None
                   and api_version >= api)]
    return reached[-1] if reached else None


def release_profiles(release: str) -> tuple[str, ...]:
    """The profiles a release's daemons get, oldest first: its own and every older release's."""
    names = [name for _, _, name in RELEASES]
    return tuple(names[:names.index(release) + 1]) if release in names else (release,)


def parse_upstream_info(body: dict[str, Any]) -> UpstreamInfo:
    """Interpret a `/version` answer; Podman names itself in `Components`."""
    components = body.get("Components") or []
    names = " ".join(str(c.get("Name", "")) for c in components if isinstance(c, dict))
    kind = "podman" if "podman" in names.lower() else "docker"
    version = str(body.get("Version", "unknown"))
    api_version = _version_or_none(body.get("ApiVersion"))
    return UpstreamInfo(
        kind=kind,
        version=version,
        api_version=api_version,
        min_api_version=_version_or_none(body.get("MinAPIVersion")),
        release=choose_release(kind, version, api_version),
    )


@lru_cache(maxsize=1)
def known_versions() -> tuple[tuple[Version, ...], tuple[Version, ...]]:
    """(legacy client versions, versions apiproxy can translate to) from schemas/versions.json."""
    data = load_json("versions.json")
    legacy = tuple(parse_version(v) for v in data["legacy"])
    targets = tuple(parse_version(v) for v in data["targets"])
    return legacy, tuple(sorted(set(legacy + targets)))


@lru_cache(maxsize=1)
def newest_known() -> Version:
    """The newest version whose changes schemas/changes/ holds in full (versions.json's "newest")."""
    return parse_version(load_json("versions.json")["newest"])


def advertised_version(info: UpstreamInfo, pinned: Version | None) -> Version | None:
    """The ApiVersion apiproxy's /version and /_ping answers carry (None: the daemon said none).

    The daemon's own, capped at the newest version apiproxy knows the changes of, or at the
    configured `pinned` one: a client that negotiates then speaks a version apiproxy can
    translate whatever the daemon's floor.
    """
    if info.highest is None:
        return None
    return min(info.highest, pinned or newest_known())


@lru_cache(maxsize=1)
def _legacy_versions() -> frozenset[Version]:
    return frozenset(known_versions()[0])


def is_legacy(version: Version) -> bool:
    return version in _legacy_versions()  # asked several times per request: a set


@dataclass(frozen=True)
class TargetChoice:
    version: Version | None
    problem: str | None = None  # why legacy requests cannot be served


def choose_target(info: UpstreamInfo, configured: Version | None) -> TargetChoice:
    """The version legacy requests are sent at.

    `configured` None means "auto": the highest version apiproxy can translate
    to that the upstream accepts.  Podman ignores the path version and always
    speaks its own, so it is taken as exactly its ApiVersion.
    """
    low, high = info.lowest, info.highest
    if configured is not None:
        if high is not None and not low <= configured <= high:
            return TargetChoice(None, f"the configured target version {configured} is outside "
                                      f"the range the upstream accepts ({low}–{high})")
        return TargetChoice(configured)
    if high is None:
        return TargetChoice(None, "the upstream did not say which API version it speaks")
    if info.kind == "podman":
        return TargetChoice(high)
    candidates = [v for v in known_versions()[1] if low <= v <= high]
    if not candidates:
        return TargetChoice(None, f"apiproxy can translate to no version in the range the "
                                  f"upstream accepts ({low}–{high})")
    return TargetChoice(candidates[-1])


def climb_target(info: UpstreamInfo, client: Version) -> Version | None:
    """The version a request of a modern client (1.10 on) is sent at, if not its own.

    A daemon refuses clients below its floor (MinAPIVersion): such a request climbs the
    version chain to exactly the floor, so the daemon does everything above it itself.
    Podman ignores the path's version and always answers as its own ApiVersion: every
    client below that climbs to it.
    """
    ceiling = info.highest if info.kind == "podman" else info.lowest
    if ceiling is None or client >= ceiling:
        return None
    return ceiling
