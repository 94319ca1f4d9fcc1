"""`apiproxy explain`: one translation shown step by step, with no daemon. Pure.

The proxy's own code does the work: routing.plan picks the exchange, and the
view after each step is that exchange cut after the step (ChainExchange.partial),
so what is shown is what the proxy sends. Emulations run on assumed answers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Callable
from urllib.parse import parse_qsl

from apiproxy.api.errors import error_reply
from apiproxy.api.redaction import redact_target, redact_url
from apiproxy.api.upstream_info import TargetChoice, UpstreamInfo, choose_release, is_legacy, known_versions
from apiproxy.api.versions import Version, split_version_prefix
from apiproxy.translation.advertise import Advertising
from apiproxy.translation.chain import ChainExchange
from apiproxy.translation.emulations import outcome
from apiproxy.translation.emulations.attach import NEVER_STARTED
from apiproxy.translation.emulations.commands import (Answer, Call, EmulationFailed, Fetch, LegacyRequest, Park, Pass,
                                                      Reply, Unpark, WebSocket)
from apiproxy.translation.exchange import Exchange
from apiproxy.translation.routing import Refuse, Settings, plan
from apiproxy.translation.transforms import TranslationError, json_values
from apiproxy.wire.http1 import Headers, ProtocolError, passed_on, text_headers
from apiproxy.wire.paths import normalize_target

SECRET_HEADERS = frozenset({"x-registry-auth", "x-registry-config"})
SECRET_FIELDS = frozenset({"password", "auth", "identitytoken", "registrytoken"})  # of an AuthConfig body
INDENT = "    "
# Made-up upstream answers, recognisable as such in a plan.
NEW_CONTAINER = "c0ffee" * 10 + "c0de"
NEW_IMAGE = "sha256:" + "1ced" * 16


DEFAULT_FLOOR = Version(1, 24)  # Docker 26-28's


@dataclass
class Question:
    method: str
    target: str  # path and query, with the client's /vX.Y prefix (see with_version)
    target_version: Version
    upstream_kind: str = "docker"
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    response: bool = False  # `body` is the daemon's answer, at `status`, on its way down
    status: int = 200
    floor: Version = DEFAULT_FLOOR  # the daemon's MinAPIVersion: modern clients below it climb to it
    daemon_version: str = ""  # the daemon's release ("29.1.0"), whose profile (docker29) may apply


@dataclass
class Explanation:
    lines: list[str]
    exit_code: int  # 0 explained, 1 refused or untranslatable


def highest_target() -> Version:
    return known_versions()[1][-1]


def default_target(client: Version) -> Version:
    """The daemon's own version when none is given: the highest apiproxy translates to, or a modern
    client's own when it is newer (a daemon that refuses it is asked with --target-version)."""
    return highest_target() if is_legacy(client) else max(highest_target(), client)


def with_version(path: str, client_version: Version | None) -> str:
    """PATH with the client's /vX.Y prefix; ValueError if no version is known or two disagree."""
    prefixed = split_version_prefix(path.partition("?")[0]).version
    if prefixed is None and client_version is None:
        raise ValueError("give --client-version, or a /vX.Y prefix in PATH")
    if prefixed is not None and client_version not in (None, prefixed):
        raise ValueError(f"PATH says API {prefixed}, --client-version {client_version}")
    return path if prefixed is not None else f"/v{client_version}{path}"


def parse_header(text: str) -> tuple[bytes, bytes]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise ValueError(f"a header is 'Name: value', not {text!r}")
    return name.strip().encode("latin-1"), value.strip().encode("latin-1")


def explain(question: Question) -> Explanation:
    lines: list[str] = []
    exit_code = _explain(question, lines)
    return Explanation([redact_url(line) for line in lines], exit_code)  # a URL's password, wherever it shows


def _explain(question: Question, lines: list[str]) -> int:
    version = split_version_prefix(question.target.partition("?")[0]).version
    if version is None:
        raise ValueError("the target needs its client's /vX.Y prefix (see with_version)")
    try:
        target = normalize_target(question.target)  # as the proxy reads a request head
        info = UpstreamInfo(question.upstream_kind, question.daemon_version, question.target_version,
                            min(question.floor, question.target_version),
                            release=choose_release(question.upstream_kind, question.daemon_version,
                                                   question.target_version))
        decision = plan(question.method, target, info, TargetChoice(question.target_version), Settings(version))
        if isinstance(decision, Refuse):
            lines += _refusal(decision.client_version, decision.status, decision.message)
            return 1
        exchange = decision.exchange
        if not isinstance(exchange, ChainExchange):
            return _untranslated(question, decision.target, exchange, lines)
        lines += _heading(question, exchange)
        emulate = exchange.emulation()
        if question.response:
            return _explain_answer(question, exchange, emulate is not None, lines)
        if emulate is not None:
            _explain_emulation(question, exchange, emulate, decision.target, lines)
        else:
            _explain_request(question, exchange, target, lines)
    except (ProtocolError, TranslationError) as error:
        lines += _refusal(version, error.status, str(error))
        return 1
    return 0


def _untranslated(question: Question, sent: str, exchange: Exchange, lines: list[str]) -> int:
    what = f"{question.method} {redact_target(question.target)}"
    if isinstance(exchange, Advertising):
        field, also = ("API-Version header", "") if exchange.path == "/_ping" else ("ApiVersion", " (MinAPIVersion: 1.0)")
        lines.append(f"{what}: apiproxy passes the request through as {question.method} {redact_target(sent)}; "
                     f"the answer's {field} says {exchange.advertised}{also}, the daemon's own capped at the newest "
                     f"version apiproxy knows the changes of.")
        return 0
    if exchange.route is not None or exchange.client_version is None or not is_legacy(exchange.client_version):
        lines.append(f"{what}: apiproxy passes the request through untouched, "
                     f"as {question.method} {redact_target(sent)}.")
        return 0
    lines.append(f"{what}: no v1.0-v1.9 endpoint apiproxy knows. It forwards the request untouched, as "
                 f"{redact_target(sent)}, for the daemon to answer (today's daemons: 404 page not found).")
    return 1


def _heading(question: Question, exchange: ChainExchange) -> list[str]:
    route, version = exchange.route, exchange.client_version
    assert route is not None and version is not None
    lines = [f"{question.method} {redact_target(question.target)}: API {version} -> {exchange.target} "
             f"({question.upstream_kind}), endpoint {route.key}"]
    if not is_legacy(version) and exchange.target is not None and version < exchange.target:
        lines.append(f"API {version} is below the daemon's floor: the request climbs the version changes to "
                     f"{exchange.target}, and its answer comes back down")
    elif not is_legacy(version):
        lines.append(f"API {version} is one the daemon accepts; its release ({question.daemon_version}) changed "
                     f"answers at every version, which apiproxy gives back as earlier releases answered")
    if not route.exists_in(version):
        lived = f"{route.since}-{route.until}" if route.until < Version(1, 99) else f"{route.since} on"
        lines.append(f"note: the endpoint is of API {lived}; apiproxy translates it all the same")
    return lines


def _refusal(version: Version | None, status: int, message: str, lead: str = "apiproxy answers") -> list[str]:
    """The error answer the proxy sends, in the style of the client's version, byte for byte."""
    status, headers, body = error_reply(version, status, message)
    return [f"{lead} {status} ({dict(headers)[b'Content-Type'].decode()}):", INDENT + body.decode().rstrip("\n")]


def _walk(exchange: ChainExchange, view: Callable[[int], list[str]], downward: bool, lines: list[str]) -> list[str]:
    """Each change crossed in the order the message meets it, and the message after it; the last view."""
    previous = view(0)
    steps = list(zip(exchange.crossed, exchange.applied()))
    for number, (change, description) in enumerate(steps[::-1] if downward else steps, 1):
        current = view(number)
        lines.append(f"{number}. [{change.origin}] {description}")
        if change.untranslatable:
            lines.append(f"{INDENT}not translated: {change.untranslatable}")
        lines += current if current != previous else [INDENT + "(no change)"]
        previous = current
    return previous


# Showing messages -----------------------------------------------------------

def _message(first: str, before: Headers, after: Headers, body: bytes) -> list[str]:
    """A request line or status, the headers `after` has that `before` had not, and the body."""
    method, space, target = first.partition(" ")
    lines = [INDENT + (f"{method} {redact_target(target)}" if space else first)]
    old, new = _named(before), _named(after)
    lines += [f"{INDENT}header {name}: {'<redacted>' if key in SECRET_HEADERS else value}"
              for key, (name, value) in new.items() if old.get(key, ("", None))[1] != value]
    lines += [f"{INDENT}header {old[key][0]} removed" for key in old if key not in new]
    if not body:
        return lines + [INDENT + "(no body)"]
    return lines + [INDENT + "body:", *(INDENT * 2 + line for line in _pretty(body))]


def _named(headers: Headers) -> dict[str, tuple[str, str]]:
    return {name.decode("latin-1").lower(): (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in headers}


def _pretty(body: bytes) -> list[str]:
    """JSON indented (a stream, one item a line), credentials hidden; else text; else a byte count."""
    items = json_values(body)
    if items is not None and len(items) == 1:
        return json.dumps(_hidden(items[0]), indent=2, ensure_ascii=False).splitlines()
    if items is not None:
        return [json.dumps(_hidden(item), ensure_ascii=False) for item in items]
    text = body.decode("utf-8", "replace")
    return [f"({len(body)} bytes, not text)"] if "\ufffd" in text or "\x00" in text else text.splitlines()


def _hidden(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: "<redacted>" if str(key).lower() in SECRET_FIELDS and item else _hidden(item)
                for key, item in value.items()}
    return [_hidden(item) for item in value] if isinstance(value, list) else value


def _through(transform: Any, body: bytes) -> bytes:
    return transform.feed(body) + transform.close() if transform is not None else body


# Requests going up, answers coming down -------------------------------------

def _explain_request(question: Question, exchange: ChainExchange, target: str, lines: list[str]) -> None:
    path, query = split_version_prefix(target.partition("?")[0]).path, target.partition("?")[2]
    given = passed_on(question.headers)

    def view(count: int, prefix: str = "") -> list[str]:
        step = exchange.partial(count)
        sent = step.request_target(path, query)
        body = _through(step.request_body(given), question.body)  # before the headers: they depend on it
        return _message(f"{question.method} {prefix}{sent}", given, step.request_headers(given), body)

    first = f"{question.method} {path}{'?' if query else ''}{query}"
    lines += [f"the client sends (API {exchange.client_version}):", *_message(first, [], given, question.body)]
    read = view(0)  # checked against its version's schema, read as that version's daemons read it
    if read != _message(first, given, given, question.body):
        lines += [f"0. checked against API {exchange.client_version}'s schema, read as its daemons read it, "
                  "a JSON body labelled as such:", *read]
    _walk(exchange, view, False, lines)
    lines += [f"apiproxy sends (API {exchange.target}):", *view(len(exchange.crossed), f"/v{exchange.target}")]


def _explain_answer(question: Question, exchange: ChainExchange, emulated: bool, lines: list[str]) -> int:
    kind = b"application/json" if json_values(question.body) is not None else b"text/plain; charset=utf-8"
    given: Headers = list(question.headers) or ([(b"Content-Type", kind)] if question.body else [])
    if emulated:
        lines.append("note: an emulation serves this request; this is the answer to the request it forwards")
    if exchange.hijacked_streams()[0] is not None:
        lines.append("note: a hijacked stream of this endpoint is rewritten as it flows; that is not shown here")

    def view(count: int) -> list[str]:
        step = exchange.partial(count, downward=True)
        message = question.body if step.status_depends_on_message(question.status) else None
        status, headers = step.response_head(question.status, given, message)
        body = _through(step.response_body(status, headers), question.body)
        if status < 200 or status in (204, 304):
            body = b""  # the proxy sends these without a body
        return _message(str(status), given, headers, body)

    lines += [f"the daemon answers (API {exchange.target}):", *view(0)]
    try:
        last = _walk(exchange, view, True, lines)
    except TranslationError as error:
        lines.append(f"apiproxy cannot translate the upstream's answer: {error}")
        return 1
    lines += [f"the client gets (API {exchange.client_version}):", *last]
    return 0


# Emulations -------------------------------------------------------------------

def _explain_emulation(question: Question, exchange: ChainExchange, emulate: Any, sent: str,
                       lines: list[str]) -> None:
    lines.append("changes crossed:")
    for change, text in zip(exchange.crossed, exchange.applied()):
        lines.append(f"{INDENT}[{change.origin}] {text}")
        lines += [f"{INDENT * 2}not translated: {change.untranslatable}"] if change.untranslatable else []
    lines.append(f"served by the emulation {emulate.__name__}: {(emulate.__doc__ or '').splitlines()[0]}")
    query = dict(parse_qsl(sent.partition("?")[2], keep_blank_values=True))  # after the chain's query steps
    request = LegacyRequest(question.method, exchange.real_params, query, exchange.legacy_body(question.body),
                            exchange.context, text_headers(question.headers))
    emulation, answer = emulate(request), None
    for number in count(1):
        try:
            item = emulation.send(answer)
        except StopIteration as stop:
            lines += _outcome(stop.value, question, exchange)
            return
        except EmulationFailed as failed:  # not with the answers assumed here; as the proxy words it all the same
            body = failed.answer.body
            message = str(body.get("message", "")) if isinstance(body, dict) else str(body or "")
            lines += _refusal(exchange.client_version, failed.answer.status, message)
            return
        if number == 1:
            lines.append("its plan, on ASSUMED upstream answers (no daemon is asked):")
        answer, summary = _assumed(item)
        described = _item(item, exchange.target)
        lines += [f"{number}. {described[0].strip()}", *described[1:]]
        lines += [f"{INDENT}<- assumed: {summary}"] if summary else []


def _item(item: Call | Fetch | Unpark, target: Version | None) -> list[str]:
    if isinstance(item, Fetch):
        return [f"apiproxy downloads {item.url} into a tar holding {item.member}"]
    if isinstance(item, Unpark):
        recreated = "" if item.real_id == item.legacy_id else \
            f"; {item.real_id} stands for {item.legacy_id} from now on"
        return [f"any attach waiting for {item.legacy_id} is connected{recreated}"]
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in item.headers.items()]
    headers += [(b"Content-Type", b"application/json")] if item.body is not None else []
    body = json.dumps(item.body).encode() if item.body is not None else b""
    lines = _message(f"{item.method} /v{target}{item.path}", [], headers, body)
    if isinstance(item.raw_body, str):  # a file on disk, streamed: shown instead of "(no body)"
        return [*lines[:-1], f"{INDENT}body: the downloaded tar"]
    return lines


def _assumed(item: Call | Fetch | Unpark) -> tuple[Answer | None, str]:
    """A plausible upstream answer to `item`, and how to say it."""
    if isinstance(item, Unpark):
        return None, ""
    if isinstance(item, Fetch):
        return Answer(200, "/tmp/apiproxy-insert.tar"), "the download succeeds"
    path = item.path.partition("?")[0]
    if item.method == "POST" and path in ("/containers/create", "/commit"):
        made = NEW_CONTAINER if path == "/containers/create" else NEW_IMAGE
        return Answer(201, {"Id": made}), f'201 {{"Id": "{made}"}}'
    if item.method == "GET" and path == "/images/json":
        reference = json.loads(dict(parse_qsl(item.path.partition("?")[2])).get("filters", "{}")).get("reference")
        tags = [f"{reference[0]}:{tag}" for tag in ("1.0", "latest")] if reference else ["busybox:latest"]
        return Answer(200, [{"Id": NEW_IMAGE, "ParentId": "", "RepoTags": tags}]), f"200, one image tagged {tags}"
    if item.method == "GET" and path.startswith("/images/"):
        image = {"Id": NEW_IMAGE, "Config": {"Cmd": ["sh"]}, "Comment": "", "Author": ""}
        return Answer(200, image), "200, the image's inspect"
    if item.method == "GET" and path.startswith("/containers/"):
        inspect = {"Id": path.split("/")[2], "Name": "/web", "State": {"Running": False, "StartedAt": NEVER_STARTED},
                   "Config": {"Image": "busybox", "Cmd": ["sh"], "ExposedPorts": {"80/tcp": {}}},
                   "HostConfig": {"NetworkMode": "default"}, "NetworkSettings": {"IPAddress": "172.17.0.2"}}
        return Answer(200, inspect), "200, the inspect of a container named /web, created, never started"
    if item.method == "DELETE" or path.endswith(("/rename", "/start")):
        return Answer(204, None), "204"
    return Answer(200, None), "200"


def _outcome(result: Reply | Pass | Park | WebSocket, question: Question, exchange: ChainExchange) -> list[str]:
    """What the client finally gets, rendered as the proxy renders it (outcome.py)."""
    if isinstance(result, Park):
        return [f"the client's attach is answered 200 at once, and held until {result.legacy_id} starts"]
    if isinstance(result, WebSocket):
        return ["apiproxy answers the websocket itself and attaches upstream with a raw hijack:",
                f"{INDENT}POST /v{exchange.target}{result.path}"]
    if isinstance(result, Pass):
        return _forwarded(result, question, exchange)
    answer = outcome.reply(result, exchange)
    if isinstance(answer, outcome.Refused):
        return _refusal(exchange.client_version, answer.status, answer.message, lead="the client gets")
    return ["the client gets:", *_message(str(answer.status), [], answer.headers, answer.body)]


def _forwarded(result: Pass, question: Question, exchange: ChainExchange) -> list[str]:
    info = UpstreamInfo(question.upstream_kind, question.daemon_version, exchange.target, None,
                        release=choose_release(question.upstream_kind, question.daemon_version, exchange.target))
    forwarding = outcome.forwarding_exchange(result, exchange, info, exchange.context.memory)
    given = passed_on(question.headers)
    body = outcome.forwarded_body(result, forwarding, question.body, given)
    lines = ["then apiproxy forwards the request:",
             *_message(f"{result.method} /v{exchange.target}{result.path}", given, forwarding.request_headers(given),
                       body)]
    if result.as_endpoint is not None:
        lines.append(f"{INDENT}its answer is translated as {result.as_endpoint}'s")
    if result.as_attach:
        lines.append(f"{INDENT}a 200 reaches the client as a 2013 attach did: a raw stream ended by closing")
    return lines
