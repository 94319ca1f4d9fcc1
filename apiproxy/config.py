"""The configuration: TOML, checked against schemas/config.schema.json. Pure but for reading files."""
from __future__ import annotations

import grp
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

import jsonschema

from .endpoints import EndpointError, parse_mode, parse_unix_listen
from .datafiles import load_json
from .versions import BadVersion, Version, parse_version

DEFAULT_UPSTREAM = "unix:/var/run/docker.sock"
DEFAULT_GROUP = "docker"


class ConfigError(Exception):
    """One or more problems, each as (dotted key path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {message}" if key else message for key, message in problems))
        self.problems = problems


@dataclass(frozen=True)
class Listener:
    endpoint: str
    mode: int  # for unix sockets
    group: str | None  # None: leave the socket's group as created


@dataclass(frozen=True)
class Config:
    listeners: tuple[Listener, ...]
    upstream: str
    target_version: Version | None  # None: auto
    unversioned_version: Version
    log_level: str
    insert_fetch_urls: bool = True


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = load_json("config.schema.json")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise ConfigError([("", f"cannot read {path}: {error.strerror}")]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([("", f"{path}: TOML syntax error: {error}")]) from None


def _dotted(parts: Iterable[Any]) -> str:
    return ".".join(str(part) for part in parts)


def _schema_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for error in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.path))):
        where = list(error.absolute_path)
        if error.validator == "additionalProperties":
            allowed = set(error.schema.get("properties", {}))
            for extra in sorted(set(error.instance) - allowed):
                problems.append((_dotted(where + [extra]), "unknown key"))
        else:
            problems.append((_dotted(where), error.message))
    return problems


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _build(data: dict[str, Any]) -> tuple[Config | None, list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []

    def version(key: str, text: str) -> Version | None:
        try:
            return parse_version(text)
        except BadVersion as error:
            problems.append((key, str(error)))
            return None

    upstream = data.get("upstream", {})
    target_text = upstream.get("target_version", "auto")
    target = None if target_text == "auto" else version("upstream.target_version", target_text)
    unversioned = version("unversioned_version", data.get("unversioned_version", "1.9"))
    listeners = []
    for index, entry in enumerate(data.get("listeners", [])):
        key = f"listeners.{index}"
        try:
            unix = parse_unix_listen(entry["endpoint"])
        except EndpointError as error:
            problems.append((f"{key}.endpoint", str(error)))
            continue
        mode = unix.mode if unix and unix.mode is not None else 0o660
        if "mode" in entry:
            try:
                mode = parse_mode(entry["mode"])
            except EndpointError as error:
                problems.append((f"{key}.mode", str(error)))
        group = entry.get("group")
        if group is not None and not _group_exists(group):
            problems.append((f"{key}.group", f"no such group {group!r}"))
        if group is None and _group_exists(DEFAULT_GROUP):
            group = DEFAULT_GROUP
        listeners.append(Listener(entry["endpoint"], mode, group))
    if not listeners and not problems:
        problems.append(("listeners", "no listener: give --listen or [[listeners]] in the config file"))
    if problems or unversioned is None:
        return None, problems
    config = Config(
        listeners=tuple(listeners),
        upstream=upstream.get("endpoint", DEFAULT_UPSTREAM),
        target_version=target,
        unversioned_version=unversioned,
        log_level=data.get("log", {}).get("level", "info"),
        insert_fetch_urls=data.get("insert_fetch_urls", True),
    )
    return config, problems


def validate(data: dict[str, Any]) -> Config:
    problems = _schema_problems(data)
    if problems:
        raise ConfigError(problems)
    config, problems = _build(data)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def with_overrides(data: dict[str, Any], listen: list[str] | None = None, upstream: str | None = None,
                   target_version: str | None = None) -> dict[str, Any]:
    """The file's data with command-line options on top: any --listen replaces all listeners."""
    data = dict(data)
    if listen:
        data["listeners"] = [{"endpoint": endpoint} for endpoint in listen]
    if upstream is not None or target_version is not None:
        table = dict(data.get("upstream", {}))
        if upstream is not None:
            table["endpoint"] = upstream
        if target_version is not None:
            table["target_version"] = target_version
        data["upstream"] = table
    return data


def load(path: str | None, **overrides: Any) -> Config:
    data = read_toml(path) if path else {}
    return validate(with_overrides(data, **overrides))
