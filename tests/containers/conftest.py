"""Fixtures of the container tests: a real Docker engine (else every test skips with the
reason), the kit's agent image built from this repository, an --internal network, and the
real `qms-mcp --auth required` on the host bound to that network's gateway. Every container,
network, volume and server they start is removed at teardown."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from _docker import (AGENT_IMAGE, AGENT_UID, BIN, TTL, HostServer, Kit, build_agent_image,
                     create_internal_network, docker, engine_problem, ensure_base_image)

USERS = ("claude", "qa", "tu")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def agent_image() -> str:
    problem = engine_problem() or ensure_base_image()
    if problem:
        pytest.skip(problem)
    build_agent_image()
    return AGENT_IMAGE


@pytest.fixture(scope="session")
def network(agent_image: str) -> Iterator[tuple[str, str]]:
    """(name, gateway) of an internal network: containers reach the host's gateway address
    and nothing beyond."""
    name = f"qms-test-{uuid.uuid4().hex[:8]}"
    gateway = create_internal_network(name)
    yield name, gateway
    docker("network", "rm", name, check=False)


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def issue(project: Path, user: str) -> str:
    run = subprocess.run([str(BIN / "qms"), "--json", "--user", "lead", "token", "issue", user],
                         cwd=project, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(run.stdout)["result"]["token"]


@pytest.fixture(scope="module")
def kit(agent_image: str, network: tuple[str, str], tmp_path_factory) -> Iterator[Kit]:
    from qms.operations import init

    base = tmp_path_factory.mktemp("kit")
    project = base / "project"
    project.mkdir()
    init(project, yes=True)
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
    kit = Kit(project, secrets_dir, server, name, gateway, tokens)
    yield kit
    server.stop()
    kit.remove()


@pytest.fixture
def fresh(kit: Kit) -> Kit:
    """The module's kit, once earlier containers' identity locks have expired."""
    kit.idle()
    return kit
