"""Unix listeners: the path apiproxy takes over, the permissions it gives it, and systemd's sockets it leaves alone."""
from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock

from apiproxy.ops.config import Listener
from apiproxy.shell.listeners import InheritedUnixPort, ListenError, listen, listen_unix


class FakeReactor:
    """Binds for real (the socket file is what is under test), serves nothing."""

    def listenUNIX(self, path: str, factory: Factory, backlog: int, mode: int) -> socket.socket:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(backlog)
        self.server = server
        return server


def start(path: Path) -> socket.socket:
    return listen_unix(FakeReactor(), str(path), 0o660, None, 5, Factory.forProtocol(Protocol))


def test_a_new_socket_gets_its_mode(tmp_path: Path) -> None:
    server = start(tmp_path / "ap.sock")
    try:
        assert stat.S_IMODE(os.lstat(tmp_path / "ap.sock").st_mode) == 0o660
    finally:
        server.close()


def test_a_path_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "ap.sock"
    path.write_text("precious")
    with pytest.raises(ListenError, match="not a socket"):
        start(path)
    assert path.read_text() == "precious"


def test_a_symlink_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    os.chmod(target, 0o600)
    link = tmp_path / "ap.sock"
    link.symlink_to(target)
    with pytest.raises(ListenError, match="not a socket"):
        start(link)
    assert link.is_symlink() and target.read_text() == "precious"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_a_socket_in_use_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "ap.sock"
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(path))
    other.listen(1)
    try:
        with pytest.raises(ListenError, match="in use"):
            start(path)
        assert path.exists()
    finally:
        other.close()


def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "ap.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody answers on it
    server = start(path)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(str(path))
    finally:
        server.close()


def systemds_socket(path: Path, mode: int) -> socket.socket:
    """A listening socket as systemd passes it: bound, listening, blocking, its mode set."""
    made = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    made.bind(str(path))
    made.listen(5)
    os.chmod(path, mode)
    return made


def test_an_inherited_socket_keeps_its_file_from_start_to_stop(tmp_path: Path) -> None:
    path = tmp_path / "legacy.sock"
    made = systemds_socket(path, 0o640)
    before = os.stat(path)
    reactor = MemoryReactorClock()
    port = InheritedUnixPort._fromListeningDescriptor(reactor, made.fileno(), Factory.forProtocol(Protocol))
    port.startListening()
    try:
        assert port in reactor.readers
        assert not port.socket.getblocking(), "an accept in the reactor must never wait"
        assert os.stat(path) == before  # no chmod: Twisted's own adoption makes it 0666
    finally:
        port.stopListening()
        reactor.advance(0)
    assert os.stat(path) == before, "the file is systemd's: it removes it when its socket unit stops"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.connect(str(path))  # systemd's own descriptor still listens
    made.close()


def test_a_socket_systemd_did_not_pass_is_a_listen_error() -> None:
    """No LISTEN_FDS here: the message says where the socket should come from."""
    listener = Listener("systemd:domain=UNIX:index=0", 0o660, None)
    with pytest.raises(ListenError, match="systemd passed no such socket"):
        listen(MemoryReactorClock(), listener, Factory.forProtocol(Protocol))
