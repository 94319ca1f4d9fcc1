"""A listener's access policy: which requests it lets through to the daemon. Pure.

Rules name groups of endpoints (`containers`, `exec`, `system`…) or one
endpoint as `METHOD /route/template`. They apply to the path after its
version prefix, whatever the version (2013, today's, or Podman's
`/v4.0.0/libpod/…`), on the normalised path apiproxy forwards.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from apiproxy.api.routes import compile_template, match_legacy

GROUPS = ("containers", "images", "exec", "build", "events", "volumes", "networks", "auth", "system")

# Today's endpoints by group, first match wins; 2013 endpoints carry their group in endpoints.json.
_MODERN_GROUPS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), group) for pattern, group in (
    (r"/containers/[^/]+/exec\Z", "exec"),  # creating an exec is running a command
    (r"/exec/", "exec"),
    (r"/containers(/|\Z)", "containers"),
    (r"/(images|commit|search|distribution)(/|\Z)", "images"),
    (r"/(build|session)(/|\Z)", "build"),  # BuildKit's session is a build's
    (r"/events\Z", "events"),
    (r"/volumes(/|\Z)", "volumes"),
    (r"/networks(/|\Z)", "networks"),
    (r"/auth\Z", "auth"),
    (r"/(_ping|version|info)\Z|/system/", "system"),
))
# Podman's own API ("/v4.0.0/libpod/containers/…") names the same resources.
_ANY_VERSION_PREFIX = re.compile(r"/v[0-9][0-9.]*(?=/|\Z)")
_LIBPOD_PREFIX = re.compile(r"/libpod(?=/|\Z)")
_READ_METHODS = ("GET", "HEAD")


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    text: str  # as the configuration wrote it, for messages
    group: str | None = None
    method: str | None = None
    pattern: re.Pattern[str] | None = None

    def matches(self, method: str, path: str, group: str | None) -> bool:
        if self.group is not None:
            return self.group == group
        assert self.pattern is not None
        return method == self.method and bool(self.pattern.match(path))


def parse_rule(text: str) -> Rule:
    """A group name, or `METHOD /route/template` ({name} spans slashes, as image names do)."""
    if text in GROUPS:
        return Rule(text, group=text)
    method, _, template = text.partition(" ")
    if not re.fullmatch(r"[A-Z]+", method) or not template.startswith("/") or " " in template.strip():
        raise PolicyError(f"{text!r} is neither a group ({', '.join(GROUPS)}) nor 'METHOD /route/template'")
    return Rule(text, method=method, pattern=compile_template(template.strip().rstrip("/") or "/"))


def policy_path(path: str) -> str:
    """The path rules see: without any version prefix or Podman's /libpod."""
    path = path.split("?", 1)[0]
    prefix = _ANY_VERSION_PREFIX.match(path)
    if prefix:
        path = path[prefix.end():] or "/"
    libpod = _LIBPOD_PREFIX.match(path)
    if libpod:
        path = path[libpod.end():] or "/"
    return path.rstrip("/") or "/"


def group_of(method: str, path: str) -> str | None:
    route = match_legacy(method, path)
    if route is not None:
        return route.group
    return next((group for pattern, group in _MODERN_GROUPS if pattern.match(path)), None)


@dataclass(frozen=True)
class Policy:
    read_only: bool = False
    allow: tuple[Rule, ...] | None = None  # None: everything not denied
    deny: tuple[Rule, ...] = ()

    @classmethod
    def parse(cls, table: dict[str, object]) -> Policy:
        def rules(key: str) -> tuple[Rule, ...]:
            entries = table.get(key, [])
            assert isinstance(entries, list)
            return tuple(parse_rule(str(entry)) for entry in entries)
        return cls(read_only=bool(table.get("read_only", False)),
                   allow=rules("allow") if "allow" in table else None, deny=rules("deny"))

    @property
    def open(self) -> bool:
        return not self.read_only and self.allow is None and not self.deny

    def refusal(self, method: str, target: str, upgrade: bool = False) -> str | None:
        """Why the policy refuses this request, naming the rule, or None if it may pass."""
        if self.open:
            return None
        path = policy_path(target)
        group = group_of(method, path)
        what = f"{method} {path}" + (f" ({group})" if group else "")
        for rule in self.deny:
            if rule.matches(method, path, group):
                return f"access denied by this socket's policy: {what} is denied by rule {rule.text!r}"
        if self.read_only and (method not in _READ_METHODS or upgrade or path.endswith("/attach/ws")):
            # A websocket attach is a GET that writes to the container's stdin.
            return f"access denied by this socket's policy: {what} is not read-only (read_only = true)"
        if self.allow is not None and not any(rule.matches(method, path, group) for rule in self.allow):
            return f"access denied by this socket's policy: {what} is not in its allow list"
        return None
