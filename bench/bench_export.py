"""Benchmark `qms export` (run on demand: `.venv/bin/python bench/bench_export.py`).

Reports, in one run:

  A. `qms export SOP-008` of one document with 50+ events (checkin/checkout rounds, then a
     review and an approval into force, all through the real operations): the installed
     console script, wall and CPU time, median of `--runs`, and the page count.
  B. `qms export --all` of a 200-document project (`--docs`; CRs written with the real
     store code by bench_verify.populate: 90% CLOSED with 23 events each), one run, wall
     and CPU time (children included: the layout runs in one process per CPU).

Informational (no target): almost all of the time is WeasyPrint's layout, about linear in
the number of pages.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_verify import populate  # noqa: E402  the 10,000-CR generator, reused

QMS = str(Path(sys.executable).with_name("qms"))
ENV = {k: v for k, v in os.environ.items() if k != "QMS_PROJECT_ROOT"}


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU of the child and its children) seconds."""
    t = time.perf_counter()
    before = os.times()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    after = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    cpu = (after.children_user - before.children_user) + \
        (after.children_system - before.children_system)
    return time.perf_counter() - t, cpu


def one_document(root: Path) -> str:
    from qms import operations as ops
    from qms.operations.init import init
    from qms.store.project import Project

    init(root, yes=True)
    project = Project.open(root)
    doc = ops.create(project, "claude", doc_type="SOP", title="Busy procedure").doc_id
    for i in range(24):  # CHECKIN + CHECKOUT per round
        ops.checkin(project, "claude", doc_id=doc, content=(
            f"---\ntitle: Busy procedure\nrevision_summary: round {i}\n---\n\n# Busy\n\n"
            + "\n\n".join(f"Paragraph {n} of round {i}." for n in range(30)) + "\n"))
        if i < 23:
            ops.checkout(project, "claude", doc_id=doc)
    ops.route(project, "claude", doc_id=doc, route_type="review")
    ops.review(project, "qa", doc_id=doc, outcome="recommend", comment="fine")
    ops.route(project, "claude", doc_id=doc, route_type="approval")
    ops.approve(project, "qa", doc_id=doc)
    return doc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qms-bench-export-"))
    try:
        root = work / "one"
        root.mkdir()
        doc = one_document(root)
        events = sum(1 for _ in (root / "QMS/.audit/SOP" / f"{doc}.jsonl").open())
        samples = [timed([QMS, "--user", "qa", "export", doc, "-o", str(work / "one.pdf"),
                          "--force"], root) for _ in range(args.runs)]
        pages = subprocess.run(["pdfinfo", str(work / "one.pdf")], capture_output=True,
                               text=True).stdout
        pages = next((ln.split()[1] for ln in pages.splitlines() if ln.startswith("Pages:")), "?")
        print(f"A. export of {doc} ({events} events, {pages} pages): wall "
              f"{statistics.median(s[0] for s in samples):.2f} s, CPU "
              f"{statistics.median(s[1] for s in samples):.2f} s (median of {args.runs})")

        big = work / "big"
        big.mkdir()
        from qms.operations.init import init

        init(big, yes=True)
        populate(big, args.docs)
        wall, cpu = timed([QMS, "--user", "qa", "export", "--all", "-o", str(work / "all")], big)
        files = len(os.listdir(work / "all"))
        size = sum(p.stat().st_size for p in (work / "all").iterdir())
        print(f"B. export --all of {args.docs} CRs + the seeded documents ({files} files, "
              f"{size / 1e6:.1f} MB): wall {wall:.1f} s, CPU {cpu:.1f} s "
              f"({os.cpu_count()} CPUs)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
