"""The compatibility matrix: how apiproxy serves each endpoint to each client version. Pure.

Computed from the change files and the endpoint tables, never written by hand: a cell is what the
changes a request crosses (as the proxy builds its exchange) declare.  Two halves:
- 2013 clients (1.0-1.9), per endpoint and version, in front of a daemon's target version;
- clients of 1.10-1.51, per endpoint and version, in front of a daemon's floor (MinAPIVersion):
  a client below the floor climbs to it, one at or above it is the daemon's own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from apiproxy.api.datafiles import load_json
from apiproxy.api.routes import MODERN, Route, legacy_routes, modern_routes
from apiproxy.api.upstream_info import known_versions
from apiproxy.api.versions import Version
from apiproxy.translation import changes
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.changes import EndpointChange

NATIVE, TRANSLATED, EMULATED, UNSUPPORTED, UNTRANSLATABLE, ABSENT = (
    "native", "translated", "emulated", "unsupported", "untranslatable", "")

NEWEST_CLIENT = Version(1, 51)  # the last version before 1.52 reshaped events, inspect and system/df
SWARM = ("/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs")


@dataclass(frozen=True)
class Cell:
    kind: str
    reasons: tuple[str, ...] = ()  # why, for unsupported and untranslatable; emulated: the emulation's change

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def _judge(crossed: Sequence[EndpointChange]) -> Cell:
    """What the changes a request crosses (upward order) make of it.

    unsupported (answered 501) and untranslatable (served, but something is lost) say why;
    emulated: an emulation serves it; translated: some change of this endpoint lies between;
    native: only changes every endpoint shares (the error format) do.
    """
    for change in reversed(crossed):
        if change.unsupported:
            return Cell(UNSUPPORTED, (change.unsupported,))
    lost = tuple(change.untranslatable for change in crossed if change.untranslatable)
    if lost:
        return Cell(UNTRANSLATABLE, lost)
    emulated = next((change for change in reversed(crossed) if change.emulate), None)
    if emulated is not None:
        return Cell(EMULATED, (emulated.description,))
    return Cell(TRANSLATED) if any(c.endpoint != changes.ANY_ENDPOINT for c in crossed) else Cell(NATIVE)


def cell(endpoint: str, version: Version, target: Version, upstream_kind: str = "docker") -> Cell:
    """How apiproxy serves the 2013 `endpoint` for a client at `version` in front of `target`."""
    crossed = [change for _, change in changes.between(version, target, endpoint)]
    crossed += changes.profile(upstream_kind, endpoint, target)
    return _judge(crossed)


def modern_cell(route: Route, version: Version, floor: Version, upstream_kind: str = "docker") -> Cell:
    """How apiproxy serves `route` for a client of 1.10 or later at `version`, the daemon's floor `floor`."""
    if not route.exists_in(version):
        return Cell(ABSENT)
    if version >= floor:  # the daemon's own: forwarded as it is
        return Cell(NATIVE)
    exchange = ChainExchange.build(route, version, floor, "", upstream_kind, upstream_api=floor)
    return _judge(exchange.crossed)


def rows(target: Version, upstream_kind: str = "docker") -> list[tuple[str, list[Cell]]]:
    legacy = known_versions()[0]
    return [(route.key, [cell(route.key, version, target, upstream_kind) if route.exists_in(version)
                         else Cell(ABSENT) for version in legacy])
            for route in legacy_routes()]


def modern_versions() -> list[Version]:
    return [Version(1, minor) for minor in range(MODERN.minor, NEWEST_CLIENT.minor + 1)]


def is_swarm(route: Route) -> bool:
    return route.template.startswith(SWARM)


@dataclass(frozen=True)
class Span:
    """Client versions next to each other that every endpoint's cell treats alike: one column."""

    first: Version
    last: Version

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}–{self.last}"


def modern_table(floor: Version, upstream_kind: str = "docker") -> tuple[list[Span], list[tuple[Route, list[Cell]]]]:
    """Rows of endpoints (swarm last), columns of version spans in which every endpoint is served alike.

    An endpoint's versions before its first (or after its last) do not split a span: its cell is how
    the versions that have it are served, and its row says since when it exists; "·" is a span with none.
    """
    versions = modern_versions()
    routes = sorted(modern_routes(), key=is_swarm)
    grid = [[modern_cell(route, version, floor, upstream_kind) for version in versions] for route in routes]
    spans: list[Span] = []
    merged: list[list[Cell]] = []  # per span, per route: the cell of the versions that have the endpoint
    for index, version in enumerate(versions):
        column = [row[index] for row in grid]
        if merged and all(new.kind == ABSENT or old.kind == ABSENT or new == old
                          for old, new in zip(merged[-1], column)):
            spans[-1] = Span(spans[-1].first, version)
            merged[-1] = [new if old.kind == ABSENT else old for old, new in zip(merged[-1], column)]
        else:
            spans.append(Span(version, version))
            merged.append(column)
    return spans, [(route, [cells[number] for cells in merged]) for number, route in enumerate(routes)]


def row_name(route: Route) -> str:
    """The endpoint, with the versions it exists in when not all of them, and the swarm mark."""
    lived = [f"{route.since} on"] if route.since > MODERN else []
    lived += [f"until {route.until}"] if route.until < NEWEST_CLIENT else []
    return route.key + (f" ({', '.join(lived)})" if lived else "") + (" *" if is_swarm(route) else "")


_SHORT = {NATIVE: "N", TRANSLATED: "T", EMULATED: "E", UNSUPPORTED: "U", UNTRANSLATABLE: "U", ABSENT: "·"}
LEGEND = ("N native, T translated, E emulated, U untranslatable or unsupported (why: below), "
          "· not in that version")
SWARM_NOTE = "swarm: not testable here (no swarm manager runs in the tests)"


def text(target: Version, upstream_kind: str = "docker") -> str:
    """The 2013 clients' table in front of `target`."""
    legacy = known_versions()[0]
    table = rows(target, upstream_kind)
    width = max(len(key) for key, _ in table)
    lines = [f"{'endpoint':<{width}}  " + " ".join(f"{str(v):>4}" for v in legacy)]
    for key, cells in table:
        lines.append(f"{key:<{width}}  " + " ".join(f"{_SHORT[c.kind]:>4}" for c in cells))
    lines.append(LEGEND)
    lines += _reasons(table)
    return "\n".join(lines) + "\n"


def modern_text(floor: Version, upstream_kind: str = "docker") -> str:
    """The table of clients of 1.10-1.51 in front of a daemon whose floor is `floor`."""
    spans, table = modern_table(floor, upstream_kind)
    keys = [row_name(route) for route, _ in table]
    width = max(len(key) for key in keys)
    widths = [max(len(str(span)), 1) for span in spans]
    lines = [f"clients of API {MODERN}-{NEWEST_CLIENT}, daemon's floor {floor}: "
             f"clients from {floor} on are forwarded as they are",
             f"{'endpoint':<{width}}  " + " ".join(f"{str(span):^{w}}" for span, w in zip(spans, widths))]
    for key, (_, cells) in zip(keys, table):
        lines.append(f"{key:<{width}}  " + " ".join(f"{_SHORT[c.kind]:^{w}}" for c, w in zip(cells, widths)))
    lines += [LEGEND, f"* {SWARM_NOTE}"]
    lines += [f"U {line}" for line in _modern_reasons(spans, table)]
    return "\n".join(lines) + "\n"


def _reasons_of(table: list[tuple[str, list[Cell]]]) -> list[tuple[str, str]]:
    return sorted({(key, reason) for key, cells in table for c in cells if c.kind in (UNSUPPORTED, UNTRANSLATABLE)
                   for reason in c.reasons})


def _reasons(table: list[tuple[str, list[Cell]]]) -> list[str]:
    return [f"U {key}: {reason}" for key, reason in _reasons_of(table)]


def _modern_reasons(spans: list[Span], table: list[tuple[Route, list[Cell]]], code: str = "") -> list[str]:
    """Each endpoint's reasons, with the client versions they hold for; `code` quotes the endpoint."""
    out = []
    for route, cells in table:
        found: dict[str, list[Span]] = {}
        for span, c in zip(spans, cells):
            for reason in c.reasons if c.kind in (UNSUPPORTED, UNTRANSLATABLE) else ():
                found.setdefault(reason, []).append(Span(max(span.first, route.since), min(span.last, route.until)))
        out += [f"{code}{route.key}{code} ({_joined(spans_of)}): {reason}" for reason, spans_of in found.items()]
    return out


def _joined(spans: Iterable[Span]) -> str:
    """Adjacent spans as one range: 1.10–1.43."""
    merged: list[Span] = []
    for span in spans:
        if merged and span.first == Version(1, merged[-1].last.minor + 1):
            merged[-1] = Span(merged[-1].first, span.last)
        else:
            merged.append(span)
    return ", ".join(str(span) for span in merged)


# docs/compatibility.md --------------------------------------------------------------

MATRIX_TARGETS = [("dockerd 20.10", Version(1, 41), "docker"), ("dockerd 26", Version(1, 45), "docker")]
FLOORS = [("Docker 29.0–29.2", Version(1, 44)), ("Docker 29.3 and later", Version(1, 40)),
          ("Docker 25–28", Version(1, 24))]


def markdown(targets: list[tuple[str, Version, str]] = MATRIX_TARGETS,
             floors: list[tuple[str, Version]] = FLOORS) -> str:
    """docs/compatibility.md: one table per daemon floor for clients of 1.10 on, then one per target
    for the 2013 clients."""
    out = ["# Compatibility matrix", "",
           "Generated by `apiproxy versions --markdown` from the change files (`schemas/changes/`) and the",
           "endpoint tables; a test keeps it current. Each cell says how apiproxy serves an endpoint to a client",
           "of that API version:", "",
           "- **N** native: the daemon serves it at the client's version, or no version change between the",
           "  client's version and the daemon's touches it (at most the error format is reworded);",
           "- **T** translated: request and answer are rewritten by the version changes in between;",
           "- **E** emulated: apiproxy serves it with other requests to the daemon;",
           "- **U** untranslatable: served, but something the client may ask cannot be given back (or, for",
           "  unsupported, refused with 501); the reason is under the table;",
           "- **·** the endpoint did not exist at that version.", "",
           "## Clients of API 1.10–1.51", "",
           "A daemon refuses clients below its floor (`MinAPIVersion`); apiproxy sends their requests at the",
           "floor, translated, and those of clients at or above it unchanged. Find your daemon's table, the",
           "column holding your client's version (columns group the versions every endpoint treats alike) and",
           "the endpoint's row:", _example(floors[0]) + ".",
           "A client above the daemon's own version gets `400 client version X is too new`.",
           f"Swarm endpoints (\\*) are {SWARM_NOTE.split(': ', 1)[1]}.", ""]
    for title, floor in floors:
        out += _modern_markdown(title, floor)
    out += _release_markdown("docker25", "Docker 25")
    out += _release_markdown("docker29", "Docker 29")
    out += ["## Clients of API 1.0–1.9 (2013)", "",
            "These go at the target version (the highest apiproxy translates to that the daemon accepts), with",
            "the daemon's profile (`schemas/upstreams/`).", ""]
    legacy = known_versions()[0]
    for title, target, kind in targets:
        table = rows(target, kind)
        out += [f"### {title} (target API {target})", "",
                "| endpoint | " + " | ".join(str(v) for v in legacy) + " |",
                "| --- | " + " | ".join("---" for _ in legacy) + " |"]
        for key, cells in table:
            out.append(f"| `{key}` | " + " | ".join(_SHORT[c.kind] for c in cells) + " |")
        out.append("")
        out += [f"- U `{key}`: {reason}" for key, reason in _reasons_of(table)] or ["- nothing untranslatable"]
        out.append("")
    return "\n".join(out)


def _example(floor: tuple[str, Version], version: Version = Version(1, 30), endpoint: str = "POST /build") -> str:
    """How to read a table, on the question users ask: will my 1.30 client's `docker build` work?"""
    title, at = floor
    spans, table = modern_table(at)
    column = next(index for index, span in enumerate(spans) if span.first <= version <= span.last)
    letter = next(_SHORT[cells[column].kind] for route, cells in table if route.key == endpoint)
    return (f"a {version} client's `docker build` (`{endpoint}`) on {title} is in the first table, "
            f"column `{spans[column]}`: **{letter}**")


_RELEASE_LEADS = {
    "docker25": ("answers it changed at every version",
                 "Docker 25 changed some answers at every API version, with no version gate. Requests that climb to 1.44\n"
                 "cross them in `schemas/changes/1.44.json`; on a daemon whose floor is lower (Docker 25–28, 29.3 on)\n"
                 "apiproxy gives the earlier answers back (`schemas/upstreams/docker25.json`) to every request sent\n"
                 "below the version in the second column, clients the daemon accepts included:"),
    "docker29": ("answers it dropped at every version",
                 "Docker 29 also stopped sending some fields at every API version. apiproxy gives them back\n"
                 "(`schemas/upstreams/docker29.json`, chosen by the daemon's release) to every client below the\n"
                 "version in the second column, clients the daemon accepts included:"),
}


def _release_markdown(profile: str, title: str) -> list[str]:
    """What a daemon release changed or dropped at every API version, which apiproxy gives back to every
    client (of 1.0 on) below each entry's `below`, whatever the floor: the release profile, as a table."""
    entries = load_json(f"upstreams/{profile}.json")["changes"]
    heading, lead = _RELEASE_LEADS[profile]
    out = [f"### {title}: {heading}", "", *lead.split("\n"), "",
           "| endpoint | below | what apiproxy gives back |", "| --- | :-: | --- |"]
    for entry in entries:
        what = entry["description"].replace("|", "\\|")
        out.append(f"| `{entry['endpoint']}` | {entry['below']} | {what} |")
    return [*out, ""]


def _modern_markdown(title: str, floor: Version) -> list[str]:
    spans, table = modern_table(floor)
    out = [f"### {title}: floor {floor}", "",
           "| endpoint | " + " | ".join(str(span) for span in spans) + " |",
           "| --- | " + " | ".join(":-:" for _ in spans) + " |"]
    for route, cells in table:
        name = row_name(route).replace(route.key, f"`{route.key}`").replace(" *", " \\*")
        out.append(f"| {name} | " + " | ".join(_SHORT[c.kind] for c in cells) + " |")
    out.append("")
    out += [f"- U {line}" for line in _modern_reasons(spans, table, "`")] or ["- nothing untranslatable"]
    out.append("")
    return out
