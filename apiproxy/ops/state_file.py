"""apiproxy's memory for legacy clients in a file, so that a restart does not lose it (`state_file`). Pure.

2013 daemons kept what a client gave a container's create and start, where a committed image came
from, and links; apiproxy stands in for them (translation/memory.py) and, without this file, forgets
all of it when it restarts: an old client's inspect would then show the daemon's values. Credentials
a 1.0/1.1 client gave POST /auth are never written: after a restart such a client logs in again.
What is written may hold a create's environment, so the file is made 0600, and whole, by a rename.
"""
from __future__ import annotations

import json
import os
from typing import Any

from apiproxy.translation.memory import REMEMBERED, Memory

FORMAT = 1
# The parts of Memory kept, each a JSON object by container or image id. The ids' legacy forms are
# not: they come back from the containers' labels.
KEPT = ("echoes", "host_settings", "commits", "links")


class StateError(Exception):
    """A state file that cannot be read or written; apiproxy goes on with what it remembers."""


def snapshot(memory: Memory) -> bytes:
    """What is kept of `memory`, as the file's bytes."""
    kept = {part: getattr(memory, part) for part in KEPT}
    # Insertion order is kept: it says which entries are oldest, forgotten first (memory.forget_oldest).
    return json.dumps({"format": FORMAT, **kept}, separators=(",", ":")).encode()


def restore(memory: Memory, data: bytes) -> int:
    """Put a file's parts back into `memory` (what it learned since stays); the entries read."""
    try:
        document = json.loads(data)
    except ValueError as error:
        raise StateError(f"not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateError(f"not an apiproxy state file of format {FORMAT}")
    read: dict[str, dict[str, Any]] = {}
    for part in KEPT:  # all checked before any is put back
        entries = document.get(part, {})
        if not isinstance(entries, dict) or not all(isinstance(value, dict) for value in entries.values()):
            raise StateError(f"{part} is not an object of objects")
        read[part] = dict(list(entries.items())[-REMEMBERED:])
    for part, newest in read.items():
        setattr(memory, part, {**newest, **getattr(memory, part)})
    return sum(len(newest) for newest in read.values())


def load(path: str, memory: Memory) -> int:
    """Read the file into `memory`: the entries read, 0 when there is no file yet."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return 0
    except OSError as error:
        raise StateError(f"cannot read {path}: {error.strerror}") from None
    try:
        return restore(memory, data)
    except StateError as error:
        # Kept for a person to look at: the next save would replace it.
        aside = f"{path}.unreadable"
        try:
            os.replace(path, aside)
        except OSError:
            raise StateError(f"{path}: {error}") from None
        raise StateError(f"{path}: {error} (moved to {aside})") from None


def save(path: str, data: bytes) -> None:
    """Replace the file with `data`: a reader, or a crash halfway, sees the old file or the new one."""
    temporary = f"{path}.new"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a leftover of a crash may have had another mode
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise StateError(f"cannot write {path}: {error.strerror}") from None


def writable(path: str) -> bool:
    """Whether `save` can write the file: its directory must take the new file and the rename."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.path.isfile(path):
        return False
    return os.access(directory, os.W_OK | os.X_OK)
