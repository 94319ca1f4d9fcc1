"""Wait until a Docker-API daemon answers GET /_ping on its unix socket.

Used by tests/run. Standard library only: it runs before (and apart from)
the project's virtualenv being usable.

Usage: wait_ready.py SOCKET PID TIMEOUT_SECONDS
Exit status: 0 ready, 1 timed out, 2 the daemon process died first.
"""
import http.client
import socket
import sys
import time

POLL_INTERVAL = 0.05


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        # The host name only fills the Host header; the daemon ignores it.
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def pid_alive(pid):
    # A zombie has exited already, however long its parent takes to reap it.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def ping(path):
    conn = UnixHTTPConnection(path, timeout=2)
    try:
        conn.request("GET", "/_ping")
        resp = conn.getresponse()
        return resp.status == 200 and resp.read().strip() == b"OK"
    except OSError:
        # Socket not created yet, or created but not accepting: keep polling.
        return False
    finally:
        conn.close()


def main(argv):
    path, pid, timeout = argv[1], int(argv[2]), float(argv[3])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(path):
            return 0
        if not pid_alive(pid):
            print(f"wait_ready: daemon pid {pid} exited before {path} answered", file=sys.stderr)
            return 2
        time.sleep(POLL_INTERVAL)
    print(f"wait_ready: no answer on {path} after {timeout:g}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
