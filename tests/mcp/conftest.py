"""Fixtures for the qms-mcp tests: projects, real server processes, official MCP clients.

Every server is a real `qms-mcp` process (the installed console script) on a free 127.0.0.1
port; it is always killed at teardown.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from _mcp_support import QMS_MCP, free_port, http
from qms.operations.init import init

START_TIMEOUT = 20.0


@pytest.fixture(scope="session")
def template_project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("template") / "proj"
    root.mkdir()
    init(root, yes=True)
    return root


@pytest.fixture
def project(template_project, tmp_path) -> Path:
    """A fresh initialised project (a copy of one `init`)."""
    root = tmp_path / "proj"
    shutil.copytree(template_project, root, symlinks=True)
    return root


@dataclass
class Served:
    """A running `qms-mcp` (HTTP transports) or the recipe to spawn one (stdio)."""

    transport: str
    args: list[str]
    port: int = 0
    proc: subprocess.Popen | None = None
    log: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, headers: dict[str, str] | None = None, mode: str = "auto") -> Client:
        """An official MCP client for this server (not yet entered); `mode="legacy"` forces the
        initialize handshake that clients such as Claude Code use."""
        if self.transport == "stdio":
            return Client(StdioServerParameters(
                command=QMS_MCP, args=["--transport", "stdio", *self.args],
                env={**os.environ, **self.env}), mode=mode)
        if self.transport == "sse":
            return Client(sse_client(f"{self.base}/sse", headers=headers), mode=mode)
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))
        return Client(streamable_http_client(f"{self.base}/mcp", http_client=http), mode=mode)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""


def start_server(root: Path, transport: str, *extra: str, host: str = "127.0.0.1",
                 env: dict[str, str] | None = None) -> Served:
    """Start `qms-mcp` for real and wait for `/healthz` (stdio: nothing to start yet).
    A free port can be taken by someone else before the server binds it: then try another."""
    args = ["--project-root", str(root), *extra]
    served = Served(transport, args, env=env or {})
    if transport == "stdio":
        return served
    for _ in range(3):
        served.port = free_port()
        served.log = root.parent / f"qms-mcp-{served.port}.log"
        with open(served.log, "wb") as log:
            served.proc = subprocess.Popen(
                [QMS_MCP, "--transport", transport, "--host", host, "--port", str(served.port),
                 *args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **served.env})
        if _wait_healthy(served):
            return served
        stop_server(served)
        if "already in use" not in served.stderr():
            break
    raise AssertionError(f"qms-mcp --transport {transport} did not start:\n{served.stderr()}")


def _wait_healthy(served: Served) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while served.proc.poll() is None and time.monotonic() < deadline:
        try:
            if http(f"{served.base}/healthz")[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def stop_server(served: Served) -> None:
    if served.proc and served.proc.poll() is None:
        served.proc.send_signal(signal.SIGTERM)
        try:
            served.proc.wait(5)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait(5)


@pytest.fixture
def serve(project) -> Iterator[Any]:
    """`serve(transport, *extra_args, host=..., env=...)` -> Served; all stopped at teardown."""
    started: list[Served] = []

    def _serve(transport: str, *extra: str, host: str = "127.0.0.1",
               env: dict[str, str] | None = None) -> Served:
        served = start_server(project, transport, *extra, host=host, env=env)
        started.append(served)
        return served

    yield _serve
    for served in started:
        stop_server(served)
