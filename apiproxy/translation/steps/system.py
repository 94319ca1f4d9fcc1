"""Value steps of system answers: /info's version, error bodies, empty bodies. Pure."""
from __future__ import annotations

from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step


@value_step
def json_error_to_text(document: Any, context: Context) -> Any:
    """{"message": "..."} → the message as plain text with a final newline."""
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        return document["message"] + "\n"
    return document


@value_step
def info_version(info: Any, context: Context) -> Any:
    """/info of 0.3 daemons named their Version: today's say ServerVersion, 2013's none."""
    if isinstance(info, dict):
        info.setdefault("Version", info.get("ServerVersion") or context.upstream_version)
        info.setdefault("GoVersion", "")
    return info


@value_step
def empty_object(body: Any, context: Context) -> Any:
    """An absent JSON body as {}: Podman's commit refuses a request without one (Decode(): EOF)."""
    return {} if body is None else body


@value_step
def security_option_names(options: Any, context: Context) -> Any:
    """/info's SecurityOptions as their names, as before API 1.25: "name=seccomp,profile=builtin" is "seccomp"."""
    if not isinstance(options, list):
        return options
    names = []
    for option in options:
        fields = dict(part.split("=", 1) for part in str(option).split(",") if "=" in part)
        names.append(fields.get("name", option))
    return names


@value_step
def builder_size(usage: Any, context: Context) -> Any:
    """system/df as before API 1.42: BuilderSize, the build cache's sizes summed, and each item's one Parent."""
    if not isinstance(usage, dict):
        return usage
    items = [item for item in usage.get("BuildCache") or [] if isinstance(item, dict)]
    usage.setdefault("BuilderSize", sum(item.get("Size") or 0 for item in items))
    for item in items:
        # moby's json tag says " Parents" (a stray space), so that is the key dockerd sends
        parents = item.pop("Parents", None) or item.pop(" Parents", None) or []
        item.pop(" Parents", None)
        item.setdefault("Parent", parents[0] if parents else "")
    return usage
