"""Where log events go: apiproxy's messages to stderr, the access log as configured.

One observer is installed for the process's life; SIGHUP gives it new
settings (level, format, the access log's file, reopened for log rotation).
Under `twist`, which installs an observer of its own, apiproxy's events still
go through this router, and only Twisted's through twist's observer.

Access lines are off the answer's path: held until the reactor's next turn
(the answer has left by then), then formatted and written in one write. Any
other message, a new configuration and the process's end write them first,
so no line is lost or put out of order.
"""
from __future__ import annotations

import atexit
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from twisted.logger import (FilteringLogObserver, ILogObserver, LogLevel, LogLevelFilterPredicate, Logger,
                            eventAsJSON, formatEventAsClassicLogText, formatTime, globalLogBeginner,
                            jsonFileLogObserver, textFileLogObserver)
from zope.interface import implementer

from apiproxy.ops.access import ACCESS_NAMESPACE
from apiproxy.ops.config import LogSettings
from apiproxy.ops.metrics import OUT_OF_DESCRIPTORS

_LEVELS = {"debug": LogLevel.debug, "info": LogLevel.info, "warn": LogLevel.warn, "error": LogLevel.error}


def _observer(stream: IO[str], form: str) -> ILogObserver:
    # JSON lines (no record separator): what log shippers and jq read.
    return jsonFileLogObserver(stream, recordSeparator="") if form == "json" else textFileLogObserver(stream)


_listeners_log = Logger(namespace="apiproxy.listeners")


class AcceptFailures:
    """Accepts that fail for lack of file descriptors, told once per burst.

    Twisted's ports handle EMFILE and ENFILE themselves (twisted.internet.tcp._accept: at EMFILE
    the descriptor they keep in reserve is freed, and every waiting connection accepted and
    closed unanswered) and say so only at info level, in their own namespace, which apiproxy's
    log leaves out. Their events are watched here instead: the first of a burst is a warning,
    and the burst ends, with a line counting what it closed, at the first connection accepted
    QUIET seconds after its last failure (a failure that much later starts another).
    """

    QUIET = 10.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last_failure: float | None = None  # None: no burst
        self.closed = 0

    def observe(self, event: dict[str, Any]) -> None:
        """Any event: only Twisted's ports' accept failures count."""
        if not str(event.get("log_namespace", "")).startswith("twisted.internet."):
            return
        text = str(event.get("log_format", ""))
        if text.startswith("EMFILE recovery: Closed socket"):
            self.closed += 1
            OUT_OF_DESCRIPTORS.inc()
        elif text.startswith("EMFILE encountered"):
            self._failed("EMFILE")
        elif text.startswith("Could not accept new connection") and event.get("acceptError") in ("EMFILE", "ENFILE"):
            self._failed(str(event["acceptError"]))

    def _failed(self, error: str) -> None:
        now = self.clock()
        if self.last_failure is None or now - self.last_failure >= self.QUIET:
            _listeners_log.warn("out of file descriptors ({error}): new connections on every listener are closed "
                          "unanswered until some close; lower max_connections or raise the open-file limit "
                          "(LimitNOFILE=, ulimit -n)", error=error)
        self.last_failure = now

    def accepted(self) -> None:
        """A connection was accepted: the end of a burst, if its last failure is QUIET seconds old."""
        if self.last_failure is not None and self.clock() - self.last_failure >= self.QUIET:
            _listeners_log.info("accepting again: {closed} connections were closed unanswered for lack of file "
                          "descriptors", closed=self.closed)
            self.last_failure, self.closed = None, 0


ACCEPT_FAILURES = AcceptFailures()


class _SecondStamps:
    """Twisted's text timestamp, made once per second rather than once per line."""

    def __init__(self) -> None:
        self.second = -1
        self.text = "-"

    def __call__(self, when: float | None) -> str:
        if when is None:
            return "-"
        second = int(when)
        if second != self.second:
            self.second, self.text = second, formatTime(second)
        return self.text


class AccessLines:
    """Access events held, then formatted and written to their stream in one write.

    The text lines are those of Twisted's text observer, made without its
    general formatter (the access line's format needs none of its features).
    """

    def __init__(self, stream: IO[str], form: str) -> None:
        self.stream = stream
        self.form = form
        self.held: list[dict[str, Any]] = []
        self.stamp = _SecondStamps()

    def __call__(self, event: dict[str, Any]) -> None:
        self.held.append(event)

    def _line(self, event: dict[str, Any]) -> str:
        if self.form == "json":
            return f"{eventAsJSON(event)}\n"
        try:
            level = event.get("log_level")
            system = event.get("log_system") or f"{event.get('log_namespace', '-')}#{level.name if level else '-'}"
            line = f"{self.stamp(event.get('log_time'))} [{system}] {event['log_format'].format_map(event)}"
            return (line.replace("\n", "\n\t") if "\n" in line else line) + "\n"
        except Exception:  # anything unusual: Twisted's own formatter, as any other event
            return formatEventAsClassicLogText(event) or ""

    def flush(self) -> None:
        if not self.held:
            return
        held, self.held = self.held, []
        try:
            self.stream.write("".join(map(self._line, held)))
            self.stream.flush()
        except (OSError, ValueError):  # a full disk, a closed stream: the proxy goes on, as Twisted's observer does
            pass


@implementer(ILogObserver)
class LogRouter:
    def __init__(self, stderr: IO[str] | None = None) -> None:
        self.stderr = stderr or sys.stderr
        self.messages: ILogObserver = _observer(self.stderr, "text")
        self.access: AccessLines | None = AccessLines(self.stderr, "text")
        self.access_file: IO[str] | None = None
        # None: access lines are written at once; else how a flush is put off to the reactor's next turn.
        self.defer: Callable[[Callable[[], None]], object] | None = None
        self.flush_pending = False

    def flush(self) -> None:
        """Write the access lines held so far."""
        self.flush_pending = False
        if self.access is not None:
            self.access.flush()

    def defer_with(self, reactor: Any = None) -> None:
        """Put access lines off to the reactor's next turn (the answer is out by then).

        No `reactor`: the global one, imported at the first line only: under `twist`, logging is set up
        while options are read, before twist installs the reactor it was told to.
        """
        def defer(flush: Callable[[], None]) -> object:
            if reactor is None:
                from twisted.internet import reactor as installed
                return installed.callLater(0, flush)
            return reactor.callLater(0, flush)

        self.defer = defer
        atexit.register(self.flush)

    def configure(self, settings: LogSettings) -> None:
        """Apply `settings`; a file that cannot be opened raises OSError and nothing changes."""
        new_file = open(settings.access, "a", buffering=1) if settings.access not in ("stderr", "off") else None
        self.flush()  # lines held so far go where they were bound (the old file, for log rotation)
        level = _LEVELS[settings.level]
        predicate = LogLevelFilterPredicate(defaultLogLevel=level)
        # Twisted's own info lines (ports opening and closing) are noise here, however they are logged.
        for namespace in ("twisted", "log_legacy"):
            predicate.setLogLevelForNamespace(namespace, max(level, LogLevel.warn))
        stderr = _observer(self.stderr, settings.format)
        self.messages = FilteringLogObserver(stderr, [predicate])
        old_file, self.access_file = self.access_file, new_file
        self.access = None if settings.access == "off" else \
            AccessLines(new_file if new_file is not None else self.stderr, settings.format)
        if old_file is not None:
            old_file.close()

    def __call__(self, event: dict[str, Any]) -> None:
        ACCEPT_FAILURES.observe(event)
        if event.get("log_namespace") == ACCESS_NAMESPACE:
            if self.access is None:
                return
            self.access(event)
            if self.defer is None:
                self.access.flush()
            elif not self.flush_pending:
                self.flush_pending = True
                self.defer(self.flush)
        else:
            self.flush()  # in order, when both go to stderr
            self.messages(event)


ROUTER = LogRouter()


def start_logging(settings: LogSettings) -> None:
    """The `apiproxy` command's logging: every event goes through ROUTER."""
    ROUTER.configure(settings)
    ROUTER.defer_with()
    globalLogBeginner.beginLoggingTo([ROUTER], redirectStandardIO=False)


ObserverFactory = Callable[[IO[str]], ILogObserver]


@implementer(ILogObserver)
class BesideTwist:
    """apiproxy's events to ROUTER, any other to the observer twist made (its --log-file)."""

    def __init__(self, twist_observer: ILogObserver) -> None:
        self.twist_observer = twist_observer

    def __call__(self, event: dict[str, Any]) -> None:
        namespace = event.get("log_namespace") or ""
        if namespace.partition(".")[0] != "apiproxy":
            ACCEPT_FAILURES.observe(event)  # ROUTER sees apiproxy's alone here
        (ROUTER if namespace.partition(".")[0] == "apiproxy" else self.twist_observer)(event)


def start_logging_beside_twist(settings: LogSettings, twist_observer: ObserverFactory) -> ObserverFactory:
    """Under `twist`, which begins logging itself: what twist should make its observer with, so
    that apiproxy's messages and access log go where `[log]` says, each line once, and Twisted's
    where twist's options say (twist's --log-level filters both first)."""
    ROUTER.configure(settings)
    ROUTER.defer_with()
    return lambda stream: BesideTwist(twist_observer(stream))
