"""Fixtures of the container tests: a real Docker engine (else every test skips with the
reason), the kit's agent image built from this repository, an --internal network, and the
real `qms-mcp --auth required` on the host bound to that network's gateway. Every container,
network, volume and server they start is removed at teardown."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from _docker import (AGENT_IMAGE, Kit, build_agent_image, create_internal_network, docker,
                     engine_problem, ensure_base_image, serve)


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


@pytest.fixture(scope="module")
def kit(agent_image: str, network: tuple[str, str], tmp_path_factory) -> Iterator[Kit]:
    from qms.operations import init

    base = tmp_path_factory.mktemp("kit")
    project = base / "project"
    project.mkdir()
    init(project, yes=True)
    kit = serve(project, base, network)
    yield kit
    kit.server.stop()
    kit.remove()


@pytest.fixture
def fresh(kit: Kit) -> Kit:
    """The module's kit, once earlier containers' identity locks have expired."""
    kit.idle()
    return kit
