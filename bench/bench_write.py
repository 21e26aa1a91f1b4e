"""Benchmark the write path (on demand: `.venv/bin/python bench/bench_write.py`).

Reports, in one run:
  A. in-process `create` (CR) median latency with the commit design in use (one fdatasync
     of the journal frame, files applied unsynced and made durable by one sync() per
     checkpoint), next to a checkpoint at every commit and to one bare fsync on the same
     disk, plus the sync calls per create (target: median <= 4 ms);
  B. 16 concurrent MCP agents over keep-alive HTTP (the lean client of bench_mcp.py), each
     doing create + status + inbox + history per round (target: >= 400 calls/s, 0 errors).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench_mcp import HEADERS, MODERN, LeanSession
from _server import free_port, project_with_cr, start_server
from qms import operations as ops
from qms.operations.init import init
from qms.store import transaction
from qms.store.project import Project


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


class _Counter:
    """Counts fsync/fdatasync/sync calls while active."""

    def __init__(self) -> None:
        self.calls = 0
        self._fsync, self._sync, self._datasync = os.fsync, os.sync, transaction._datasync

    def _counted(self, real):
        def call(*args: int) -> None:
            self.calls += 1
            real(*args)
        return call

    def __enter__(self) -> "_Counter":
        os.fsync, os.sync = self._counted(self._fsync), self._counted(self._sync)
        transaction._datasync = self._counted(self._datasync)
        return self

    def __exit__(self, *exc: object) -> None:
        os.fsync, os.sync, transaction._datasync = self._fsync, self._sync, self._datasync


def in_process(root: Path, runs: int) -> dict[str, float]:
    root.mkdir()
    init(root, yes=True)
    project = Project.open(root)
    for _ in range(10):  # warm up: imports, folders, caches
        ops.create(project, "claude", doc_type="CR", title="warm-up")
    times: dict[str, list[float]] = {"design": [], "every": [], "fsync": []}
    counted = 64
    with _Counter() as counter:
        for _ in range(counted):
            ops.create(project, "claude", doc_type="CR", title="count")
    probe = root / ".qms" / "fsync-probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for i in range(runs):  # interleaved, so background load hits every row alike
            for mode in ("design", "every"):
                transaction.CHECKPOINT_BYTES = CHECKPOINT if mode == "design" else -1
                start = time.perf_counter()
                ops.create(project, "claude", doc_type="CR", title=f"bench {i}")
                times[mode].append(time.perf_counter() - start)
            os.write(fd, b"x")
            start = time.perf_counter()
            os.fsync(fd)
            times["fsync"].append(time.perf_counter() - start)
    finally:
        os.close(fd)
        transaction.CHECKPOINT_BYTES = CHECKPOINT
    return {"create": _median_ms(times["design"]), "every": _median_ms(times["every"]),
            "fsync": _median_ms(times["fsync"]), "syncs": counter.calls / counted}


CHECKPOINT = transaction.CHECKPOINT_BYTES


def _call(session: LeanSession, tool: str, args: dict) -> dict:
    params: dict = {"name": tool, "arguments": args,
                    "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                              "io.modelcontextprotocol/clientCapabilities": {}}}
    headers = {**HEADERS, "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call",
               "Mcp-Name": tool}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
    session.connection.request("POST", "/mcp", body, headers)
    reply = json.loads(session.connection.getresponse().read())
    result = reply.get("result") or {}
    if result.get("isError") or "error" in reply:
        raise RuntimeError(str(reply)[:300])
    return result.get("structuredContent", {}).get("result") or {}


def agents(root: Path, n_agents: int, rounds: int) -> tuple[float, int, int]:
    """(calls/s, calls, errors) of ``n_agents`` concurrent sessions, each doing ``rounds``
    rounds of create + status + inbox + history."""
    port = free_port()
    server = start_server(root, port)
    errors: list[str] = []
    calls = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(n_agents + 1)

    def agent(k: int) -> None:
        session = LeanSession(port)
        _call(session, "qms_inbox", {"user": "qa"})  # connect before the clock starts
        barrier.wait()
        done = 0
        for r in range(rounds):
            try:
                doc = _call(session, "qms_create", {"user": "claude", "doc_type": "CR",
                                                    "title": f"agent {k} round {r}"})["doc_id"]
                done += 1
                _call(session, "qms_status", {"user": "claude", "doc_id": doc})
                done += 1
                _call(session, "qms_inbox", {"user": "qa"})
                done += 1
                _call(session, "qms_history", {"user": "claude", "doc_id": doc})
                done += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(str(exc))
        with lock:
            calls[0] += done

    threads = [threading.Thread(target=agent, args=(k,)) for k in range(n_agents)]
    try:
        for t in threads:
            t.start()
        barrier.wait()
        start = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(60)
    if errors:
        print("first error:", errors[0])
    return calls[0] / elapsed, calls[0], len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="in-process creates per row")
    parser.add_argument("--agents", type=int, default=16, help="concurrent MCP agents")
    parser.add_argument("--rounds", type=int, default=15, help="rounds per agent")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        a = in_process(Path(tmp) / "a", args.runs)
        root = Path(tmp) / "b"
        root.mkdir()
        project_with_cr(root)
        rate, calls, errors = agents(root, args.agents, args.rounds)

    print(f"A. in-process create, median of {args.runs} (interleaved):")
    print(f"   this design (one fdatasync of the journal; files synced at checkpoints): "
          f"{a['create']:.2f} ms   (target <= 4 ms)")
    print(f"   checkpoint at every commit (fdatasync + one sync() each): {a['every']:.2f} ms")
    print(f"   one bare fsync on this disk: {a['fsync']:.2f} ms; "
          f"create / fsync = {a['create'] / a['fsync']:.1f}")
    print(f"   fsync/fdatasync/sync calls per create: {a['syncs']:.2f} (the earlier design: 13)")
    print(f"B. {args.agents} concurrent MCP agents x {args.rounds} rounds of create + status + "
          f"inbox + history: {rate:.0f} calls/s, {calls} calls, {errors} errors   "
          "(target >= 400 calls/s, 0 errors)")


if __name__ == "__main__":
    main()
