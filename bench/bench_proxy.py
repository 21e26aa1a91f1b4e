"""Benchmark the `qms-mcp-proxy` hop (run on demand: `.venv/bin/python bench/bench_proxy.py`).

Starts a real `qms-mcp` (streamable-http, with the benchmark-only `qms_noop` tool) on a
throw-away project and times, in alternating blocks on one warm session each:

  direct : the official client over streamable HTTP (as a host agent connects);
  proxied: the official client over stdio to `qms-mcp-proxy`, which forwards over HTTP
           (as a container agent connects).

Prints median latencies for `qms_noop` (pure protocol) and `qms_status` (a real read), the
per-call overhead of the hop in ms and the ratio proxied / direct. Not part of the tests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from _server import BIN, free_port, project_with_cr, start_server



async def timed(client: Client, tool: str, args: dict) -> float:
    start = time.perf_counter()
    result = await client.call_tool(tool, args)
    elapsed = time.perf_counter() - start
    assert not result.is_error, result.content
    return elapsed


async def measure(url: str, doc_id: str, calls: int, block: int = 20) -> dict[str, list[float]]:
    """Samples in alternating blocks of `block` calls per path and tool (after a warm-up block).

    Blocks, not call-by-call interleaving: alternating two connections call by call changes
    the server's timing for both and hides the hop. The two paths act as different users
    (an enforced identity is locked to the proxy).
    """
    proxy = StdioServerParameters(
        command=str(BIN / "qms-mcp-proxy"), args=[url, "--log-level", "WARNING"], env={"QMS_USER": "claude"}
    )
    cases = {
        ("direct", "qms_noop"): {"user": "lead"},
        ("proxied", "qms_noop"): {"user": "claude"},
        ("direct", "qms_status"): {"user": "lead", "doc_id": doc_id},
        ("proxied", "qms_status"): {"user": "claude", "doc_id": doc_id},
    }
    samples: dict[str, list[float]] = {f"{path} {tool}": [] for path, tool in cases}
    async with Client(url, mode="legacy") as direct, Client(proxy, mode="legacy") as proxied:
        clients = {"direct": direct, "proxied": proxied}
        for round_ in range(calls // block + 1):
            for (path, tool), args in cases.items():
                times = [await timed(clients[path], tool, args) for _ in range(block)]
                if round_:
                    samples[f"{path} {tool}"].extend(times)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="samples per path and tool")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        doc_id = project_with_cr(root)
        port = free_port()
        server = start_server(root, port)
        try:
            samples = anyio.run(measure, f"http://127.0.0.1:{port}/mcp", doc_id, args.calls)
        finally:
            server.terminate()
            server.wait(10)

    median = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    for name, value in median.items():
        print(f"{name:<20} median {value:7.2f} ms  ({len(samples[name])} calls)")
    for tool in ("qms_noop", "qms_status"):
        direct, proxied = median[f"direct {tool}"], median[f"proxied {tool}"]
        print(f"{tool:<11} proxy hop: +{proxied - direct:5.2f} ms per call, "
              f"ratio proxied/direct {proxied / direct:5.2f}x")


if __name__ == "__main__":
    main()
