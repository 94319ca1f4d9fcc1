"""Image names on a Docker-API daemon, straight through the API.

Used by tests/run, because the docker CLI gets in the way for both: it sends
and shows names in their short ("familiar") form, so `docker tag X
docker.io/library/busybox:latest` reaches the daemon as repo=busybox, and
`docker images` hides how podman qualifies names. Standard library only.

Usage: images.py SOCKET list                 all RepoTags, space-separated, sorted
       images.py SOCKET tag IMAGE REPO TAG   POST /images/IMAGE/tag?repo=REPO&tag=TAG
"""
import json
import sys
import urllib.parse

from wait_ready import UnixHTTPConnection


def call(sock, method, path):
    conn = UnixHTTPConnection(sock, timeout=30)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def main(argv):
    sock, command = argv[1], argv[2]
    if command == "list":
        status, body = call(sock, "GET", "/images/json")
        if status == 200:
            names = [tag for image in json.loads(body) for tag in image.get("RepoTags") or []]
            print(" ".join(sorted(names)))
            return 0
    elif command == "tag":
        image, repo, tag = argv[3:6]
        query = urllib.parse.urlencode({"repo": repo, "tag": tag})
        status, body = call(sock, "POST", f"/images/{urllib.parse.quote(image)}/tag?{query}")
        if status == 201:
            return 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"images.py {command}: daemon answered {status}: {body[:300]!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
