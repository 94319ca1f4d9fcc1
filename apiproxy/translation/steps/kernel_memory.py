"""Kernel memory limits, which no daemon applies from API 1.42 on (and Docker 29 at no version): the warning
Docker 20.10-28 gave below 1.42 on every host that cannot limit kernel memory, given back. Pure."""
from __future__ import annotations

from typing import Any

from apiproxy.translation.document import Context
from apiproxy.translation.registry import value_step

# Docker 28's warning (daemon/daemon_unix.go) when a host cannot limit kernel memory, as no cgroup v2 host can.
KERNEL_MEMORY_DISCARDED = ("Your kernel does not support kernel memory limit capabilities or the cgroup is not "
                           "mounted. Limitation discarded.")


@value_step
def note_kernel_memory(body: Any, context: Context) -> Any:
    """A create (HostConfig.KernelMemory) or an update (KernelMemory) asking for a kernel memory limit, which
    a daemon at API 1.42 or later drops without a word: noted for the answer."""
    resources = body.get("HostConfig", body) if isinstance(body, dict) else None
    if isinstance(resources, dict) and resources.get("KernelMemory"):
        context.notes["kernel_memory"] = True
    return body


@value_step
def kernel_memory_discarded(answer: Any, context: Context) -> Any:
    """create's or update's answer warns that the kernel memory limit was discarded, as Docker 28 warned below
    API 1.42 on every host that cannot limit kernel memory (every cgroup v2 host). Once, though both the 1.42
    change and the docker29 profile may ask for it."""
    if context.notes.get("kernel_memory") and isinstance(answer, dict):
        warnings = answer.get("Warnings") or []
        if KERNEL_MEMORY_DISCARDED not in warnings:
            answer["Warnings"] = [*warnings, KERNEL_MEMORY_DISCARDED]
    return answer
