"""The access log's and the metrics' pure parts, and where log events go."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from twisted.logger import Logger, LogLevel

from apiproxy.ops.access import ACCESS_FORMAT, ACCESS_NAMESPACE, AccessRecord, endpoint_template, version_label
from apiproxy.api.redaction import redact_target
from apiproxy.ops.config import LogSettings
from apiproxy.shell.logs import LogRouter
from apiproxy.ops.metrics import REGISTRY, exposition, upstream_known
from apiproxy.api.upstream_info import TargetChoice, UpstreamInfo
from apiproxy.api.versions import Version, parse_version
from apiproxy.translation.routing import Forward, Settings, plan


@pytest.mark.parametrize("method, path, template", [
    # Legacy routes name their 2013 template, whatever the version prefix.
    ("GET", "/v1.3/containers/4fa6e0f0c678/json", "/containers/{id}/json"),
    ("GET", "/containers/4fa6e0f0c678/json", "/containers/{id}/json"),
    ("POST", "/v1.0/containers/abc/attach", "/containers/{id}/attach"),
    ("POST", "/v1.5/images/registry:5000/team/app/push", "/images/{name}/push"),
    ("DELETE", "/v1.9/images/team/app:latest", "/images/{name}"),
    # Today's routes through the same socket.
    ("GET", "/v1.41/containers/abc/json", "/containers/{id}/json"),
    ("GET", "/v1.41/images/registry:5000/team/app/json", "/images/{name}/json"),
    ("POST", "/v1.41/networks/n1/connect", "/networks/{id}/connect"),
    ("GET", "/_ping", "/_ping"),
    # Podman's own API keeps its prefix; its endpoints beyond Docker's are "other".
    ("GET", "/v4.0.0/libpod/containers/json", "/libpod/containers/json"),
    ("GET", "/v4.0.0/libpod/pods/json", "/libpod/other"),
    # Anything else is one bounded name.
    ("GET", "/v1.41/no/such/thing", "other"),
    ("GET", "/../../etc/passwd", "other"),
])
def test_endpoint_is_a_route_template(method: str, path: str, template: str) -> None:
    assert endpoint_template(method, path) == template


def test_version_labels_stay_bounded() -> None:
    assert version_label(Version(1, 3)) == "1.3"
    assert version_label(Version(1, 41)) == "1.41"
    assert version_label(Version(1, 123456)) == "other"
    assert version_label(Version(2, 0)) == "other"
    assert version_label(None) == "none"


@pytest.mark.parametrize("target, logged", [
    ("/images/create?fromSrc=http://joe:s3cret@example.com/x.tar&repo=a",
     "/images/create?fromSrc=http://***@example.com/x.tar&repo=a"),
    ("/build?remote=https://tok:x-oauth@github.com/o/r.git&t=app",
     "/build?remote=https://***@github.com/o/r.git&t=app"),
    ("/images/base/insert?path=/x&url=ftp://u:p@h/f", "/images/base/insert?path=/x&url=ftp://***@h/f"),
    # No credentials: the target is left as the client wrote it.
    ("/images/create?fromSrc=http://example.com/x.tar", "/images/create?fromSrc=http://example.com/x.tar"),
    ("/containers/json?all=1", "/containers/json?all=1"),
    # An @ outside a URL parameter is not a password.
    ("/images/create?fromImage=a&tag=x@y", "/images/create?fromImage=a&tag=x@y"),
])
def test_redact_target_hides_url_passwords(target: str, logged: str) -> None:
    assert redact_target(target) == logged
    assert "s3cret" not in redact_target(target) and "x-oauth" not in redact_target(target)


def test_access_line_names_everything_but_bodies() -> None:
    record = AccessRecord("POST", "/containers/{id}/start", Version(1, 3), started=10.0, target_version=Version(1, 41),
                          status=204, bytes_in=312, bytes_out=0, changes=["1.4", "1.9"])
    line = ACCESS_FORMAT.format(**record.fields(now=10.0031))
    assert line == "1.3 -> 1.41 POST /containers/{id}/start 204 in=312 out=0 3.1 ms changes=1.4,1.9"
    unanswered = AccessRecord("GET", "other", None, started=1.0)
    assert ACCESS_FORMAT.format(**unanswered.fields(now=1.0)) == "- -> - GET other 0 in=0 out=0 0.0 ms changes=-"


def _emit(router: LogRouter, namespace: str, level: str, text: str, **fields: object) -> None:
    logger = Logger(namespace=namespace, observer=router)
    getattr(logger, level)(text, **fields)


def test_router_sends_access_lines_and_messages_to_stderr_by_default() -> None:
    stderr = io.StringIO()
    router = LogRouter(stderr)
    router.configure(LogSettings())
    _emit(router, ACCESS_NAMESPACE, "info", "GET {endpoint} {status}", endpoint="/_ping", status=200)
    _emit(router, "apiproxy.proxy", "info", "listening")
    _emit(router, "apiproxy.proxy", "debug", "too chatty")
    _emit(router, "twisted.internet", "info", "port opened")
    _emit(router, "twisted.internet", "warn", "something odd")
    written = stderr.getvalue()
    assert "GET /_ping 200" in written and "listening" in written and "something odd" in written
    assert "too chatty" not in written and "port opened" not in written


def test_router_level_debug_shows_debug_messages() -> None:
    stderr = io.StringIO()
    router = LogRouter(stderr)
    router.configure(LogSettings(level="debug"))
    _emit(router, "apiproxy.proxy", "debug", "chatty")
    assert "chatty" in stderr.getvalue()


def test_router_access_off_keeps_messages() -> None:
    stderr = io.StringIO()
    router = LogRouter(stderr)
    router.configure(LogSettings(access="off"))
    _emit(router, ACCESS_NAMESPACE, "info", "GET /_ping 200")
    _emit(router, "apiproxy.proxy", "warn", "kept")
    assert "/_ping" not in stderr.getvalue() and "kept" in stderr.getvalue()


def test_router_json_access_file_is_reopened_on_configure(tmp_path: Path) -> None:
    stderr = io.StringIO()
    access = tmp_path / "access.log"
    router = LogRouter(stderr)
    router.configure(LogSettings(format="json", access=str(access)))
    _emit(router, ACCESS_NAMESPACE, "info", "{method} {endpoint}", method="GET", endpoint="/version")
    _emit(router, "apiproxy.proxy", "info", "a message")
    # Log rotation: the file is moved away, SIGHUP configures again, lines go to a new file.
    access.rename(tmp_path / "access.log.1")
    router.configure(LogSettings(format="json", access=str(access)))
    _emit(router, ACCESS_NAMESPACE, "info", "{method} {endpoint}", method="POST", endpoint="/build")
    first = [json.loads(line) for line in (tmp_path / "access.log.1").read_text().splitlines()]
    second = [json.loads(line) for line in access.read_text().splitlines()]
    assert [(event["method"], event["endpoint"]) for event in first] == [("GET", "/version")]
    assert [(event["method"], event["endpoint"]) for event in second] == [("POST", "/build")]
    assert "/version" not in stderr.getvalue()
    assert json.loads(stderr.getvalue().splitlines()[0])["log_format"] == "a message"


def test_router_refuses_an_unwritable_file_and_keeps_its_settings(tmp_path: Path) -> None:
    stderr = io.StringIO()
    router = LogRouter(stderr)
    router.configure(LogSettings())
    with pytest.raises(OSError):
        router.configure(LogSettings(access=str(tmp_path / "missing-dir" / "access.log")))
    _emit(router, ACCESS_NAMESPACE, "info", "still here")
    assert "still here" in stderr.getvalue()


def test_upstream_info_has_one_series_for_the_current_daemon() -> None:
    upstream_known(UpstreamInfo("docker", "20.10.24", Version(1, 41), Version(1, 12)), Version(1, 41))
    upstream_known(UpstreamInfo("docker", "26.1.5", Version(1, 45), Version(1, 24)), Version(1, 45))
    text = exposition().decode()
    series = [line for line in text.splitlines() if line.startswith("apiproxy_upstream_info{")]
    assert series == ['apiproxy_upstream_info{api_version="1.45",kind="docker",min_api_version="1.24",'
                      'target="1.45"} 1.0']
    assert REGISTRY.get_sample_value("apiproxy_upstream_reconnects_total") is not None


FLOOR_1_44 = UpstreamInfo("docker", "28.5.2", Version(1, 51), Version(1, 44))  # as Docker 29.0


def _logged(method: str, target: str, info: UpstreamInfo = FLOOR_1_44) -> str:
    """The access line of a request the proxy routes as it routes every request, answered 200."""
    decision = plan(method, target, info, TargetChoice(Version(1, 45)), Settings(Version(1, 9)))
    assert isinstance(decision, Forward)
    record = AccessRecord(method, endpoint_template(method, target), decision.exchange.client_version, started=0.0,
                          status=200)
    record.forwarded(decision.exchange)
    return ACCESS_FORMAT.format(**record.fields(now=0.0))


def test_a_climbed_request_shows_both_versions_and_the_changes_crossed() -> None:
    line = _logged("GET", "/v1.41/images/json")
    assert line.startswith("1.41 -> 1.44 GET /images/json 200 ")
    crossed = [parse_version(origin) for origin in line.rsplit(" changes=", 1)[1].split(",")]
    assert Version(1, 44) in crossed and all(Version(1, 41) < v <= Version(1, 44) for v in crossed)  # VirtualSize…
    assert _logged("GET", "/v1.41/no/such/thing").startswith("1.41 -> 1.44 GET other 200 ")  # climbs all the same


def test_a_passed_through_request_shows_one_version_and_no_change() -> None:
    for client in ("1.44", "1.51"):
        line = _logged("GET", f"/v{client}/images/json")
        assert line.startswith(f"{client} -> {client} GET /images/json 200 ") and line.endswith(" changes=-")
    assert _logged("GET", "/_ping").startswith("- -> - GET /_ping 200 ")  # the daemon's own version


def test_a_legacy_request_shows_its_target() -> None:
    assert _logged("GET", "/v1.9/containers/1/json").startswith("1.9 -> 1.45 GET /containers/{id}/json 200 ")


def test_router_defers_access_lines_to_the_next_turn_and_keeps_their_order(tmp_path: Path) -> None:
    from twisted.internet.task import Clock

    stderr, clock = io.StringIO(), Clock()
    router = LogRouter(stderr)
    router.configure(LogSettings())
    router.defer_with(clock)
    _emit(router, ACCESS_NAMESPACE, "info", "GET {endpoint} {status}", endpoint="/_ping", status=200)
    _emit(router, ACCESS_NAMESPACE, "info", "GET {endpoint} {status}", endpoint="/version", status=200)
    assert stderr.getvalue() == ""  # held: the answer leaves first
    clock.advance(0)
    first = stderr.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in first] == ["GET /_ping 200", "GET /version 200"]
    assert all("[apiproxy.access#info] " in line for line in first)
    # A message written meanwhile comes after the access lines held before it.
    _emit(router, ACCESS_NAMESPACE, "info", "GET {endpoint} {status}", endpoint="/info", status=200)
    _emit(router, "apiproxy.proxy", "warn", "a message")
    assert stderr.getvalue().splitlines()[2:] and "GET /info 200" in stderr.getvalue().splitlines()[2]
    assert "a message" in stderr.getvalue().splitlines()[3]
    # A new configuration (log rotation) writes what is held to the file it was meant for.
    access = tmp_path / "access.log"
    router.configure(LogSettings(access=str(access)))
    _emit(router, ACCESS_NAMESPACE, "info", "GET {endpoint} {status}", endpoint="/old", status=200)
    (tmp_path / "access.log").rename(tmp_path / "access.log.1")
    router.configure(LogSettings(access=str(access)))
    assert "GET /old 200" in (tmp_path / "access.log.1").read_text()
    _emit(router, ACCESS_NAMESPACE, "info", "GET {endpoint} {status}", endpoint="/new", status=200)
    router.flush()  # as at the process's end
    assert "GET /new 200" in access.read_text()


def test_access_lines_read_as_twisteds_text_observer_writes_them() -> None:
    from twisted.logger import textFileLogObserver

    ours, theirs = io.StringIO(), io.StringIO()
    router = LogRouter(ours)
    router.configure(LogSettings())
    event = {"log_namespace": ACCESS_NAMESPACE, "log_level": LogLevel.info, "log_time": 1700000000.25,
             "log_format": ACCESS_FORMAT, **AccessRecord("GET", "/_ping", Version(1, 41), 1.0).fields(1.5)}
    router(dict(event))
    textFileLogObserver(theirs)(dict(event))
    assert ours.getvalue() == theirs.getvalue()
