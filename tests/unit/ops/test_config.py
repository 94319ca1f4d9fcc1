"""apiproxy.config and .endpoints: the configuration file, command-line overrides, endpoint strings."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from twisted.internet.endpoints import _parse as twisted_parse

from apiproxy.ops import config
from apiproxy.ops.config import Config, ConfigError, Listener, load, read_toml, validate, with_overrides
from apiproxy.ops.listen_specs import (EndpointError, SystemdListen, UnixListen, endpoint_kind,
                                       parse_systemd_listen, parse_unix_listen, split_description)
from apiproxy.api.versions import Version

REFERENCE_CONFIG = Path(__file__).resolve().parents[3] / "conf" / "apiproxy.toml"
NO_SUCH_GROUP = "apiproxy-test-no-such-group"
LISTENER = {"endpoint": "unix:/tmp/legacy.sock"}


@pytest.fixture(autouse=True)
def only_docker_group_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests do not depend on the groups of the machine they run on."""
    monkeypatch.setattr(config, "_group_exists", lambda name: name == "docker")


def problems_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as refused:
        validate(data)
    return refused.value.problems


def test_reference_config_loads() -> None:
    assert load(str(REFERENCE_CONFIG)) == Config(
        listeners=(Listener("unix:/var/run/docker-legacy.sock", 0o660, "docker"),),
        upstream="unix:/var/run/docker.sock",
        target_version=None,
        unversioned_version=None,
    )


def test_defaults_fill_a_minimal_config() -> None:
    assert validate({"listeners": [LISTENER]}) == Config(
        (Listener("unix:/tmp/legacy.sock", 0o660, "docker"),), "unix:/var/run/docker.sock", None, None, None)


@pytest.mark.parametrize(("unversioned", "advertise", "expected"), [
    ("1.9", "auto", (Version(1, 9), None)),
    ("auto", "1.10", (None, Version(1, 10))),
    ("1.24", "1.41", (Version(1, 24), Version(1, 41))),
])
def test_versions_of_bare_paths_and_advertised(unversioned: str, advertise: str,
                                               expected: tuple[Version | None, Version | None]) -> None:
    loaded = validate({"listeners": [LISTENER], "unversioned_version": unversioned,
                       "upstream": {"advertise_version": advertise}})
    assert (loaded.unversioned_version, loaded.advertise_version) == expected


def test_advertise_version_is_checked_against_what_apiproxy_knows() -> None:
    newest = config.newest_known()
    validate({"listeners": [LISTENER], "upstream": {"advertise_version": str(newest)}})
    above = Version(newest.major, newest.minor + 1)
    assert problems_of({"listeners": [LISTENER], "upstream": {"advertise_version": str(above)}}) == [
        ("upstream.advertise_version", f"apiproxy knows the version changes up to {newest}: give {newest} or lower")]


def test_no_docker_group_leaves_the_group_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_group_exists", lambda name: False)
    assert validate({"listeners": [LISTENER]}).listeners[0].group is None


@pytest.mark.parametrize(("data", "key"), [
    ({"bogus": 1}, "bogus"),
    ({"upstream": {"bogus": 1}}, "upstream.bogus"),
    ({"listeners": [{**LISTENER, "bogus": 1}]}, "listeners.0.bogus"),
    ({"listeners": [LISTENER, {**LISTENER, "mods": "0600"}]}, "listeners.1.mods"),
    ({"log": {"lvl": "info"}}, "log.lvl"),
])
def test_unknown_keys_are_problems(data: dict[str, Any], key: str) -> None:
    data.setdefault("listeners", [LISTENER])
    assert (key, "unknown key") in problems_of(data)


@pytest.mark.parametrize(("data", "key"), [
    ({"unversioned_version": 1.9}, "unversioned_version"),
    ({"unversioned_version": "1.9.0"}, "unversioned_version"),
    ({"upstream": "unix:/var/run/docker.sock"}, "upstream"),
    ({"upstream": {"endpoint": 5}}, "upstream.endpoint"),
    ({"upstream": {"endpoint": ""}}, "upstream.endpoint"),
    ({"upstream": {"target_version": "latest"}}, "upstream.target_version"),
    ({"upstream": {"target_version": "99999.1"}}, "upstream.target_version"),
    ({"upstream": {"advertise_version": "latest"}}, "upstream.advertise_version"),
    ({"upstream": {"advertise_version": "1.45.0"}}, "upstream.advertise_version"),
    ({"upstream": {"advertise_version": "1.9"}}, "upstream.advertise_version"),  # 2013 answers
    ({"upstream": {"advertise_version": "1.99"}}, "upstream.advertise_version"),  # above the newest known
    ({"unversioned_version": "latest"}, "unversioned_version"),
    ({"listeners": {"endpoint": "unix:/tmp/x.sock"}}, "listeners"),
    ({"listeners": [{"mode": "0600"}]}, "listeners.0"),
    ({"listeners": [{**LISTENER, "mode": 0o600}]}, "listeners.0.mode"),
    ({"listeners": [{**LISTENER, "mode": "rw-rw----"}]}, "listeners.0.mode"),
    ({"log": {"level": "verbose"}}, "log.level"),
])
def test_wrong_types_and_values_are_problems(data: dict[str, Any], key: str) -> None:
    data.setdefault("listeners", [LISTENER])
    assert key in [where for where, _ in problems_of(data)]


@pytest.mark.parametrize("mode", ["0666", "0777", "0661", "0670", "666", "1660"])
def test_listener_mode_wider_than_0660_is_refused(mode: str) -> None:
    problems = problems_of({"listeners": [{**LISTENER, "mode": mode}]})
    assert [where for where, _ in problems] == ["listeners.0.mode"]


@pytest.mark.parametrize("mode", ["666", "0666", "777", "0o777", "1660"])
def test_endpoint_mode_wider_than_0660_is_refused(mode: str) -> None:
    problems = problems_of({"listeners": [{"endpoint": f"unix:/tmp/x.sock:mode={mode}"}]})
    assert [where for where, _ in problems] == ["listeners.0.endpoint"]


@pytest.mark.parametrize(("listener", "mode"), [
    ({**LISTENER, "mode": "0600"}, 0o600),
    ({**LISTENER, "mode": "660"}, 0o660),
    ({**LISTENER, "mode": "0000"}, 0),
    ({"endpoint": "unix:/tmp/x.sock:mode=0640"}, 0o640),
    ({"endpoint": "unix:/tmp/x.sock:mode=0640", "mode": "0600"}, 0o600),  # the key wins
    ({"endpoint": "tcp:2375", "allow_plain_tcp": True}, 0o660),
])
def test_narrow_modes_are_accepted(listener: dict[str, str], mode: int) -> None:
    assert validate({"listeners": [listener]}).listeners[0].mode == mode


def test_unknown_group_is_a_problem() -> None:
    problems = problems_of({"listeners": [{**LISTENER, "group": NO_SUCH_GROUP}]})
    assert [where for where, _ in problems] == ["listeners.0.group"]
    assert NO_SUCH_GROUP in problems[0][1]


def test_no_listeners_is_a_problem() -> None:
    no_listeners: list[dict[str, Any]] = [{}, {"listeners": []}]
    for data in no_listeners:
        assert [where for where, _ in problems_of(data)] == ["listeners"]


def test_problems_are_reported_together() -> None:
    problems = problems_of({"listeners": [{"endpoint": "unix:"}, {**LISTENER, "group": NO_SUCH_GROUP}],
                            "unversioned_version": "99999.1"})
    assert sorted(where for where, _ in problems) == [
        "listeners.0.endpoint", "listeners.1.group", "unversioned_version"]


def test_config_error_message_names_each_key() -> None:
    error = ConfigError([("listeners.0.mode", "too wide"), ("", "cannot read x")])
    assert str(error) == "listeners.0.mode: too wide; cannot read x"


def test_listen_option_replaces_all_file_listeners() -> None:
    data = {"listeners": [LISTENER, {"endpoint": "unix:/tmp/other.sock", "mode": "0600"}]}
    merged = with_overrides(data, listen=["unix:/tmp/a.sock", "unix:/tmp/b.sock"])
    assert merged["listeners"] == [{"endpoint": "unix:/tmp/a.sock"}, {"endpoint": "unix:/tmp/b.sock"}]
    assert data["listeners"][0] == LISTENER  # the file's data is left as it was


def test_upstream_options_replace_only_their_keys() -> None:
    data = {"upstream": {"endpoint": "unix:/a.sock", "target_version": "1.24"}, "listeners": [LISTENER]}
    assert with_overrides(data, upstream="unix:/b.sock")["upstream"] == {
        "endpoint": "unix:/b.sock", "target_version": "1.24"}
    assert with_overrides(data, target_version="auto")["upstream"] == {
        "endpoint": "unix:/a.sock", "target_version": "auto"}
    assert data["upstream"] == {"endpoint": "unix:/a.sock", "target_version": "1.24"}
    assert with_overrides(data) == data


def test_load_applies_overrides_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "apiproxy.toml"
    path.write_text('[upstream]\ntarget_version = "1.24"\n[[listeners]]\nendpoint = "unix:/tmp/x.sock"\n')
    assert load(str(path)).target_version == Version(1, 24)
    loaded = load(str(path), listen=["unix:/tmp/y.sock"], upstream="unix:/tmp/d.sock", target_version="auto")
    assert (loaded.listeners[0].endpoint, loaded.upstream, loaded.target_version) == (
        "unix:/tmp/y.sock", "unix:/tmp/d.sock", None)


def test_load_without_a_file_uses_the_command_line() -> None:
    loaded = load(None, listen=["unix:/tmp/y.sock"], target_version="1.41")
    assert (loaded.listeners[0].endpoint, loaded.upstream, loaded.target_version) == (
        "unix:/tmp/y.sock", "unix:/var/run/docker.sock", Version(1, 41))


def test_read_toml_reports_the_line_and_column_of_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('unversioned_version = "1.9"\n[upstream]\nendpoint = unix:/x\n')
    with pytest.raises(ConfigError) as refused:
        read_toml(str(path))
    assert "line 3" in str(refused.value) and "column 12" in str(refused.value)
    assert str(path) in str(refused.value)


def test_read_toml_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read .*missing.toml"):
        read_toml(str(tmp_path / "missing.toml"))


# endpoints --------------------------------------------------------------------

@pytest.mark.parametrize(("description", "args", "options"), [
    ("unix:/tmp/x.sock", ["unix", "/tmp/x.sock"], {}),
    (r"unix:/tmp/a\:b.sock:mode=0600", ["unix", "/tmp/a:b.sock"], {"mode": "0600"}),
    (r"unix:address=/tmp/a\:b\\c.sock", ["unix"], {"address": r"/tmp/a:b\c.sock"}),
    (r"unix:/tmp/a\=b.sock", ["unix", "/tmp/a=b.sock"], {}),  # an escaped "=" is part of the path
    (r"unix:k\=x=v", ["unix"], {"k=x": "v"}),
    ("tcp:port=2375:interface=127.0.0.1", ["tcp"], {"port": "2375", "interface": "127.0.0.1"}),
    ("unix:/tmp/x.sock:opt=a=b", ["unix", "/tmp/x.sock"], {"opt": "a=b"}),
    ("unix", ["unix"], {}),
])
def test_split_description(description: str, args: list[str], options: dict[str, str]) -> None:
    assert split_description(description) == (args, options)


@settings(max_examples=100, deadline=None)
@given(st.text("ab:=\\", max_size=16))
def test_split_description_agrees_with_twisted(rest: str) -> None:
    description = "unix:" + rest
    try:
        expected = twisted_parse(description)
    except RuntimeError:  # Twisted's tokenizer chokes on a trailing lone backslash
        return
    assert split_description(description) == expected


@pytest.mark.parametrize(("description", "listen"), [
    ("unix:/tmp/x.sock", UnixListen("/tmp/x.sock", None, 50)),
    ("unix:address=/tmp/x.sock", UnixListen("/tmp/x.sock", None, 50)),
    ("unix:/tmp/x.sock:backlog=10", UnixListen("/tmp/x.sock", None, 10)),
    ("unix:/tmp/x.sock:lockfile=1:mode=600", UnixListen("/tmp/x.sock", 0o600, 50)),
    (r"unix:/tmp/a\:b.sock", UnixListen("/tmp/a:b.sock", None, 50)),
])
def test_parse_unix_listen(description: str, listen: UnixListen) -> None:
    assert parse_unix_listen(description) == listen


@pytest.mark.parametrize("description", [
    "unix:", "unix", "unix:address=",
    "unix:/tmp/x.sock:bogus=1",
    "unix:/tmp/x.sock:/tmp/y.sock",
    "unix:/tmp/x.sock:backlog=ten",
    "unix:/tmp/x.sock:mode=rw",
    "unix:/tmp/x.sock:mode=0664",
])
def test_parse_unix_listen_refuses(description: str) -> None:
    with pytest.raises(EndpointError):
        parse_unix_listen(description)


def test_other_endpoint_kinds_are_left_to_twisted() -> None:
    assert parse_unix_listen("tcp:2375:interface=127.0.0.1") is None
    assert parse_systemd_listen("tcp:2375:interface=127.0.0.1") is None
    assert endpoint_kind("tcp:2375") == "tcp" and endpoint_kind("unix:/x") == "unix"


# Sockets systemd passes ----------------------------------------------------------

@pytest.mark.parametrize(("description", "listen"), [
    ("systemd:domain=UNIX:index=0", SystemdListen(0, None)),
    ("systemd:UNIX:index=2", SystemdListen(2, None)),
    ("systemd:domain=UNIX:name=apiproxy.socket", SystemdListen(None, "apiproxy.socket")),
])
def test_parse_systemd_listen(description: str, listen: SystemdListen) -> None:
    assert parse_systemd_listen(description) == listen


@pytest.mark.parametrize(("description", "why"), [
    ("systemd:domain=INET:index=0", "only unix sockets"),
    ("systemd:domain=INET6:index=0", "only unix sockets"),
    ("systemd:index=0", "only unix sockets"),
    ("systemd:domain=UNIX", "either index=N or name=NAME"),
    ("systemd:domain=UNIX:index=0:name=apiproxy.socket", "either index=N or name=NAME"),
    ("systemd:domain=UNIX:index=first", "not a number"),
    ("systemd:domain=UNIX:index=0:mode=0660", "unsupported options"),
])
def test_parse_systemd_listen_refuses(description: str, why: str) -> None:
    with pytest.raises(EndpointError, match=why):
        parse_systemd_listen(description)


def test_a_systemd_listener_takes_neither_mode_nor_group() -> None:
    listener = validate({"listeners": [{"endpoint": "systemd:domain=UNIX:index=0"}]}).listeners[0]
    assert listener.group is None  # not the docker default: the socket unit's SocketGroup= stays
    problems = problems_of({"listeners": [{"endpoint": "systemd:domain=UNIX:index=0", "mode": "0600",
                                           "group": "docker"}]})
    assert problems == [("listeners.0.mode", "systemd made this socket: set SocketMode= in its socket unit instead"),
                        ("listeners.0.group", "systemd made this socket: set SocketGroup= in its socket unit instead")]


def test_a_systemd_listener_takes_no_tls(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("")
    problems = problems_of({"listeners": [{"endpoint": "systemd:domain=UNIX:index=0", "tls_cert": str(pem),
                                           "tls_key": str(pem)}]})
    assert [where for where, _ in problems] == ["listeners.0.tls_cert"]


# Access: TCP, TLS, policy ------------------------------------------------------

def test_plain_tcp_is_refused_unless_allowed() -> None:
    problems = problems_of({"listeners": [{"endpoint": "tcp:2375"}]})
    assert [where for where, _ in problems] == ["listeners.0.endpoint"]
    assert "allow_plain_tcp" in problems[0][1]
    config = validate({"listeners": [{"endpoint": "tcp:2375:interface=127.0.0.1", "allow_plain_tcp": True}]})
    assert config.listeners[0].plain_tcp


def test_ssl_endpoints_are_refused_in_favour_of_tls_keys() -> None:
    assert [where for where, _ in problems_of({"listeners": [{"endpoint": "ssl:2376"}]})] == ["listeners.0.endpoint"]


def test_tls_listener_needs_readable_cert_and_key(tmp_path: Path) -> None:
    cert, key, ca = (tmp_path / name for name in ("cert.pem", "key.pem", "ca.pem"))
    for path in (cert, key, ca):
        path.write_text("PEM")
    loaded = validate({"listeners": [{"endpoint": "tcp:2376", "tls_cert": str(cert), "tls_key": str(key),
                                      "tls_ca": str(ca)}]})
    listener = loaded.listeners[0]
    assert listener.tls == config.TLSFiles(str(cert), str(key), str(ca)) and not listener.plain_tcp
    assert [where for where, _ in problems_of({"listeners": [{"endpoint": "tcp:2376", "tls_cert": str(cert)}]})] \
        == ["listeners.0.tls_cert"]
    assert [where for where, _ in problems_of({"listeners": [{"endpoint": "tcp:2376", "tls_ca": str(ca)}]})] \
        == ["listeners.0.tls_cert"]
    missing = problems_of({"listeners": [{"endpoint": "tcp:2376", "tls_cert": str(cert),
                                          "tls_key": str(tmp_path / "nope.pem")}]})
    assert missing == [("listeners.0.tls_key", f"cannot read {tmp_path / 'nope.pem'}")]


def test_tls_upstream_needs_a_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("PEM")
    config_ = validate({"listeners": [LISTENER], "upstream": {"endpoint": "tcp:daemon:2376", "tls_ca": str(ca)}})
    assert config_.upstream_tls == config.TLSFiles(None, None, str(ca))
    problems = problems_of({"listeners": [LISTENER], "upstream": {"endpoint": "tcp:daemon:2376",
                                                                    "tls_cert": str(ca), "tls_key": str(ca)}})
    assert [where for where, _ in problems] == ["upstream.tls_ca"]


def test_policy_is_parsed_and_its_rules_checked() -> None:
    config_ = validate({"listeners": [{**LISTENER, "policy": {
        "read_only": True, "allow": ["containers", "GET /images/{name}/json"], "deny": ["exec"]}}]})
    policy = config_.listeners[0].policy
    assert policy.read_only and policy.allow is not None and len(policy.allow) == 2 and len(policy.deny) == 1
    problems = problems_of({"listeners": [{**LISTENER, "policy": {"deny": ["exec", "kill everything"]}}]})
    assert [where for where, _ in problems] == ["listeners.0.policy"]
    assert "'kill everything'" in problems[0][1]
    assert [where for where, _ in problems_of({"listeners": [{**LISTENER, "policy": {"readonly": True}}]})] \
        == ["listeners.0.policy.readonly"]


def test_limits_have_defaults_and_are_checked() -> None:
    assert validate({"listeners": [LISTENER]}).limits == config.Limits()
    limits = validate({"listeners": [LISTENER], "limits": {"head_timeout": 5, "max_json_body": 2048}}).limits
    assert (limits.head_timeout, limits.max_json_body, limits.idle_timeout) == (5, 2048, 300)
    assert [where for where, _ in problems_of({"listeners": [LISTENER], "limits": {"head_timeout": 0}})] \
        == ["limits.head_timeout"]


def test_check_config_loads_the_tls_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from apiproxy.cli import check_config

    for name in ("cert.pem", "key.pem"):
        (tmp_path / name).write_text("not PEM at all")
    path = tmp_path / "c.toml"
    path.write_text(f'[[listeners]]\nendpoint = "tcp:2376"\ntls_cert = "{tmp_path}/cert.pem"\n'
                    f'tls_key = "{tmp_path}/key.pem"\n')
    assert check_config([str(path)]) == 1
    assert "listeners.0.tls_cert: cannot load the certificate" in capsys.readouterr().err


def test_check_config_reads_the_listener_and_metrics_endpoints(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from apiproxy.cli import check_config

    path = tmp_path / "c.toml"
    path.write_text('[[listeners]]\nendpoint = "bogus:2376"\nallow_plain_tcp = true\n'
                    '[metrics]\nlisten = "nonsense:9323"\n')
    assert check_config([str(path)]) == 1
    err = capsys.readouterr().err
    assert "listeners.0.endpoint: invalid endpoint" in err and "metrics.listen: invalid endpoint" in err


def test_allow_plain_tcp_from_the_command_line_applies_to_its_listeners() -> None:
    data = with_overrides({}, listen=["tcp:2375:interface=127.0.0.1"], allow_plain_tcp=True)
    assert validate(data).listeners[0].plain_tcp
    assert [where for where, _ in problems_of(with_overrides({}, listen=["tcp:2375"]))] == ["listeners.0.endpoint"]


def test_max_connections_default_shares_the_open_file_limit_out() -> None:
    assert config.default_max_connections(128, 2) == 8  # (128 - 32) // 6 // 2
    assert config.default_max_connections(1024, 1) == 165
    assert config.default_max_connections(65536, 1) == 10917  # conf/apiproxy.service's LimitNOFILE
    assert config.default_max_connections(40, 3) == 1  # never none
    assert load(None, listen=["unix:/tmp/a.sock"]).listeners[0].max_connections is None  # the default, at start
