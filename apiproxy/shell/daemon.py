"""The upstream daemon as seen from Twisted: connecting, and reading its /version."""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import treq
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import clientFromString, connectProtocol
from twisted.internet.interfaces import IProtocol, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from apiproxy.api.ids import LABEL
from apiproxy.api.upstream_info import TargetChoice, UpstreamInfo, choose_target, parse_upstream_info
from apiproxy.api.versions import Version
from apiproxy.ops.config import TLSFiles
from apiproxy.ops.metrics import UPSTREAM_RECONNECTS, upstream_known
from apiproxy.shell.tls import client_endpoint
from apiproxy.translation.emulations.commands import Answer, Call
from apiproxy.translation.memory import Memory

log = Logger(namespace="apiproxy.daemon")  # the name its log lines have always carried

PROBE_TIMEOUT = 30.0


class UpstreamUnavailable(Exception):
    pass


@implementer(IAgentEndpointFactory)
class _Fixed:
    """Every URL treq asks for goes to the daemon's endpoint."""

    def __init__(self, endpoint: IStreamClientEndpoint) -> None:
        self.endpoint = endpoint

    def endpointForURI(self, uri: Any) -> IStreamClientEndpoint:
        return self.endpoint


def describe_failure(failure: Failure) -> str:
    """"No such file or directory" rather than Twisted's wrapping of it."""
    message = failure.getErrorMessage().strip().rstrip(".")
    message = re.sub(r"^An error occurred while connecting: (\d+: )?", "", message)
    message = re.sub(r"^Connection was refused by other side: (\d+: )?", "", message)
    # A failure wrapped in another prints as its repr: keep the inner message.
    message = re.sub(r"\[Failure instance: .*?<class '[\w.]+'>: (.*?)\s*\]", r"\1", message, flags=re.S).rstrip(".")
    if message:
        return message
    assert failure.type is not None  # a Failure holds an exception, so its type
    return failure.type.__name__


class Daemon:
    """How to reach the upstream, and what it last said of itself.

    The /version answer is read at start and again after any failed
    connection, so a daemon that was upgraded while down is seen anew.  It
    decides routing only: apiproxy never answers a request from it.
    """

    def __init__(self, reactor: Any, description: str, target_version: Version | None,
                 tls: TLSFiles | None = None) -> None:
        self.reactor = reactor
        self.description = description
        self.endpoint = clientFromString(reactor, description)
        if tls is not None:
            self.endpoint = client_endpoint(tls, description, self.endpoint)
        self.target_version = target_version
        self.info: UpstreamInfo | None = None
        self.memory = Memory()
        self.choice = TargetChoice(None, "the upstream has not been reached yet")
        self._waiters: list[Deferred[UpstreamInfo]] | None = None  # set while a probe runs
        self._lost = False  # it answered once, then a connection failed: reaching it again is a reconnect
        self._http = treq.client.HTTPClient(Agent.usingEndpointFactory(reactor, _Fixed(self.endpoint)))

    def unreachable_message(self, reason: str) -> str:
        return (f"Cannot connect to the upstream Docker daemon at {self.description}: {reason}. "
                "Is the docker daemon running?")

    def connect(self, protocol: IProtocol) -> Deferred[Any]:
        return connectProtocol(self.endpoint, protocol)

    def connection_failed(self) -> None:
        if self.info is not None:
            log.warn("upstream {upstream} unreachable; its version will be read again",
                     upstream=self.description)
            self._lost = True
        self.info = None

    def current_info(self) -> Deferred[UpstreamInfo]:
        if self.info is not None:
            return succeed(self.info)
        waiter: Deferred[UpstreamInfo] = Deferred()
        if self._waiters is None:
            self._waiters = [waiter]
            self._read_version()
        else:
            self._waiters.append(waiter)
        return waiter

    def _read_version(self) -> None:
        d = self._http.get("http://docker/version", timeout=PROBE_TIMEOUT)
        d.addCallback(self._check_status)
        d.addCallback(self._learned)
        d.addErrback(self._probe_failed)
        d.addBoth(self._probe_done)

    def _check_status(self, response: Any) -> Deferred[Any]:
        if response.code != 200:
            raise UpstreamUnavailable(f"GET /version answered {response.code}")
        return response.content().addCallback(json.loads)

    def _learned(self, body: Any) -> Deferred[UpstreamInfo] | UpstreamInfo:
        if not isinstance(body, dict):
            raise UpstreamUnavailable("GET /version did not answer a JSON object")
        info = parse_upstream_info(body)
        choice = choose_target(info, self.target_version)
        if choice.version is not None:
            log.info("upstream {upstream} is {info}; legacy requests go at API {target}",
                     upstream=self.description, info=info.describe(), target=choice.version)
        else:
            log.error("upstream {upstream} is {info}; legacy requests will be refused: {problem}",
                      upstream=self.description, info=info.describe(), problem=choice.problem)

        def known(_: Any = None) -> UpstreamInfo:
            self.info, self.choice = info, choice
            upstream_known(info, choice.version)
            if self._lost:
                self._lost = False
                UPSTREAM_RECONNECTS.inc()
            return info
        if choice.version is None:
            return known()
        # Requests wait for the ids too: a legacy id must resolve from the first one on.
        return self._read_legacy_ids(choice.version).addCallback(known)

    def _read_legacy_ids(self, target: Version) -> Deferred[None]:
        """Containers apiproxy recreated carry the id their client knows in a label."""
        query = urlencode({"all": "1", "filters": json.dumps({"label": [LABEL]})})
        d = self.call(Call("GET", f"/containers/json?{query}"), target).addCallback(
            lambda answer: self.memory.ids.rebuild(answer.body) if answer.status == 200 else None)
        d.addErrback(lambda failure: log.warn("cannot read recreated containers: {why}",
                                              why=describe_failure(failure)))
        return d

    def call(self, call: Call, target: Version) -> Deferred[Answer]:
        """One request of an emulation, at the target version."""
        headers: dict[bytes | str, list[bytes | str]] = {}  # the type treq.request() takes
        if call.body is not None:
            headers["Content-Type"] = ["application/json"]
        data: Any = json.dumps(call.body).encode() if call.body is not None else call.raw_body
        if isinstance(data, str):  # a file on disk (a tar), streamed
            data = open(data, "rb")
            headers = {"Content-Type": ["application/x-tar"]}
        headers.update({name: [value] for name, value in call.headers.items()})  # X-Registry-Auth of a push
        sent = self._http.request(call.method, f"http://docker/v{target}{call.path}", data=data,
                                  headers=headers)
        d = sent.addCallback(lambda response: response.content().addCallback(
            lambda content: Answer(response.code, _json_or_bytes(content))))
        if hasattr(data, "close"):
            d.addBoth(lambda result: (data.close(), result)[1])
        return d

    def _probe_failed(self, failure: Failure) -> Failure:
        self.info = None
        if failure.check(UpstreamUnavailable):
            return failure
        return Failure(UpstreamUnavailable(describe_failure(failure)))

    def _probe_done(self, result: UpstreamInfo | Failure) -> None:
        waiters, self._waiters = self._waiters or [], None
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)


def _json_or_bytes(content: bytes) -> Any:
    try:
        return json.loads(content) if content.strip() else None
    except ValueError:
        return content
