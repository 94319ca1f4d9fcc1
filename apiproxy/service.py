"""Running apiproxy: logging, listeners, and an orderly stop on SIGTERM."""
from __future__ import annotations

import sys
from typing import Any

from twisted.internet.defer import gatherResults, maybeDeferred
from twisted.logger import (FilteringLogObserver, LogLevel, LogLevelFilterPredicate, Logger,
                            globalLogBeginner, textFileLogObserver)

from . import changes, validation
from .config import Config
from .daemon import Daemon
from .listeners import ListenError, listen
from .tls import TLSError
from .proxy import ProxyFactory
from .routing import Settings

log = Logger()

_LEVELS = {"debug": LogLevel.debug, "info": LogLevel.info, "warn": LogLevel.warn,
           "error": LogLevel.error}


def start_logging(level: str) -> None:
    predicate = LogLevelFilterPredicate(defaultLogLevel=_LEVELS[level])
    # Twisted's own info lines (factories starting and stopping) are noise here.
    predicate.setLogLevelForNamespace("twisted", max(_LEVELS[level], LogLevel.warn))
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def start(reactor: Any, config: Config) -> list[Any]:
    """Listen as configured; the daemon is read in the background (it may be down)."""
    # Every schema validator and version change is built now, not on a client's request.
    compiled = validation.compile_all() + len(changes.all_changes())
    log.debug("{count} schemas and version changes compiled", count=compiled)
    daemon = Daemon(reactor, config.upstream, config.target_version, config.upstream_tls)
    daemon.memory.insert_fetch_urls = config.insert_fetch_urls
    settings = Settings(unversioned_version=config.unversioned_version)
    parked: dict[str, list[Any]] = {}
    ports = []
    try:
        for listener in config.listeners:
            factory = ProxyFactory(daemon, settings, listener.policy, parked, config.limits)
            factory.noisy = False
            ports.append(listen(reactor, listener, factory))
    except ListenError:
        for port in ports:
            port.stopListening()
        raise
    daemon.current_info().addErrback(
        lambda failure: log.warn("upstream {upstream} not reachable yet: {why}",
                                 upstream=config.upstream, why=failure.getErrorMessage()))
    reactor.addSystemEventTrigger("before", "shutdown", _stop_all, ports)
    return ports


def _stop_all(ports: list[Any]) -> Any:
    # Returning the Deferreds makes the reactor wait until the sockets are removed.
    return gatherResults([maybeDeferred(port.stopListening) for port in ports])


def run(config: Config) -> int:
    from twisted.internet import reactor

    start_logging(config.log_level)
    status = [0]

    def start_or_stop() -> None:
        try:
            start(reactor, config)
        except (ListenError, TLSError) as error:
            log.critical("{error}", error=str(error))
            status[0] = 1
            reactor.stop()

    # Listen only once the reactor runs: its SIGTERM handler is in place
    # before the socket appears, so a stop right after start still ends cleanly.
    reactor.callWhenRunning(start_or_stop)
    reactor.run()
    return status[0]
