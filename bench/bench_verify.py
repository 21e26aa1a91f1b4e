"""Benchmark integrity (run on demand: `.venv/bin/python bench/bench_verify.py`).

Reports, in one run:

  A. `qms verify` of a 10,000-document project (targets on 2 cores: <= 2 s, and
     `--all-signatures` <= 12 s): the project is written with
     the real store code in-process (`qms.store.audit.append`: every event chained, signed
     and content-hashed, exactly as the operations write them), 90% CLOSED CRs with their
     whole lifecycle (23 events each), 5% IN_EXECUTION, 5% in pre-review. fsync is skipped
     while generating (the generator is not what is measured). Both are run `--runs` times,
     interleaved, median.
  B. the added cost of chaining and signing on a mutating command: `qms create CR` with this
     tree's code vs the same command with the code of `--baseline-ref` (the last commit
     before the integrity work; its `src/` is exported with `git archive`), both started as
     `python -c "from qms.cli.main import main; ..."` with the same interpreter, runs
     interleaved, median (target <= 1.15x). `qms status` is timed the same way (no crypto
     on read paths: target <= 1.05x).
  C. import time of `cryptography.hazmat.primitives.asymmetric.ed25519` (median of fresh
     interpreters, minus `python -c pass`).

Exit status 0 when every target is met, 1 otherwise.
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

REPO = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items()
       if k not in ("QMS_PROJECT_ROOT", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
LAUNCH = "import sys; from qms.cli.main import main; sys.exit(main())"


def populate(root: Path, n: int, batch: int = 250) -> None:
    """``n`` CRs written with the real store code (chained, signed, content-hashed)."""
    from qms.domain import integrity
    from qms.store import audit, frontmatter
    from qms.store import meta as meta_store
    from qms.store.project import Project

    project = Project.open(root)
    real_fsync = os.fsync
    os.fsync = lambda fd: None  # generation only; the measured commands fsync as always
    try:
        for start in range(1, n + 1, batch):
            with project.transaction() as tx:
                for i in range(start, min(start + batch, n + 1)):
                    _one(tx, project, i, audit, frontmatter, meta_store, integrity)
    finally:
        os.fsync = real_fsync
    seq = root / "QMS" / ".meta" / ".seq"
    seq.mkdir(parents=True, exist_ok=True)
    (seq / "CR").write_text(f"{n}\n")


def _one(tx, project, i, audit, frontmatter, meta_store, integrity) -> None:
    doc_id = f"CR-{i:03d}"
    kind = i % 20
    status = "IN_PRE_REVIEW" if kind == 0 else "IN_EXECUTION" if kind == 1 else "CLOSED"
    text = (f"---\ntitle: Change {i}\nrevision_summary: Initial draft\n---\n\n# {doc_id}: "
            f"Change {i}\n\n## Scope\n\nBody of change {i}.\n")

    def ev(event, version, content=None, **extra):
        audit.append(tx, project, doc_id, event, "qa" if event in ("REVIEW", "APPROVE")
                     else "claude", version, content=content, **extra)

    def move(a, b, version):
        ev("STATUS_CHANGE", version, from_status=a, to_status=b)

    def review_and_approve(phase, version, approved):  # e.g. ("PRE", "0.1", "1.0")
        ev("REVIEW", version, content=text, outcome="RECOMMEND", comment="ok")
        move(f"IN_{phase}_REVIEW", f"{phase}_REVIEWED", version)
        move(f"{phase}_REVIEWED", f"IN_{phase}_APPROVAL", version)
        ev("ROUTE_APPROVAL", version, content=text, assignees=["qa"],
           approval_type=f"{phase}_APPROVAL")
        ev("APPROVE", version, content=text)
        tx.write_text(project.archive_path(doc_id, version), text)
        move(f"IN_{phase}_APPROVAL", f"{phase}_APPROVED", approved)

    ev("CREATE", "0.1", content=text, title=f"Change {i}")
    ev("CHECKOUT", "0.1")
    ev("CHECKIN", "0.1", content=text)
    move("DRAFT", "IN_PRE_REVIEW", "0.1")
    ev("ROUTE_REVIEW", "0.1", content=text, assignees=["qa"], review_type="PRE_REVIEW")
    meta = meta_store.new(doc_id, "CR", executable=True, user="claude", today="2026-01-01",
                          phase="pre_release")
    meta["checked_out"], meta["checked_out_date"] = False, None
    path = project.draft_path(doc_id)
    if status == "IN_PRE_REVIEW":
        meta.update(status=status, pending_assignees=["qa"])
        tx.write_text(path, text)
        meta_store.save(tx, project, meta)
        return
    review_and_approve("PRE", "0.1", "1.0")
    ev("RELEASE", "1.0", content=text)
    move("PRE_APPROVED", "IN_EXECUTION", "1.0")
    meta.update(version="1.0", execution_phase="post_release")
    if status == "IN_EXECUTION":
        meta["status"] = status
        tx.write_text(path, text)
        meta_store.save(tx, project, meta)
        return
    move("IN_EXECUTION", "IN_POST_REVIEW", "1.0")
    ev("ROUTE_REVIEW", "1.0", content=text, assignees=["qa"], review_type="POST_REVIEW")
    review_and_approve("POST", "1.0", "2.0")
    closed = frontmatter.minimal(text)
    ev("CLOSE", "2.0", content=closed)
    move("POST_APPROVED", "CLOSED", "2.0")
    tx.write_text(project.effective_path(doc_id), closed)
    meta.update(version="2.0", status="CLOSED", responsible_user=None)
    meta_store.save(tx, project, meta)


def run(cmd: list[str], cwd: Path, env: dict | None = None, ok=(0,)) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env or ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): "
                         f"{proc.stdout[-500:]}{proc.stderr[-2000:]}")
    return elapsed


def run_cpu(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """(wall, CPU user+sys) seconds of one child; CPU time hardly depends on machine load."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def bench_verify(root: Path, runs: int) -> tuple[float, float, dict]:
    qms = str(Path(sys.executable).parent / "qms")
    run([qms, "--user", "qa", "status", "CR-001"], root)  # warm .pyc
    times, fulls = [], []
    for _ in range(runs):  # interleaved, so background load hits both alike
        times.append(run([qms, "--user", "qa", "verify"], root))
        fulls.append(run([qms, "--user", "qa", "verify", "--all-signatures"], root))
    full = statistics.median(fulls)
    out = subprocess.run([qms, "--user", "qa", "--json", "verify"], cwd=root, env=ENV,
                         capture_output=True, text=True)
    return statistics.median(times), full, json.loads(out.stdout)["result"]


def bench_overhead(tmp: Path, ref: str, runs: int) -> dict[str, tuple[float, float]] | None:
    base_src = tmp / "baseline"
    base_src.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"],
                             capture_output=True)
    if archive.returncode != 0:
        print(f"B. skipped: git archive {ref} failed ({archive.stderr.decode().strip()})")
        return None
    subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive.stdout, check=True)
    envs = {"new": dict(ENV, PYTHONPATH=str(REPO / "src")),
            "old": dict(ENV, PYTHONPATH=str(base_src / "src"))}
    roots = {}
    for side, env in envs.items():
        roots[side] = tmp / f"ab-{side}"
        roots[side].mkdir()
        run([sys.executable, "-c", LAUNCH, "init", "--yes"], roots[side], env)
    samples: dict[str, dict[str, list[tuple[float, float]]]] = {"new": {}, "old": {}}
    for i in range(runs + 2):  # two warm-up rounds, then interleaved
        for side in ("old", "new"):
            for op, argv in (("create", ["--user", "claude", "create", "CR", "--title", "x"]),
                             ("status", ["--user", "qa", "status", "SOP-001"])):
                t = run_cpu([sys.executable, "-c", LAUNCH, *argv], roots[side], envs[side])
                if i >= 2:
                    samples[side].setdefault(op, []).append(t)
    return {f"{op} {kind}": (statistics.median(s[k] for s in samples["old"][op]),
                             statistics.median(s[k] for s in samples["new"][op]))
            for op in ("create", "status") for k, kind in ((0, "wall"), (1, "CPU"))}


def bench_import(runs: int) -> float:
    mod = "import cryptography.hazmat.primitives.asymmetric.ed25519"
    a = [run([sys.executable, "-c", mod], REPO) for _ in range(runs)]
    b = [run([sys.executable, "-c", "pass"], REPO) for _ in range(runs)]
    return statistics.median(a) - statistics.median(b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3, help="verify runs")
    ap.add_argument("--ab-runs", type=int, default=21, help="create/status A/B rounds")
    ap.add_argument("--baseline-ref", default="d1f9e54",
                    help="commit before the integrity work (for B)")
    ap.add_argument("--keep", action="store_true", help="keep the generated projects")
    ap.add_argument("--reuse", metavar="DIR", help="verify this project (e.g. a kept 'big' "
                    "one) instead of generating one")
    ap.add_argument("--skip", choices=["verify", "ab"], action="append", default=[],
                    help="leave out part A (verify) or B (A/B of create/status)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qms-bench-verify-"))
    ENV["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    sys.path.insert(0, str(REPO / "src"))
    ok = True
    try:
        from qms.operations.init import init

        print(f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load average "
              f"{os.getloadavg()[0]:.1f}")
        if "verify" not in args.skip:
            root = Path(args.reuse) if args.reuse else tmp / "big"
            if not args.reuse:
                root.mkdir()
                init(root, yes=True)
                t0 = time.perf_counter()
                populate(root, args.docs)
                print(f"generated {args.docs} documents in {time.perf_counter() - t0:.1f} s "
                      f"({root})")
            median, full, result = bench_verify(root, args.runs)
            ok &= median <= 2 and full <= 12 and result["clean"]
            print(f"\nA. qms verify, {result['documents']} documents, "
                  f"{result['chained_events']} chained events ({args.runs} runs, median; "
                  f"{os.cpu_count()} CPUs)")
            print(f"   verify                  {median:7.2f} s   target <= 2 s  "
                  f"{'OK' if median <= 2 and result['clean'] else 'MISSED'}  "
                  f"(clean={result['clean']}, {result['signatures_checked']} signature(s))")
            print(f"   verify --all-signatures {full:7.2f} s   target <= 12 s "
                  f"{'OK' if full <= 12 else 'MISSED'}\n")
        ab = None if "ab" in args.skip else bench_overhead(tmp, args.baseline_ref, args.ab_runs)
        if ab:
            print(f"B. added cost vs {args.baseline_ref} ({args.ab_runs} interleaved runs, "
                  "median)")
            for op, (old, new) in ab.items():
                target = 1.15 if op.startswith("create") else 1.05
                ratio = new / old
                ok &= ratio <= target
                print(f"   {op:<12} before {old * 1000:7.1f} ms  after {new * 1000:7.1f} ms  "
                      f"ratio {ratio:5.2f} x  target <= {target:.2f}  "
                      f"{'OK' if ratio <= target else 'MISSED'}")
            print()
        imp = bench_import(11)
        print(f"C. import cryptography...ed25519: {imp * 1000:.1f} ms (median, fresh "
              "interpreter, minus `python -c pass`)")
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
