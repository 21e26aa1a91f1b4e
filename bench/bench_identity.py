"""Benchmark the signed user registry (run on demand: `.venv/bin/python bench/bench_identity.py`).

Side by side with the code of `--baseline-ref` (default 7cbccf7, main before the registry;
its `src/` exported with `git archive`), each side with a project made by its own `qms
init` plus the same users added with its own `qms user --add` (the registry's events on
this side, agent files only on the other) and one CR:
  A. CLI `qms --user qa status CR-001` and `qms --user qa read CR-001`: both trees launched
     the same way with the same interpreter, interleaved (each round in a shuffled order,
     so no side always follows the other), median of wall and CPU (user+sys from `wait4`,
     far less sensitive to machine load);
  B. MCP `qms_status` over streamable HTTP: one real `qms-mcp` per tree, one keep-alive
     connection each (the lean client of bench_mcp.py), blocks of calls interleaved,
     median latency.
Target: each ratio (this tree / baseline) <= 1.05. Exit status 0 when met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _server import free_port
from bench_mcp import LeanSession
from bench_verify import ENV, LAUNCH, REPO, run, run_cpu

USERS = {"ini": "initiator", "ini2": "initiator", "rev": "reviewer", "rev2": "reviewer",
         "qa2": "quality", "boss": "administrator"}
CR = "---\ntitle: Bench\nrevision_summary: r\n---\n\n# CR-001\n\nBody.\n"
TARGET = 1.05


def tree(tmp: Path, ref: str) -> Path:
    """The baseline's src/, exported with git archive."""
    base = tmp / "baseline"
    base.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"],
                             capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
    return base / "src"


def project(root: Path, env: dict) -> None:
    """A project made by this side's own code: init, the users, CR-001 checked in."""
    root.mkdir()
    qms = [sys.executable, "-c", LAUNCH]
    run([*qms, "init", "--yes"], root, env)
    for name, group in USERS.items():
        run([*qms, "--user", "lead", "user", "--add", name, "--group", group], root, env)
    run([*qms, "--user", "claude", "create", "CR", "--title", "Bench"], root, env)
    (root / ".claude/users/claude/workspace/CR-001.md").write_text(CR)
    run([*qms, "--user", "claude", "checkin", "CR-001"], root, env)


def bench_cli(roots: dict, envs: dict, runs: int) -> dict[str, tuple[float, float]]:
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {"old": {}, "new": {}}
    order = [(side, op) for side in ("old", "new") for op in ("status", "read")]
    shuffle = random.Random(22).shuffle
    for i in range(runs + 2):  # two warm-up rounds, then interleaved in a shuffled order
        shuffle(order)
        for side, op in order:
            t = run_cpu([sys.executable, "-c", LAUNCH, "--user", "qa", op, "CR-001"],
                        roots[side], envs[side])
            if i >= 2:
                samples[side].setdefault(op, []).append(t)
    return {f"CLI {op} ({kind})": (statistics.median(s[k] for s in samples["old"][op]),
                                   statistics.median(s[k] for s in samples["new"][op]))
            for op in ("status", "read") for k, kind in ((0, "wall"), (1, "CPU"))}


def serve(root: Path, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qms.server.main", "--transport", "streamable-http", "--port",
         str(port), "--project-root", str(root), "--log-level", "WARNING"],
        env=env, stdin=subprocess.DEVNULL)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            opener.open(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("qms-mcp did not start")


def bench_mcp(roots: dict, envs: dict, calls: int, block: int = 25) -> tuple[float, float]:
    servers = {side: serve(roots[side], envs[side]) for side in ("old", "new")}
    try:
        sessions = {side: LeanSession(port) for side, (_, port) in servers.items()}
        args = {"user": "qa", "doc_id": "CR-001"}
        times: dict[str, list[float]] = {"old": [], "new": []}
        for round_ in range(calls // block + 2):  # two warm-up blocks
            for side, session in sessions.items():
                got = [session.call("qms_status", args) for _ in range(block)]
                if round_ >= 2:
                    times[side] += got
        return statistics.median(times["old"]), statistics.median(times["new"])
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline-ref", default="7cbccf7")
    ap.add_argument("--runs", type=int, default=61, help="CLI rounds per command")
    ap.add_argument("--calls", type=int, default=1000, help="MCP calls per tree")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qms-bench-identity-"))
    ok = True
    try:
        base = dict(ENV, PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
        envs = {"new": dict(base, PYTHONPATH=str(REPO / "src")),
                "old": dict(base, PYTHONPATH=str(tree(tmp, args.baseline_ref)))}
        roots = {side: tmp / side for side in envs}
        for side, env in envs.items():
            project(roots[side], env)
        print(f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load average "
              f"{os.getloadavg()[0]:.1f}; {len(USERS) + 2} users besides lead/claude")
        rows = bench_cli(roots, envs, args.runs)
        rows["MCP qms_status"] = bench_mcp(roots, envs, args.calls)
        print(f"\nthis tree vs {args.baseline_ref} ({args.runs} CLI rounds, {args.calls} MCP "
              "calls per tree; medians)")
        for name, (old, new) in rows.items():
            ratio = new / old
            ok &= ratio <= TARGET or "(wall)" in name  # CPU decides the CLI rows
            print(f"   {name:<20} before {old * 1000:7.2f} ms  after {new * 1000:7.2f} ms  "
                  f"ratio {ratio:5.3f}  target <= {TARGET}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
