"""Listening sockets.  Unix sockets are made here, never wider than configured.

Twisted's `unix:` endpoint binds with the process umask and chmods after, a
window in which the socket may be world-writable; a socket in front of the
daemon is root access, so apiproxy binds under a umask that admits nobody but
its owner, then sets its group, and only then its mode.

A unix socket systemd passes (`systemd:domain=UNIX:index=0`) is systemd's:
apiproxy never changes its owner or mode, nor removes it.
"""
from __future__ import annotations

import grp
import os
import socket
import stat
from typing import Any

from twisted.internet import tcp
from twisted.internet import unix as twisted_unix
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from apiproxy.ops.config import Listener
from apiproxy.ops.listen_specs import parse_systemd_listen, parse_unix_listen
from apiproxy.shell.tls import TLSError, server_factory

log = Logger(namespace="apiproxy.listeners")  # the name its log lines have always carried


class ListenError(Exception):
    pass


def _remove_stale_socket(path: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise ListenError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody answers: a leftover of an earlier run
    else:
        raise ListenError(f"{path} is in use by another process")
    finally:
        probe.close()


def listen_unix(reactor: Any, path: str, mode: int, group: str | None, backlog: int,
                factory: Factory) -> IListeningPort:
    """Listen on `path`: created 0600, then given its group, then its mode."""
    _remove_stale_socket(path)
    old_umask = os.umask(0o177)
    try:
        port = reactor.listenUNIX(path, factory, backlog=backlog, mode=0o600)
    except CannotListenError as error:
        raise ListenError(f"cannot listen on {path}: {error.socketError}") from None
    finally:
        os.umask(old_umask)
    try:
        _chown_chmod(path, mode, group)
    except ListenError:
        port.stopListening()
        raise
    return port


def _chown_chmod(path: str, mode: int, group: str | None) -> None:
    try:
        # Never through a symlink: had anyone swapped the socket for one, these would change its target.
        if group is not None:
            os.chown(path, -1, grp.getgrnam(group).gr_gid, follow_symlinks=False)
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise OSError(f"{path} is no longer the socket apiproxy made")
        os.chmod(path, mode)
    except (OSError, KeyError) as error:
        raise ListenError(f"cannot set the owner or mode of {path}: {error}") from None


def set_permissions(listener: Listener, old: Listener) -> None:
    """A reload's new mode or group for a unix socket that stays (and its connections with it)."""
    unix = parse_unix_listen(listener.endpoint)
    if unix is None:
        return
    try:
        _chown_chmod(unix.path, listener.mode, listener.group)
        log.info("{path} is now mode {mode:04o}, group {group}", path=unix.path, mode=listener.mode,
                 group=listener.group or "unchanged")
    except ListenError as error:
        log.error("{error}; it keeps mode {mode:04o}", error=str(error), mode=old.mode)


class InheritedUnixPort(twisted_unix.Port):
    """A listening unix socket that systemd made: its path, owner and mode stay as systemd set them.

    Twisted's own adopted unix port (the `systemd:` endpoint's) chmods the path
    to 0666 when it starts (twisted#10261), and when it stops shuts the socket
    down and unlinks the path: the first opens the daemon to every local user,
    the others leave the socket unit a socket that refuses every client, or
    none, for its next activation.
    """

    def startListening(self) -> None:
        # unix.Port.startListening for an adopted socket, less its chmod; no listen() either:
        # systemd listens already, with the unit's Backlog=.
        tcp._reservedFD.reserve()  # what Twisted keeps to refuse connections cleanly at the fd limit
        assert self.factory is not None  # _fromListeningDescriptor gave it
        self.factory.doStart()
        adopted = self._preexistingSocket
        assert adopted is not None  # _fromListeningDescriptor made it
        self.socket, self._preexistingSocket = adopted, None
        adopted.setblocking(False)  # systemd passes it blocking; an accept must never wait
        # Closing this copy at the end is enough; shutdown() would stop systemd's socket from
        # listening too (Twisted's TCP ports skip it for adopted sockets, its unix ports do not).
        self._shouldShutdown = False
        self.fileno = adopted.fileno  # type: ignore[method-assign]  # as Twisted's own startListening does
        self.connected = True
        self.numberAccepts = 100
        self.startReading()

    def connectionLost(self, reason: Failure) -> None:
        tcp.Port.connectionLost(self, reason)  # not unix.Port's, which unlinks the path


def _inherited_descriptor(reactor: Any, description: str) -> int:
    """The descriptor systemd passed for `description`, as Twisted's `systemd:` parser finds it."""
    try:
        # Twisted read LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES (and removed them from the
        # environment) when twisted.internet.endpoints was imported: only its parser knows them now.
        descriptor: int = serverFromString(reactor, description).fileno
    except (IndexError, KeyError):
        raise ListenError(f"cannot listen on {description}: systemd passed no such socket (run from a socket "
                          "unit; Twisted needs LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES)") from None
    try:
        # A probe on a copy: the family and type the socket really has, whatever the description says.
        with socket.socket(fileno=os.dup(descriptor)) as probe:
            is_unix_stream = (probe.family, probe.type) == (socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as error:
        raise ListenError(f"cannot listen on {description}: descriptor {descriptor}: {error.strerror}") from None
    if not is_unix_stream:
        raise ListenError(f"cannot listen on {description}: descriptor {descriptor} is not a unix stream socket "
                          "(the socket unit needs ListenStream=/a/path)")
    return descriptor


def listen_inherited(reactor: Any, description: str, factory: Factory) -> IListeningPort:
    """Serve the unix socket systemd passed, leaving its file as systemd made it."""
    descriptor = _inherited_descriptor(reactor, description)
    # The descriptor stays open (the port serves a copy): should a reload drop this listener and a
    # later one take it back, it is still systemd's socket, never another file that reused the number.
    port = InheritedUnixPort._fromListeningDescriptor(reactor, descriptor, factory)
    port.startListening()
    log.info("listening on {path}, the socket systemd passed (owner and mode are its socket unit's)",
             path=os.fsdecode(port.getHost().name))
    return port


def listen(reactor: Any, listener: Listener, factory: Factory[Any]) -> IListeningPort:
    """Start one listener."""
    if parse_systemd_listen(listener.endpoint) is not None:
        return listen_inherited(reactor, listener.endpoint, factory)
    unix = parse_unix_listen(listener.endpoint)
    if unix is None:
        if listener.tls is not None:
            try:
                factory = server_factory(listener.tls, factory)
            except TLSError as error:
                raise ListenError(f"cannot listen on {listener.endpoint}: {error}") from None
        endpoint = serverFromString(reactor, listener.endpoint)
        result: list[Any] = []
        endpoint.listen(factory).addBoth(result.append)  # fires at once for stream endpoints
        if not result or not IListeningPort.providedBy(result[0]):
            reason = result[0].getErrorMessage() if result else "did not start"
            raise ListenError(f"cannot listen on {listener.endpoint}: {reason}")
        if listener.plain_tcp:
            log.warn("{endpoint} is plain TCP (allow_plain_tcp): anyone who can reach it has root on this host",
                     endpoint=listener.endpoint)
        elif listener.tls is not None and listener.tls.ca is None:
            log.warn("{endpoint} takes TLS without client certificates (no tls_ca): anyone who can reach it has "
                     "root on this host", endpoint=listener.endpoint)
        else:
            log.info("listening on {endpoint}", endpoint=listener.endpoint)
        return result[0]
    port = listen_unix(reactor, unix.path, listener.mode, listener.group, unix.backlog, factory)
    log.info("listening on {path} (mode {mode:04o}, group {group})", path=unix.path,
             mode=listener.mode, group=listener.group or "unchanged")
    return port
