"""Downloading a URL for insert, straight into a one-file tar on disk (the shell side)."""
from __future__ import annotations

import os
import tarfile
import tempfile
import time
from typing import IO, Any

import treq
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from apiproxy.translation.emulations.commands import Answer

FETCH_TIMEOUT = 300.0
BLOCK = 512


def fetch_to_tar(url: str, member: str) -> Deferred[Answer]:
    """An Answer whose body is the tar's path (200), or the reason it failed (502)."""
    fd, path = tempfile.mkstemp(prefix="apiproxy-insert-", suffix=".tar")
    file = os.fdopen(fd, "w+b")
    file.write(bytes(BLOCK))  # the member's header, written once the size is known

    def write(data: bytes) -> None:
        file.write(data)

    def received(response: Any) -> Deferred[Any]:
        if response.code != 200:
            raise OSError(f"GET {url} answered {response.code}")
        return treq.collect(response, write)

    def finish(_: Any) -> Answer:
        size = file.tell() - BLOCK
        file.write(bytes(-size % BLOCK) + bytes(2 * BLOCK))
        info = tarfile.TarInfo(member)
        info.size, info.mode, info.mtime = size, 0o644, int(time.time())
        file.seek(0)
        file.write(info.tobuf(format=tarfile.GNU_FORMAT)[:BLOCK] if len(member) < 100 else b"")
        if len(member) >= 100:  # a long name needs extra blocks before the data: rebuild
            _rewrite_with_long_name(file, info, size)
        file.close()
        return Answer(200, path)

    def failed(failure: Failure) -> Answer:
        file.close()
        os.unlink(path)
        return Answer(502, f"cannot download {url}: {failure.getErrorMessage()}")

    return treq.get(url, timeout=FETCH_TIMEOUT).addCallback(received).addCallback(finish).addErrback(failed)


def _rewrite_with_long_name(file: IO[bytes], info: tarfile.TarInfo, size: int) -> None:
    """Copy the data behind a GNU long-name header (rare: paths of 100 bytes or more)."""
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    with tempfile.TemporaryFile() as copy:
        file.seek(BLOCK)
        while chunk := file.read(1 << 20):
            copy.write(chunk)
        file.seek(0)
        file.truncate()
        file.write(header)
        copy.seek(0)
        while chunk := copy.read(1 << 20):
            file.write(chunk)
