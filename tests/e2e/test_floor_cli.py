"""Debian's docker CLI 20.10 (API 1.41), pinned to older versions, does a day's work through apiproxy.

On a daemon whose floor is above the pinned version (Docker 26-28: 1.24; Docker 29: 1.44 or 1.40)
the daemon alone refuses the CLI; through apiproxy its requests climb to the floor and the answers
come back down. On a daemon that accepts the version they pass through untouched: the same checks
hold either way, so they run on every upstream.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from support import DEBIAN_CLI, ON_PODMAN, UPSTREAM, docker

# The versions real clients pin: the CLI's own, docker-py's and compose's defaults, and below 1.24
# the versions Docker 26 refuses.
VERSIONS = ("1.41", "1.40", "1.35", "1.30", "1.24", "1.23", "1.18", "1.12")
# What each upstream runs by default: every version a floor refuses where it refuses them (Docker 29's
# 1.44 and 1.40, Docker 26's 1.24), one version that climbs on Podman and one more, and one that passes
# through on dockerd 20.10. APXTEST_FULL=1 runs every version on every upstream.
BY_UPSTREAM = {
    "dockerd-28.5": ("1.41", "1.40", "1.35", "1.30", "1.24"),
    "dockerd-28.5-floor1.40": ("1.35",),
    "dockerd-26.1": ("1.30", "1.23", "1.18", "1.12"),
    "podman-4.3": ("1.35", "1.24"),
    "dockerd-20.10": ("1.30",),
}


def pinned_versions() -> tuple[str, ...]:
    if os.environ.get("APXTEST_FULL") == "1":
        return VERSIONS
    return BY_UPSTREAM.get(UPSTREAM, VERSIONS)


@pytest.fixture(params=pinned_versions())
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

    def output_of(self, image: str, *command: str) -> str:
        """What `command` prints in a new container, removed afterwards. Not with `run --rm`: below
        1.30 the CLI waits for the removal on the event stream, which Podman never ends it with."""
        name = self.name("out", ("rm", "-f"))
        return self("run", "--name", name, image, *command)

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


def test_stats_update_and_a_file_copied_both_ways(cli: Cli, image: str, tmp_path: Path) -> None:
    name = cli.name("cp", ("rm", "-f"))
    cli("run", "-d", "--name", name, image, "sleep", "60")
    stats = json.loads(cli("stats", "--no-stream", "--format", "{{json .}}", name))
    # Podman names the container without Docker's leading "/", and the CLI cuts a first character
    # all the same: on Podman's own socket too.
    if not cli.at_least("1.21"):  # stats named no container below 1.21 (the CLI shows "--"), as on dockerd 20.10
        assert stats["Name"] == "--"
    else:
        assert stats["Name"] == (name[1:] if ON_PODMAN else name)
    # update came with API 1.22; Podman 4.3's compat API has no such endpoint (404 on its own socket).
    if cli.at_least("1.22") and not ON_PODMAN:
        cli("update", "--cpu-shares", "512", name)
        assert json.loads(cli("inspect", name))[0]["HostConfig"]["CpuShares"] == 512
    (tmp_path / "into.txt").write_text("copied in\n")
    cli("cp", str(tmp_path / "into.txt"), f"{name}:/tmp/into.txt")
    cli("cp", f"{name}:/tmp/into.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "copied in\n"
    assert "A /tmp/into.txt" in cli("diff", name).splitlines()


def test_commit_build_save_load_export_import(cli: Cli, image: str, tmp_path: Path) -> None:
    container = cli.name("commit", ("rm", "-f"))
    cli("run", "--name", container, image, "sh", "-c", "echo committed > /committed.txt")
    committed = f"{cli.name('committed', ('rmi', '-f'))}:v1"
    cli.made[-1] = ("rmi", "-f", committed)
    cli("commit", container, committed)
    assert cli.output_of(committed, "cat", "/committed.txt") == "committed\n"
    built = f"{cli.name('built', ('rmi', '-f'))}:v1"
    cli.made[-1] = ("rmi", "-f", built)
    dockerfile = f"FROM {image}\nRUN echo built > /built.txt\n".encode()
    output = docker(cli.sock, "build", "-t", built, "-", cli=DEBIAN_CLI, input=dockerfile,
                    env={"DOCKER_API_VERSION": cli.version, "DOCKER_BUILDKIT": "0"}).stdout.decode()
    assert "Successfully tagged" in output or "COMMIT" in output, output  # Docker's words, or buildah's
    assert cli.output_of(built, "cat", "/built.txt") == "built\n"
    archive = tmp_path / "saved.tar"
    cli("save", "-o", str(archive), built)
    cli("rmi", "-f", built)  # -f: a stopped container of it is still there
    assert "Loaded image" in cli("load", "-i", str(archive))
    assert cli.output_of(built, "cat", "/built.txt") == "built\n"
    exported = tmp_path / "exported.tar"
    cli("export", "-o", str(exported), container)
    imported = f"{cli.name('imported', ('rmi', '-f'))}:v1"
    cli.made[-1] = ("rmi", "-f", imported)
    cli("import", str(exported), imported)
    assert cli.output_of(imported, "cat", "/committed.txt") == "committed\n"


def test_system_df_and_events(cli: Cli, image: str) -> None:
    since = str(int(time.time()) - 1)
    name = cli.name("events", ("rm", "-f"))
    cli("run", "--name", name, image, "true")
    until = str(int(time.time()) + 1)
    actions = cli("events", "--since", since, "--until", until, "--filter", f"container={name}",
                  "--format", "{{.Action}}").split()
    assert "start" in actions and "die" in actions, actions
    if cli.at_least("1.25"):  # system df came with API 1.25
        rows = [json.loads(line) for line in cli("system", "df", "--format", "{{json .}}").splitlines()]
        assert {row["Type"] for row in rows} >= {"Images", "Containers", "Local Volumes"}
