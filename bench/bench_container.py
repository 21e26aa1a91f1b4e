"""Benchmark an agent in a container (run on demand, as root with a Docker engine:
`.venv/bin/python bench/bench_container.py`).

Builds (or reuses) the kit's agent image and the base image exactly as tests/containers does,
starts a real `qms-mcp --auth required` (with the benchmark-only `qms_noop` tool) bound to an
--internal network's gateway, and measures:

  first call: `docker run -i` of a fresh agent container (kit settings, from the compose file)
              to the first tool result through `qms-mcp-proxy` (start, handshake, one call);
  per call  : on warm sessions, in alternating blocks, `qms_noop` and `qms_status` over
              direct HTTP from the host (bearer token), through `qms-mcp-proxy` on the host,
              and through `qms-mcp-proxy` in the container (`docker run -i` stdio).
Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/containers"))
from _docker import (AGENT_UID, BIN, TTL, HostServer, Kit, build_agent_image,  # noqa: E402
                     create_internal_network, docker, engine_problem, ensure_base_image)
from _server import free_port  # noqa: E402

from qms.operations.create import create  # noqa: E402
from qms.operations.init import init  # noqa: E402
from qms.operations.identity.tokens import token_issue  # noqa: E402
from qms.store.project import Project  # noqa: E402


def setup(root: Path, network: str, gateway: str) -> tuple[Kit, str]:
    project = root / "project"
    project.mkdir()
    init(project, yes=True)
    doc_id = create(Project.open(project), "claude", doc_type="CR", title="Benchmark").doc_id
    secrets = root / "secrets"
    secrets.mkdir(mode=0o700)
    tokens = {}
    for user in ("claude", "tu", "lead"):
        tokens[user] = token_issue(Project.open(project), "lead", name=user).token
        (secrets / f"{user}.token").write_text(tokens[user])
        os.chown(secrets / f"{user}.token", AGENT_UID, AGENT_UID)
    os.chown(project / ".claude/users/claude/workspace", AGENT_UID, AGENT_UID)
    port = free_port()
    os.environ["QMS_MCP_BENCH_NOOP"] = "1"
    server = HostServer([str(BIN / "qms-mcp"), "--transport", "streamable-http", "--host", gateway,
                         "--port", str(port), "--auth", "required", "--project-root", str(project),
                         "--identity-ttl", str(TTL), "--no-web", "--log-level", "WARNING"],
                        gateway, port, root / "server.log")
    return Kit(project, secrets, server.start(), network, gateway, tokens), doc_id


async def first_calls(kit: Kit, doc_id: str, runs: int) -> list[float]:
    samples = []
    kit.argv("claude")  # the compose file is read once, outside the timing
    for _ in range(runs):
        kit.idle()  # the previous container's identity lock has expired
        start = time.perf_counter()
        async with kit.agent("claude") as client:
            result = await client.call_tool("qms_status", {"user": "claude", "doc_id": doc_id})
            samples.append(time.perf_counter() - start)
            assert not result.is_error, result.content
    return samples


async def timed(client: Client, tool: str, args: dict) -> float:
    start = time.perf_counter()
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    return time.perf_counter() - start


async def per_call(kit: Kit, doc_id: str, calls: int, block: int = 20) -> dict[str, list[float]]:
    """Alternating blocks of `block` calls per path and tool, after a warm-up round."""
    host_url = f"{kit.server.base}/mcp"
    host_proxy = StdioServerParameters(
        command=str(BIN / "qms-mcp-proxy"), args=[host_url, "--log-level", "WARNING"],
        env={"QMS_USER": "tu", "QMS_TOKEN": kit.tokens["tu"]})
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {kit.tokens['lead']}"},
                              timeout=httpx2.Timeout(30, read=60))
    samples: dict[str, list[float]] = {}
    users = {"direct HTTP": "lead", "proxy on host": "tu", "proxy in container": "claude"}
    async with (Client(streamable_http_client(host_url, http_client=http), mode="legacy") as direct,
                Client(host_proxy, mode="legacy") as hosted,
                kit.agent("claude", "--log-level", "WARNING") as contained):
        clients = {"direct HTTP": direct, "proxy on host": hosted, "proxy in container": contained}
        for round_ in range(calls // block + 1):
            for tool in ("qms_noop", "qms_status"):
                for path, client in clients.items():
                    args = {"user": users[path]} | ({"doc_id": doc_id} if tool == "qms_status" else {})
                    times = [await timed(client, tool, args) for _ in range(block)]
                    if round_:
                        samples.setdefault(f"{tool:<10} {path}", []).extend(times)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first", type=int, default=5, help="fresh containers to time")
    parser.add_argument("--calls", type=int, default=200, help="warm calls per path and tool")
    args = parser.parse_args()
    problem = engine_problem() or ensure_base_image()
    if problem:
        raise SystemExit(problem)
    build_agent_image()
    network = f"qms-bench-{uuid.uuid4().hex[:8]}"
    gateway = create_internal_network(network)
    kit = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            kit, doc_id = setup(Path(tmp), network, gateway)
            first = anyio.run(first_calls, kit, doc_id, args.first)
            samples = anyio.run(per_call, kit, doc_id, args.calls)
    finally:
        if kit:
            kit.server.stop()
            kit.remove()
        docker("network", "rm", network, check=False)
    print(f"first call (docker run -i -> first tool result): median {statistics.median(first):.2f} s, "
          f"min {min(first):.2f} s, max {max(first):.2f} s ({len(first)} containers)")
    median = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    for name, value in median.items():
        print(f"{name:<32} median {value:7.2f} ms  ({len(samples[name])} calls)")
    for tool in ("qms_noop", "qms_status"):
        direct = median[f"{tool:<10} direct HTTP"]
        for path in ("proxy on host", "proxy in container"):
            value = median[f"{tool:<10} {path}"]
            print(f"{tool:<10} {path:<18}: +{value - direct:5.2f} ms per call vs direct, "
                  f"ratio {value / direct:4.2f}x")


if __name__ == "__main__":
    main()
