"""Helpers for the container tests: the Docker engine, the kit's images, an internal network,
and `docker run` argv taken from the kit's own compose file."""

from __future__ import annotations

import json
import os
import random
import socket
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from _proxy_support import listens

REPO = Path(__file__).resolve().parents[2]
KIT = REPO / "deploy/container"
BIN = Path(sys.executable).parent
BASE_IMAGE = os.environ.get("QMS_CONTAINER_BASE_IMAGE", "local/qms-bookworm-base")
AGENT_IMAGE = "qms-agent:test"
TTL = 3.0  # --identity-ttl of the test server: short, so the lock's expiry is observable
AGENT_UID = 1000  # the image's default agent user; the test chowns what it must write
# compose keys the translation below knows; any other key fails the test (a new promise in
# the compose file must be translated, not silently dropped)
SERVICE_KEYS = {"build", "image", "environment", "extra_hosts", "volumes", "working_dir",
                "secrets", "stdin_open", "tty", "cap_drop", "security_opt"}
VOLUME_KEYS = {"type", "source", "target", "read_only", "tmpfs"}


def docker(*args: str, timeout: float = 120, check: bool = True,
           input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=check, input=input)


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None."""
    if not shutil.which("docker"):
        return "no docker CLI"
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    return None if info.returncode == 0 else f"no Docker engine reachable: {info.stderr.strip()[:200]}"


def image_exists(name: str) -> bool:
    return docker("image", "inspect", name, check=False).returncode == 0


def ensure_base_image() -> str | None:
    """The base image (built once with mmdebstrap, then reused), or why there is none."""
    if image_exists(BASE_IMAGE):
        return None
    if not shutil.which("mmdebstrap") or os.geteuid() != 0:
        return f"no base image {BASE_IMAGE} and no way to build it here (root + mmdebstrap)"
    run = subprocess.run(["bash", str(KIT / "base-image.sh"), BASE_IMAGE], capture_output=True,
                         text=True, timeout=900)
    return None if run.returncode == 0 else f"building {BASE_IMAGE} failed: {run.stderr[-500:]}"


def build_agent_image() -> None:
    """The agent image, built from this repository by the kit's build script (no Claude Code)."""
    run = subprocess.run(["bash", str(KIT / "build.sh"), "--base", BASE_IMAGE, "--no-claude-code",
                          "--tag", AGENT_IMAGE], capture_output=True, text=True, timeout=900,
                         env={**os.environ, "PYTHON": sys.executable})
    assert run.returncode == 0, f"agent image build failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"


def create_internal_network(name: str) -> str:
    """An --internal network on a free 10.x.y.0/24; returns its gateway (the host's address on it)."""
    last = ""
    for _ in range(20):
        net = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}"
        run = docker("network", "create", "--internal", "--subnet", f"{net}.0/24",
                     "--gateway", f"{net}.1", name, check=False)
        if run.returncode == 0:
            return f"{net}.1"
        last = run.stderr
    raise RuntimeError(f"no free subnet for {name}: {last}")


def kit_service(user: str, project: Path, secrets: Path, gateway: str) -> dict[str, Any]:
    """The kit's compose service for `user`, as compose itself interpolates it when it is
    installed (v1 `docker-compose config`), else by the static tests' interpolation."""
    env = {**os.environ, "QMS_USER": user, "QMS_PROJECT": str(project),
           "QMS_SECRETS": str(secrets), "QMS_HOST_GATEWAY": gateway}
    if shutil.which("docker-compose"):
        run = subprocess.run(["docker-compose", "-f", str(KIT / "compose.yaml"), "config"],
                             capture_output=True, text=True, timeout=60, env=env, check=True)
        config = yaml.safe_load(run.stdout)
    else:
        from test_container_kit import compose  # tests/proxy: the same ${VAR} rules
        config = compose(env)
    service = config["services"]["agent"]
    unknown = set(service) - SERVICE_KEYS
    assert not unknown, f"compose keys this test does not translate yet: {unknown}"
    service["_secrets"] = {name: spec["file"] for name, spec in config["secrets"].items()}
    service["_volumes"] = {name: spec.get("name", name) for name, spec in config["volumes"].items()}
    return service


def run_argv(service: dict[str, Any], *, network: str, name: str, image: str = AGENT_IMAGE,
             token: bool = True, volume_prefix: str = "") -> list[str]:
    """`docker run` doing what compose does with `service` (stdio, no tty: an MCP pipe)."""
    argv = ["run", "--rm", "-i", "--name", name, "--network", network]
    for key, value in service["environment"].items():
        if key == "QMS_TOKEN_FILE" and not token:
            continue
        argv += ["-e", f"{key}={value}"]
    argv += [x for host in service["extra_hosts"] for x in ("--add-host", host)]
    for volume in service["volumes"]:
        assert set(volume) <= VOLUME_KEYS, f"volume keys not translated yet: {volume}"
        kind, target = volume["type"], volume["target"]
        if kind == "bind":
            spec = f"type=bind,src={volume['source']},dst={target}"
        elif kind == "tmpfs":
            spec = f"type=tmpfs,dst={target},tmpfs-size={volume['tmpfs']['size']}"
        else:
            source = volume_prefix + service["_volumes"][volume["source"]]
            spec = f"type=volume,src={source},dst={target}"
        argv += ["--mount", spec + (",readonly" if volume.get("read_only") else "")]
    if token:
        for secret in service["secrets"]:
            source = secret["source"] if isinstance(secret, dict) else secret
            argv += ["--mount", f"type=bind,src={service['_secrets'][source]},"
                                f"dst=/run/secrets/{source},readonly"]
    argv += [x for cap in service["cap_drop"] for x in ("--cap-drop", cap)]
    argv += [x for opt in service["security_opt"] for x in ("--security-opt", opt)]
    argv += ["-w", service["working_dir"], image]
    return argv


@asynccontextmanager
async def agent(argv: list[str], url: str, *proxy_args: str, command: str = "docker",
                env: dict[str, str] | None = None, errlog: IO[str] | None = None):
    """The official MCP client on the host, speaking to qms-mcp-proxy in a container that
    `command argv` starts (`docker run -i ...` or `docker-compose run -T ...`)."""
    params = StdioServerParameters(command=command,
                                   args=[*argv, "qms-mcp-proxy", url, *proxy_args],
                                   env={**os.environ, **(env or {})})
    async with Client(stdio_client(params, errlog=errlog or sys.stderr), mode="legacy") as client:
        yield client


class HostServer:
    """The real `qms-mcp` on the host, bound to the internal network's gateway."""

    def __init__(self, argv: list[str], host: str, port: int, log: Path) -> None:
        self.argv, self.host, self.port, self.log = argv, host, port, log
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> HostServer:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"qms-mcp exited: {self.log.read_text()[-1000:]}"
            try:
                with opener.open(f"{self.base}/healthz", timeout=1) as response:
                    if json.load(response).get("status") == "ok" and \
                            listens(self.process.pid, self.port):  # ours, not a leftover
                        return self
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()  # never leave a server behind that the test will not stop
        raise TimeoutError(f"qms-mcp not serving on {self.base}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


@dataclass
class Kit:
    """A project served to agent containers the way docs/containers.md sets it up."""

    project: Path
    secrets: Path
    server: HostServer
    network: str
    gateway: str
    tokens: dict[str, str]
    names: list[str] = field(default_factory=list)
    services: dict[tuple[str, Path], dict[str, Any]] = field(default_factory=dict)
    live: dict[str, str] = field(default_factory=dict)  # user -> its latest agent container
    last_agent: float = 0.0  # when the last agent container's session ended
    prefix: str = field(default_factory=lambda: f"qt{os.urandom(3).hex()}-")

    @property
    def url(self) -> str:  # what the agent's .mcp.json names, on the test's port
        return f"http://host.docker.internal:{self.server.port}/mcp"

    def argv(self, user: str, *, token: bool = True, secrets_dir: Path | None = None) -> list[str]:
        """`docker run` args of a fresh agent container for `user`, from the kit's compose file."""
        key = (user, secrets_dir or self.secrets)
        if key not in self.services:
            self.services[key] = kit_service(user, self.project, key[1], self.gateway)
        service = self.services[key]
        name = f"{self.prefix}{user}-{len(self.names)}"
        self.names.append(name)
        return run_argv(service, network=self.network, name=name, token=token,
                        volume_prefix=self.prefix)

    @asynccontextmanager
    async def agent(self, user: str, *proxy_args: str, **options: Any) -> AsyncIterator[Client]:
        """An MCP client on the host, speaking to the proxy in a new agent container."""
        argv = self.argv(user, **options)
        self.live[user] = self.names[-1]
        try:
            async with agent(argv, self.url, *proxy_args) as client:
                yield client
        finally:
            self.last_agent = time.monotonic()

    def idle(self) -> None:
        """Wait until no identity lock of an earlier test's container can be alive."""
        time.sleep(max(0.0, self.last_agent + TTL + 0.5 - time.monotonic()))

    def remove(self) -> None:
        """Remove every container and volume this kit started (the volumes once unused)."""
        for container in self.names:
            docker("rm", "-f", container, check=False)
        for _ in range(20):
            volumes = docker("volume", "ls", "-q", "--filter", f"name={self.prefix}",
                             check=False).stdout.split()
            if not volumes or docker("volume", "rm", "-f", *volumes, check=False).returncode == 0:
                return
            time.sleep(0.5)  # a --rm container still being removed holds its volume

    def exec(self, user: str, script: str) -> subprocess.CompletedProcess:
        """Run `sh -c script` inside `user`'s running agent container, as the agent's shell."""
        return docker("exec", self.live[user], "sh", "-c", script, check=False, timeout=60)

    def shell(self, user: str, script: str) -> subprocess.CompletedProcess:
        """Run `sh -c script` in an agent container (no MCP), as the kit starts it."""
        argv = self.argv(user)
        return docker(*argv, "sh", "-c", script, check=False, timeout=60)

    def audit(self, doc_id: str) -> list[dict[str, Any]]:
        path = self.project / "QMS/.audit" / doc_id.split("-")[0] / f"{doc_id}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


USERS = ("claude", "qa", "tu")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def issue(project: Path, user: str) -> str:
    run = subprocess.run([str(BIN / "qms"), "--json", "--user", "lead", "token", "issue", user],
                         cwd=project, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(run.stdout)["result"]["token"]


def serve(project: Path, base: Path, network: tuple[str, str]) -> Kit:
    """Tokens for USERS in a secrets folder outside ``project`` and the real server on the
    network's gateway: the kit as docs/containers.md sets it up."""
    secrets_dir = base / "secrets"  # outside the project, as the docs say
    secrets_dir.mkdir(mode=0o700)
    os.chown(secrets_dir, AGENT_UID, AGENT_UID)
    tokens = {}
    for user in USERS:
        tokens[user] = issue(project, user)
        secret = secrets_dir / f"{user}.token"
        secret.write_text(tokens[user] + "\n")
        secret.chmod(0o400)
        os.chown(secret, AGENT_UID, AGENT_UID)  # the user that runs the containers owns it
        for path in [project / ".claude/users" / user / "workspace"]:
            os.chown(path, AGENT_UID, AGENT_UID)
    name, gateway = network
    port = free_port(gateway)
    argv = [str(BIN / "qms-mcp"), "--transport", "streamable-http", "--host", gateway,
            "--port", str(port), "--auth", "required", "--project-root", str(project),
            "--identity-ttl", str(TTL), "--no-web", "--log-level", "WARNING"]
    server = HostServer(argv, gateway, port, base / "server.log").start()
    return Kit(project, secrets_dir, server, name, gateway, tokens)
