"""Benchmark the push gate (run on demand: `.venv/bin/python bench/bench_push.py`).

Reports, in one run, on a governed project (system APP, a scoped CR in execution, its code
area), pushing over a file path:

  A. a push of 100 commits touching 2,000 paths (20 new files each, all in scope) to the
     repository with the gate, divided by the same push of the same commits to a copy of
     that repository without the hook (target <= 2x); median of --rounds rounds, each round
     a fresh CR and fresh commits, the two pushes of a round run back to back;
  B. the gate's fixed cost: a one-commit push with the gate minus the same push without it
     (target <= 150 ms), median of --small rounds.

Exit status 0 when both targets are met, 1 otherwise.
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

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / d) for d in ("code", "web", "mcp")]

from _code_support import env, governed_project, scoped_cr  # noqa: E402

from qms import operations as ops  # noqa: E402
from qms.store.project import Project  # noqa: E402


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env(), check=True, capture_output=True)


def commits(area: Path, doc_id: str, n: int, files: int, tag: str) -> None:
    """``n`` commits of ``files`` new files each under src/app/auth/, with the trailer."""
    for i in range(n):
        folder = area / "src" / "app" / "auth" / tag / f"c{i:03d}"
        folder.mkdir(parents=True)
        for j in range(files):
            (folder / f"f{j:02d}.py").write_text(f"# {tag} {i} {j}\n")
        git(area, "add", "-A")
        git(area, "commit", "-q", "--no-verify", "-m", f"{tag} {i}\n\nQMS-CR: {doc_id}")


def timed_push(area: Path, remote: str, branch: str, *options: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(["git", "push", "-q", *options, remote, f"HEAD:refs/heads/{branch}"],
                          cwd=area, env=env(), capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"push to {remote} failed: {proc.stderr.decode()}")
    return elapsed


def without_gate(project: Path, target: Path) -> Path:
    """A copy of the project's repository (its objects and refs) with no hook."""
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", "--mirror", str(project / ".git"), str(target)],
                   env=env(), check=True, capture_output=True)
    (target / "hooks" / "pre-receive").unlink(missing_ok=True)
    git(target, "config", "receive.advertisePushOptions", "true")  # the area sends one
    return target


def round_(root: Path, base: Path, n: int, files: int, tag: str) -> tuple[float, float]:
    """(with the gate, without) for one push of ``n`` commits of ``files`` files."""
    doc_id = scoped_cr(root, title=f"Bench {tag}")
    area = Path(ops.code_checkout(Project.open(root), "claude", doc_id=doc_id).path)
    plain = without_gate(root, base / f"plain-{tag}.git")
    commits(area, doc_id, n, files, tag)
    branch = f"cr/{doc_id}"
    bare = timed_push(area, str(plain), branch)
    gated = timed_push(area, "origin", branch)
    return gated, bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="large pushes (default 3)")
    parser.add_argument("--small", type=int, default=7, help="one-commit pushes (default 7)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="qms-bench-push-"))
    try:
        root = governed_project(base)
        big = [round_(root, base, 100, 20, f"b{r}") for r in range(args.rounds)]
        small = [round_(root, base, 1, 1, f"s{r}") for r in range(args.small)]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    gated, bare = statistics.median(g for g, _ in big), statistics.median(b for _, b in big)
    ratio = gated / bare
    fixed = statistics.median(g - b for g, b in small)
    print(f"A. 100 commits, 2,000 paths: with the gate {gated * 1000:.0f} ms, without "
          f"{bare * 1000:.0f} ms: {ratio:.2f}x (target <= 2x)")
    print(f"B. the gate's fixed cost on a one-commit push: {fixed * 1000:.0f} ms "
          f"(target <= 150 ms; with {statistics.median(g for g, _ in small) * 1000:.0f} ms, "
          f"without {statistics.median(b for _, b in small) * 1000:.0f} ms)")
    return 0 if ratio <= 2.0 and fixed <= 0.150 else 1


if __name__ == "__main__":
    os.environ.pop("QMS_PROJECT_ROOT", None)
    sys.exit(main())
