"""docker-py as released in 2013 (0.1.0 to 0.3.1) drives apiproxy in front of the real daemon.

Each release runs in its own pinned virtualenv (tests/clients/) and does the part of a 2013 user's
daily work that its methods have, at every API version its code branches on. Where a release lacks
a method, or its code for it runs only on Python 2, the step is skipped and says why.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import tarfile
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from clients.dockerpy import RELEASES, Worker, data
from clients.venvs import python
from support import DIRECT_API, Apiproxy, deadline_poll, start_apiproxy
from support import request as daemon_request

MEMORY = 64 * 1024 * 1024
CLIENTS = [pytest.param((release, version), id=f"{release}-api{version}")
           for release, spec in RELEASES.items() for version in spec.versions]


ANY = ((1, 0), (2, 0))
# What a release cannot do here: it lacks the method, its code for it runs on Python 2 only, or it
# was broken in that release. (release, step, API versions [from, below), why)
LIMITS = [
    ("0.1.0", "name", ANY, "create_container() takes no name"),
    ("0.2.2", "name", ANY, "create_container() takes no name"),
    ("0.1.0", "cpu_shares", ANY, "create_container() takes no cpu_shares"),
    ("0.2.2", "cpu_shares", ANY, "create_container() takes no cpu_shares"),
    ("0.2.3", "cpu_shares", ANY, "create_container() takes no cpu_shares"),
    ("0.1.0", "port_bindings", ANY, "start() takes no port_bindings"),
    ("0.2.2", "port_bindings", ANY, "start() takes no port_bindings"),
    ("0.1.0", "top", ANY, "has no top()"),
    ("0.1.0", "copy", ANY, "has no copy()"),
    ("0.1.0", "events", ANY, "has no events()"),
    ("0.2.2", "events", ANY, "has no events()"),
    ("0.2.3", "events", ANY, "events() splits the socket's bytes with str separators (Python 2 only)"),
    ("0.1.0", "attach before start", ANY, "attach() sends its request only when first iterated"),
    ("0.2.2", "attach before start", ANY, "attach() sends its request only when first iterated"),
    ("0.2.3", "attach before start", ANY, "attach() sends its request only when first iterated"),
    ("0.3.0", "attach", ((1, 0), (1, 6)), "attach(stream=True) calls stream_result(response), which takes "
                                          "no argument (fixed in 0.3.1)"),
    ("0.3.0", "attach", ((1, 6), (2, 0)), "attach(stream=True) appends the socket's bytes to '' (Python 2 only)"),
    ("0.3.0", "build", ((1, 8), (2, 0)), "build() at API >= 1.8 reads the socket of a response it already "
                                         "read to the end (fixed in 0.3.1)"),
    ("0.1.0", "registry", ANY, "login() names no server: it logs in to the index only"),
    ("0.2.2", "registry", ANY, "push() json.dumps the credentials it decoded to bytes (Python 2 only)"),
    ("0.3.0", "registry", ((1, 0), (1, 5)), "push() below API 1.5 sends `authcfg`, which it sets from 1.5 on "
                                            "(UnboundLocalError)"),
    ("0.3.1", "registry", ((1, 0), (1, 5)), "push() below API 1.5 sends an empty AuthConfig ({}): anonymously"),
    ("0.3.1", "events", ((1, 0), (1, 9)), "events() waits for newlines (iter_lines), which daemons before 0.8 "
                                          "(API 1.9) never wrote: each event was one bare JSON chunk"),
]


def _number(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def unable(client: Worker, step: str) -> str | None:
    """Why `client` cannot take `step` (LIMITS), if it cannot."""
    version = _number(client.version)
    for release, limited, (lowest, below), why in LIMITS:
        if (release, limited) == (client.release, step) and lowest <= version < below:
            return f"docker-py {release}: {why}"
    return None


def skip_unless_able(client: Worker, step: str) -> None:
    reason = unable(client, step)
    if reason:
        pytest.skip(reason)


def unique(prefix: str) -> str:
    return f"apiproxy-dockerpy-{prefix}-{uuid.uuid4().hex[:8]}"


def text(value: Any) -> str:
    return data(value).decode(errors="replace")


# Fixtures ----------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def venvs() -> None:
    """Every release's virtualenv, built at once on a fresh machine (cached after that)."""
    with ThreadPoolExecutor(len(RELEASES)) as pool:
        list(pool.map(python, RELEASES.values()))


@pytest.fixture(scope="session")
def tcp_proxy(docker_sock: str) -> Iterator[tuple[str, Apiproxy]]:
    """apiproxy on a loopback TCP port, for 0.1.0, which speaks nothing else; and its base_url."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = start_apiproxy(docker_sock, "--allow-plain-tcp", listen=f"tcp:{port}:interface=127.0.0.1")

    def answers() -> bool:
        if running.process.poll() is not None:
            raise RuntimeError(f"apiproxy exited {running.process.returncode}:\n{running.log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    deadline_poll(answers, 20)
    yield f"http://127.0.0.1:{port}", running
    assert running.stop() == 0, running.log
    assert "Traceback" not in running.log, running.log


@pytest.fixture(scope="module")
def workers() -> Iterator[dict[tuple[str, str], Worker]]:
    running: dict[tuple[str, str], Worker] = {}
    yield running
    for worker in running.values():
        worker.close()


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest, venvs: None, proxy: Apiproxy,
           workers: dict[tuple[str, str], Worker]) -> Iterator[Worker]:
    """A docker-py Client of one release at one API version, apiproxy in front of the test daemon."""
    release, version = request.param
    base_url, in_front = request.getfixturevalue("tcp_proxy") if release == "0.1.0" else (
        f"unix://{proxy.sock}", proxy)
    worker = workers.get((release, version))
    if worker is None or worker.process.poll() is not None:  # a call that got no answer killed it
        worker = workers[(release, version)] = Worker(release, base_url, version)
    worker_start, proxy_start = len(worker.log()), len(in_front.log)
    yield worker
    # pytest shows this only for a failing test.
    print(f"docker-py {release} at API {version} sent:\n{worker.log(worker_start)[-8000:]}\n"
          f"apiproxy logged:\n{in_front.log[proxy_start:][-8000:]}")


class Cleanup:
    """What a test made, removed afterwards through the daemon's own socket."""

    def __init__(self, docker_sock: str) -> None:
        self.sock = docker_sock
        self.containers: list[str] = []
        self.images: list[str] = []
        self.markers: list[str] = []

    def run(self) -> None:
        doomed = set()
        for ref in self.containers:
            doomed.add(ref)
            doomed.update(row["Id"] for row in _by_legacy_id(self.sock, ref))
        if self.markers:
            for row in daemon_request(self.sock, "GET", f"/v{DIRECT_API}/containers/json?all=1").json():
                if any(marker in row["Command"] for marker in self.markers):
                    doomed.add(row["Id"])
        for ref in doomed:
            daemon_request(self.sock, "DELETE", f"/v{DIRECT_API}/containers/{ref}?force=1&v=1")
        for ref in self.images:
            daemon_request(self.sock, "DELETE", f"/v{DIRECT_API}/images/{ref}?force=1")


@pytest.fixture
def cleanup(docker_sock: str) -> Iterator[Cleanup]:
    made = Cleanup(docker_sock)
    yield made
    made.run()


def _by_legacy_id(docker_sock: str, legacy_id: str) -> list[dict[str, Any]]:
    """Containers apiproxy recreated (start with host settings) for the container `legacy_id`."""
    filters = urllib.parse.quote(json.dumps({"label": [f"apiproxy.legacy-id={legacy_id}"]}))
    return daemon_request(docker_sock, "GET", f"/v{DIRECT_API}/containers/json?all=1&filters={filters}").json()


def daemon_inspect(docker_sock: str, ref: str) -> dict[str, Any]:
    """The daemon's own inspect of a container a legacy client knows as `ref`."""
    found = _by_legacy_id(docker_sock, ref)
    reply = daemon_request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{found[0]['Id'] if found else ref}/json")
    assert reply.status == 200, reply
    return reply.json()


def create(client: Worker, cleanup: Cleanup, image: str, command: list[str], **kwargs: Any) -> str:
    if not unable(client, "name"):
        kwargs.setdefault("name", unique(client.release))
    created = client.call("create_container", image, command, **kwargs)
    cleanup.containers.extend(filter(None, (kwargs.get("name"), created["Id"])))
    assert re.fullmatch("[0-9a-f]{64}", created["Id"]), created
    return created["Id"]


def attach_kwargs(client: Worker) -> dict[str, Any]:
    return {"stream": True} if _number(client.release) >= (0, 3, 0) else {}


def wait_collected(client: Worker, handle: int, until: Callable[[dict[str, Any]], bool],
                   timeout: float = 30.0) -> dict[str, Any]:
    """What the thread collecting `handle` has, once `until` holds for it (or it failed)."""
    def check() -> dict[str, Any] | None:
        found = client.collected(handle)
        return found if until(found) or found["error"] else None
    found = deadline_poll(check, timeout)
    assert found["error"] is None, f"{found}\n{client.log()}"
    return found


# The daily work ----------------------------------------------------------------------------------

def test_create_start_with_binds_wait_logs_inspect(client: Worker, cleanup: Cleanup, docker_sock: str,
                                                   image: str, tmp_path: Path) -> None:
    host_dir = tmp_path / "bound"
    host_dir.mkdir()
    (host_dir / "hello").write_text("from the host\n")
    extra = {} if unable(client, "cpu_shares") else {"cpu_shares": 512}
    # Exit 7 only where the bind is read-only.
    cid = create(client, cleanup, image, ["sh", "-c", "cat /mnt/hello; env; touch /mnt/w 2>/dev/null || exit 7"],
                 mem_limit=MEMORY, dns=["10.9.9.9"], hostname="legacy", environment=["APIPROXY=dockerpy"],
                 volumes={"/mnt": {}}, **extra)
    handle = None
    if not unable(client, "attach") and not unable(client, "attach before start"):
        handle = client.background("attach", cid, **attach_kwargs(client))
    client.call("start", cid, binds={str(host_dir): "/mnt:ro"})
    assert client.call("wait", cid) == 7
    logs = text(client.call("logs", cid))
    assert "from the host" in logs and "APIPROXY=dockerpy" in logs, logs
    if handle is not None:
        attached = wait_collected(client, handle, lambda found: found["done"])
        assert "from the host" in text(attached["items"]), attached

    inspect = client.call("inspect_container", cid)
    assert inspect.get("ID", inspect.get("Id")) == cid
    assert inspect["State"]["ExitCode"] == 7 and inspect["State"]["Running"] is False
    assert inspect["Config"]["Memory"] == MEMORY and inspect["Config"]["Hostname"] == "legacy"
    listed = client.call("containers", all=True)
    assert any(cid.startswith(row["Id"]) for row in listed), listed

    real = daemon_inspect(docker_sock, cid)
    host = real["HostConfig"]
    # Podman adds its default propagation options: ",rprivate,rbind".
    assert [bind.split(",")[0] for bind in host["Binds"]] == [f"{host_dir}:/mnt:ro"]
    assert (host["Memory"], host["Dns"], host["CpuShares"]) == (MEMORY, ["10.9.9.9"], extra.get("cpu_shares", 0))
    assert real["Config"]["Hostname"] == "legacy" and "APIPROXY=dockerpy" in real["Config"]["Env"]

    client.call("remove_container", cid)
    assert not _by_legacy_id(docker_sock, cid)
    assert daemon_request(docker_sock, "GET", f"/v{DIRECT_API}/containers/{cid}/json").status == 404


def test_port_bindings_reach_the_daemon(client: Worker, cleanup: Cleanup, docker_sock: str, image: str) -> None:
    skip_unless_able(client, "port_bindings")
    cid = create(client, cleanup, image, ["true"], ports=[80])
    # Publishing cannot work on these machines (no bridge): the start may fail, the settings must arrive.
    client.try_call("start", cid, port_bindings={80: 18080})
    real = daemon_inspect(docker_sock, cid)
    assert real["Config"]["ExposedPorts"].keys() & {"80/tcp", "80"}  # 0.2.3 sends "80": tcp to every daemon
    assert real["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "18080"}]}


def test_attach_top_kill_a_running_container(client: Worker, cleanup: Cleanup, image: str) -> None:
    cid = create(client, cleanup, image, ["sh", "-c", "while true; do echo tick; sleep 0.1; done"])
    client.call("start", cid)
    handle = None
    if not unable(client, "attach"):
        handle = client.background("attach", cid, **attach_kwargs(client))
        wait_collected(client, handle, lambda found: b"tick" in data(found["items"]))
    if not unable(client, "top"):
        def shell_listed() -> dict | None:  # a top taken between fork and exec may miss the shell
            top = client.call("top", cid)
            return top if any("while true" in " ".join(map(str, row)) for row in top["Processes"]) else None
        deadline_poll(shell_listed, 20)
    client.call("kill", cid)
    assert client.call("wait", cid) != 0
    if handle is not None:
        wait_collected(client, handle, lambda found: found["done"])


def test_commit_a_container_started_with_binds(client: Worker, cleanup: Cleanup, docker_sock: str, image: str,
                                               tmp_path: Path) -> None:
    cid = create(client, cleanup, image, ["sh", "-c", "cp /mnt/data /stamp"], volumes={"/mnt": {}})
    (tmp_path / "data").write_text("committed\n")
    client.call("start", cid, binds={str(tmp_path): "/mnt"})
    assert client.call("wait", cid) == 0
    repo = unique("commit")
    cleanup.images.append(f"{repo}:c")
    committed = client.call("commit", cid, repository=repo, tag="c", message="from docker-py")
    assert re.fullmatch("[0-9a-f]{64}|[0-9a-f]{12}", committed["Id"]), committed
    made = daemon_request(docker_sock, "GET", f"/v{DIRECT_API}/images/{repo}:c/json").json()
    assert made["Id"].removeprefix("sha256:").startswith(committed["Id"]) and made["Comment"] == "from docker-py"


def test_build_tag_list_and_remove_images(client: Worker, cleanup: Cleanup, docker_sock: str, image: str) -> None:
    skip_unless_able(client, "build")
    marker = uuid.uuid4().hex
    cleanup.markers.append(marker)  # intermediate containers of builds without rm
    built_tag = unique("build")
    cleanup.images.append(built_tag)
    output = client.call("build", fileobj={"file": f"FROM {image}\nRUN echo ok {marker}\n"}, tag=built_tag,
                         _within=180)
    # (id, text) from the releases that wait for the end, lines from those that stream
    log = output[1] if isinstance(output, list) and len(output) == 2 and isinstance(output[1], str) else text(output)
    found = re.search(r"Successfully built ([0-9a-f]{12})", log)
    assert found and f"ok {marker}" in log, log
    built = found.group(1)
    cleanup.images.append(built)
    assert daemon_request(docker_sock, "GET", f"/v{DIRECT_API}/images/{built}/json").status == 200

    repo = unique("tag")
    cleanup.images.append(f"{repo}:t")
    assert client.call("tag", built, repo, tag="t") is True
    rows = client.call("images")
    assert any(row.get("Repository") == repo and row.get("Tag") == "t" or f"{repo}:t" in (row.get("RepoTags") or [])
               for row in rows), rows
    client.call("remove_image", f"{repo}:t")
    assert daemon_request(docker_sock, "GET", f"/v{DIRECT_API}/images/{repo}:t/json").status == 404


def test_export_and_copy(client: Worker, cleanup: Cleanup, image: str) -> None:
    cid = create(client, cleanup, image, ["sh", "-c", "echo exported > /stamp"])
    client.call("start", cid)
    assert client.call("wait", cid) == 0
    with tarfile.open(fileobj=io.BytesIO(data(client.call("export", cid))), mode="r:") as tar:
        assert tar.extractfile("stamp").read() == b"exported\n"
        assert "bin/busybox" in tar.getnames()
    skip_unless_able(client, "copy")
    copied = data(client.call("copy", cid, "/stamp"))
    # A 2013 daemon answered a plain tar, and the clients hand its bytes on as they came.
    assert copied[:2] != b"\x1f\x8b", "copy answered gzip, which a 2013 daemon never sent"
    with tarfile.open(fileobj=io.BytesIO(copied), mode="r:") as tar:
        assert tar.extractfile("stamp").read() == b"exported\n"


def test_events_show_a_container_being_created(client: Worker, cleanup: Cleanup, image: str) -> None:
    skip_unless_able(client, "events")
    handle = client.background("events")
    cid = create(client, cleanup, image, ["true"])
    client.call("start", cid)

    def seen(found: dict[str, Any]) -> bool:
        events = [json.loads(data(item)) for item in found["items"]]
        return {"create", "start"} <= {event["status"] for event in events if event.get("id") == cid}
    wait_collected(client, handle, seen)


def test_login_push_pull_through_a_loopback_registry(client: Worker, cleanup: Cleanup, docker_sock: str, image: str,
                                                     tmp_path: Path, request: pytest.FixtureRequest) -> None:
    registry = os.environ.get("APXTEST_REGISTRY")
    user = os.environ.get("APXTEST_REGISTRY_USER")
    password = os.environ.get("APXTEST_REGISTRY_PASSWORD")
    if not (registry and user and password):
        pytest.skip("no registry: APXTEST_REGISTRY, _USER and _PASSWORD unset")
    skip_unless_able(client, "registry")
    repo = f"{registry}/apiproxy/{unique(client.release.replace('.', ''))}"
    cleanup.images.append(f"{repo}:v1")
    assert client.call("tag", image, repo, tag="v1") is True
    if client.release == "0.2.3":
        # Its login names no server, so it goes to the index: the login comes from the ~/.dockercfg
        # that `docker login` of the day wrote, and which it reads when the Client is made.
        home = tmp_path / "home"
        home.mkdir()
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        (home / ".dockercfg").write_text(json.dumps(
            {f"http://{registry}/v1/": {"auth": auth, "email": "apiproxy@example.invalid"}}))
        client = Worker(client.release, client.base_url, client.version, home=str(home))
        request.addfinalizer(client.close)
    else:
        # Under the key its push looks the credentials up by.
        login = client.call("login", user, password, "apiproxy@example.invalid", registry=f"http://{registry}/v1/")
        assert login.get("Status") == "Login Succeeded", login
    pushed = text(client.call("push", repo, _within=180))
    assert "error" not in pushed.lower() and "digest: sha256:" in pushed, pushed
    if _number(client.version) < (1, 5):
        return  # pulls below API 1.5 carry no credentials, and this registry wants them for reading too
    assert daemon_request(docker_sock, "DELETE", f"/v{DIRECT_API}/images/{repo}:v1").status == 200
    pulled = text(client.call("pull", f"{repo}:v1", _within=180))
    assert "error" not in pulled.lower(), pulled
    assert daemon_request(docker_sock, "GET", f"/v{DIRECT_API}/images/{repo}:v1/json").status == 200
