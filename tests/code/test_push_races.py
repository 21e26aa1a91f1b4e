"""Two pushes at once, a push killed during the gate, and a recorded push that never landed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from _code_support import area, commit, env, events, git, rev, scoped_cr, verify_clean, write
from qms import operations as ops
from qms.operations.code.push import process_start
from qms.store.project import Project

pytestmark = pytest.mark.slow
REF = "refs/heads/cr/CR-001"


def second_clone(gov: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    git(tmp_path, "clone", "-q", "-b", "cr/CR-001", str(gov / ".git"), str(target))
    git(target, "config", "push.pushOption", "qms-user=claude")
    return target


@pytest.mark.req("REQ-CODE-010")
def test_two_pushes_at_once_never_both_recorded(gov, tmp_path):
    doc_id = scoped_cr(gov)
    a = area(gov, doc_id)
    b = second_clone(gov, tmp_path, "b")
    for round_ in range(4):
        for clone, name in ((a, "a"), (b, "b")):
            git(clone, "fetch", "-q", "origin")
            git(clone, "reset", "-q", "--hard", "origin/cr/CR-001")  # the loser starts over
            write(clone, f"src/app/auth/{name}{round_}.py", f"{name}\n")
            commit(clone, f"{name} {round_}\n\nQMS-CR: {doc_id}")
        before = len(events(gov, doc_id, "CODE_PUSH"))
        procs = [subprocess.Popen(["git", "push", "-q", "origin", "cr/CR-001"], cwd=c,
                                  env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for c in (a, b)]
        codes = [p.wait(120) for p in procs]
        pushes = events(gov, doc_id, "CODE_PUSH")
        assert sorted(codes)[0] == 0 and sorted(codes)[1] != 0, codes
        assert len(pushes) == before + 1, pushes[before:]
        assert rev(gov, REF) == pushes[-1]["new"]
    verify_clean(gov)


def _gate_pids(gov: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pre-receive" in cmd and str(gov).encode() in cmd:
            found.append(int(entry))
    return found


@pytest.mark.req("REQ-CODE-010")
@pytest.mark.parametrize("delay", [0.0, 0.03, 0.08, 0.15, 0.3])
def test_a_push_killed_in_the_gate_leaves_the_chain_clean(gov, delay):
    doc_id = scoped_cr(gov)
    a = area(gov, doc_id)
    base = rev(gov, REF)
    write(a, "src/app/auth/login.py", "killed\n")
    commit(a)
    proc = subprocess.Popen(["git", "push", "-q"], cwd=a, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not (pids := _gate_pids(gov)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(60)
    landed = rev(gov, REF)
    recorded = events(gov, doc_id, "CODE_PUSH")
    assert landed in (base, rev(a, "HEAD"))
    if landed != base:  # the gate finished before the kill: recorded and landed
        assert recorded and recorded[-1]["new"] == landed
    verify_clean(gov)  # whatever the moment: the chain is whole
    # and the next push goes through from wherever the branch really is
    write(a, "src/app/auth/login.py", "after the kill\n")
    sha = commit(a)
    result = subprocess.run(["git", "push", "-q"], cwd=a, env=env(), capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    assert rev(gov, REF) == sha and events(gov, doc_id, "CODE_PUSH")[-1]["new"] == sha
    verify_clean(gov)


def _recorded_but_not_landed(gov: Path, doc_id: str, holder: tuple[int, str | None]) -> str:
    """Record a push whose objects reach the repository but whose ref never moves (a receiving
    process killed between the gate and the ref update)."""
    a = area(gov, doc_id)
    write(a, "src/app/auth/login.py", "recorded, never landed\n")
    new = commit(a)
    git(gov, "fetch", "-q", str(a), "HEAD")  # objects only: no ref, no hook
    old = rev(gov, REF)
    ops.code_receive(Project.open(gov), "claude", git_dir=str(gov / ".git"),
                     updates=[(old, new, REF)], holder=holder)
    assert rev(gov, REF) == old and events(gov, doc_id, "CODE_PUSH")[-1]["new"] == new
    git(a, "reset", "-q", "--hard", old)
    return old


@pytest.mark.req("REQ-CODE-010")
def test_a_push_that_never_landed_does_not_block_the_next(gov):
    doc_id = scoped_cr(gov)
    gone = subprocess.Popen(["true"])
    gone.wait()
    old = _recorded_but_not_landed(gov, doc_id, (gone.pid, "gone"))
    a = area(gov, doc_id)
    write(a, "src/app/auth/login.py", "the real next push\n")
    sha = commit(a)
    result = subprocess.run(["git", "push", "-q"], cwd=a, env=env(), capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    last = events(gov, doc_id, "CODE_PUSH")[-1]
    assert last["old"] == old and last["new"] == sha and rev(gov, REF) == sha
    verify_clean(gov)


@pytest.mark.req("REQ-CODE-010")
def test_a_push_still_under_way_blocks_one_from_the_same_tip(gov):
    doc_id = scoped_cr(gov)
    me = os.getpid()
    _recorded_but_not_landed(gov, doc_id, (me, process_start(me)))  # "still running"
    a = area(gov, doc_id)
    write(a, "src/app/auth/login.py", "racing\n")
    commit(a)
    result = subprocess.run(["git", "push", "-q"], cwd=a, env=env(), capture_output=True)
    assert result.returncode != 0 and b"[stale]" in result.stderr
