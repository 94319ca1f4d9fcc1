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
