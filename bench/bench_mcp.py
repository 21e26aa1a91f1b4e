"""Benchmark `qms-mcp` over streamable-http (run on demand: `python bench/bench_mcp.py`).

Starts a real server (with the benchmark-only `qms_noop` tool) on a throw-away project and
reports, in one run:
  1. median `qms_status` latency / median `qms_noop` latency, same server, same session
     (target <= 1.5: the operation costs little next to the protocol);
  2. speedup of one `qms_status` call over spawning `qms status` per call, the earlier
     process-per-call design (target >= 50x);
  3. throughput with 16 concurrent client sessions.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from qms.operations.create import create
from qms.operations.init import init
from qms.store.project import Project

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(root: Path, port: int) -> subprocess.Popen:
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


def client(url: str) -> Client:
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(timeout=60)))


async def timed(c: Client, tool: str, args: dict) -> float:
    start = time.perf_counter()
    result = await c.call_tool(tool, args)
    elapsed = time.perf_counter() - start
    assert not result.is_error, result.content
    return elapsed


async def latencies(url: str, doc_id: str, calls: int) -> tuple[list[float], list[float]]:
    """Interleaved `qms_status` / `qms_noop` calls on one session (after a warm-up)."""
    status_args, noop_args = {"user": "claude", "doc_id": doc_id}, {"user": "claude"}
    status, noop = [], []
    async with client(url) as c:
        for _ in range(20):
            await timed(c, "qms_status", status_args)
            await timed(c, "qms_noop", noop_args)
        for _ in range(calls):
            status.append(await timed(c, "qms_status", status_args))
            noop.append(await timed(c, "qms_noop", noop_args))
    return status, noop


async def throughput(url: str, doc_id: str, sessions: int, per_session: int) -> float:
    async def worker() -> None:
        async with client(url) as c:
            for _ in range(per_session):
                await timed(c, "qms_status", {"user": "claude", "doc_id": doc_id})

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(sessions):
            tg.start_soon(worker)
    return sessions * per_session / (time.perf_counter() - start)


def spawn_latencies(root: Path, doc_id: str, calls: int) -> list[float]:
    """The process-per-call design: one `qms status` process per call."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        subprocess.run([BIN / "qms", "--user", "claude", "status", doc_id], cwd=root, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="latency samples per tool")
    parser.add_argument("--spawns", type=int, default=20, help="`qms status` processes to time")
    parser.add_argument("--sessions", type=int, default=16, help="concurrent sessions")
    parser.add_argument("--per-session", type=int, default=50, help="calls per concurrent session")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        init(root, yes=True)
        doc_id = create(Project.open(root), "claude", doc_type="CR", title="Benchmark").doc_id
        port = free_port()
        server = start_server(root, port)
        url = f"http://127.0.0.1:{port}/mcp"
        try:
            status, noop = anyio.run(latencies, url, doc_id, args.calls)
            rate = anyio.run(throughput, url, doc_id, args.sessions, args.per_session)
        finally:
            server.terminate()
            server.wait(10)
        spawned = spawn_latencies(root, doc_id, args.spawns)

    ms = 1000
    status_med, noop_med, spawn_med = (statistics.median(x) for x in (status, noop, spawned))
    print(f"qms_status median latency : {status_med * ms:7.2f} ms  ({len(status)} calls, streamable-http)")
    print(f"qms_noop   median latency : {noop_med * ms:7.2f} ms")
    print(f"status / noop ratio       : {status_med / noop_med:7.2f}   (target <= 1.5)")
    print(f"spawn `qms status` median : {spawn_med * ms:7.2f} ms  ({len(spawned)} processes)")
    print(f"speedup over spawn        : {spawn_med / status_med:7.1f}x  (target >= 50x)")
    print(f"throughput                : {rate:7.0f} calls/s  ({args.sessions} concurrent sessions)")


if __name__ == "__main__":
    main()
