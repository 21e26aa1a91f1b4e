"""Shared by the MCP benchmarks: a project with one CR and a real `qms-mcp` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from qms.operations.create import create
from qms.operations.init import init
from qms.store.project import Project

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def project_with_cr(root: Path) -> str:
    """Initialise ``root`` and create one CR; return its ID."""
    init(root, yes=True)
    return create(Project.open(root), "claude", doc_type="CR", title="Benchmark").doc_id


def start_server(root: Path, port: int) -> subprocess.Popen:
    """Start `qms-mcp` over streamable-http (with the benchmark no-op tool) and wait for it."""
    proc = subprocess.Popen(
        [BIN / "qms-mcp", "--transport", "streamable-http", "--port", str(port),
         "--project-root", str(root), "--log-level", "WARNING"],
        env={**os.environ, "QMS_MCP_BENCH_NOOP": "1"}, stdin=subprocess.DEVNULL,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            opener.open(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("qms-mcp did not start")
