"""The ids legacy clients know, for containers apiproxy had to recreate. Pure.

When a legacy start carries host settings that today's daemons take only at
create, apiproxy recreates the container.  The client keeps the id create
gave it; the new container carries that id in a label, so the mapping lives
on the daemon and is read again after apiproxy restarts.
"""
from __future__ import annotations

from typing import Any, Iterable

LABEL = "apiproxy.legacy-id"


class LegacyIds:
    def __init__(self) -> None:
        self.real_by_legacy: dict[str, str] = {}
        self.legacy_by_real: dict[str, str] = {}

    def record(self, legacy: str, real: str) -> None:
        old = self.real_by_legacy.get(legacy)
        if old is not None:
            self.legacy_by_real.pop(old, None)
        self.real_by_legacy[legacy] = real
        self.legacy_by_real[real] = legacy

    def rebuild(self, containers: Iterable[dict[str, Any]]) -> None:
        """From `GET /containers/json?all=1` rows filtered on the label."""
        self.real_by_legacy.clear()
        self.legacy_by_real.clear()
        for row in containers:
            legacy = (row.get("Labels") or {}).get(LABEL)
            if legacy and row.get("Id"):
                self.record(legacy, row["Id"])

    def to_real(self, ident: str) -> str:
        """The daemon's id for an id or id prefix a legacy client uses; anything else unchanged."""
        if not ident or not self.real_by_legacy:
            return ident
        real = self.real_by_legacy.get(ident)
        if real is not None:
            return real
        matches = [real for legacy, real in self.real_by_legacy.items() if legacy.startswith(ident)]
        return matches[0] if len(matches) == 1 else ident

    def to_legacy(self, real: Any) -> Any:
        if isinstance(real, str):
            return self.legacy_by_real.get(real, real)
        return real
