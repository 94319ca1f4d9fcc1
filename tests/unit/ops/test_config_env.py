"""apiproxy.ops.config_env and config_print: settings from APIPROXY_* variables, the effective configuration."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from apiproxy.ops import config
from apiproxy.ops.config import ConfigError, effective, load, schema, validate
from apiproxy.ops.config_env import VariableError, all_variables, merged, parse_value, read, variable
from apiproxy.ops.config_print import toml

SOCK = "unix:/tmp/env-test.sock"


@pytest.fixture(autouse=True)
def only_docker_group_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_group_exists", lambda name: name == "docker")


def settings(**environ: str) -> dict[str, Any]:
    return read(environ, schema())[0]


def problems(**environ: str) -> list[tuple[str, str]]:
    with pytest.raises(VariableError) as refused:
        read(environ, schema())
    return refused.value.problems


def test_names_are_the_dotted_keys_in_capitals_with_double_underscores() -> None:
    assert variable("upstream.endpoint") == "APIPROXY_UPSTREAM__ENDPOINT"
    assert variable("log.format") == "APIPROXY_LOG__FORMAT"
    assert variable("grace_period") == "APIPROXY_GRACE_PERIOD"
    assert variable("listeners[].policy.read_only") == "APIPROXY_LISTENERS__<i>__POLICY__READ_ONLY"
    assert variable("listeners.3.endpoint") == "APIPROXY_LISTENERS__3__ENDPOINT"


def test_every_key_of_the_schema_has_a_variable_that_reads_back() -> None:
    names = all_variables(schema())
    assert "APIPROXY_LISTENERS__<i>__MAX_CONNECTIONS" in names and "APIPROXY_METRICS__LISTEN" in names
    for name in names:
        concrete = name.replace("<i>", "0")
        if name.endswith(("ALLOW", "DENY")):
            value = "events"
        elif name.endswith(("READ_ONLY", "ALLOW_PLAIN_TCP", "INSERT_FETCH_URLS", "SPLICE")):
            value = "true"
        elif name.endswith(("TIMEOUT", "GRACE_PERIOD", "BYTES", "HEADERS", "BODY", "MAX_CONNECTIONS")):
            value = "2048"
        else:
            value = "x"
        assert settings(**{concrete: value}), name


def test_values_are_parsed_by_the_schemas_type() -> None:
    assert settings(APIPROXY_LOG__FORMAT="json", APIPROXY_INSERT_FETCH_URLS="false", APIPROXY_GRACE_PERIOD="2.5",
                    APIPROXY_LIMITS__MAX_HEADERS="64", APIPROXY_LIMITS__IDLE_TIMEOUT="0") == {
        "log": {"format": "json"}, "insert_fetch_urls": False, "grace_period": 2.5,
        "limits": {"max_headers": 64, "idle_timeout": 0}}
    assert parse_value("TRUE", {"type": "boolean"}) is True
    assert parse_value(" 7 ", {"type": "integer"}) == 7
    assert parse_value("a, b,,c ", {"type": "array"}) == ["a", "b", "c"]
    assert parse_value("", {"type": "array"}) == []


def test_listeners_are_set_key_by_key() -> None:
    assert settings(APIPROXY_LISTENERS__0__ENDPOINT=SOCK, APIPROXY_LISTENERS__0__MODE="0600",
                    APIPROXY_LISTENERS__1__ENDPOINT="tcp:2375", APIPROXY_LISTENERS__1__ALLOW_PLAIN_TCP="true",
                    APIPROXY_LISTENERS__1__POLICY__ALLOW="events,GET /containers/json") == {"listeners": {
        0: {"endpoint": SOCK, "mode": "0600"},
        1: {"endpoint": "tcp:2375", "allow_plain_tcp": True, "policy": {"allow": ["events", "GET /containers/json"]}}}}


def test_variables_of_other_programs_are_left_alone() -> None:
    assert settings(PATH="/bin", DOCKER_HOST="unix:///x", APIPROXYX="1", APIPROXY_SCHEMAS="/s") == {}


@pytest.mark.parametrize("name, value, expected", [
    ("APIPROXY_LOG__FORMT", "json", "no such setting: APIPROXY_ variables are apiproxy's configuration "
                                    "(did you mean APIPROXY_LOG__FORMAT?)"),
    ("APIPROXY_UPSTREAM", "unix:/x", "no such setting"),  # a table
    ("APIPROXY_LISTENERS", "unix:/x", "no such setting"),
    ("APIPROXY_LISTENERS__X__ENDPOINT", "unix:/x", "no such setting"),
    ("APIPROXY_LISTENERS__01__ENDPOINT", "unix:/x", "no such setting"),
    ("APIPROXY_LOG___FORMAT", "json", "no such setting"),
    ("APIPROXY_UPSTREAMS", "dockerd-20.10", "no such setting"),  # the test harness's old name
    ("APIPROXY_GRACE_PERIOD", "ten", "'ten' is no number"),
    ("APIPROXY_GRACE_PERIOD", "inf", "'inf' is no finite number"),
    ("APIPROXY_LIMITS__MAX_HEADERS", "1.5", "'1.5' is no integer"),
    ("APIPROXY_INSERT_FETCH_URLS", "yes", "'yes' is no boolean: give true or false"),
])
def test_a_name_that_is_no_setting_or_a_value_that_does_not_parse_is_named(name: str, value: str,
                                                                           expected: str) -> None:
    [(named, message)] = problems(**{name: value})
    assert named == name and message.startswith(expected)


def test_listeners_are_numbered_without_gaps() -> None:
    assert problems(APIPROXY_LISTENERS__0__ENDPOINT=SOCK, APIPROXY_LISTENERS__2__ENDPOINT="tcp:1",
                    APIPROXY_LISTENERS__2__MODE="0600") == [
        ("APIPROXY_LISTENERS__2__ENDPOINT", "listener 2 without listener 1: number them 0, 1, ... without gaps"),
        ("APIPROXY_LISTENERS__2__MODE", "listener 2 without listener 1: number them 0, 1, ... without gaps")]
    assert problems(APIPROXY_LISTENERS__1__ENDPOINT=SOCK)[0][1].startswith("listener 1 without listener 0")
    # The file's listeners count: one past them is the next.
    assert read({"APIPROXY_LISTENERS__1__ENDPOINT": SOCK}, schema(), listeners_in_file=1)[0] == \
        {"listeners": {1: {"endpoint": SOCK}}}


def test_the_environment_goes_over_the_file_table_by_table_and_listener_by_listener() -> None:
    file = {"upstream": {"endpoint": "unix:/a", "target_version": "1.41"},
            "listeners": [{"endpoint": "unix:/l0", "mode": "0600"}], "log": {"level": "debug"}}
    environment = {"upstream": {"endpoint": "unix:/b"},
                   "listeners": {0: {"mode": "0660"}, 1: {"endpoint": "unix:/l1"}}, "grace_period": 1}
    assert merged(file, environment) == {
        "upstream": {"endpoint": "unix:/b", "target_version": "1.41"},
        "listeners": [{"endpoint": "unix:/l0", "mode": "0660"}, {"endpoint": "unix:/l1"}],
        "log": {"level": "debug"}, "grace_period": 1}
    assert file["listeners"] == [{"endpoint": "unix:/l0", "mode": "0600"}]  # left as it was


def test_command_line_over_environment_over_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[upstream]\nendpoint = "unix:/file"\n[[listeners]]\nendpoint = "{SOCK}"\n[log]\nlevel = "warn"\n')
    environ = {"APIPROXY_UPSTREAM__ENDPOINT": "unix:/env", "APIPROXY_LOG__FORMAT": "json",
               "APIPROXY_LISTENERS__0__MODE": "0600"}
    loaded = load(str(path), environ)
    assert (loaded.upstream, loaded.log.level, loaded.log.format, loaded.listeners[0].mode) == \
        ("unix:/env", "warn", "json", 0o600)
    loaded = load(str(path), environ, upstream="unix:/cli", listen=["unix:/tmp/cli.sock"])
    assert loaded.upstream == "unix:/cli"
    assert [(listener.endpoint, listener.mode) for listener in loaded.listeners] == [("unix:/tmp/cli.sock", 0o660)]


def test_the_environment_applies_without_a_file() -> None:
    loaded = load(None, {"APIPROXY_LISTENERS__0__ENDPOINT": SOCK, "APIPROXY_LISTENERS__0__MAX_CONNECTIONS": "5"})
    assert [(listener.endpoint, listener.max_connections) for listener in loaded.listeners] == [(SOCK, 5)]


def test_problems_with_values_from_the_environment_name_their_variable() -> None:
    with pytest.raises(ConfigError) as refused:
        load(None, {"APIPROXY_LISTENERS__0__ENDPOINT": SOCK, "APIPROXY_LOG__FORMAT": "xml",
                    "APIPROXY_LISTENERS__0__POLICY__ALLOW": "events,nonsense"})
    assert refused.value.problems == [
        ("APIPROXY_LISTENERS__0__POLICY__ALLOW (listeners.0.policy.allow.1)",
         "'nonsense' does not match '^(containers|images|exec|build|events|volumes|networks|auth|system|"
         "[A-Z]+ /.*)$'")] or refused.value.problems[-1][0] == "APIPROXY_LOG__FORMAT (log.format)"
    with pytest.raises(ConfigError) as refused:
        load(None, {"APIPROXY_LISTENERS__0__ENDPOINT": "tcp:2375"})
    [(key, message)] = refused.value.problems
    assert key == "APIPROXY_LISTENERS__0__ENDPOINT (listeners.0.endpoint)" and "plain TCP" in message
    with pytest.raises(ConfigError) as refused:
        load(None, {"APIPROXY_LISTENERS__0__MODE": "0600"})  # a listener without its endpoint
    [(key, message)] = refused.value.problems
    assert key == "APIPROXY_LISTENERS__0__MODE (listeners.0)" and "'endpoint' is a required property" in message


def test_an_overridden_variable_is_not_blamed() -> None:
    loaded = load(None, {"APIPROXY_LISTENERS__0__ENDPOINT": "tcp:2375"}, listen=[SOCK])
    assert loaded.listeners[0].endpoint == SOCK


def test_unknown_variables_stop_a_load() -> None:
    with pytest.raises(ConfigError) as refused:
        load(None, {"APIPROXY_VENV": "/x"}, listen=[SOCK])
    assert refused.value.problems[0][0] == "APIPROXY_VENV"


def test_the_effective_configuration_prints_as_toml_that_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'grace_period = 3\n[[listeners]]\nendpoint = "{SOCK}"\n[listeners.policy]\nread_only = true\n')
    environ = {"APIPROXY_LOG__FORMAT": "json", "APIPROXY_LISTENERS__1__ENDPOINT": "unix:/tmp/b \"q\".sock",
               "APIPROXY_LISTENERS__1__POLICY__DENY": "exec,build", "APIPROXY_LIMITS__HEAD_TIMEOUT": "2.5"}
    data, origins = effective(str(path), environ)
    validate(data, origins)
    text = toml(data, schema(), origins)
    assert tomllib.loads(text) == data
    lines = text.splitlines()
    assert 'format = "json"  # APIPROXY_LOG__FORMAT' in lines
    assert "grace_period = 3" in lines
    assert '# level = "info"' in lines and "# max_headers = 200" in lines
    assert lines.count("[[listeners]]") == 2 and lines.count("[listeners.policy]") == 2
    assert 'deny = ["exec", "build"]  # APIPROXY_LISTENERS__1__POLICY__DENY' in lines
    assert "# [upstream]" in lines and not any(".0." in line or ".1." in line for line in lines)
