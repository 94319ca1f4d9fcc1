"""An upstream that answers with what it received, for what a real daemon cannot show.

dockerd does not tell which headers reached it, nor in which order; this
server does: every answer is a JSON description of the request as it arrived.
`GET /version` answers like dockerd 20.10, so apiproxy's probe succeeds.
"""
from __future__ import annotations

import json
import os
import socketserver
import threading

VERSION = {"Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12", "GitCommit": "5d6db84",
           "GoVersion": "go1.19.8", "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1",
           "Components": [{"Name": "Engine", "Version": "20.10.24"}]}


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method, target, _ = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            headers = []
            while True:
                line = self.rfile.readline().decode("latin-1").rstrip("\r\n")
                if not line:
                    break
                name, _, value = line.partition(":")
                headers.append([name, value.strip()])
            body = self._read_body(headers)
            self.server.requests.append({"method": method, "target": target, "headers": headers})
            if target.endswith("/version"):
                payload = json.dumps(VERSION).encode()
            else:
                payload = json.dumps({"method": method, "target": target, "headers": headers,
                                      "body_length": len(body)}).encode()
            if method == "HEAD":
                payload_out = b""
            else:
                payload_out = payload
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"X-Repeated: one\r\nX-Repeated: two\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload_out))
            self.wfile.flush()

    def _read_body(self, headers: list[list[str]]) -> bytes:
        lowered = {name.lower(): value for name, value in headers}
        if lowered.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                line = self.rfile.readline()
                if not line:  # the proxy closed mid-body (its client vanished)
                    return body
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(lowered.get("content-length", "0")))


class EchoUpstream(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops connections under a fuzz's pace

    def __init__(self, path: str) -> None:
        if os.path.exists(path):
            os.unlink(path)
        super().__init__(path, _Handler)
        self.path = path
        self.requests: list[dict] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        os.unlink(self.path)
