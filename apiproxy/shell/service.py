"""Running apiproxy: logging, listeners, a reload on SIGHUP and an orderly stop on SIGTERM."""
from __future__ import annotations

import resource
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from twisted.application import service as application
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from apiproxy.api import validation
from apiproxy.api.routes import legacy_routes, modern_routes
from apiproxy.api.upstream_info import known_versions, newest_known
from apiproxy.ops import metrics, state_file
from apiproxy.ops.config import Config, ConfigError, Listener, default_max_connections
from apiproxy.shell.daemon import Daemon
from apiproxy.shell.listeners import ListenError, listen, set_permissions
from apiproxy.shell.logs import ACCEPT_FAILURES, ROUTER, start_logging
from apiproxy.shell.proxy import ProxyFactory
from apiproxy.translation import changes
from apiproxy.translation.routing import Settings

log = Logger(namespace="apiproxy.service")  # the name its log lines have always carried
# Seconds between looks at whether the memory for legacy clients changed, to write state_file.
STATE_INTERVAL = 5.0


class MetricsPage(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", metrics.CONTENT_TYPE.encode())
        return metrics.exposition()


class _MetricsSite(Site):
    noisy = False

    def log(self, request: http.Request) -> None:
        """Scrapes are not the daemon's requests: no access lines."""


def metrics_site() -> Site:
    root = Resource()
    root.putChild(b"metrics", MetricsPage())
    return _MetricsSite(root)


class Service:
    """The running apiproxy: one daemon, one factory and port per listener.

    SIGHUP re-reads the configuration: listeners come and go, policies and
    limits change, established connections stay. SIGTERM stops accepting,
    lets running requests and streams end within the grace period, then
    closes what is left.
    """

    def __init__(self, reactor: Any, config: Config, reload: Callable[[], Config] | None = None) -> None:
        self.reactor = reactor
        self.config = config
        self.reload_config = reload
        self.daemon = Daemon(reactor, config.upstream, config.target_version, config.upstream_tls)
        self.daemon.memory.insert_fetch_urls = config.insert_fetch_urls
        self.settings = Settings(config.unversioned_version, config.advertise_version)
        self.parked: dict[str, list[Any]] = {}  # attaches awaiting a start, whichever listener
        self.listening: dict[Listener, tuple[ProxyFactory, Any]] = {}
        self.stopping = False
        self.metrics_port: Any = None
        self.state_saver: LoopingCall | None = None
        self.state_written = b""  # what state_file holds, as far as apiproxy knows
        self.state_problem = ""  # the last error writing it, said once
        # The soft limit at start: what max_connections' default shares out among the listeners.
        self.open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if self.open_files == resource.RLIM_INFINITY:
            self.open_files = 1 << 20

    def max_connections(self, listener: Listener, config: Config) -> int:
        return listener.max_connections or default_max_connections(self.open_files, len(config.listeners))

    def start(self) -> None:
        """Listen as configured; the daemon is read in the background (it may be down)."""
        # Every schema validator, version change, profile and route table is read now, not on a
        # client's request: a data file opened then could fail for lack of descriptors.
        compiled = validation.compile_all() + len(changes.all_changes()) + changes.all_profiles() + \
            len(legacy_routes()) + len(modern_routes()) + len(known_versions()[0])
        newest_known()
        log.debug("{count} schemas, version changes, profiles and routes read", count=compiled)
        self._read_state()
        self._listen_all(self.config.listeners)
        if self.config.metrics_listen:
            d = serverFromString(self.reactor, self.config.metrics_listen).listen(metrics_site())
            d.addCallbacks(self._metrics_listening, lambda failure: log.error(
                "cannot serve metrics on {endpoint}: {why}", endpoint=self.config.metrics_listen,
                why=failure.getErrorMessage()))
        self.daemon.current_info().addErrback(
            lambda failure: log.warn("upstream {upstream} not reachable yet: {why}",
                                     upstream=self.config.upstream, why=failure.getErrorMessage()))

    def _read_state(self) -> None:
        path = self.config.state_file
        if path is None:
            return
        try:
            count = state_file.load(path, self.daemon.memory)
        except state_file.StateError as error:
            log.warn("state_file: {error}; nothing remembered from before", error=str(error))
        else:
            log.info("state_file {path}: {count} remembered entries read", path=path, count=count)
        self.state_written = state_file.snapshot(self.daemon.memory)
        self.state_saver = LoopingCall(self.save_state)
        self.state_saver.clock = self.reactor
        self.state_saver.start(STATE_INTERVAL, now=False)

    def save_state(self) -> None:
        """Write state_file if the memory changed since it was last written."""
        path = self.config.state_file
        if path is None:
            return
        data = state_file.snapshot(self.daemon.memory)
        if data == self.state_written:
            return
        try:
            state_file.save(path, data)
        except state_file.StateError as error:
            if str(error) != self.state_problem:
                log.error("state_file: {error}; apiproxy tries again in {interval:g} s", error=str(error),
                          interval=STATE_INTERVAL)
            self.state_problem = str(error)
            return
        self.state_written, self.state_problem = data, ""

    def _metrics_listening(self, port: Any) -> None:
        self.metrics_port = port
        log.info("metrics at {endpoint}, path /metrics", endpoint=self.config.metrics_listen)

    def _listen_all(self, listeners: Iterable[Listener], config: Config | None = None) -> None:
        config = config or self.config
        started: list[Listener] = []
        try:
            for listener in listeners:
                factory = ProxyFactory(self.daemon, self.settings, listener.policy, self.parked, config.limits,
                                       max_connections=self.max_connections(listener, config),
                                       name=listener.endpoint, on_accept=ACCEPT_FAILURES.accepted,
                                       splice=config.splice)
                factory.noisy = False
                self.listening[listener] = (factory, listen(self.reactor, listener, factory))
                log.info("{endpoint}: at most {count} connections at once (max_connections)",
                         endpoint=listener.endpoint, count=factory.max_connections)
                started.append(listener)
        except ListenError:
            for listener in started:
                self.listening.pop(listener)[1].stopListening()
            raise

    def reload(self) -> None:
        """The configuration anew; a bad one is refused and the running one stays."""
        if self.reload_config is None or self.stopping:
            log.warn("SIGHUP: no configuration file to read again")
            return
        try:
            new = self.reload_config()
        except ConfigError as error:
            log.error("SIGHUP: the new configuration is refused, the running one stays: {error}", error=str(error))
            return
        if (new.upstream, new.upstream_tls, new.target_version, new.unversioned_version, new.advertise_version) != \
                (self.config.upstream, self.config.upstream_tls, self.config.target_version,
                 self.config.unversioned_version, self.config.advertise_version):
            log.warn("SIGHUP: upstream and version settings change only with a restart; they stay as they were")
        if new.metrics_listen != self.config.metrics_listen:
            log.warn("SIGHUP: [metrics] listen changes only with a restart; it stays as it was")
            new = replace(new, metrics_listen=self.config.metrics_listen)
        if new.state_file != self.config.state_file:
            log.warn("SIGHUP: state_file changes only with a restart; it stays as it was")
            new = replace(new, state_file=self.config.state_file)
        try:
            ROUTER.configure(new.log)
        except OSError as error:
            log.error("SIGHUP: cannot open the access log: {error}; the running configuration stays",
                      error=str(error))
            return
        old_by_endpoint = {listener.endpoint: listener for listener in self.listening}
        added = [listener for listener in new.listeners if listener.endpoint not in old_by_endpoint]
        kept = {old_by_endpoint[listener.endpoint]: listener for listener in new.listeners
                if listener.endpoint in old_by_endpoint}
        try:  # the new endpoints first: if one fails, nothing has changed yet
            self._listen_all(added, new)
        except ListenError as error:
            log.error("SIGHUP: {error}; the running configuration stays", error=str(error))
            return
        for old in [listener for listener in old_by_endpoint.values() if listener not in kept]:
            self.listening.pop(old)[1].stopListening()  # its established connections go on
            log.info("no longer listening on {endpoint}", endpoint=old.endpoint)
        for old, listener in kept.items():
            factory, port = self.listening.pop(old)
            factory.policy, factory.limits, factory.splice = listener.policy, new.limits, new.splice
            factory.max_connections = self.max_connections(listener, new)
            if (old.mode, old.group) != (listener.mode, listener.group):
                set_permissions(listener, old)
            if old.tls != listener.tls:
                log.warn("SIGHUP: the TLS files of {endpoint} change only with a restart", endpoint=old.endpoint)
                listener = replace(listener, tls=old.tls)
            self.listening[listener] = (factory, port)
        self.daemon.memory.insert_fetch_urls = new.insert_fetch_urls
        self.config = new
        log.info("SIGHUP: configuration read again ({count} listeners)", count=len(self.listening))

    def stop(self) -> Deferred[Any]:
        """Stop accepting; running requests and streams get the grace period to end; then what they
        left in the memory for legacy clients is written to state_file."""
        stopped = self._stop_serving()
        if self.state_saver is None:
            return stopped
        self.state_saver.stop()
        return stopped.addBoth(self._save_state_at_stop)

    def _save_state_at_stop(self, result: Any) -> Any:
        self.save_state()
        return result

    def _stop_serving(self) -> Deferred[Any]:
        self.stopping = True
        factories = [factory for factory, _ in self.listening.values()]
        ports = [port for _, port in self.listening.values()] + ([self.metrics_port] if self.metrics_port else [])
        stopped = gatherResults([maybeDeferred(port.stopListening) for port in ports])
        self.listening.clear()
        connections = [connection for factory in factories for connection in factory.connections]
        if not connections:
            return stopped
        log.info("stopping: {count} connections have {grace:g} s to finish", count=len(connections),
                 grace=self.config.grace_period)
        done: Deferred[None] = Deferred()
        remaining = set(connections)

        def gone(connection: Any) -> None:
            remaining.discard(connection)
            if not remaining and not done.called:
                done.callback(None)

        for connection in connections:
            connection.when_closed(gone)
            connection.finish_then_close()
        timer = self.reactor.callLater(self.config.grace_period, self._cut, remaining, done)
        done.addCallback(lambda _: timer.cancel() if timer.active() else None)
        return gatherResults([stopped, done])

    def _cut(self, remaining: set[Any], done: Deferred[None]) -> None:
        if remaining:
            log.warn("grace period over: closing {count} connections", count=len(remaining))
        for connection in list(remaining):
            connection.transport.abortConnection()
        if not done.called:
            done.callback(None)


class ApiproxyService(application.Service):
    """`Service` as a Twisted service: what `apiproxy` runs, and `twist apiproxy` through its plugin.

    Its runner stops it before the reactor shuts down (`twist` itself, `run` below).
    """

    name = "apiproxy"

    def __init__(self, reactor: Any, config: Config, reload: Callable[[], Config] | None = None) -> None:
        self.proxy = Service(reactor, config, reload)

    def startService(self) -> None:
        """Listen (ListenError if a listener cannot start), and read the configuration again on SIGHUP."""
        reactor = self.proxy.reactor
        # A signal only sets a flag for the reactor's own thread: reloading in the handler itself
        # could interrupt a write halfway.
        signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(self.proxy.reload))
        # The access lines of the reactor's last turn: twist ends by the signal that stopped it, without atexit.
        reactor.addSystemEventTrigger("after", "shutdown", ROUTER.flush)
        self.proxy.start()
        super().startService()

    def stopService(self) -> Deferred[Any]:
        super().stopService()
        return self.proxy.stop()


class StartOrExit(ApiproxyService):
    """For runners that start their services before the reactor runs (twist, twistd): a listener
    that cannot start ends the process with the reason and status 1, as `apiproxy` does."""

    def startService(self) -> None:
        try:
            super().startService()
        except ListenError as error:
            raise SystemExit(str(error)) from None


def run(config: Config, reload: Callable[[], Config] | None = None) -> int:
    from twisted.internet import reactor

    try:
        start_logging(config.log)
    except OSError as error:
        print(f"cannot open the access log: {error}", file=sys.stderr)
        return 1
    status = [0]
    service = ApiproxyService(reactor, config, reload)

    def start_or_stop() -> None:
        try:
            service.startService()
        except ListenError as error:  # a TLS file that no longer loads is one too
            log.critical("{error}", error=str(error))
            status[0] = 1
            reactor.stop()
        else:
            reactor.addSystemEventTrigger("before", "shutdown", service.stopService)

    # Listen only once the reactor runs: its SIGTERM handler is in place
    # before the socket appears, so a stop right after start still ends cleanly.
    reactor.callWhenRunning(start_or_stop)
    reactor.run()
    ROUTER.flush()  # the access lines of the last turn (connections closed as the reactor stopped)
    return status[0]
