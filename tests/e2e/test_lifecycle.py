"""SIGHUP reloads the configuration without dropping connections; SIGTERM lets running work finish."""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from support import DIRECT_API, Apiproxy, UnixHTTPConnection, deadline_poll, request


def _config(path: Path, docker_sock: str, listeners: str, extra: str = "") -> None:
    path.write_text(f'{extra}\n[upstream]\nendpoint = "unix:{docker_sock}"\n{listeners}')


def test_sighup_changes_policies_and_listeners_and_keeps_connections(docker_sock: str, tmp_path: Path) -> None:
    config = tmp_path / "apiproxy.toml"
    first = f'[[listeners]]\nendpoint = "unix:{tmp_path}/a.sock"\n[listeners.policy]\ndeny = ["exec"]\n'
    _config(config, docker_sock, first)
    proxy = Apiproxy(["--config", str(config)], f"{tmp_path}/a.sock", str(tmp_path)).wait_listening()
    kept = UnixHTTPConnection(f"{tmp_path}/a.sock", 30)
    try:
        kept.request("GET", "/v1.41/version")
        assert kept.getresponse().read() and kept.sock is not None
        second = (f'[[listeners]]\nendpoint = "unix:{tmp_path}/a.sock"\n[listeners.policy]\nread_only = true\n'
                  f'[[listeners]]\nendpoint = "unix:{tmp_path}/b.sock"\n')
        _config(config, docker_sock, second)
        os.kill(proxy.pid, signal.SIGHUP)
        deadline_poll(lambda: os.path.exists(f"{tmp_path}/b.sock"))
        deadline_poll(lambda: "configuration read again" in proxy.log)
        # The connection opened before the reload goes on, under the new policy.
        kept.request("POST", "/v1.41/containers/create", body=b"{}", headers={"Content-Type": "application/json"})
        refused = kept.getresponse()
        assert refused.status == 403 and b"read_only" in refused.read()
        kept.request("GET", "/v1.41/info")
        info = kept.getresponse()
        assert info.status == 200 and info.read()
        assert request(f"{tmp_path}/b.sock", "GET", "/v1.41/version").status == 200

        config.write_text("this is [not TOML")
        os.kill(proxy.pid, signal.SIGHUP)
        deadline_poll(lambda: "new configuration is refused" in proxy.log)
        assert request(f"{tmp_path}/b.sock", "GET", "/v1.41/version").status == 200
        assert request(f"{tmp_path}/a.sock", "POST", "/v1.41/containers/create", {}).status == 403

        _config(config, docker_sock, f'[[listeners]]\nendpoint = "unix:{tmp_path}/b.sock"\n')
        os.kill(proxy.pid, signal.SIGHUP)
        deadline_poll(lambda: not os.path.exists(f"{tmp_path}/a.sock"))
        kept.request("GET", "/v1.41/version")  # a listener gone keeps its established connections
        assert kept.getresponse().status == 200
    finally:
        kept.close()
        assert proxy.stop() == 0


def test_sigterm_stops_accepting_and_lets_running_requests_finish(docker_sock: str, image: str,
                                                                   tmp_path: Path) -> None:
    config = tmp_path / "apiproxy.toml"
    _config(config, docker_sock, f'[[listeners]]\nendpoint = "unix:{tmp_path}/ap.sock"\n', "grace_period = 3")
    proxy = Apiproxy(["--config", str(config)], f"{tmp_path}/ap.sock", str(tmp_path)).wait_listening()
    cid = request(docker_sock, "POST", f"/v{DIRECT_API}/containers/create",
                  {"Image": image, "Cmd": ["sleep", "1"]}).json()["Id"]
    try:
        request(docker_sock, "POST", f"/v{DIRECT_API}/containers/{cid}/start")
        waiting = UnixHTTPConnection(proxy.sock, 30)
        waiting.request("POST", f"/v1.9/containers/{cid}/wait")
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        idle.connect(proxy.sock)
        events = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        events.connect(proxy.sock)
        events.sendall(b"GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n")
        assert events.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(0.3)  # the wait request is with the daemon
        proxy.process.send_signal(signal.SIGTERM)
        deadline_poll(lambda: not os.path.exists(proxy.sock), 5)  # no new connections
        idle.settimeout(5)
        assert idle.recv(1) == b""  # the idle connection is closed at once
        answer = waiting.getresponse()  # the running request gets its answer
        assert answer.status == 200 and b"StatusCode" in answer.read()
        events.settimeout(10)
        while events.recv(65536):  # the endless stream runs until the grace period is over
            pass
        assert proxy.process.wait(15) == 0
        # What closed the endless stream was the grace period's end, not the stop itself.
        assert "grace period over: closing 1 connections" in proxy.log
    finally:
        request(docker_sock, "DELETE", f"/v{DIRECT_API}/containers/{cid}?force=1")
        proxy.stop()
