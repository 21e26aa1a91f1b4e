"""Rolling back the committed tail (issue 15, Why 9): the chain committed in git must be a
prefix of today's; a shorter or rewritten chain is a finding; outside git, a note."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

QMS_BIN = Path(sys.executable).with_name("qms")
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def qms(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "QMS_PROJECT_ROOT"}
    return subprocess.run([str(QMS_BIN), *args], cwd=root, capture_output=True, text=True,
                          timeout=60, env=env)


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **GIT_ENV})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def verify(root: Path, *args: str) -> tuple[int, dict]:
    proc = qms(root, "--user", "qa", "--json", "verify", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["result"]


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    assert qms(root, "init", "--yes").returncode == 0
    assert qms(root, "--user", "claude", "create", "CR", "--title", "One").returncode == 0
    return root


def drop_last(root: Path) -> None:
    """The insider's rollback: the last chain line and its event, nothing else."""
    chain = root / "QMS/.audit/chain.jsonl"
    rows = chain.read_text().splitlines(keepends=True)
    last = json.loads(rows[-1])
    chain.write_text("".join(rows[:-1]))
    trail = root / "QMS/.audit/CR" / f"{last['doc_id']}.jsonl"
    events = trail.read_text().splitlines(keepends=True)
    trail.write_text("".join(events[:-1]))


@pytest.mark.req("REQ-INTEG-023")
def test_rolled_back_committed_tail_is_a_finding(project):
    code, result = verify(project)
    assert code == 0 and any("not in a git repository" in n for n in result["notes"])
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first")
    first = git(project, "rev-parse", "HEAD").strip()
    assert qms(project, "--user", "claude", "create", "CR", "--title", "Two").returncode == 0
    git(project, "add", "-A")
    git(project, "commit", "-qm", "second")
    code, result = verify(project, "--since", first)
    assert code == 0, result["findings"]
    assert sum("is a prefix of today's" in n for n in result["notes"]) == 2

    drop_last(project)
    code, result = verify(project)
    assert code == 1
    rollback = [f for f in result["findings"] if f["kind"] == "rollback"]
    assert len(rollback) == 1 and "removed" in rollback[0]["message"]

    git(project, "checkout", "-q", "--", ".")  # back to the committed state
    assert verify(project)[0] == 0
    chain = project / "QMS/.audit/chain.jsonl"
    chain.write_text(chain.read_text().replace('"seq": 2,', '"seq": 2, ', 1))
    code, result = verify(project)
    assert code == 1 and "rollback" in {f["kind"] for f in result["findings"]}
    assert any("diverges" in f["message"] for f in result["findings"])


def test_since_must_name_a_commit(project):
    assert "not in a git repository" in qms(project, "--user", "qa", "verify", "--since",
                                             "HEAD").stderr
    git(project, "init", "-q")
    proc = qms(project, "--user", "qa", "verify", "--since", "nosuch")
    assert proc.returncode == 2 and "no such commit" in proc.stderr
    proc = qms(project, "--user", "qa", "verify", "--since=--output=/tmp/x")
    assert proc.returncode == 2 and "Not a git revision" in proc.stderr
    code, result = verify(project)
    assert code == 0 and any("no commit yet" in n for n in result["notes"])
