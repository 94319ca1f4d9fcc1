"""Listening sockets.  Unix sockets are made here, never wider than configured.

Twisted's `unix:` endpoint binds with the process umask and chmods after, a
window in which the socket may be world-writable; a socket in front of the
daemon is root access, so apiproxy binds under a umask that admits nobody but
its owner, then sets its group, and only then its mode.
"""
from __future__ import annotations

import grp
import os
import socket
import stat
from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from .config import Listener
from .endpoints import parse_unix_listen
from .tls import TLSError, server_factory

log = Logger()


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


def listen(reactor: Any, listener: Listener, factory: Factory) -> IListeningPort:
    """Start one listener."""
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
