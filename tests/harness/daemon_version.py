"""Print what a Docker-API daemon says about itself on GET /version.

Used by tests/run to record and check each upstream's version. Standard
library only, like wait_ready.py.

Usage: daemon_version.py SOCKET
Prints one line: VERSION API_VERSION MIN_API_VERSION CONTAINERD_VERSION
(e.g. "26.1.5+dfsg1 1.45 1.24 1.6.20~ds1"); the last is "-" when the daemon
names no containerd among its components (podman). Exit status 1 when the
daemon does not answer 200 with the first three fields.
"""
import json
import sys

from wait_ready import UnixHTTPConnection


def main(argv):
    conn = UnixHTTPConnection(argv[1], timeout=30)
    try:
        conn.request("GET", "/version")
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    try:
        info = json.loads(body) if resp.status == 200 else {}
        fields = [info["Version"], info["ApiVersion"], info["MinAPIVersion"]]
        # dockerd reports the containerd it is connected to, whichever binary that was.
        fields += [next((c.get("Version") or "-" for c in info.get("Components") or []
                         if c.get("Name") == "containerd"), "-")]
    except (ValueError, KeyError, TypeError, AttributeError):
        print(f"daemon_version: GET /version answered {resp.status}: {body[:300]!r}", file=sys.stderr)
        return 1
    print(" ".join(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
