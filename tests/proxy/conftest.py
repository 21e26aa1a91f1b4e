"""Fixtures for the proxy tests. Every process they start is killed at teardown."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _proxy_support import HERE, ServerProcess, free_port


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """`make(argv, env=None, start=True)`: a ServerProcess on a free port (`--port` appended).

    Every server is killed at teardown."""
    servers: list[ServerProcess] = []

    def make(argv: list[str], env: dict[str, str] | None = None, start: bool = True) -> ServerProcess:
        port = free_port()
        server = ServerProcess([*argv, "--port", str(port)], port, tmp_path / f"server-{port}.log", env)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.kill()


@pytest.fixture
def calls_file(tmp_path: Path) -> Path:
    return tmp_path / "calls.txt"


@pytest.fixture
def echo_server(server_factory: Any, calls_file: Path) -> Any:
    """`echo_server(*flags, start=True)` -> the tests-only echo server as a ServerProcess."""

    def make(*flags: str, start: bool = True) -> ServerProcess:
        argv = [sys.executable, str(HERE / "echo_server.py"), "--calls-file", str(calls_file), *flags]
        return server_factory(argv, start=start)

    return make
