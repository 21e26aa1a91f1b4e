"""Benchmark `qms export` (run on demand: `.venv/bin/python bench/bench_export.py`).

Reports, in one run (targets of issue 25):

  A. `qms export SOP-008` of one document with 59 events (checkin/checkout rounds, then a
     review and an approval into force, all through the real operations), the installed
     console script, against `qms --user qa status SOP-008` in the same project: runs
     interleaved, median wall of each and their ratio (target <= 4x). The export cache is
     emptied before each export (a cold export: gather, verify, typeset); a warm one (the
     same download again, served from the cache) is reported too.
  B. `qms export --all` of a 200-CR project (`--docs`; CRs written with the real store code
     by bench_verify.populate: 90% CLOSED with 23 events each) plus the 18 seeded documents:
     wall and CPU time, children included (target <= 6 s).
  C. `qms export` of a 1.97 MB document (a section with a paragraph, an 8-row table, a list
     and a code block, repeated up to 1.97 MB; within the 2 MB text limit): wall and the
     peak resident memory of the largest process (the Typst worker) (targets <= 20 s, <= 1 GB).

Child processes run with bytecode caching on, in a private cache folder, as after
`pip install` (as bench_cli.py does).
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
ENV = {k: v for k, v in os.environ.items()
       if k not in ("QMS_PROJECT_ROOT", "PYTHONDONTWRITEBYTECODE")}
BIG = 1_970_000


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall s, CPU s of the process and its children, peak RSS in MB of the largest). The
    wall ends when the command does; a typesetting process it did not wait for (it reports
    its PDF and ends on its own) comes back to this process (a child subreaper) and is
    collected afterwards, so its CPU and memory are counted."""
    _subreaper()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
    while True:  # the orphans, if any
        try:
            _, _, more = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu, rss = cpu + more.ru_utime + more.ru_stime, max(rss, more.ru_maxrss)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err[-2000:]}")
    return wall, cpu, rss // 1024


def _subreaper() -> None:
    """Orphaned descendants come to this process (Linux PR_SET_CHILD_SUBREAPER)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)


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


def big_text(size: int) -> str:
    """About ``size`` bytes of an SOP: numbered sections, each with a paragraph (strong,
    inline code, a link), an 8-row table, a 6-item list and a 6-line code block."""
    parts, total, n = [], 0, 0
    while True:
        n += 1
        section = (
            f"## {n}. Section {n}\n\n"
            + " ".join(f"Sentence {k} of section {n} says what the procedure requires, with "
                       f"**emphasis**, `code {k}` and a [link](https://example.com/{n}/{k})."
                       for k in range(12)) + "\n\n"
            + "| Step | Action | Owner |\n|---|---|---|\n"
            + "".join(f"| {n}.{k} | Check item {k} of section {n} | QA |\n" for k in range(8))
            + "\n" + "".join(f"- item {k} of the list in section {n}\n" for k in range(6))
            + "\n```\n" + "".join(f"line {k} of code block {n} = value_{k}\n" for k in range(6))
            + "```\n\n")
        if total + len(section) > size:
            return "".join(parts)
        parts.append(section)
        total += len(section)


def big_document(root: Path) -> tuple[str, int]:
    from qms import operations as ops
    from qms.operations.init import init
    from qms.store.project import Project

    init(root, yes=True)
    project = Project.open(root)
    doc = ops.create(project, "claude", doc_type="SOP", title="Huge procedure").doc_id
    head = "---\ntitle: Huge procedure\nrevision_summary: x\n---\n\n# Huge procedure\n\n"
    text = head + big_text(BIG - len(head))
    ops.checkin(project, "claude", doc_id=doc, content=text)
    return doc, len(text.encode())


def pages(pdf: Path) -> str:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    return next((ln.split()[1] for ln in info.splitlines() if ln.startswith("Pages:")), "?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--all-runs", type=int, default=3)
    parser.add_argument("--skip", choices=("one", "all", "big"), action="append", default=[])
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    work = Path(tempfile.mkdtemp(prefix="qms-bench-export-"))
    ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    try:
        if "one" not in args.skip:
            root = work / "one"
            root.mkdir()
            doc = one_document(root)
            events = sum(1 for _ in (root / "QMS/.audit/SOP" / f"{doc}.jsonl").open())
            out = work / "one.pdf"
            export = [QMS, "--user", "qa", "export", doc, "-o", str(out), "--force"]
            status = [QMS, "--user", "qa", "status", doc]
            cache = root / ".qms" / "cache"
            for _ in range(2):  # warm-up: bytecode cache
                timed(status, root)
                timed(export, root)
            cold, warm, plain = [], [], []
            for _ in range(args.runs):
                shutil.rmtree(cache, ignore_errors=True)
                cold.append(timed(export, root))
                plain.append(timed(status, root))
                warm.append(timed(export, root))
            (a, ac), (s, sc), (w, wc) = ((statistics.median(x[0] for x in xs),
                                          statistics.median(x[1] for x in xs))
                                         for xs in (cold, plain, warm))
            print(f"A. export of {doc} ({events} events, {pages(out)} pages), median of "
                  f"{args.runs}: cold {a * 1000:.0f} ms, status {s * 1000:.0f} ms: ratio "
                  f"{a / s:.2f}x (target <= 4x); warm (cache) {w * 1000:.0f} ms = {w / s:.2f}x."
                  f" CPU: cold {ac * 1000:.0f} ms ({ac / sc:.2f}x), status {sc * 1000:.0f} ms, "
                  f"warm {wc * 1000:.0f} ms ({wc / sc:.2f}x)")
        if "all" not in args.skip:
            big = work / "all"
            big.mkdir()
            from qms.operations.init import init

            init(big, yes=True)
            populate(big, args.docs)
            samples = []
            for n in range(args.all_runs):
                shutil.rmtree(work / f"out{n}", ignore_errors=True)
                samples.append(timed([QMS, "--user", "qa", "export", "--all", "-o",
                                      str(work / f"out{n}")], big))
            files = len(os.listdir(work / "out0"))
            size = sum(p.stat().st_size for p in (work / "out0").iterdir())
            walls = sorted(s[0] for s in samples)
            print(f"B. export --all of {args.docs} CRs + the seeded documents ({files} files, "
                  f"{size / 1e6:.1f} MB): wall median {statistics.median(walls):.2f} s "
                  f"(runs {', '.join(f'{w:.2f}' for w in walls)}; target <= 6 s), CPU "
                  f"{statistics.median(s[1] for s in samples):.1f} s ({os.cpu_count()} CPUs)")
        if "big" not in args.skip:
            root = work / "big"
            root.mkdir()
            doc, size = big_document(root)
            out = work / "big.pdf"
            wall, cpu, rss = timed([QMS, "--user", "qa", "export", doc, "-o", str(out)], root)
            print(f"C. export of a {size / 1e6:.2f} MB document ({pages(out)} pages, "
                  f"{out.stat().st_size / 1e6:.1f} MB PDF): wall {wall:.1f} s, CPU {cpu:.1f} s, "
                  f"peak RSS {rss} MB (targets <= 20 s, <= 1024 MB)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
