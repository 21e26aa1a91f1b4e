"""SIGKILL at every step of `qms merge`: before each git command it runs, before the journal
frame, with the frame written but not applied, and before it is marked applied. Whatever
the moment, after the next command's recovery (`qms verify` here) the project holds either
no merge at all or the whole merge with its event, and verify is clean."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _code_support import env, git, ready, rev
from qms import operations as ops
from qms.store.project import Project

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent(r'''
    import os, signal, sys
    from qms import operations as ops
    from qms.store import git as repo, transaction
    from qms.store.project import Project

    root, doc_id, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    project = Project.open(root)
    calls = [0]

    def die(*args, **kw):
        os.kill(os.getpid(), signal.SIGKILL)

    real_run, real_apply = repo._run, transaction.apply_ops

    def counted(*args, **kw):  # every git command qms runs goes through here
        if calls[0] == k:
            die()
        calls[0] += 1
        return real_run(*args, **kw)

    def half_applied(root_, journal_ops):
        real_apply(root_, journal_ops[:1])
        die()

    if k >= 0:
        repo._run = counted
    elif k == -1:
        transaction.write_journal = die          # the commit point never reached
    elif k == -2:
        transaction.apply_ops = half_applied     # the frame written, one file applied
    elif k == -3:
        transaction._mark_applied = die          # every file written, frame not marked
    ops.merge(project, "claude", doc_id=doc_id)
    print("finished", calls[0], flush=True)
''')


def events(root: Path) -> list[dict]:
    lines = (root / "QMS" / ".audit" / "project.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == "CODE_MERGE"]


@pytest.mark.req("REQ-CODE-017")
def test_sigkill_at_every_step_of_a_merge_is_all_or_nothing(gov, tmp_path):
    doc_id, _, head = ready(gov)
    old = rev(gov, "main")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    outcomes = {}
    k = -3
    while True:
        root = tmp_path / f"k{k}"
        shutil.copytree(gov, root, symlinks=True)
        proc = subprocess.run([sys.executable, str(script), str(root), doc_id, str(k)],
                              capture_output=True, text=True, timeout=120, env=env())
        finished = proc.returncode == 0
        assert finished or proc.returncode == -signal.SIGKILL, (k, proc.stdout, proc.stderr)
        result = ops.verify(Project.open(root), "qa")  # recovery, then the check
        assert result.clean, (k, result.findings)
        merged = events(root)
        main = rev(root, "main")
        if merged:
            [event] = merged
            assert main == event["new"] != old, k
            assert rev(root, f"{main}^{{tree}}") == rev(root, f"{head}^{{tree}}")
            assert rev(root, "refs/tags/APP-1.0") == event["tag"], k
            assert (root / "src/app/auth/login.py").read_text() == "v2\n", k  # checkout too
            assert git(root, "status", "--porcelain", "--", "src").stdout == b"", k
        else:
            assert main == old and rev(root, "refs/tags/APP-1.0") is None, k
            assert (root / "src/app/auth/login.py").read_text() == "x\n", k
        assert not (root / ".qms" / "merge.json").exists(), k
        outcomes[k] = bool(merged)
        if finished:
            break
        if not merged and k in (-1, 5, 12):  # nothing wedged: the merge can be done again
            again = ops.merge(Project.open(root), "claude", doc_id=doc_id)
            assert rev(root, "main") == again.commit and again.release == "APP-1.0"
        k += 1
    assert outcomes[-1] is False and outcomes[-2] is True and outcomes[-3] is True
    assert False in outcomes.values() and True in outcomes.values()
    assert len(outcomes) > 10, outcomes
