"""Value steps that carry host settings from create to start (API 1.10-1.14). Pure."""
from __future__ import annotations

from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step

_HOST_SETTINGS = ("Dns", "VolumesFrom", "PortBindings", "PublishAllPorts", "Privileged", "Binds", "Links",
                  "LxcConf")


# Resource limits create keeps, repeated at start: a daemon since Docker 1.10
# keeps them in the HostConfig that a start body replaces whole.
_KEPT_AT_START = ("Memory", "MemorySwap", "CpuShares")


@value_step
def stash_host_settings(body: Any, context: Context) -> Any:
    """Host settings leave the create body (API 1.10): kept for the start that follows."""
    if isinstance(body, dict):
        stashed = {key: body.pop(key) for key in _HOST_SETTINGS if key in body}
        stashed |= {key: body[key] for key in _KEPT_AT_START if body.get(key)}
        if any(stashed.values()):
            context.notes["host_settings"] = stashed
    return body


@value_step
def unstash_host_settings(body: Any, context: Context) -> Any:
    """create takes HostConfig again (API 1.15): the settings stashed at 1.10 go there."""
    stashed = context.notes.pop("host_settings", None)
    if isinstance(body, dict) and stashed:
        body["HostConfig"] = {**stashed, **(body.get("HostConfig") or {})}
    return body


@value_step
def remember_host_settings(created: Any, context: Context) -> Any:
    """The created container's id, for the start that will carry its stashed settings."""
    stashed = context.notes.get("host_settings")
    if stashed and isinstance(created, dict) and created.get("Id"):
        context.memory.host_settings[created["Id"]] = stashed
    return created


@value_step
def pending_host_settings(body: Any, context: Context) -> Any:
    """A start body (API 1.10-1.14) with the settings its container's create carried."""
    real = context.memory.ids.to_real(context.params.get("id", ""))
    matches = [key for key in context.memory.host_settings if key.startswith(real)] if real else []
    if len(matches) != 1:
        return body
    stashed = context.memory.host_settings.pop(matches[0])
    return {**stashed, **(body if isinstance(body, dict) else {})}
