"""Helpers for the proxy tests: real processes on free 127.0.0.1 ports, proxies spawned by
the official MCP stdio client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import IO, Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

HERE = Path(__file__).parent
PROXY = str(Path(sys.executable).with_name("qms-mcp-proxy"))
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds the TCP socket listening on `port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    with suppress(OSError):
        return any(os.readlink(fd) in inodes for fd in Path(f"/proc/{pid}/fd").iterdir())
    return False


def wait_until_serving(port: int, process: subprocess.Popen, timeout: float = START_TIMEOUT) -> None:
    """Until `GET /healthz` on the port answers with this process's pid (not just an open
    socket, and not another program that took the port meanwhile)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        try:
            with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                # qms-mcp names its pid only to a token holder: then the listening socket tells
                if json.load(response).get("pid") == process.pid or listens(process.pid, port):
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no server of ours on 127.0.0.1:{port} after {timeout}s")


class ServerProcess:
    """A server subprocess that can be killed and started again on the same port."""

    def __init__(self, argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.argv, self.port, self.log, self.env = argv, port, log, env
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> ServerProcess:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        wait_until_serving(self.port, self.process)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@asynccontextmanager
async def proxied(
    url: str,
    *proxy_args: str,
    user: str | None = "qa",
    token: str | None = None,
    errlog: IO[str] | None = None,
    **client_kwargs: Any,
):
    """An official MCP client talking to a freshly spawned `qms-mcp-proxy URL`."""
    env = {} if user is None else {"QMS_USER": user}
    if token:
        env["QMS_TOKEN"] = token
    params = StdioServerParameters(command=PROXY, args=[url, *proxy_args], env=env)
    client_kwargs.setdefault("mode", "legacy")  # the handshake era, as Claude Code speaks it
    async with Client(stdio_client(params, errlog=errlog or sys.stderr), **client_kwargs) as client:
        yield client


def text(result: Any) -> str:
    return result.content[0].text


def calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def leaf(exc: BaseException) -> BaseException:
    """The first real exception inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
