"""docker-py releases of 2013 and a worker process that runs one of them (see dockerpy_worker.py)."""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from clients.venvs import Release, python

WORKER = Path(__file__).with_name("dockerpy_worker.py")

_REQUESTS_2_20 = ("requests==2.20.0", "urllib3==1.24.3", "chardet==3.0.4", "idna==2.7", "certifi==2018.10.15")

# The versions each release branches on: 0.2.x/0.3.x send X-Registry-Auth from 1.5, demultiplex
# attach from 1.6, stream builds from 1.8 and send X-Registry-Config from 1.9.
RELEASES = {
    # Speaks TCP only, written against API 1.3 (docker 0.5). requests 1.2.3's urllib3 cannot open TCP
    # connections on Python 3.4+ (HTTPConnection lost `strict`).
    "0.1.0": Release("docker-py-0.1.0", ("docker-py==0.1.0", *_REQUESTS_2_20, "six==1.16.0"), ("1.3",)),
    # Later requests drop the query of their unix:// URLs.
    "0.2.2": Release("docker-py-0.2.2", ("docker-py==0.2.2", "requests==1.2.3", "six==1.16.0"),
                     ("1.4", "1.5"), collections_aliases=True),
    "0.2.3": Release("docker-py-0.2.3", ("docker-py==0.2.3", "requests==1.2.3", "six==1.16.0"),
                     ("1.4", "1.6"), collections_aliases=True),
    "0.3.0": Release("docker-py-0.3.0", ("docker-py==0.3.0", *_REQUESTS_2_20, "six==1.16.0"),
                     ("1.4", "1.6", "1.8")),
    "0.3.1": Release("docker-py-0.3.1", ("docker-py==0.3.1", *_REQUESTS_2_20, "six==1.16.0"),
                     ("1.4", "1.6", "1.8", "1.9")),
}


class ClientError(AssertionError):
    pass


class Worker:
    """One docker-py Client in its own interpreter; `call` runs one of its methods."""

    def __init__(self, release: str, base_url: str, version: str, home: str | None = None) -> None:
        self.release = release
        self.base_url = base_url
        self.version = version
        # Its ~/.dockercfg, and the worker's log.
        self.own_home = home is None
        self.home = home or tempfile.mkdtemp(prefix="dockerpy-", dir=os.environ.get("APXTEST_TMP"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PYTHON"))}
        env["HOME"] = self.home
        self.stderr_path = Path(self.home) / "worker.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [str(python(RELEASES[release])), str(WORKER), json.dumps({"base_url": base_url, "version": version})],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)

    def _ask(self, request: dict[str, Any], timeout: float) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        # One answer a line, read as it comes: nothing is ever buffered ahead of the select.
        if not select.select([self.process.stdout], [], [], timeout)[0]:
            self.process.kill()
            self.process.wait()
            raise ClientError(f"docker-py {self.release} at API {self.version}: no answer to {request!r} "
                              f"within {timeout} s; the worker's log:\n{self.log()[-6000:]}")
        line = self.process.stdout.readline()
        if not line:
            raise ClientError(f"docker-py {self.release} worker died:\n{self.log()}")
        return json.loads(line)

    def log(self, start: int = 0) -> str:
        """The worker's stderr from `start` on: every request it sent and the status of each answer."""
        return self.stderr_path.read_text(errors="replace")[start:]

    def try_call(self, method: str, *args: Any, _within: float = 20.0, **kwargs: Any) -> dict[str, Any]:
        """{"result": ...} or {"error", "traceback", "exchange"}; the worker is killed if no answer
        comes `_within` seconds."""
        return self._ask({"method": method, "args": list(args), "kwargs": kwargs}, _within)

    def call(self, method: str, *args: Any, _within: float = 20.0, **kwargs: Any) -> Any:
        answer = self.try_call(method, *args, _within=_within, **kwargs)
        if "error" in answer:
            raise ClientError(f"docker-py {self.release} at API {self.version}: {method}{tuple(args)!r} "
                              f"{kwargs!r} failed: {answer['error']}\n{answer['traceback']}"
                              f"last exchange: {json.dumps(answer['exchange'], indent=1)}")
        return answer["result"]

    def background(self, method: str, *args: Any, **kwargs: Any) -> int:
        """Calls `method` and has a thread collect what the iterator it returns yields."""
        answer = self._ask({"method": method, "args": list(args), "kwargs": kwargs, "background": True}, 20.0)
        if "error" in answer:
            raise ClientError(f"docker-py {self.release}: {method} failed: {answer['error']}\n"
                              f"{answer['traceback']}last exchange: {answer['exchange']}")
        return answer["handle"]

    def collected(self, handle: int) -> dict[str, Any]:
        return self._ask({"collected": handle}, 20.0)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:  # a collector thread blocks on a socket
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self.own_home:
            shutil.rmtree(self.home, ignore_errors=True)


def data(value: Any) -> bytes:
    """Bytes the worker sent as {"b64": ...}, or text, as bytes."""
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return b"".join(data(v) for v in value)
    return str(value).encode()
