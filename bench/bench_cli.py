"""Benchmark the `qms` CLI (run on demand: `.venv/bin/python bench/bench_cli.py`).

Reports, in one run:

  A. start-up: median wall time of the installed console script `qms --user qa status CR-001`
     divided by the median of `python -c "import yaml"` with the same interpreter, runs
     interleaved (target <= 1.3x; the earlier tool is ~1.9x);
  B. scale: median wall time of `qms create`, `qms status` and `qms route --review` in a
     10,000-document project divided by the same in a 10-document project (target <= 1.2x).
     The big project is written directly in the on-disk format (meta + audit + document file
     per document, a realistic mix of statuses and open review tasks), not with 10,000 CLI
     calls. The same operations are also timed in-process (operation cost without the
     interpreter start-up), which shows any O(n) work far more clearly.

Not part of the test suite. Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
QMS = str(BIN / "qms")
# Child processes run with bytecode caching on (as after `pip install`, which compiles every
# module), in a private cache folder so the source tree stays clean; the warm-up runs fill
# it for `qms` and for the `import yaml` baseline alike.
ENV = {k: v for k, v in os.environ.items()
       if k not in ("QMS_PROJECT_ROOT", "PYTHONDONTWRITEBYTECODE")}


# -- projects ------------------------------------------------------------------------------
def new_project(root: Path) -> Path:
    from qms.operations.init import init

    root.mkdir(parents=True)
    init(root, yes=True)
    return root


def populate(root: Path, n: int) -> None:
    """Write ``n`` CRs straight in the on-disk format: 90% CLOSED, 5% IN_EXECUTION, 5% in
    pre-review with a task in qa's inbox (so inbox sweeps have real work to skip)."""
    from qms.domain import prompts

    qms = root / "QMS"
    meta_dir, audit_dir = qms / ".meta" / "CR", qms / ".audit" / "CR"
    meta_dir.mkdir(parents=True, exist_ok=True)
    audit_dir.mkdir(parents=True, exist_ok=True)
    inbox = root / ".claude" / "users" / "qa" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    ts = "2026-01-01T00:00:00+00:00"
    for i in range(1, n + 1):
        doc_id = f"CR-{i:03d}"
        kind = i % 20
        if kind == 0:
            status, version, phase, pending, owner = "IN_PRE_REVIEW", "0.1", "pre_release", ["qa"], "claude"
        elif kind == 1:
            status, version, phase, pending, owner = "IN_EXECUTION", "1.0", "post_release", [], "claude"
        else:
            status, version, phase, pending, owner = "CLOSED", "2.0", "post_release", [], None
        meta = {"doc_id": doc_id, "doc_type": "CR", "version": version, "status": status,
                "executable": True, "execution_phase": phase, "responsible_user": owner,
                "checked_out": False, "checked_out_date": None, "effective_version": None,
                "pending_assignees": pending, "review_outcomes": {}}
        (meta_dir / f"{doc_id}.json").write_text(json.dumps(meta, indent=2))
        events = [{"ts": ts, "event": "CREATE", "user": "claude", "version": "0.1",
                   "title": f"Change {i}"}]
        if status != "IN_PRE_REVIEW":
            events.append({"ts": ts, "event": "STATUS_CHANGE", "user": "qa", "version": version,
                           "from_status": "PRE_APPROVED", "to_status": status})
        else:
            events.append({"ts": ts, "event": "STATUS_CHANGE", "user": "claude",
                           "version": version, "from_status": "DRAFT", "to_status": status})
        (audit_dir / f"{doc_id}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        folder = qms / "CR" / doc_id
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{doc_id}.md" if status == "CLOSED" else f"{doc_id}-draft.md"
        (folder / name).write_text(f"---\ntitle: Change {i}\nrevision_summary: Initial draft\n"
                                   f"---\n\n# {doc_id}: Change {i}\n\nBody.\n")
        if pending:
            (inbox / prompts.task_filename(doc_id, "PRE_REVIEW", version)).write_text(
                f"---\ntask_id: x\ndoc_id: {doc_id}\nworkflow_type: PRE_REVIEW\n---\n\nReview.\n")
    seq = qms / ".meta" / ".seq"
    seq.mkdir(parents=True, exist_ok=True)
    (seq / "CR").write_text(f"{n}\n")  # as a project grown with qms would have it


# -- timing helpers --------------------------------------------------------------------------
def wall(cmd: list[str], cwd: Path | None = None) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode().strip()}")
    return elapsed


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def bench_startup(root: Path, runs: int) -> tuple[float, float]:
    status_cmd = [QMS, "--user", "qa", "status", "CR-001"]
    yaml_cmd = [sys.executable, "-c", "import yaml"]
    for _ in range(3):  # warm the page cache and .pyc files
        wall(status_cmd, root), wall(yaml_cmd)
    a, b = [], []
    for _ in range(runs):  # interleaved, so drift hits both alike
        a.append(wall(status_cmd, root))
        b.append(wall(yaml_cmd))
    return statistics.median(a), statistics.median(b)


def cli_round(root: Path, i: int) -> dict[str, float]:
    t = {}
    t0 = time.perf_counter()
    out = subprocess.run([QMS, "--json", "--user", "claude", "create", "CR", "--title",
                          f"Bench {i}"], cwd=root, env=ENV, capture_output=True, text=True)
    t["create"] = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"create failed: {out.stdout}{out.stderr}")
    doc_id = json.loads(out.stdout)["result"]["doc_id"]
    t["status"] = wall([QMS, "--user", "qa", "status", doc_id], root)
    t["route"] = wall([QMS, "--user", "claude", "route", doc_id, "--review"], root)
    return t


def inproc_round(root: Path, i: int) -> dict[str, float]:
    from qms import operations as ops
    from qms.store.project import Project

    t = {}
    t0 = time.perf_counter()
    project = Project.discover(root)
    doc_id = ops.create(project, "claude", doc_type="CR", title=f"Bench {i}").doc_id
    t["create"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ops.status(Project.discover(root), "qa", doc_id=doc_id)
    t["status"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ops.route(Project.discover(root), "claude", doc_id=doc_id, route_type="review")
    t["route"] = time.perf_counter() - t0
    return t


def bench_scale(small: Path, big: Path, runs: int, fn) -> dict[str, tuple[float, float]]:
    fn(small, -1), fn(big, -1)  # warm-up
    samples = {"small": [], "big": []}
    for i in range(runs):  # interleaved
        samples["small"].append(fn(small, i))
        samples["big"].append(fn(big, i))
    return {op: (statistics.median(s[op] for s in samples["small"]),
                 statistics.median(s[op] for s in samples["big"]))
            for op in ("create", "status", "route")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=31, help="runs per start-up measurement")
    ap.add_argument("--scale-runs", type=int, default=15, help="create/status/route rounds")
    ap.add_argument("--docs", type=int, default=10_000, help="documents in the big project")
    ap.add_argument("--keep", action="store_true", help="keep the generated projects")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="qms-bench-"))
    ENV["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    ok = True
    try:
        print(f"python {sys.version.split()[0]} at {sys.executable}; projects in {tmp}")
        small = new_project(tmp / "small")
        populate(small, 10)
        t0 = time.perf_counter()
        big = new_project(tmp / "big")
        populate(big, args.docs)
        print(f"generated {args.docs} documents in {time.perf_counter() - t0:.1f} s\n")

        status_t, yaml_t = bench_startup(small, args.runs)
        ratio = status_t / yaml_t
        ok &= ratio <= 1.3
        print(f"A. start-up ({args.runs} interleaved runs, median)")
        print(f"   {'qms --user qa status CR-001':<34}{ms(status_t)}")
        yaml_label = 'python -c "import yaml"'
        print(f"   {yaml_label:<34}{ms(yaml_t)}")
        print(f"   {'ratio':<34}{ratio:8.2f} x   target <= 1.30  "
              f"{'OK' if ratio <= 1.3 else 'MISSED'}\n")

        cli = bench_scale(small, big, args.scale_runs, cli_round)
        inproc = bench_scale(small, big, args.scale_runs, inproc_round)
        print(f"B. scale: {args.docs} documents vs 10 ({args.scale_runs} rounds, median)")
        print(f"   {'operation':<18}{'10 docs':>11}{f'{args.docs} docs':>14}{'ratio':>9}  target")
        for label, table, judged in (("CLI", cli, True), ("in-process", inproc, False)):
            for op, (s, b) in table.items():
                r = b / s
                verdict = ("OK" if r <= 1.2 else "MISSED") if judged else "(info)"
                if judged:
                    ok &= r <= 1.2
                print(f"   {label + ' ' + op:<18}{ms(s):>11}{ms(b):>14}{r:8.2f} x  "
                      f"{'<= 1.20 ' + verdict if judged else verdict}")
        print()
        print("all targets met" if ok else "SOME TARGETS MISSED")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
