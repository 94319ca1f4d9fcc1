"""Value steps of the docker29 profile: what Docker 29 stopped saying. Pure."""
from __future__ import annotations

from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step

# Docker 28's warning (daemon/daemon_unix.go) when a host cannot limit kernel memory, as no cgroup v2 host can.
KERNEL_MEMORY_DISCARDED = ("Your kernel does not support kernel memory limit capabilities or the cgroup is not "
                           "mounted. Limitation discarded.")


@value_step
def note_kernel_memory(body: Any, context: Context) -> Any:
    """A create asking for a kernel memory limit, which Docker 29 drops without a word: noted for the answer."""
    host = body.get("HostConfig") if isinstance(body, dict) else None
    if isinstance(host, dict) and host.get("KernelMemory"):
        context.notes["kernel_memory"] = True
    return body


@value_step
def kernel_memory_discarded(created: Any, context: Context) -> Any:
    """create's answer warns that the kernel memory limit was discarded, as Docker 28 warned below API 1.42."""
    if context.notes.get("kernel_memory") and isinstance(created, dict):
        created["Warnings"] = [*(created.get("Warnings") or []), KERNEL_MEMORY_DISCARDED]
    return created
