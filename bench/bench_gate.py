"""Benchmark the merge gate and `verify --code` (run on demand: `.venv/bin/python bench/bench_gate.py`).

Reports, in one run, each against `git log --first-parent --name-only` over the same range
(median of --runs runs, interleaved). A CLI process pays Python's start-up and imports
(shown: `qms status` of a document), which alone exceed 3x a git log of a few milliseconds;
the gate's target is therefore judged on the operation in-process (what `qms_gate` runs in
the server), `verify --code`'s on the CLI:

  A. `qms gate CR-001` (the installed CLI, a fresh process each run) on a branch of 200
     commits touching 2,000 paths (10 new files each), pushed through the gate, qualified
     and its RTM EFFECTIVE (the gate passes), vs `git log ... main..cr/CR-001`
     (target <= 3x, in-process: `ops.gate`, what `qms_gate` runs);
  B. `qms verify --code` over 1,000 merges (each a CR with its `CODE_BRANCH`, `CODE_PUSH` and
     branch, a `--no-ff` merge commit on main, its signed `CODE_MERGE` and annotated release
     tag: written with the real store code and `git fast-import`), vs `git log ...
     BASE..main` (target <= 5x, the CLI); in-process too.

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

from _code_support import (QMS_BIN, approve_doc, effective_rs, env,  # noqa: E402
                           evidence_file, governed_project, junit, scoped_cr)

from qms import operations as ops  # noqa: E402
from qms.store.project import Project  # noqa: E402

BLOCK = "```qms-scope\nsystem: APP\npaths: [src/app/**]\nrequirements: revise\n```"


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env(), check=True, capture_output=True,
                          input=input).stdout.decode()


def timed(cmd: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stdout.decode()}{proc.stderr.decode()}")
    return elapsed


def compare(label: str, qms_cmd: list[str], git_cmd: list[str], cwd: Path, runs: int,
            in_process) -> tuple[float, float]:
    """(CLI, in-process) each divided by git log; prints the figures and the CLI's fixed
    start-up (`qms --user qa status` of a document, same runs)."""
    rounds = [(timed(qms_cmd, cwd), timed(git_cmd, cwd),
               timed([str(QMS_BIN), "--user", "qa", "status", "SOP-001"], cwd))
              for _ in range(runs)]
    ours, theirs, startup = (statistics.median(r[i] for r in rounds) for i in range(3))
    inproc = []
    for _ in range(runs):
        start = time.perf_counter()
        in_process()
        inproc.append(time.perf_counter() - start)
    inner = statistics.median(inproc)
    print(f"{label}: git log {theirs * 1000:.0f} ms; the CLI {ours * 1000:.0f} ms "
          f"({ours / theirs:.2f}x; its start-up alone, qms status: {startup * 1000:.0f} ms); "
          f"the operation in-process (qms_gate, qms_verify) {inner * 1000:.0f} ms "
          f"({inner / theirs:.2f}x)")
    return ours / theirs, inner / theirs


# -- A. the gate on 200 commits, 2,000 paths -----------------------------------------------
def gate_project(base: Path) -> Path:
    root = governed_project(base)
    effective_rs(root)
    doc_id = scoped_cr(root, block=BLOCK, title="Bench gate")
    area = Path(ops.code_checkout(Project.open(root), "claude", doc_id=doc_id).path)
    for i in range(200):
        folder = area / "src" / "app" / "bench" / f"c{i:03d}"
        folder.mkdir(parents=True)
        for j in range(10):
            (folder / f"f{j}.py").write_text(f"# {i} {j}\n")
        git(area, "add", "-A")
        git(area, "commit", "-q", "--no-verify", "-m", f"bench {i}\n\nQMS-CR: {doc_id}")
    git(area, "push", "-q")
    head = git(area, "rev-parse", "HEAD").strip()
    ops.qualify(Project.open(root), "claude", namespace="APP",
                junit=[str(evidence_file(root, junit(head, False)))])
    approve_doc(root, "SDLC-APP-RTM")
    assert ops.gate(Project.open(root), "qa", doc_id=doc_id).verdict == "pass"
    return root


# -- B. verify --code over 1,000 merges --------------------------------------------------------
def merged_project(base: Path, n: int) -> tuple[Path, str]:
    """A governed project whose main holds ``n`` recorded merges (see the module)."""
    root = governed_project(base)
    start = git(root, "rev-parse", "main").strip()
    stream = []
    when = "1700000000 +0000"

    def data(text: str) -> str:
        return f"data {len(text.encode())}\n{text}\n"

    for i in range(1, n + 1):
        doc_id, path = f"CR-{i:04d}", f"src/app/m/f{i:04d}.py"
        parent = f":{2 * i - 2}" if i > 1 else start
        stream.append(f"commit refs/heads/cr/{doc_id}\nmark :{2 * i - 1}\n"
                      f"committer T <t@example.invalid> {when}\n"
                      + data(f"change {i}\n\nQMS-CR: {doc_id}") + f"from {parent}\n"
                      f"M 100644 inline {path}\n" + data(f"# {i}"))
        stream.append(f"commit refs/heads/main\nmark :{2 * i}\n"
                      f"committer T <t@example.invalid> {when}\n"
                      + data(f"Merge {doc_id}\n\nQMS-CR: {doc_id}") + f"from {parent}\n"
                      f"merge :{2 * i - 1}\nM 100644 inline {path}\n" + data(f"# {i}"))
        stream.append(f"tag APP-1.{i}\nfrom :{2 * i}\ntagger T <t@example.invalid> {when}\n"
                      + data(f"APP-1.{i}"))
    marks = base / "marks"
    git(root, "fast-import", "--quiet", "--force", f"--export-marks={marks}",
        input="".join(stream).encode())
    sha = dict(line.split() for line in marks.read_text().splitlines())
    trees = dict(line.split() for line in git(root, "log", "--first-parent", "--format=%H %T",
                                              "main", f"^{start}").splitlines())
    tags = dict(line.split() for line in git(root, "for-each-ref", "--format=%(refname:strip=2)"
                                             " %(objectname)", "refs/tags/").splitlines())
    _record(root, n, start, sha, trees, tags)
    return root, start


def _record(root: Path, n: int, start: str, sha: dict, trees: dict, tags: dict) -> None:
    from qms.store import audit

    project = Project.open(root)
    real_fsync = os.fsync
    os.fsync = lambda fd: None  # generation only
    try:
        for first in range(1, n + 1, 250):
            with project.transaction() as tx:
                for i in range(first, min(first + 250, n + 1)):
                    doc_id = f"CR-{i:04d}"
                    old = sha[f":{2 * i - 2}"] if i > 1 else start
                    head, new = sha[f":{2 * i - 1}"], sha[f":{2 * i}"]
                    scope = {"system": "APP", "paths": ["src/app/**"], "exclude": [],
                             "expect": [], "requirements": "revise", "exploratory": False}
                    audit.append(tx, project, doc_id, "CODE_BRANCH", "claude", "1.0",
                                 branch=f"cr/{doc_id}", base=old, system="APP", scope=scope)
                    audit.append(tx, project, doc_id, "CODE_PUSH", "claude", "1.0",
                                 ref=f"refs/heads/cr/{doc_id}", old=old, new=head,
                                 commits=[head], paths=[f"src/app/m/f{i:04d}.py"], via="local")
                    audit.append_project(tx, project, "CODE_MERGE", "claude", doc_id=doc_id,
                                         system="APP", branch=f"cr/{doc_id}", old=old, new=new,
                                         head=head, tree=trees[new], release=f"APP-1.{i}",
                                         tag=tags[f"APP-1.{i}"],
                                         rtm={"doc_id": "SDLC-APP-RTM", "version": "1.0"},
                                         rs={"doc_id": "SDLC-APP-RS", "version": "1.0"})
    finally:
        os.fsync = real_fsync


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs each (default 7)")
    parser.add_argument("--merges", type=int, default=1000, help="merges for B (default 1000)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="qms-bench-gate-"))
    try:
        root = gate_project(base / "a")
        _, a = compare("A. qms gate, 200 commits / 2,000 paths",
                       [str(QMS_BIN), "--user", "qa", "gate", "CR-001"],
                       ["git", "log", "--first-parent", "--name-only", "main..cr/CR-001"],
                       root, args.runs,
                       lambda: ops.gate(Project.open(root), "qa", doc_id="CR-001"))
        root, start = merged_project(base / "b", args.merges)
        check = ops.verify(Project.open(root), "qa", code=True)
        assert check.clean, check.findings[:3]
        assert any(f"({args.merges} merge(s))" in n for n in check.notes), check.notes
        b, _ = compare(f"B. qms verify --code, {args.merges:,} merges",
                       [str(QMS_BIN), "--user", "qa", "verify", "--code"],
                       ["git", "log", "--first-parent", "--name-only", f"{start}..main"],
                       root, args.runs,
                       lambda: ops.verify(Project.open(root), "qa", code=True))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"targets: A (the gate's work, in-process) {a:.2f}x <= 3x: "
          f"{'met' if a <= 3 else 'MISSED'}; B (the CLI) {b:.2f}x <= 5x: "
          f"{'met' if b <= 5 else 'MISSED'}")
    return 0 if a <= 3 and b <= 5 else 1


if __name__ == "__main__":
    os.environ.pop("QMS_PROJECT_ROOT", None)
    sys.exit(main())
