"""Debian's docker CLI 20.10 (API 1.41), pinned to older versions, does a day's work through apiproxy.

On a daemon whose floor is above the pinned version (Docker 26-28: 1.24; Docker 29: 1.44 or 1.40)
the daemon alone refuses the CLI; through apiproxy its requests climb to the floor and the answers
come back down. On a daemon that accepts the version they pass through untouched: the same checks
hold either way, so they run on every upstream.
"""
from __future__ import annotations

import json
import uuid
from typing import Iterator

import pytest

from support import DEBIAN_CLI, ON_PODMAN, docker

# The versions real clients pin: the CLI's own, docker-py's and compose's defaults, and below 1.24
# the versions Docker 26 refuses.
VERSIONS = ("1.41", "1.40", "1.35", "1.30", "1.24", "1.23", "1.18", "1.12")


@pytest.fixture(params=VERSIONS)
def cli(request: pytest.FixtureRequest, proxy_sock: str) -> Iterator[Cli]:
    pinned = Cli(proxy_sock, request.param)
    yield pinned
    pinned.clean()


class Cli:
    """The 20.10 CLI at one API version, through apiproxy; removes what it made."""

    def __init__(self, sock: str, version: str) -> None:
        self.sock, self.version = sock, version
        self.made: list[tuple[str, ...]] = []

    def __call__(self, *args: str, input: bytes | None = None, check: bool = True) -> str:
        result = docker(self.sock, *args, cli=DEBIAN_CLI, input=input, check=check,
                        env={"DOCKER_API_VERSION": self.version})
        return result.stdout.decode()

    def name(self, kind: str, removal: tuple[str, ...]) -> str:
        made = f"apiproxy-e2e-floor-{kind}-{uuid.uuid4().hex[:10]}"
        self.made.append((*removal, made))
        return made

    def clean(self) -> None:
        for removal in reversed(self.made):
            self(*removal, check=False)

    def at_least(self, version: str) -> bool:
        return tuple(map(int, self.version.split("."))) >= tuple(map(int, version.split(".")))


def test_version_names_the_pinned_client_version(cli: Cli) -> None:
    shown = json.loads(cli("version", "--format", "{{json .}}"))
    assert shown["Client"]["ApiVersion"] == cli.version
    assert shown["Server"]["ApiVersion"]


def test_run_logs_inspect_ps_and_rm(cli: Cli, image: str) -> None:
    name = cli.name("run", ("rm", "-f"))
    assert cli("run", "--name", name, image, "echo", "hello from", cli.version) == f"hello from {cli.version}\n"
    assert cli("logs", name) == f"hello from {cli.version}\n"
    [inspect] = json.loads(cli("inspect", name))
    assert inspect["State"]["ExitCode"] == 0 and inspect["Name"] == f"/{name}"
    assert name in cli("ps", "-a", "--filter", f"name={name}", "--format", "{{.Names}} {{.Status}}")
    cli("rm", name)
    assert name not in cli("ps", "-a", "--format", "{{.Names}}")


def test_run_interactive_with_stdin_and_remove(cli: Cli, image: str) -> None:
    if ON_PODMAN and not cli.at_least("1.30"):
        pytest.skip("below 1.30 the CLI waits for --rm on the event stream, which never ends it on Podman "
                    "(on Podman's own socket too)")
    assert cli("run", "-i", "--rm", image, "cat", input=b"through stdin\n") == "through stdin\n"


def test_exec_top_pause_and_stop_a_running_container(cli: Cli, image: str) -> None:
    name = cli.name("exec", ("rm", "-f"))
    cli("run", "-d", "--name", name, image, "sleep", "60")
    assert cli("exec", name, "echo", "inside") == "inside\n"
    assert "sleep 60" in cli("top", name)
    cli("pause", name)
    assert json.loads(cli("inspect", name))[0]["State"]["Paused"] is True
    cli("unpause", name)
    cli("stop", "-t", "1", name)
    assert json.loads(cli("inspect", name))[0]["State"]["Running"] is False


def test_images_show_sizes_and_tags_come_and_go(cli: Cli, image: str) -> None:
    tag = f"{cli.name('tag', ('rmi',))}:v1"
    cli.made[-1] = ("rmi", tag)
    cli("tag", image, tag)
    listed = [json.loads(line) for line in cli("images", "--format", "{{json .}}").splitlines()]
    mine = [row for row in listed if f"{row['Repository']}:{row['Tag']}" == tag]
    assert mine and mine[0]["Size"] not in ("", "0B")
    cli("rmi", tag)


def test_networks_and_volumes_live_and_are_pruned(cli: Cli, image: str) -> None:
    if not cli.at_least("1.21"):
        pytest.skip("the CLI needs API 1.21 for networks and volumes")
    network = cli.name("net", ("network", "rm"))
    cli("network", "create", network)
    assert network in cli("network", "ls", "--format", "{{.Name}}")
    cli("network", "rm", network)
    volume = cli.name("vol", ("volume", "rm"))
    cli("volume", "create", volume)
    assert volume in cli("volume", "ls", "--format", "{{.Name}}")
    if cli.at_least("1.25"):  # prune came with API 1.25
        cli("volume", "prune", "--force")  # below 1.42 a prune removes named volumes too
        assert volume not in cli("volume", "ls", "--format", "{{.Name}}")
    else:
        cli("volume", "rm", volume)


def test_errors_reach_the_cli_as_its_daemon_said_them(cli: Cli) -> None:
    missing = f"apiproxy-e2e-floor-missing-{uuid.uuid4().hex[:10]}"
    result = docker(cli.sock, "inspect", "--type", "container", missing, cli=DEBIAN_CLI, check=False,
                    env={"DOCKER_API_VERSION": cli.version})
    assert result.returncode == 1
    assert "No such container" in result.stderr.decode() or "no such container" in result.stderr.decode()
