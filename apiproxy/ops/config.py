"""The configuration: TOML and APIPROXY_* variables, checked against schemas/config.schema.json.
Pure but for reading files."""
from __future__ import annotations

import grp
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

import jsonschema

from apiproxy.api.datafiles import load_json
from apiproxy.api.policy import Policy, PolicyError
from apiproxy.api.upstream_info import newest_known
from apiproxy.api.versions import BadVersion, Version, parse_version
from apiproxy.ops import config_env
from apiproxy.ops.listen_specs import EndpointError, UnixListen, parse_mode, parse_systemd_listen, parse_unix_listen
from apiproxy.ops.state_file import writable

DEFAULT_UPSTREAM = "unix:/var/run/docker.sock"
DEFAULT_GROUP = "docker"


class ConfigError(Exception):
    """One or more problems, each as (dotted key path, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {message}" if key else message for key, message in problems))
        self.problems = problems


@dataclass(frozen=True)
class TLSFiles:
    """PEM files: a certificate and its key (both or neither), and the CA that signs the peer's."""
    cert: str | None = None
    key: str | None = None
    ca: str | None = None


@dataclass(frozen=True)
class Listener:
    endpoint: str
    mode: int  # for unix sockets apiproxy makes (not those systemd passes)
    group: str | None  # None: leave the socket's group as created
    tls: TLSFiles | None = None  # a TLS listener; with tls.ca, client certificates are required
    policy: Policy = field(default_factory=Policy)
    plain_tcp: bool = False  # a tcp listener without TLS, allowed by allow_plain_tcp: warned about
    max_connections: int | None = None  # None: default_max_connections at start


# What a connection may hold: the client's socket, the daemon's, and up to 4 pipes of a spliced stream.
DESCRIPTORS_PER_CONNECTION = 6
# What the process holds besides connections: the interpreter's, the reactor's, listeners, logs.
RESERVED_DESCRIPTORS = 32


def default_max_connections(open_files: int, listeners: int) -> int:
    """A listener's max_connections when the configuration gives none: the open-file limit shared
    out, so that every listener filled at once with spliced streams still stays under it."""
    spare = min(open_files, 1 << 20) - RESERVED_DESCRIPTORS
    return max(1, spare // DESCRIPTORS_PER_CONNECTION // max(1, listeners))


@dataclass(frozen=True)
class Limits:
    max_head_bytes: int = 64 * 1024
    max_headers: int = 200
    max_json_body: int = 16 << 20
    head_timeout: float = 60.0
    body_timeout: float = 60.0
    idle_timeout: float = 300.0  # 0: never


@dataclass(frozen=True)
class LogSettings:
    level: str = "info"
    format: str = "text"  # or json
    access: str = "stderr"  # or off, or a file's path


@dataclass(frozen=True)
class Config:
    listeners: tuple[Listener, ...]
    upstream: str
    target_version: Version | None  # None: auto
    unversioned_version: Version | None  # None: auto, the advertised version
    advertise_version: Version | None = None  # None: auto, the daemon's capped at the newest known
    log: LogSettings = field(default_factory=LogSettings)
    insert_fetch_urls: bool = True
    upstream_tls: TLSFiles | None = None
    limits: Limits = field(default_factory=Limits)
    grace_period: float = 10.0  # after SIGTERM, for running requests and streams
    metrics_listen: str | None = None  # where /metrics is served; None: nowhere
    splice: bool = True  # [streams] splice: unchanged bytes move socket to socket with splice(2)
    state_file: str | None = None  # where the memory for legacy clients outlives a restart; None: nowhere


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = load_json("config.schema.json")
    return loaded


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    return cls(schema())


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
            # The schema of an additionalProperties error is an object's, its instance a table.
            assert isinstance(error.schema, Mapping) and isinstance(error.instance, Mapping)
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
    unversioned_text = data.get("unversioned_version", "auto")
    unversioned = None if unversioned_text == "auto" else version("unversioned_version", unversioned_text)
    advertise_text = upstream.get("advertise_version", "auto")
    advertise = None if advertise_text == "auto" else version("upstream.advertise_version", advertise_text)
    if advertise is not None:
        problems.extend(_advertisable(advertise))
    listeners = []
    for index, entry in enumerate(data.get("listeners", [])):
        key = f"listeners.{index}"
        try:
            unix = parse_unix_listen(entry["endpoint"])
            inherited = parse_systemd_listen(entry["endpoint"])
        except EndpointError as error:
            problems.append((f"{key}.endpoint", str(error)))
            continue
        if inherited is None:
            mode, group = _permissions(entry, key, unix, problems)
        else:
            mode, group = 0o660, None  # neither is applied: systemd's socket unit set them
            problems.extend(_owned_by_systemd(entry, key))
        tls = _tls_files(entry, key, problems)
        kind = entry["endpoint"].split(":", 1)[0].lower()
        plain_tcp = kind in ("tcp", "tcp6") and tls is None
        if kind == "ssl":
            problems.append((f"{key}.endpoint", "use a tcp: endpoint with tls_cert and tls_key (and tls_ca to "
                                                "require client certificates) rather than ssl:"))
        elif plain_tcp and not entry.get("allow_plain_tcp", False):
            problems.append((f"{key}.endpoint", "a plain TCP listener gives anyone who reaches it root on this host: "
                                                "set tls_cert and tls_key (and tls_ca), or allow_plain_tcp = true"))
        if tls is not None and (unix is not None or inherited is not None):
            problems.append((f"{key}.tls_cert", "TLS is for tcp: listeners; a unix socket is guarded by its mode"))
        policy = Policy()
        try:
            policy = Policy.parse(entry.get("policy", {}))
        except PolicyError as error:
            problems.append((f"{key}.policy", str(error)))
        listeners.append(Listener(entry["endpoint"], mode, group, tls, policy, plain_tcp,
                                  entry.get("max_connections")))
    if not listeners and not problems:
        problems.append(("listeners", "no listener: give --listen or [[listeners]] in the config file"))
    upstream_tls = _tls_files(upstream, "upstream", problems, ca_needed=False)
    log = LogSettings(**data.get("log", {}))
    if log.access not in ("stderr", "off") and not _appendable(log.access):
        problems.append(("log.access", f"cannot append to {log.access}"))
    state_file = data.get("state_file")
    if state_file is not None and not writable(state_file):
        problems.append(("state_file", f"cannot write {state_file} (its directory must be writable)"))
    if problems:
        return None, problems
    config = Config(
        listeners=tuple(listeners),
        upstream=upstream.get("endpoint", DEFAULT_UPSTREAM),
        target_version=target,
        unversioned_version=unversioned,
        advertise_version=advertise,
        log=log,
        insert_fetch_urls=data.get("insert_fetch_urls", True),
        upstream_tls=upstream_tls,
        limits=Limits(**data.get("limits", {})),
        grace_period=data.get("grace_period", 10.0),
        metrics_listen=data.get("metrics", {}).get("listen"),
        splice=data.get("streams", {}).get("splice", True),
        state_file=state_file,
    )
    return config, problems


def _advertisable(version: Version) -> list[tuple[str, str]]:
    """A pinned advertised version is one a negotiating client can be served at: not a 2013 one
    (it would get 2013 shapes), nor one above the newest whose changes apiproxy knows."""
    oldest, newest = Version(1, 10), newest_known()
    if version < oldest:
        problem = f"{version} is a 2013 version, whose answers a negotiating client cannot read: " \
                  f"give {oldest} or later"
    elif version > newest:
        problem = f"apiproxy knows the version changes up to {newest}: give {newest} or lower"
    else:
        return []
    return [("upstream.advertise_version", problem)]


def _permissions(entry: dict[str, Any], key: str, unix: UnixListen | None,
                 problems: list[tuple[str, str]]) -> tuple[int, str | None]:
    """A socket's mode (the endpoint's mode=, which the mode key overrides) and group."""
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
    return mode, group


def _owned_by_systemd(entry: dict[str, Any], key: str) -> list[tuple[str, str]]:
    """A socket systemd passes keeps the owner and mode its socket unit gave it: apiproxy sets neither."""
    unit_setting = {"mode": "SocketMode=", "group": "SocketGroup="}
    return [(f"{key}.{name}", f"systemd made this socket: set {setting} in its socket unit instead")
            for name, setting in unit_setting.items() if name in entry]


def _appendable(path: str) -> bool:
    if os.path.exists(path):
        return os.path.isfile(path) and os.access(path, os.W_OK)
    return os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)


def _tls_files(table: dict[str, Any], key: str, problems: list[tuple[str, str]],
               ca_needed: bool = True) -> TLSFiles | None:
    """The table's tls_* files, each readable; a listener needs a certificate and key, an upstream
    at least a CA (its own certificate and key are optional, both or neither)."""
    files = {name: table.get(f"tls_{name}") for name in ("cert", "key", "ca")}
    if not any(files.values()):
        return None
    for name, path in files.items():
        if path is not None and not os.access(path, os.R_OK):
            problems.append((f"{key}.tls_{name}", f"cannot read {path}"))
    if bool(files["cert"]) != bool(files["key"]):
        problems.append((f"{key}.tls_cert", "tls_cert and tls_key go together"))
    elif ca_needed and not files["cert"]:
        problems.append((f"{key}.tls_cert", "a TLS listener needs tls_cert and tls_key"))
    elif not ca_needed and not files["ca"]:
        problems.append((f"{key}.tls_ca", "a TLS upstream needs tls_ca, the CA that signed the daemon's certificate"))
    return TLSFiles(**files)


def validate(data: dict[str, Any], origins: Mapping[str, str] | None = None) -> Config:
    """The Config of `data`; ConfigError naming each problem's key, and the variable it came
    from when `origins` (dotted key: variable) says it came from the environment."""
    problems = _schema_problems(data)
    config = None
    if not problems:
        config, problems = _build(data)
    if problems or config is None:
        raise ConfigError([(config_env.name_variables(key, origins or {}), message) for key, message in problems])
    return config


def with_overrides(data: dict[str, Any], listen: list[str] | None = None, upstream: str | None = None,
                   target_version: str | None = None, allow_plain_tcp: bool = False) -> dict[str, Any]:
    """The file's data with command-line options on top: any --listen replaces all listeners."""
    data = dict(data)
    if listen:
        data["listeners"] = [{"endpoint": endpoint, **({"allow_plain_tcp": True} if allow_plain_tcp else {})}
                             for endpoint in listen]
    if upstream is not None or target_version is not None:
        table = dict(data.get("upstream", {}))
        if upstream is not None:
            table["endpoint"] = upstream
        if target_version is not None:
            table["target_version"] = target_version
        data["upstream"] = table
    return data


def effective(path: str | None, environ: Mapping[str, str] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The file's data (none without a path) with the environment's APIPROXY_* settings on top,
    and which variable set each dotted key; ConfigError naming a variable that is no setting or
    does not parse."""
    data = read_toml(path) if path else {}
    if not environ:
        return data, {}
    try:
        in_file = data.get("listeners")
        settings, origins = config_env.read(environ, schema(), len(in_file) if isinstance(in_file, list) else 0)
    except config_env.VariableError as error:
        raise ConfigError(error.problems) from None
    return config_env.merged(data, settings), origins


def load(path: str | None, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """The configuration: command line (`overrides`) over environment over file over defaults."""
    data, origins = effective(path, environ)
    overridden = {"listeners"} if overrides.get("listen") else set()
    overridden |= {f"upstream.{key}" for key, option in (("endpoint", "upstream"), ("target_version", "target_version"))
                   if overrides.get(option) is not None}
    origins = {key: name for key, name in origins.items()
               if not any(key == gone or key.startswith(gone + ".") for gone in overridden)}
    return validate(with_overrides(data, **overrides), origins)
