"""A Docker 29 daemon (29.1: API 1.44-1.52; 29.3: 1.40-1.54) answering with recorded bodies.

No Docker 29 daemon runs here, and what it dropped at every API version (see
schemas/upstreams/docker29.json) shows only in its answers: this fake plays
one.  A threaded HTTP/1.1 server on a unix socket; the bodies are those of
answers.json, shaped after the 1.52+ documentation, and the few things Docker
29.1's routers still add or remove below 1.52 (moby docker-v29.1.3,
daemon/server/router/*) are applied per request, so an answer at 1.44 is what
Docker 29.1 would send a 1.44 client.  Played as 29.3 it also gives VirtualSize
back below 1.44, as 29.3 did (e2fad779f7); what 29.2 and 29.3 added at 1.53 and
1.54 is not played.  Versions outside the release's range are refused with
dockerd's message; every request is recorded.
"""
from __future__ import annotations

import copy
import json
import re
import socketserver
from pathlib import Path
from typing import Any

from fake2013 import RecordingServer, read_request

ANSWERS: dict[str, Any] = json.loads((Path(__file__).parent / "answers.json").read_text())
# release: (ApiVersion, MinAPIVersion), the defaults of moby docker-v29.1.3 and docker-v29.3.1
RELEASES = {"29.1.3": ("1.52", "1.44"), "29.3.1": ("1.54", "1.40")}
_PREFIX = re.compile(r"/v(\d+)\.(\d+)(/.*)")
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found"}
_BRIDGE_FIELDS = ("EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen",
                  "IPv6Gateway", "MacAddress")
_LEGACY_DF = ("LayersSize", "Images", "Containers", "Volumes", "BuildCache")
# image inspect's Config fields API 1.49 and lower always sent (moby docker-v29.1.3 inspect_response.go)
_LEGACY_IMAGE_CONFIG = {"AttachStderr": False, "AttachStdin": False, "AttachStdout": False, "Cmd": None,
                        "Domainname": "", "Entrypoint": None, "Env": None, "Hostname": "", "Image": "",
                        "Labels": None, "OnBuild": None, "OpenStdin": False, "StdinOnce": False, "Tty": False,
                        "User": "", "Volumes": None, "WorkingDir": ""}
_IMAGE_CONFIG_1_50 = ("Cmd", "Entrypoint", "Env", "Labels", "OnBuild", "User", "Volumes", "WorkingDir")


def _container(body: dict[str, Any], version: tuple[int, int]) -> dict[str, Any]:
    if version < (1, 52):
        settings = body["NetworkSettings"]
        bridge = settings["Networks"].get("bridge")
        if bridge is not None:  # the default bridge's settings, repeated at the top (below 1.52 only)
            settings.update({key: bridge[key] for key in _BRIDGE_FIELDS})
        storage = body.pop("Storage", None)  # below 1.52: GraphDriver named after the snapshotter
        if "GraphDriver" not in body and storage:
            body["GraphDriver"] = {"Name": storage["RootFS"]["Snapshot"]["Name"]}
    body.pop("$comment", None)
    return body


def _image(body: dict[str, Any], version: tuple[int, int]) -> dict[str, Any]:
    if version < (1, 44):  # every 29.x kept image inspect's VirtualSize below 1.44
        body["VirtualSize"] = body["Size"]
    if version < (1, 45):
        body.update({"Container": "", "ContainerConfig": None})
    if version < (1, 52):
        body.update({"Parent": "", "Comment": "", "DockerVersion": "", "Author": ""})
        legacy = _LEGACY_IMAGE_CONFIG if version < (1, 50) else {
            key: _LEGACY_IMAGE_CONFIG[key] for key in _IMAGE_CONFIG_1_50}
        body["Config"] = {**legacy, **body["Config"]}
    return body


def _info(body: dict[str, Any], version: tuple[int, int]) -> dict[str, Any]:
    if version < (1, 46):
        body.pop("Containerd", None)
    if version < (1, 47):
        body["RegistryConfig"].update({"AllowNondistributableArtifactsCIDRs": None,
                                       "AllowNondistributableArtifactsHostnames": None})
    if version < (1, 49):
        body.pop("FirewallBackend", None)
        for commit in ("ContainerdCommit", "RuncCommit", "InitCommit"):
            body[commit]["Expected"] = body[commit]["ID"]
    if version < (1, 50):
        body.update({"BridgeNfIptables": False, "BridgeNfIp6tables": False})
    return body


def _df(body: dict[str, Any], version: tuple[int, int]) -> dict[str, Any]:
    return body if version >= (1, 52) else {key: body[key] for key in _LEGACY_DF}


def _pair(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


class _Handler(socketserver.StreamRequestHandler):
    server: FakeDocker29

    def handle(self) -> None:
        while (request := read_request(self.rfile)) is not None:
            received, keep = request
            self.server.record(received)
            self._answer(received.method, received.path)
            if not keep:
                return

    def _answer(self, method: str, path: str) -> None:
        server = self.server
        version = server.highest
        prefixed = _PREFIX.fullmatch(path)
        if prefixed:
            version, path = (int(prefixed.group(1)), int(prefixed.group(2))), prefixed.group(3)
            asked = f"{version[0]}.{version[1]}"
            if version < server.lowest:
                return self._error(400, f"client version {asked} is too old. Minimum supported API version is "
                                        f"{server.minimum}, please upgrade your client to a newer version")
            if version > server.highest:
                return self._error(400, f"client version {asked} is too new. Maximum supported API version is "
                                        f"{server.api}")
        if path == "/_ping" and method in ("GET", "HEAD"):
            return self._write(200, "text/plain; charset=utf-8", b"OK" if method == "GET" else b"",
                               (("Builder-Version", "2"), ("Cache-Control", "no-cache, no-store, must-revalidate")))
        if method != "GET":
            return self._error(404, "page not found")
        answers = copy.deepcopy(ANSWERS)
        if path == "/version":
            return self._json(server.version_answer(answers["version"]))
        if path == "/info":
            return self._json(_info(answers["info"], version))
        if path == "/containers/json":  # apiproxy asks for the containers it recreated: none here
            return self._json([])
        if path == "/images/json":
            return self._json(server.virtual_size(answers["images"], version))
        if path == "/system/df":
            df = _df(answers["df"], version)
            server.virtual_size(df["Images"], version)
            return self._json(df)
        image = re.fullmatch(r"/images/(.+)/json", path)
        if image:
            if image.group(1) not in ("busybox", "busybox:latest", answers["image_inspect"]["Id"]):
                return self._error(404, f"No such image: {image.group(1)}")
            return self._json(_image(answers["image_inspect"], version))
        container = re.fullmatch(r"/containers/([^/]+)/json", path)
        if container:
            found = self._container(container.group(1), answers["containers"])
            if found is None:
                return self._error(404, f"No such container: {container.group(1)}")
            return self._json(_container(found, version))
        return self._error(404, "page not found")

    @staticmethod
    def _container(name: str, containers: dict[str, Any]) -> dict[str, Any] | None:
        return next((body for cid, body in containers.items()
                     if cid.startswith(name) or body["Name"] == f"/{name}"), None)

    def _json(self, document: Any) -> None:
        self._write(200, "application/json", json.dumps(document).encode() + b"\n")

    def _error(self, status: int, message: str) -> None:
        self._write(status, "application/json", json.dumps({"message": message}).encode() + b"\n")

    def _write(self, status: int, content_type: str, body: bytes,
               extra: tuple[tuple[str, str], ...] = ()) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}", f"Content-Type: {content_type}",
                 f"Api-Version: {self.server.api}", "Docker-Experimental: false", "Ostype: linux",
                 f"Server: Docker/{self.server.release} (linux)",
                 *(f"{k}: {v}" for k, v in extra), f"Content-Length: {len(body)}"]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()


class FakeDocker29(RecordingServer):
    """A Docker `release` daemon (29.1.3: API 1.52, MinAPIVersion 1.44) at `path`."""

    def __init__(self, path: str, release: str = "29.1.3") -> None:
        self.release = release
        self.api, self.minimum = RELEASES[release]
        self.highest, self.lowest = _pair(self.api), _pair(self.minimum)
        super().__init__(path, _Handler)

    def version_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        body.update({"Version": self.release, "ApiVersion": self.api, "MinAPIVersion": self.minimum})
        body["Components"][0].update({"Version": self.release})
        body["Components"][0]["Details"].update({"ApiVersion": self.api, "MinAPIVersion": self.minimum})
        return body

    def virtual_size(self, images: list[dict[str, Any]], version: tuple[int, int]) -> list[dict[str, Any]]:
        """29.3 gave VirtualSize back below 1.44 (images/json, system/df); 29.0-29.2 did not."""
        if self.highest >= (1, 54) and version < (1, 44):
            for image in images:
                image["VirtualSize"] = image["Size"]
        return images

    @staticmethod
    def recorded(name: str) -> Any:
        """A recorded answer as answers.json holds it (at API 1.52)."""
        return copy.deepcopy(ANSWERS[name])
