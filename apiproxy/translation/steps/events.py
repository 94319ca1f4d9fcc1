"""Value steps of event streams: the events and fields 2013 daemons sent. Pure."""
from __future__ import annotations

from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step

# Statuses of the events 2013 daemons sent: the LogEvent calls of 0.5.3-0.8.1 (the same ten in
# each). Pull, push, tag, pause, exec_*, network and volume events never reached a 2013 client.
_LEGACY_EVENTS = {
    "container": {"create", "start", "die", "stop", "kill", "restart", "destroy", "export"},
    "image": {"untag", "delete"},
}


@value_step
def legacy_event(event: Any, context: Context) -> Any:
    """{status, id, from, time} of a container or image event; None drops any other.

    Image events had an empty `from`, left out (omitempty). A `since` replay passes here too.
    """
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
