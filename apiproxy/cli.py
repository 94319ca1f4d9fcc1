"""The `apiproxy` command line."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from apiproxy.ops import config as configuration
from apiproxy.ops.config import ConfigError

DESCRIPTION = "A socket for Docker API v1.0-v1.9 clients in front of today's daemon."
EPILOG = "Every configuration key can also be set by an APIPROXY_* variable (APIPROXY_LOG__FORMAT=json, " \
         "APIPROXY_LISTENERS__0__ENDPOINT=...): command line over environment over file over defaults."
USAGE = """apiproxy [--config FILE] [--listen ENDPOINT]... [--allow-plain-tcp] [--upstream ENDPOINT]
                [--target-version auto|V]
       apiproxy check-config [--print] [FILE]
       apiproxy health [--config FILE] [--listen ENDPOINT]... [--timeout S]
       apiproxy versions [--target V] [--floor V] [--markdown]
       apiproxy config-reference
       apiproxy fidelity [--markdown]
       apiproxy explain [--client-version V] [--target-version V] [--floor V] [--upstream-kind docker|podman]
                        [-H 'NAME: VALUE']... [--response [--status N]] METHOD PATH [< BODY]"""


def with_run_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`parser` with the options of a run: the `apiproxy` command's, and `twist apiproxy`'s."""
    parser.add_argument("--config", metavar="FILE", help="TOML configuration (default: none, built-in defaults)")
    parser.add_argument("--listen", metavar="ENDPOINT", action="append",
                        help="Twisted endpoint to listen on; repeatable; replaces the file's listeners")
    parser.add_argument("--allow-plain-tcp", action="store_true",
                        help="let --listen tcp:... listeners start without TLS (anyone who reaches them has root)")
    parser.add_argument("--upstream", metavar="ENDPOINT", help="the daemon, e.g. unix:/var/run/docker.sock")
    parser.add_argument("--target-version", metavar="auto|V", help="version legacy requests are sent at")
    return parser


def configure(options: argparse.Namespace) -> tuple[configuration.Config, Callable[[], configuration.Config] | None]:
    """The configuration a run starts with (ConfigError if it has problems), and how SIGHUP reads
    it again (None without --config: nothing to read again)."""

    def load() -> configuration.Config:
        """The file with the command line on top: at start, and again on SIGHUP."""
        config = configuration.load(options.config, os.environ, listen=options.listen, upstream=options.upstream,
                                    target_version=options.target_version, allow_plain_tcp=options.allow_plain_tcp)
        _check_with_twisted(config)
        return config

    return load(), load if options.config else None


def print_problems(error: ConfigError) -> None:
    for key, message in error.problems:
        print(f"{key}: {message}" if key else message, file=sys.stderr)


def check_config(argv: list[str]) -> int:
    """The file (if any) with the environment on top, checked as a start would; with --print,
    the effective configuration as TOML."""
    from apiproxy.ops.config_print import toml

    parser = argparse.ArgumentParser(prog="apiproxy check-config", epilog=EPILOG,
                                     description="Check the configuration a start would read: FILE (if given) "
                                                 "with the APIPROXY_* environment variables on top.")
    parser.add_argument("--print", action="store_true", help="write the effective configuration, as TOML")
    parser.add_argument("file", metavar="FILE", nargs="?")
    options = parser.parse_args(argv)
    try:
        data, origins = configuration.effective(options.file, os.environ)
        config = configuration.validate(data, origins)
        _check_with_twisted(config)
    except ConfigError as error:
        print_problems(error)
        return 1
    sys.stdout.write(toml(data, configuration.schema(), origins) if options.print else "OK\n")
    return 0


def health(argv: list[str]) -> int:
    """GET /_ping to the first listener of the configuration the server runs with: 0 on any HTTP
    answer (apiproxy's 502 while the daemon is down too), 1 and a one-line reason otherwise."""
    from apiproxy.ops.health import Unhealthy, target
    from apiproxy.shell.health import check

    parser = with_run_options(argparse.ArgumentParser(
        prog="apiproxy health",
        description="Exit 0 if apiproxy's first listener answers GET /_ping with any HTTP status "
                    "(a container's HEALTHCHECK); takes the options the server was started with."))
    parser.add_argument("--timeout", metavar="S", type=float, default=5.0,
                        help="seconds for connecting and the answer's first line (default %(default)s)")
    options = parser.parse_args(argv)
    try:
        config, _ = configure(options)
        print(check(target(config), options.timeout))
    except ConfigError as error:
        print("unhealthy: the configuration has problems: " + str(error), file=sys.stderr)
        return 1
    except Unhealthy as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    return 0


def _check_with_twisted(config: configuration.Config) -> None:
    """Endpoint strings that only Twisted's parsers can judge."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import clientFromString

    from apiproxy.ops.listen_specs import parse_systemd_listen, parse_unix_listen
    from apiproxy.shell.tls import TLSError, client_endpoint, server_factory

    problems = []
    for index, listener in enumerate(config.listeners):
        # apiproxy makes unix sockets and adopts systemd's itself; whether systemd passed one is
        # known only when it starts.
        if parse_unix_listen(listener.endpoint) is None and parse_systemd_listen(listener.endpoint) is None:
            problems += _invalid_server_endpoint(f"listeners.{index}.endpoint", listener.endpoint)
        if listener.tls is not None:
            try:
                server_factory(listener.tls, None)
            except TLSError as error:
                problems.append((f"listeners.{index}.tls_cert", str(error)))
    if config.metrics_listen:
        problems += _invalid_server_endpoint("metrics.listen", config.metrics_listen)
    try:
        endpoint = clientFromString(reactor, config.upstream)
    except Exception as error:
        problems.append(("upstream.endpoint", f"invalid endpoint: {error}"))
    else:
        if config.upstream_tls is not None:
            try:
                client_endpoint(config.upstream_tls, config.upstream, endpoint)
            except TLSError as error:
                problems.append(("upstream.tls_ca", str(error)))
    if problems:
        raise ConfigError(problems)


def _invalid_server_endpoint(key: str, description: str) -> list[tuple[str, str]]:
    """A problem if Twisted's parser cannot read `description` as a server endpoint."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import serverFromString

    try:
        serverFromString(reactor, description)
    except Exception as error:  # Twisted raises ValueError, TypeError, KeyError...
        return [(key, f"invalid endpoint: {error}")]
    return []


def versions(argv: list[str]) -> int:
    from apiproxy.api.versions import BadVersion, parse_version
    from apiproxy.ops import matrix

    parser = argparse.ArgumentParser(
        prog="apiproxy versions",
        description="The compatibility matrix: how each endpoint is served to each client version.")
    parser.add_argument("--target", default="1.41", help="the version 1.0-1.9 clients are sent at (default 1.41)")
    parser.add_argument("--floor", default="1.44",
                        help="the daemon's oldest version, which clients of 1.10 on below it climb to "
                             "(default 1.44, Docker 29.0's; 1.40 Docker 29.3's, 1.24 Docker 25-28's)")
    parser.add_argument("--markdown", action="store_true", help="write docs/compatibility.md's text to stdout")
    options = parser.parse_args(argv)
    if options.markdown:
        sys.stdout.write(matrix.markdown())
        return 0
    try:
        target, floor = parse_version(options.target), parse_version(options.floor)
    except BadVersion as error:
        parser.error(str(error))
    sys.stdout.write(matrix.text(target) + "\n" + matrix.modern_text(floor))
    return 0


def fidelity(argv: list[str]) -> int:
    from apiproxy.ops import fidelity as audit

    parser = argparse.ArgumentParser(
        prog="apiproxy fidelity",
        description="The fidelity audit: how each field a 2013 client parses reads through apiproxy.")
    parser.add_argument("--markdown", action="store_true", help="write docs/fidelity.md's text to stdout")
    options = parser.parse_args(argv)
    rows = audit.load()
    if options.markdown:
        sys.stdout.write(audit.markdown(rows))
        return 0
    faults = audit.problems(rows) + [f"no row: {audit.uncovered_text(gap)}" for gap in audit.uncovered(rows)]
    print(f"{len(rows)} rows: {audit.counts(rows)}")
    for fault in faults:
        print(fault)
    return 1 if faults else 0


def explain(argv: list[str]) -> int:
    from apiproxy.api.versions import BadVersion, parse_version, split_version_prefix
    from apiproxy.ops import explain as explaining

    parser = argparse.ArgumentParser(
        prog="apiproxy explain",
        description="How apiproxy translates one request (or, with --response, its answer), step by step; "
                    "no daemon is asked. The body is read from stdin.")
    parser.add_argument("method", metavar="METHOD")
    parser.add_argument("path", metavar="PATH", help="path and query, as the client sends it (/vX.Y prefix optional)")
    parser.add_argument("--client-version", metavar="V", help="the client's API version (or a /vX.Y prefix in PATH)")
    parser.add_argument("--target-version", metavar="V",
                        help="the daemon's own API version, which 1.0-1.9 clients are sent at (default "
                             f"{explaining.highest_target()}, or a newer client's own)")
    parser.add_argument("--floor", metavar="V", default=str(explaining.DEFAULT_FLOOR),
                        help="the oldest version the daemon accepts: clients of 1.10 on below it climb to it "
                             "(default %(default)s, Docker 26-28's; Docker 29's is 1.44 or 1.40)")
    parser.add_argument("--upstream-kind", choices=("docker", "podman"), default="docker")
    parser.add_argument("--daemon-version", metavar="V", default="",
                        help="the daemon's release, e.g. 29.1.0: Docker 29's profile (what it dropped at every "
                             "API version) applies from 29 on (default: none)")
    parser.add_argument("-H", dest="headers", metavar="'NAME: VALUE'", action="append", default=[],
                        help="a request header (with --response, a header of the daemon's answer); repeatable")
    parser.add_argument("--response", action="store_true",
                        help="stdin is the daemon's answer: show what the client gets")
    parser.add_argument("--status", metavar="N", type=int, default=200, help="the daemon's answer status (default 200)")
    options = parser.parse_args(argv)
    try:
        client = parse_version(options.client_version) if options.client_version else None
        path = explaining.with_version(options.path, client)
        version = split_version_prefix(path.partition("?")[0]).version
        assert version is not None  # with_version gives it a prefix
        target = parse_version(options.target_version) if options.target_version else \
            explaining.default_target(version)
        question = explaining.Question(
            options.method, path, target,
            options.upstream_kind, [explaining.parse_header(text) for text in options.headers], _stdin_body(),
            options.response, options.status, parse_version(options.floor), options.daemon_version)
    except (BadVersion, ValueError) as error:
        parser.error(str(error))
    answer = explaining.explain(question)
    sys.stdout.write("\n".join(answer.lines) + "\n")
    return answer.exit_code


def _stdin_body() -> bytes:
    """The body piped in, if any: a terminal is no body."""
    if sys.stdin is None or sys.stdin.isatty():
        return b""
    return sys.stdin.buffer.read()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["versions"]:
        return versions(argv[1:])
    if argv == ["config-reference"]:
        from apiproxy.api.datafiles import load_json
        from apiproxy.ops.config_reference import reference

        sys.stdout.write(reference(load_json("config.schema.json")))
        return 0
    if argv[:1] == ["explain"]:
        return explain(argv[1:])
    if argv[:1] == ["fidelity"]:
        return fidelity(argv[1:])
    if argv[:1] == ["health"]:
        return health(argv[1:])
    if argv[:1] == ["check-config"]:
        return check_config(argv[1:])
    parser = with_run_options(argparse.ArgumentParser(prog="apiproxy", usage=USAGE, description=DESCRIPTION,
                                                      epilog=EPILOG))
    try:
        config, reload = configure(parser.parse_args(argv))
    except ConfigError as error:
        print_problems(error)
        return 1
    from apiproxy.shell.service import run

    return run(config, reload)


if __name__ == "__main__":
    sys.exit(main())
