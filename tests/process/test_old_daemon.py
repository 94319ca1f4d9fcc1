"""apiproxy in front of a 2013 daemon (API 1.0-1.9), played by fake2013 from the documentation.

With an upstream whose ApiVersion is at most 1.9 (Docker 0.6-0.8), legacy
requests climb the version chain up to that version and no further: no
change of 1.10+ (HostConfig moves, start recreating the container, JSON
errors) may be applied.  The fake answers with the documented examples of its
own version, so a wrong schema or a wrong version change shows here.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Iterator

import jsonschema
import pytest

from apiproxy.api import validation
from apiproxy.api.routes import match_legacy
from apiproxy.api.versions import parse_version
from fake2013 import DocExample, FakeDaemon, Received, load
from support import Apiproxy, Reply, deadline_poll, legacy_problem, request, start_apiproxy

CLIENTS = ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9"]
_ANY_PREFIX = re.compile(r"/v\d+\.\d+(/|$)")


@dataclass
class Old:
    """A fake 2013 daemon and the apiproxy in front of it."""

    fake: FakeDaemon
    proxy: Apiproxy
    target: str | None  # the version legacy requests must reach the fake at; None: none may
    workdir: str
    mark: int = 0  # requests the fake had received when the current test began

    @property
    def version(self) -> str:
        return self.fake.version

    def send(self, method: str, path: str, body: Any = None) -> Reply:
        """A request through apiproxy; answers are checked by each test, not by `request`."""
        return request(self.proxy.sock, method, path, body, validate=False, timeout=20)

    def received(self) -> list[Received]:
        """What reached the fake during the current test."""
        return self.fake.since(self.mark)

    def stop(self) -> None:
        code = self.proxy.stop()
        self.fake.close()
        log = self.proxy.log
        shutil.rmtree(self.workdir, ignore_errors=True)
        assert code == 0, log
        assert "Traceback" not in log, log


def _misplaced(received: list[Received], target: str | None, probe: bool = False) -> list[str]:
    """Requests that do not carry exactly the target's prefix (with `probe`, apiproxy's bare /version aside)."""
    bad: list[str] = []
    for item in received:
        if probe and item.method == "GET" and item.target == "/version":
            continue  # apiproxy's own probe, at start: a 2013 daemon answers it at its own version
        prefix = f"/v{target}/"
        rest = item.path[len(prefix) - 1:] if target and item.path.startswith(prefix) else None
        if rest is None or _ANY_PREFIX.search(rest):
            bad.append(f"{item.method} {item.target}")
    return bad


class Fleet:
    """The fakes and apiproxies of this module, started on first use and kept for its tests."""

    def __init__(self) -> None:
        self.running: dict[tuple[str, bool, str | None], Old] = {}
        self.touched: list[Old] = []

    def get(self, version: str, api_version: bool = True, target_version: str | None = None) -> Old:
        key = (version, api_version, target_version)
        if key not in self.running:
            self.running[key] = self._start(*key)
        old = self.running[key]
        if old not in self.touched:
            old.mark = len(old.fake.requests)
            self.touched.append(old)
        return old

    @staticmethod
    def _start(version: str, api_version: bool, target_version: str | None) -> Old:
        workdir = tempfile.mkdtemp(prefix="ap-old-")  # short: unix socket paths are limited
        fake = FakeDaemon(f"{workdir}/fake.sock", version, api_version=api_version)
        # Bare paths are read as the 2013 tools that sent them meant: at 1.9 (at most the daemon's own).
        with open(f"{workdir}/apiproxy.toml", "w") as config:
            config.write('unversioned_version = "1.9"\n')
        extra = ["--config", f"{workdir}/apiproxy.toml"] + (["--target-version", target_version] if target_version else [])
        proxy = start_apiproxy(fake.path, *extra, workdir=workdir)
        target = target_version or (version if api_version else None)
        old = Old(fake, proxy, target, workdir)
        try:
            deadline_poll(lambda: "legacy requests" in proxy.log, timeout=10)
            if target is not None:
                # Waits for the start-up reads (the probe, the recreated ids) to be over.
                assert old.send("GET", f"/v{target}/version").status == 200
            assert not _misplaced(fake.requests, target, probe=True), fake.requests
        except BaseException:
            old.stop()
            raise
        return old

    def close(self) -> None:
        failures = []
        for old in self.running.values():
            try:
                old.stop()
            except AssertionError as failure:
                failures.append(str(failure))
        assert not failures, failures


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    running = Fleet()
    yield running
    running.close()


@pytest.fixture(autouse=True)
def only_target_prefixes(fleet: Fleet) -> Iterator[None]:
    """After each test: whatever reached a fake carries its target prefix and no other."""
    fleet.touched = []
    yield
    for old in fleet.touched:
        bad = _misplaced(old.received(), old.target)
        assert not bad, f"reached the {old.version} fake without the /v{old.target}/ prefix: {bad}"


def _docs(version: str) -> dict[str, DocExample]:
    return {example.endpoint: example for example in load(version).examples}


# The target version ------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.7", "1.9"])
def test_log_says_legacy_requests_go_at_the_daemons_version(fleet: Fleet, version: str) -> None:
    old = fleet.get(version)
    assert f"(API {version}); legacy requests go at API {version}" in old.proxy.log


@pytest.mark.parametrize("version", ["1.7", "1.9"])
def test_v13_container_list_goes_at_target_and_returns_ports_as_text(fleet: Fleet, version: str) -> None:
    old = fleet.get(version)
    reply = old.send("GET", "/v1.3/containers/json")
    assert reply.status == 200, reply
    assert [r.target for r in old.received()] == [f"/v{version}/containers/json"]
    documented = old.fake.example("GET", "/containers/json").document
    rows = reply.json()
    assert [row["Id"] for row in rows] == [row["Id"] for row in documented]
    # 1.5 made Ports a list; a 1.3 client reads the display string 0.5 daemons sent.
    assert all(isinstance(row["Ports"], str) for row in rows), rows
    first = documented[0]["Ports"][0]
    assert rows[0]["Ports"].startswith(f"{first['PublicPort']}->{first['PrivatePort']}"), rows[0]
    assert [row["Ports"] for row in rows[1:]] == ["" for _ in rows[1:]]
    assert not _real_problems("GET /containers/json", "1.3", reply.body)


def test_bare_path_is_answered_as_the_daemon_would(fleet: Fleet) -> None:
    # unversioned_version is configured 1.9; a bare path at a 1.7 daemon goes at 1.7, as that daemon answered it.
    old = fleet.get("1.7")
    reply = old.send("GET", "/containers/json")
    assert [r.target for r in old.received()] == ["/v1.7/containers/json"]
    assert reply.json() == old.fake.example("GET", "/containers/json").document


@pytest.mark.parametrize("version", ["1.7", "1.9"])
def test_v12_container_list_asks_for_sizes(fleet: Fleet, version: str) -> None:
    # 1.3 computes sizes only when asked; 1.2 daemons always did.
    old = fleet.get(version)
    assert old.send("GET", "/v1.2/containers/json").status == 200
    assert [(r.path, r.query) for r in old.received()] == [(f"/v{version}/containers/json", {"size": ["1"]})]


@pytest.mark.parametrize("version", ["1.7", "1.9"])
def test_since_reaches_the_daemon_as_the_parameter_it_documents(fleet: Fleet, version: str) -> None:
    # 0.6-0.8 daemons take since/before themselves and know no `filters` (Docker 1.10+ profile).
    old = fleet.get(version)
    reply = old.send("GET", "/v1.3/containers/json?since=9cd87474be90")
    assert reply.status == 200, reply
    received = [(r.method, r.path, r.query) for r in old.received()]
    assert received == [("GET", f"/v{version}/containers/json", {"since": ["9cd87474be90"]})], \
        f"the {version} daemon received {[f'{r.method} {r.target}' for r in old.received()]}"


@pytest.mark.parametrize(("version", "client"), [("1.7", "1.8"), ("1.7", "1.9")])
def test_client_newer_than_the_daemon_is_refused_as_too_new(fleet: Fleet, version: str, client: str) -> None:
    old = fleet.get(version)
    reply = old.send("GET", f"/v{client}/containers/json")
    received = [r.target for r in old.received()]
    assert (reply.status, reply.text) == (
        400, f"client version {client} is too new. Maximum supported API version is {version}\n"), \
        f"{reply!r}; the fake received {received}"
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert received == []


def test_client_at_the_daemons_version_passes_untranslated(fleet: Fleet) -> None:
    old = fleet.get("1.9")
    reply = old.send("GET", "/v1.9/containers/json")
    assert [r.target for r in old.received()] == ["/v1.9/containers/json"]
    assert reply.json() == old.fake.example("GET", "/containers/json").document


@pytest.mark.parametrize("version", ["1.7", "1.9"])
def test_v16_image_list_has_one_row_per_tag(fleet: Fleet, version: str) -> None:
    old = fleet.get(version)
    reply = old.send("GET", "/v1.6/images/json")
    assert reply.status == 200, reply
    assert [r.target for r in old.received()] == [f"/v{version}/images/json"]
    expected = sorted((tag.rpartition(":")[0], tag.rpartition(":")[2], image["Id"])
                      for image in old.fake.example("GET", "/images/json").document for tag in image["RepoTags"])
    rows = reply.json()
    assert sorted((row["Repository"], row["Tag"], row["Id"]) for row in rows) == expected
    assert not any("RepoTags" in row for row in rows)
    assert legacy_problem("GET", "/v1.6/images/json", reply.status, reply.body) is None


# Bodies: only the changes up to the target ------------------------------------


@pytest.mark.parametrize("version", ["1.7", "1.9"])
def test_v13_create_body_reaches_the_daemon_unchanged(fleet: Fleet, version: str) -> None:
    old = fleet.get(version)
    body = _docs("1.3")["POST /containers/create"].request_body  # the 1.3 documentation's own
    reply = old.send("POST", "/v1.3/containers/create", body)
    assert reply.status == 201, reply
    assert reply.json() == old.fake.example("POST", "/containers/create").document
    [sent] = old.received()
    assert (sent.method, sent.target) == ("POST", f"/v{version}/containers/create")
    assert sent.json() == body  # no HostConfig, no ExposedPorts: those moves are 1.10+
    assert sent.header("Content-Type") == "application/json"


@pytest.mark.parametrize("version", ["1.7", "1.9"])
def test_v13_start_with_host_config_reaches_the_daemon_as_a_start(fleet: Fleet, version: str) -> None:
    old = fleet.get(version)
    body = _docs("1.3")["POST /containers/(id)/start"].request_body
    assert body == {"Binds": ["/tmp:/tmp"]}
    reply = old.send("POST", "/v1.3/containers/e90e34656806/start", body)
    assert reply.status == 204, reply
    # No inspect, remove and create: recreating at start is the 1.24 change's emulation.
    assert [(r.method, r.target, r.json()) for r in old.received()] == [
        ("POST", f"/v{version}/containers/e90e34656806/start", body)]


@pytest.mark.parametrize("version", ["1.7", "1.9"])
@pytest.mark.parametrize(("method", "path", "body", "message"), [
    ("GET", "/containers/nosuch1/json", None, "No such container: nosuch1"),
    ("POST", "/containers/nosuch2/start", {"Binds": ["/tmp:/tmp"]}, "No such container: nosuch2"),
    ("DELETE", "/images/nosuch3", None, "No such image: nosuch3"),
])
def test_daemon_errors_reach_a_v13_client_as_plain_text(fleet: Fleet, version: str, method: str, path: str,
                                                        body: Any, message: str) -> None:
    old = fleet.get(version)
    reply = old.send(method, f"/v1.3{path}", body)
    assert (reply.status, reply.text) == (404, message + "\n")
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert [r.target for r in old.received()] == [f"/v{version}{path}"]


# GET /auth: the daemon's at 1.1, apiproxy's own from 1.2 on -------------------


def test_v10_auth_at_a_v11_daemon_is_the_daemons(fleet: Fleet) -> None:
    # Docker 0.3 said no ApiVersion: the target is configured.
    old = fleet.get("1.1", api_version=False, target_version="1.1")
    reply = old.send("GET", "/v1.0/auth")
    assert [r.target for r in old.received()] == ["/v1.1/auth"]
    assert reply.json() == old.fake.example("GET", "/auth").document
    assert legacy_problem("GET", "/v1.0/auth", reply.status, reply.body) is None


def test_v10_auth_at_a_v17_daemon_is_the_login_apiproxy_kept(fleet: Fleet) -> None:
    # GET /auth is gone at 1.2 (the 1.7 daemon routes no GET /auth); apiproxy answers it.
    old = fleet.get("1.7")
    assert old.fake.docs.find("GET", "/auth") is None
    assert old.send("GET", "/v1.0/auth").json() == {"username": "", "email": ""}
    login = {"username": "hannibal", "password": "xxxx", "email": "hannibal@a-team.com"}
    assert old.send("POST", "/v1.0/auth", login).status == 200
    reply = old.send("GET", "/v1.0/auth")
    assert reply.json() == {"username": "hannibal", "email": "hannibal@a-team.com"}
    assert legacy_problem("GET", "/v1.0/auth", reply.status, reply.body) is None
    assert [(r.method, r.target, r.json()) for r in old.received()] == [("POST", "/v1.7/auth", login)]


# A daemon that does not say its API version (Docker 0.3-0.5) -------------------


def test_without_api_version_legacy_requests_are_refused(fleet: Fleet) -> None:
    old = fleet.get("1.2", api_version=False)
    assert "(API unknown); legacy requests will be refused: " \
           "the upstream did not say which API version it speaks" in old.proxy.log
    for path, client in [("/v1.0/containers/json", "1.0"), ("/v1.2/images/json", "1.2"),
                         ("/containers/json", "1.9")]:
        reply = old.send("GET", path)
        assert (reply.status, reply.text) == (
            502, f"apiproxy cannot serve API {client} requests: "
                 "the upstream did not say which API version it speaks\n"), path
        assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert old.received() == []
    assert [r.target for r in old.fake.requests] == ["/version"]  # the probe, once


def test_without_api_version_a_configured_target_is_used(fleet: Fleet) -> None:
    old = fleet.get("1.2", api_version=False, target_version="1.2")
    assert "(API unknown); legacy requests go at API 1.2" in old.proxy.log
    reply = old.send("GET", "/v1.0/containers/json")
    assert reply.status == 200, reply
    assert [r.target for r in old.received()] == ["/v1.2/containers/json"]
    assert [row["Id"] for row in reply.json()] == \
           [row["Id"] for row in old.fake.example("GET", "/containers/json").document]


def test_without_api_version_a_client_above_the_configured_target_is_refused(fleet: Fleet) -> None:
    old = fleet.get("1.2", api_version=False, target_version="1.2")
    reply = old.send("GET", "/v1.3/containers/json")
    received = [r.target for r in old.received()]
    assert reply.status == 400 and "too new" in reply.text, f"{reply!r}; the fake received {received}"
    assert received == []


# Every documented answer, through the chain ----------------------------------

# Answers without a request body (streams included); the fake serves each at its version.
_SWEPT = {"GET", "DELETE", "POST /containers/(id)/wait", "POST /images/create"}


def _swept(version: str) -> list[str]:
    return [e.endpoint for e in load(version).examples
            if e.values is not None and (e.method in _SWEPT or e.endpoint in _SWEPT)]


_SWEEP = [(version, endpoint) for version in ("1.1", "1.7", "1.9") for endpoint in _swept(version)]


def _old_for(fleet: Fleet, version: str) -> Old:
    return fleet.get("1.1", False, "1.1") if version == "1.1" else fleet.get(version)


def _leaves(errors: Any) -> set[tuple[str, str]]:
    """Every schema error as (path with list indices as *, message); an anyOf's as one, its branches joined."""
    found: set[tuple[str, str]] = set()
    for error in errors:
        path = ".".join("*" if isinstance(part, int) else str(part) for part in error.absolute_path)
        if error.context:
            branches = sorted(message for _, message in _leaves(error.context))
            found.add((path, " | ".join(branches)))
        else:
            found.add((path, error.message))
    return found


def _schema_errors(endpoint: str, client: str, body: bytes) -> set[tuple[str, str]]:
    """Every way an answer breaks the client version's response (or stream item) schema."""
    version = parse_version(client)
    pointer = validation.legacy_pointer(endpoint, version, "response")
    item_pointer = validation.legacy_pointer(endpoint, version, "stream_item")
    if pointer is None and item_pointer is None or not body.strip():
        return set()
    decoder, text, index = json.JSONDecoder(), body.decode(), 0
    values: list[Any] = []
    while index < len(text):
        value, index = decoder.raw_decode(text, index)
        values.append(value)
        while index < len(text) and text[index] in " \r\n\t":
            index += 1
    checks = [(pointer, values[0])] if pointer and len(values) == 1 else \
        [(item_pointer or pointer, value) for value in values]
    found: set[tuple[str, str]] = set()
    for where, value in checks:
        checker = jsonschema.Draft202012Validator({"$ref": where}, registry=validation.registry())
        found |= _leaves(checker.iter_errors(value))
    return found


# The documentation shortens ids ("8dfafdbc3a40", "27cf784147099545"); daemons sent them whole.
_ABBREVIATED_ID = re.compile(r"'[0-9a-f]{1,63}' does not match '\^.*\[0-9a-f\]\{64\}.*'")


def _real_problems(endpoint: str, client: str, body: bytes) -> set[tuple[str, str]]:
    """Schema errors other than the documentation's shortened ids."""
    return {(where, message) for where, message in _schema_errors(endpoint, client, body)
            if not _ABBREVIATED_ID.search(message)}


def _through(old: Old, example: DocExample, client: str) -> tuple[str, str, bytes]:
    """(path, endpoint, answer body) of the example's request sent by a `client` client."""
    query = f"?{example.request_query}" if example.method == "POST" and example.request_query else ""
    path = f"/v{client}{example.request_path}{query}"  # GET queries (since, before) are left out
    reply = old.send(example.method, path)
    assert 200 <= reply.status < 300, (path, reply)
    route = match_legacy(example.method, example.request_path)
    assert route is not None
    return path, route.key, reply.body


def _clients(version: str, example: DocExample) -> list[str]:
    route = match_legacy(example.method, example.request_path)
    return [c for c in CLIENTS if route and parse_version(c) < parse_version(version)
            and route.exists_in(parse_version(c))]


@pytest.mark.parametrize(("version", "endpoint"), _SWEEP)
def test_translation_adds_no_schema_problem(fleet: Fleet, version: str, endpoint: str) -> None:
    """Each older client gets an answer no worse than the daemon's own for its schema."""
    old = _old_for(fleet, version)
    example = old.fake.docs.get(*endpoint.split(" ", 1))
    _, key, body = _through(old, example, version)
    inherited = _schema_errors(key, version, body)
    added: dict[str, list[tuple[str, str]]] = {}
    for client in _clients(version, example):
        path, key, body = _through(old, example, client)
        errors = _schema_errors(key, client, body)
        if errors - inherited:
            added[path] = sorted(errors - inherited)
    assert not added, f"translated from the {version} documentation's answer: {added}"


def test_documentation_repairs_are_the_known_ones() -> None:
    """The typos fake2013 fixes in the examples it serves (see fake2013/docs.py)."""
    comma, elided = 'missing comma between "Id" and "Warnings"', 'a "..." line standing for elided items'
    streams = [f"POST /images/create: {elided}", f"POST /images/(name)/insert: {elided}",
               f"POST /images/(name)/push: {elided}"]
    assert load("1.1").repaired == [f"v1.1 {line}" for line in [f"POST /containers/create: {comma}", *streams]]
    assert load("1.7").repaired == [f"v1.7 {line}" for line in [
        f"POST /containers/create: {comma}", *streams, f"GET /images/search: {elided}"]]
    assert load("1.9").repaired == [f"v1.9 {line}" for line in [
        f"POST /containers/create: {comma}", *streams[:2],
        'POST /images/(name)/push: one closing brace too many after "progressDetail"', streams[2],
        f"GET /images/search: {elided}"]]
