"""Emulations of the 2013 attach: waiting for a start, logs of a stopped container, the websocket. Pure."""
from __future__ import annotations

from urllib.parse import urlencode

from apiproxy.translation.emulations.commands import Call, Emulation, LegacyRequest, Park, Pass, Reply, WebSocket
from apiproxy.translation.registry import emulation

NEVER_STARTED = "0001-01-01T00:00:00Z"
_TRUE = {"1", "true", "True"}
RAW_STREAM = "application/vnd.docker.raw-stream"


@emulation
def attach_until_started(request: LegacyRequest) -> Emulation:
    """An attach to a container not started yet waits in apiproxy (start may recreate it)."""
    return (yield from _attach(request, logs_when_stopped=False))


@emulation
def attach_from_logs(request: LegacyRequest) -> Emulation:
    """Podman never ends an attach replaying a stopped container's logs: the logs endpoint serves it."""
    return (yield from _attach(request, logs_when_stopped=True))


def _attach(request: LegacyRequest, logs_when_stopped: bool) -> Emulation:
    """attach_until_started; with `logs_when_stopped`, an attach that can only replay the logs
    of a container that is not running is served from the logs endpoint."""
    real = request.params["id"]
    attach = Pass(request.method, f"/containers/{real}/attach?{urlencode(request.query)}")
    if request.query.get("stream") in _TRUE:
        answer = yield Call("GET", f"/containers/{real}/json")
        assert answer is not None  # a Call is always answered
        state = answer.body.get("State", {}) if answer.status == 200 and isinstance(answer.body, dict) else {}
        if answer.status != 200 or state.get("Running"):
            return attach
        if state.get("StartedAt", NEVER_STARTED) == NEVER_STARTED:
            return Park(request.legacy_id or real)
    if logs_when_stopped and request.query.get("logs") in _TRUE:
        streams = {name: "1" for name in ("stdout", "stderr") if request.query.get(name) in _TRUE}
        if not streams:
            return Reply(200, "", content_type=RAW_STREAM)
        return Pass("GET", f"/containers/{real}/logs?{urlencode(streams)}", as_attach=True)
    return attach


@emulation
def attach_websocket(request: LegacyRequest) -> Emulation:
    """attach/ws: apiproxy answers the websocket and attaches upstream with a raw hijack.

    stdout and stderr reach the client merged in text frames; its frames are stdin.
    """
    query: dict[str, str] = {key: request.query[key] for key in ("logs", "stream", "stdin", "stdout", "stderr")
             if key in request.query}
    return WebSocket(f"/containers/{request.params['id']}/attach?{urlencode(query)}")
    yield


@emulation
def attach_websocket_every_stream(request: LegacyRequest) -> Emulation:
    """attach/ws below API 1.28 (text frames), for clients of 1.10 on: their daemons attached stdin,
    stdout and stderr whatever the parameters said (until 1.42), where the raw attach reads them."""
    query: dict[str, str] = {key: request.query[key] for key in ("logs", "stream") if key in request.query}
    query.update(stdin="1", stdout="1", stderr="1")
    return WebSocket(f"/containers/{request.params['id']}/attach?{urlencode(query)}")
    yield
