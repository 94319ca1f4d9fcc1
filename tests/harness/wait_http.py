"""Wait until an HTTP server on TCP answers GET URL with an expected status.

Used by tests/run for the registry: its /v2/ answers 401 when it is up with
auth enabled, and a 401 is exactly what proves the auth config was loaded.
Standard library only.

Usage: wait_http.py URL STATUS PID TIMEOUT_SECONDS
Exit status: 0 ready, 1 timed out, 2 the process died first.
"""
import http.client
import sys
import time
import urllib.parse

from wait_ready import pid_alive

POLL_INTERVAL = 0.05


def status_of(url):
    """The status GET url answers with, or None while nothing accepts connections."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
    try:
        conn.request("GET", parts.path or "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return None
    finally:
        conn.close()


def main(argv):
    url, want, pid, timeout = argv[1], int(argv[2]), int(argv[3]), float(argv[4])
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = status_of(url)
        if status == want:
            return 0
        if not pid_alive(pid):
            print(f"wait_http: pid {pid} exited before {url} answered {want}", file=sys.stderr)
            return 2
        time.sleep(POLL_INTERVAL)
    print(f"wait_http: {url} answered {status} after {timeout:g}s, not {want}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
