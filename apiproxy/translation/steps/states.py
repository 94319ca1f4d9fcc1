"""Value steps of the container list: the state words, sizes and ports 2013 daemons wrote. Pure.

Docker 0.3-0.9 wrote State.String(): "Up " + HumanDuration(now - StartedAt) while running, and
"Exit <ExitCode>" in every other state, a never-started container included ("Exit 0"). Docker 0.10
began "Exited (N) 3 seconds ago"; later daemons and Podman added "Created", "Restarting (N) ... ago",
"(Paused)" and health suffixes, "Removal In Progress", "Dead", "Removing", "Stopping", "Unknown".
"""
from __future__ import annotations

import re
from typing import Any

from apiproxy.api.query import GO_TRUE
from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step

# "Up 5 seconds", "Up 2 hours (Paused)", "Up 3 minutes (healthy)": 2013 had no suffix.
_UP = re.compile(r"^Up (?P<duration>[^()]+?)(?: \(.*\))?$")
# "Exited (2) 3 seconds ago", "Restarting (1) 2 seconds ago": the exit code in parentheses.
_EXIT_CODE = re.compile(r"^\w+ \((?P<code>-?\d+)\)")
# Years, which go-units writes as a whole number and 0.4.7-0.8 as "%f years".
_YEARS = re.compile(r"^(?P<years>\d+) years$")


def legacy_duration(today: str) -> str:
    """go-units' HumanDuration → 0.3-0.8's utils.HumanDuration, as far as the words tell.

    The same words but two: one second was "1 seconds", and years were a float ("%f years").
    go-units rounds hours where 0.8 truncated, and says months from 60 days where 0.8 said weeks up
    to 90: the string no longer holds the time that would tell those apart, so they stay.
    """
    if today == "1 second":
        return "1 seconds"
    years = _YEARS.match(today)
    if years:
        return f"{int(years['years']):.6f} years"
    return today


@value_step
def legacy_state_string(status: Any, context: Context) -> Any:
    """Today's container Status → "Up <duration>" or "Exit <code>" (0 when the string names none)."""
    if not isinstance(status, str):
        return status
    running = _UP.match(status)
    if running:
        return f"Up {legacy_duration(running['duration'])}"
    exited = _EXIT_CODE.match(status)
    return f"Exit {int(exited['code']) if exited else 0}"




@value_step
def note_sizes_asked(query: Any, context: Context) -> Any:
    """Remembers a list asked with size=1, for zero_sizes_when_asked on its answer."""
    if isinstance(query, dict) and query.get("size") in GO_TRUE:
        context.notes["sizes_asked"] = True
    return query


@value_step
def zero_sizes_when_asked(container: Any, context: Context, fields: tuple[str, ...] = ()) -> Any:
    """A size the daemon computed but left out for being 0 (omitempty), written as 0 again."""
    if isinstance(container, dict) and context.notes.get("sizes_asked"):
        for name in fields:
            container.setdefault(name, 0)
    return container


@value_step
def unpublished_port_as_public(port: Any, context: Context) -> Any:
    """A port exposed but not published, as 0.6.5-0.11 listed it: its number in PublicPort, PrivatePort 0.

    Their PortMappingAPI set only PublicPort (and Type) for a port without bindings; the CLI of the
    time printed PublicPort for a port with no IP. Published ports keep both numbers.
    """
    if isinstance(port, dict) and not port.get("PublicPort") and not port.get("IP"):
        port["PublicPort"], port["PrivatePort"] = port.get("PrivatePort", 0), 0
    return port
