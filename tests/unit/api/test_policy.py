"""The per-listener access policy: groups, templates, read_only, allow and deny."""
from __future__ import annotations

import pytest

from apiproxy.api.policy import Policy, PolicyError, group_of, parse_rule, policy_path


def policy(**table: object) -> Policy:
    return Policy.parse(table)


@pytest.mark.parametrize(("method", "path", "group"), [
    ("GET", "/containers/json", "containers"),
    ("GET", "/containers/ps", "containers"),
    ("POST", "/containers/abc/exec", "exec"),
    ("POST", "/exec/abc/start", "exec"),
    ("GET", "/exec/abc/json", "exec"),
    ("POST", "/containers/abc/attach", "containers"),
    ("POST", "/images/create", "images"),
    ("POST", "/images/127.0.0.1:5000/team/app/push", "images"),
    ("POST", "/commit", "images"),
    ("GET", "/images/search", "images"),
    ("POST", "/build", "build"),
    ("POST", "/session", "build"),
    ("GET", "/events", "events"),
    ("GET", "/volumes", "volumes"),
    ("DELETE", "/networks/n", "networks"),
    ("POST", "/auth", "auth"),
    ("GET", "/_ping", "system"),
    ("GET", "/version", "system"),
    ("GET", "/info", "system"),
    ("GET", "/system/df", "system"),
    ("GET", "/swarm", None),
    ("GET", "/plugins", None),
])
def test_endpoints_fall_into_groups(method: str, path: str, group: str | None) -> None:
    assert group_of(method, path) == group


@pytest.mark.parametrize(("path", "seen"), [
    ("/v1.9/containers/json", "/containers/json"),
    ("/v1.41/containers/abc/exec?x=1", "/containers/abc/exec"),
    ("/v4.0.0/libpod/containers/abc/exec", "/containers/abc/exec"),
    ("/libpod/images/json", "/images/json"),
    ("/containers/json/", "/containers/json"),
    ("/v1.9", "/"),
    ("/version", "/version"),
])
def test_rules_see_the_path_without_its_version(path: str, seen: str) -> None:
    assert policy_path(path) == seen


def test_no_rules_let_everything_through() -> None:
    assert Policy().open and Policy().refusal("POST", "/v1.41/containers/x/exec") is None


def test_deny_a_group_whatever_the_version() -> None:
    rules = policy(deny=["exec"])
    for target in ("/v1.41/containers/abc/exec", "/containers/abc/exec", "/v4.0.0/libpod/containers/abc/exec",
                   "/v1.24/exec/abc/start"):
        message = rules.refusal("POST", target)
        assert message is not None and "'exec'" in message, target
    assert rules.refusal("POST", "/v1.41/containers/abc/start") is None


def test_deny_wins_over_allow() -> None:
    rules = policy(allow=["containers"], deny=["POST /containers/{id}/kill"])
    assert rules.refusal("POST", "/v1.9/containers/abc/stop") is None
    message = rules.refusal("POST", "/v1.9/containers/abc/kill")
    assert message is not None and "'POST /containers/{id}/kill'" in message


def test_allow_refuses_everything_else() -> None:
    rules = policy(allow=["system", "GET /containers/{id}/json"])
    assert rules.refusal("GET", "/_ping") is None
    assert rules.refusal("GET", "/v1.9/containers/abc/json") is None
    assert rules.refusal("GET", "/v1.9/containers/json") is not None
    assert rules.refusal("GET", "/swarm") is not None
    message = rules.refusal("DELETE", "/v1.41/containers/abc")
    assert message is not None and "allow list" in message and "DELETE /containers/abc (containers)" in message


def test_templates_with_a_name_span_slashes() -> None:
    rules = policy(deny=["POST /images/{name}/push"])
    assert rules.refusal("POST", "/v1.9/images/127.0.0.1:5000/team/app/push") is not None
    assert rules.refusal("POST", "/v1.9/images/app/tag") is None
    assert policy(deny=["DELETE /containers/{id}"]).refusal("DELETE", "/containers/a/b") is None  # {id} is one segment


def test_read_only_lets_only_reads_through() -> None:
    rules = policy(read_only=True)
    assert rules.refusal("GET", "/v1.9/containers/json") is None
    assert rules.refusal("HEAD", "/_ping") is None
    for method, target in (("POST", "/v1.9/containers/create"), ("DELETE", "/images/x"), ("PUT", "/x")):
        message = rules.refusal(method, target)
        assert message is not None and "read_only" in message
    assert rules.refusal("GET", "/v1.9/containers/abc/attach/ws") is not None  # writes to stdin
    assert rules.refusal("GET", "/v1.41/containers/abc/logs", upgrade=True) is not None


@pytest.mark.parametrize("text", ["kill", "post /containers", "GET containers", "GET /a b", ""])
def test_malformed_rules_are_refused(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_rule(text)
