"""Benchmark `qms-mcp` over streamable-http (on demand: `.venv/bin/python bench/bench_mcp.py`).

Starts a real server (with the benchmark-only `qms_noop` tool, which resolves the identity like
every tool and then does nothing) on a throw-away project, and reports in one run:
  1. median `qms_status` latency / median `qms_noop` latency, same server (target <= 1.3 with
     the lean client);
  2. speedup of a `qms_status` call over spawning `qms status` per call, the earlier
     process-per-call design (target >= 50x);
  3. throughput with 16 concurrent sessions;
  4. median `qms_status` latency with a bearer token / without one, same server (target <= 1.1).
The primary client is lean (one keep-alive HTTP connection posting JSON-RPC, as the container
proxy does), so the figures measure the server. The official SDK client is timed as well: its
own per-call cost comes on top.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from _server import BIN, free_port, project_with_cr, start_server
from qms.operations.identity.tokens import token_issue
from qms.store.project import Project

MODERN, HANDSHAKE = "2026-07-28", "2025-06-18"
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class LeanSession:
    """JSON-RPC over one keep-alive HTTP connection (what the container proxy does), speaking
    the current protocol (2026-07-28, per-request envelope) or 2025-06-18 (stateless)."""

    def __init__(self, port: int, version: str = MODERN,
                 headers: dict[str, str] | None = None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.version = version
        self.headers = headers or {}

    def call(self, tool: str, args: dict) -> float:
        params: dict = {"name": tool, "arguments": args}
        headers = {**HEADERS, **self.headers, "MCP-Protocol-Version": self.version}
        if self.version == MODERN:
            params["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN,
                               "io.modelcontextprotocol/clientCapabilities": {}}
            headers |= {"Mcp-Method": "tools/call", "Mcp-Name": tool}
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
        start = time.perf_counter()
        self.connection.request("POST", "/mcp", body, headers)
        reply = json.loads(self.connection.getresponse().read())
        elapsed = time.perf_counter() - start
        assert not reply["result"]["isError"], reply
        return elapsed


async def interleaved(call, tools: dict[str, dict], n: int) -> dict[str, list[float]]:
    """`n` timed calls of each tool (`await call(tool, args)` -> seconds), interleaved, after
    20 warm-up rounds."""
    times: dict[str, list[float]] = {tool: [] for tool in tools}
    for round_ in range(n + 20):
        for tool, args in tools.items():
            elapsed = await call(tool, args)
            if round_ >= 20:
                times[tool].append(elapsed)
    return times


async def lean_latencies(port: int, version: str, tools: dict[str, dict],
                         n: int) -> dict[str, list[float]]:
    session = LeanSession(port, version)

    async def call(tool: str, args: dict) -> float:
        return session.call(tool, args)

    return await interleaved(call, tools, n)


async def token_latencies(port: int, doc_id: str, secret: str, n: int) -> dict[str, list[float]]:
    """`qms_status` by a token holder (qa, verified per call, identity locked) against a
    caller without a token (tu, trusted), interleaved on two keep-alive connections."""
    sessions = {"with token": (LeanSession(port, headers={"Authorization": f"Bearer {secret}"}),
                               {"user": "qa", "doc_id": doc_id}),
                "without": (LeanSession(port), {"user": "tu", "doc_id": doc_id})}

    async def call(name: str, _: dict) -> float:
        session, args = sessions[name]
        return session.call("qms_status", args)

    return await interleaved(call, dict.fromkeys(sessions, {}), n)


def lean_throughput(port: int, args: dict, sessions: int, per_session: int) -> float:
    def worker() -> None:
        session = LeanSession(port)
        for _ in range(per_session):
            session.call("qms_status", args)

    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sessions * per_session / (time.perf_counter() - start)


async def sdk_latencies(port: int, tools: dict[str, dict], n: int) -> dict[str, list[float]]:
    http = httpx2.AsyncClient(timeout=60)
    transport = streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)
    async with Client(transport) as client:
        async def call(tool: str, args: dict) -> float:
            start = time.perf_counter()
            result = await client.call_tool(tool, args)
            assert not result.is_error, result.content
            return time.perf_counter() - start

        return await interleaved(call, tools, n)


def spawn_latencies(root: Path, doc_id: str, n: int) -> list[float]:
    """The process-per-call design: one `qms status` process per call."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([BIN / "qms", "--user", "claude", "status", doc_id], cwd=root, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="latency samples per tool")
    parser.add_argument("--spawns", type=int, default=20, help="`qms status` processes to time")
    parser.add_argument("--sessions", type=int, default=16, help="concurrent sessions")
    parser.add_argument("--per-session", type=int, default=100, help="calls per concurrent session")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        doc_id = project_with_cr(root)
        secret = token_issue(Project.open(root), "lead", name="qa").token
        tools = {"qms_status": {"user": "claude", "doc_id": doc_id}, "qms_noop": {"user": "claude"}}
        port = free_port()
        server = start_server(root, port)
        try:
            rows = {f"lean client, {version}":
                    anyio.run(lean_latencies, port, version, tools, args.calls)
                    for version in (MODERN, HANDSHAKE)}
            rows["official SDK client"] = anyio.run(sdk_latencies, port, tools, args.calls // 5)
            rate = lean_throughput(port, tools["qms_status"], args.sessions, args.per_session)
            auth = anyio.run(token_latencies, port, doc_id, secret, args.calls)
        finally:
            server.terminate()
            server.wait(10)
        spawned = statistics.median(spawn_latencies(root, doc_id, args.spawns))

    print(f"spawn `qms status` per call (process-per-call design): median {spawned * 1e3:.1f} ms")
    print(f"{'median latency':34} {'qms_status':>10} {'qms_noop':>9} {'ratio':>6} {'speedup':>8}")
    for name, times in rows.items():
        status, noop = statistics.median(times["qms_status"]), statistics.median(times["qms_noop"])
        print(f"{name:34} {status * 1e3:7.2f} ms {noop * 1e3:6.2f} ms {status / noop:6.2f} "
              f"{spawned / status:7.1f}x")
    print("targets: ratio <= 1.3 (lean client), speedup >= 50x")
    print(f"throughput: {rate:.0f} qms_status calls/s with {args.sessions} concurrent sessions "
          f"(lean client, {MODERN})")
    with_token, without = (statistics.median(auth[k]) for k in ("with token", "without"))
    print(f"qms_status with a bearer token {with_token * 1e3:.2f} ms, without "
          f"{without * 1e3:.2f} ms: ratio {with_token / without:.3f} (target <= 1.1)")


if __name__ == "__main__":
    main()
