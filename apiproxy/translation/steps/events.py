"""Value steps of event streams: the events and fields 2013 daemons sent. Pure."""
from __future__ import annotations

from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step

# Statuses of the events 2013 daemons sent; anything else they never produced.
_LEGACY_EVENTS = {
    "container": {"create", "start", "die", "stop", "kill", "restart", "destroy", "export"},
    "image": {"untag", "delete", "pull", "push", "tag"},
}


@value_step
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


@value_step
def without_image_create(event: Any, context: Context) -> Any:
    """Image `create` events (any image made, tagged or not) came with API 1.46; None drops them."""
    if isinstance(event, dict) and event.get("Type") == "image" and event.get("Action") == "create":
        return None
    return event
