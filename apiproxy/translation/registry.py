"""The named steps that version-change files call, registered where each is defined. Pure.

A change file names code in four places, one kind of step each:

| key in a change file   | kind             | signature                                   |
| ---------------------- | ---------------- | ------------------------------------------- |
| `{"op": "call", ...}`  | `value_step`     | (value, context, **arguments) -> new value  |
| `request_transform`    | `stream_step`    | (context, headers) -> Transform of a body   |
| `hijack`               | `hijack_step`    | (context) -> Transform of a hijacked stream |
| `emulate`              | `emulation`      | (LegacyRequest) -> Emulation (a generator)  |

A step is registered by its kind's decorator on its definition; the change
loader resolves every name once, when the change files load, so a name no
step has fails there with the file and the key, never on a request.
"""
from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

from apiproxy.translation.document import ChangeError, Context
from apiproxy.translation.emulations.commands import Emulation, LegacyRequest
from apiproxy.translation.transforms import Transform
from apiproxy.wire.http1 import Headers

ValueStep = Callable[..., Any]
StreamStep = Callable[[Context, Headers], Transform]
HijackStep = Callable[[Context], Transform]
EmulationStep = Callable[[LegacyRequest], Emulation]

F = TypeVar("F", bound=Callable[..., Any])


class Registry(Generic[F]):
    """The steps of one kind, by name; used as the decorator that registers one."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key  # what a change file calls it by
        self.named: dict[str, F] = {}

    def __call__(self, step: F) -> F:
        name = step.__name__
        if name in self.named:
            raise ValueError(f"two {self.kind}s named {name!r}: {self.named[name].__module__} and {step.__module__}")
        self.named[name] = step
        return step

    def resolve(self, name: str, source: str) -> F:
        try:
            return self.named[name]
        except KeyError:
            raise ChangeError(f"{source}: {self.key}: no {self.kind} named {name!r}") from None

    def resolve_optional(self, name: str | None, source: str) -> F | None:
        return None if name is None else self.resolve(name, source)


value_step: Registry[ValueStep] = Registry("value step", "call")
stream_step: Registry[StreamStep] = Registry("stream step", "request_transform")
hijack_step: Registry[HijackStep] = Registry("hijack step", "hijack")
emulation: Registry[EmulationStep] = Registry("emulation", "emulate")
