"""`qms merge`: the gate again, a --no-ff merge whose tree is the qualified head's, main moved
by compare-and-swap, the release tag, a signed CODE_MERGE; the project's checkout follows."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from _code_support import (area, commit, data_commit, effective_rs, env, git, push, qms,
                           qualify_at, ready, rev, scoped_cr, verify_clean, write)
from qms import operations as ops
from qms.errors import Conflict, InvalidTransition, PermissionDenied
from qms.store.project import Project

pytestmark = pytest.mark.slow


def merges(root: Path) -> list[dict]:
    lines = (root / "QMS" / ".audit" / "project.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == "CODE_MERGE"]


def trailers(root: Path, sha: str) -> dict[str, str]:
    out = git(root, "log", "-1", "--format=%(trailers:only,unfold)", sha).stdout.decode()
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


@pytest.mark.req("REQ-CODE-016")
def test_merge_lands_the_qualified_tree_with_trailers_tag_and_event(gov):
    doc_id, _, head = ready(gov)
    old = rev(gov, "main")
    (gov / "QMS" / "uncommitted-note.txt").write_text("qms data nobody committed yet\n")
    code, out = qms(gov, "merge", doc_id, user="claude")
    assert code == 0, out
    result = out["result"]
    new = rev(gov, "main")
    assert result["commit"] == new and result["old"] == old and result["head"] == head
    assert git(gov, "rev-list", "--parents", "-n1", new).stdout.decode().split() == \
        [new, old, head]  # --no-ff: main first, the head second
    assert rev(gov, f"{new}^{{tree}}") == rev(gov, f"{head}^{{tree}}") == result["tree"]
    assert trailers(gov, new) == {"QMS-CR": doc_id, "QMS-Qualified": head,
                                  "QMS-RTM": "SDLC-APP-RTM v1.0", "QMS-Release": "APP-1.0"}
    assert git(gov, "cat-file", "-t", "APP-1.0").stdout.decode().strip() == "tag"
    assert rev(gov, "APP-1.0^{commit}") == new and rev(gov, "refs/tags/APP-1.0") == result["tag"]
    [event] = merges(gov)
    assert {k: event[k] for k in ("doc_id", "system", "old", "new", "head", "tree", "release",
                                  "tag", "user")} == {
        "doc_id": doc_id, "system": "APP", "old": old, "new": new, "head": head,
        "tree": result["tree"], "release": "APP-1.0", "tag": result["tag"], "user": "claude"}
    assert "seq" in event
    # the checkout follows main: the merged file is there, the uncommitted qms data kept
    assert (gov / "src/app/auth/login.py").read_text() == "v2\n"
    assert (gov / "QMS" / "uncommitted-note.txt").exists()
    status = git(gov, "status", "--porcelain", "--", "src", "tests").stdout.decode()
    assert status == "", status
    (gov / "QMS" / "uncommitted-note.txt").unlink()  # not a document: verify would name it
    verify_clean(gov)


@pytest.mark.req("REQ-CODE-016")
def test_releases_count_up_and_major_when_the_cr_says(gov):
    doc_id, _, _ = ready(gov)
    ops.merge(Project.open(gov), "claude", doc_id=doc_id)
    second = scoped_cr(gov, title="Second")
    a = area(gov, second)
    write(a, "src/app/auth/login.py", "v3\n")
    sha = commit(a)
    assert push(a).returncode == 0
    qualify_at(gov, sha)
    assert ops.merge(Project.open(gov), "claude", doc_id=second).release == "APP-1.1"
    block = ("```qms-scope\nsystem: APP\npaths: [src/app/auth/**]\nrequirements: revise\n"
             "release: major\n```")
    third = scoped_cr(gov, block=block, title="Third")
    a = area(gov, third)
    write(a, "src/app/auth/login.py", "v4\n")
    sha = commit(a)
    assert push(a).returncode == 0
    qualify_at(gov, sha)
    assert ops.merge(Project.open(gov), "claude", doc_id=third).release == "APP-2.0"
    assert [e["release"] for e in merges(gov)] == ["APP-1.0", "APP-1.1", "APP-2.0"]
    verify_clean(gov)


@pytest.mark.req("REQ-CODE-016")
def test_main_moved_by_qms_data_only_lands_the_heads_code_and_mains_data(gov):
    doc_id, _, head = ready(gov)
    data = data_commit(gov)
    result = ops.merge(Project.open(gov), "claude", doc_id=doc_id)
    landed = result.commit
    assert git(gov, "rev-list", "--parents", "-n1", landed).stdout.decode().split()[1] == data
    changed = git(gov, "diff", "--name-only", head, landed).stdout.decode().split()
    assert changed and all(p.startswith(("QMS/", ".claude/")) for p in changed), changed
    assert git(gov, "diff", "--name-only", data, landed).stdout.decode().split() == \
        ["src/app/auth/login.py"]
    verify_clean(gov)


@pytest.mark.req("REQ-CODE-016")
def test_only_the_responsible_user_merges_and_only_through_the_gate(gov):
    doc_id, a, _ = ready(gov)
    old = rev(gov, "main")
    with pytest.raises(PermissionDenied):
        ops.merge(Project.open(gov), "lead", doc_id=doc_id)
    write(a, "src/app/auth/login.py", "v3 not qualified\n")
    commit(a)
    assert push(a).returncode == 0
    code, out = qms(gov, "merge", doc_id, user="claude")
    assert code == 1 and "The gate refuses" in out["error"]["message"], out
    assert out["error"]["details"]["reasons"][0]["rule"] == "rtm"
    assert rev(gov, "main") == old and merges(gov) == [] and rev(gov, "APP-1.0") is None
    verify_clean(gov)


@pytest.mark.req("REQ-CODE-016")
def test_a_tag_made_outside_qms_refuses_the_merge_and_moves_nothing(gov):
    doc_id, _, _ = ready(gov)
    old = rev(gov, "main")
    git(gov, "tag", "APP-1.0", old)
    with pytest.raises(Conflict, match="APP-1.0 already exists"):
        ops.merge(Project.open(gov), "claude", doc_id=doc_id)
    assert rev(gov, "main") == old and merges(gov) == []
    assert not (gov / ".qms" / "merge.json").exists()


@pytest.mark.req("REQ-CODE-016")
def test_local_changes_to_a_merged_path_are_kept_with_a_warning(gov):
    doc_id, _, head = ready(gov)
    write(gov, "src/app/auth/login.py", "someone's local edit\n")
    result = ops.merge(Project.open(gov), "claude", doc_id=doc_id)
    assert rev(gov, "main") == result.commit
    assert (gov / "src/app/auth/login.py").read_text() == "someone's local edit\n"
    assert any("checkout was not updated" in w for w in result.warnings), result.warnings


@pytest.mark.req("REQ-CODE-016")
def test_two_merges_at_once_one_wins(gov):
    effective_rs(gov)
    crs, heads = [], []
    for n in (1, 2):
        doc_id = scoped_cr(gov, title=f"Race {n}")
        a = area(gov, doc_id)
        write(a, f"src/app/auth/race{n}.py", "x\n")
        heads.append(commit(a))
        assert push(a).returncode == 0
        crs.append(doc_id)
    qualify_at(gov, heads[0])  # one RTM: only one of them can be qualified at a time ...
    procs = [subprocess.Popen([str(Path(__import__("sys").executable).with_name("qms")),
                               "--user", "claude", "merge", d], cwd=gov, env=env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for d in crs]
    codes = [p.wait(120) for p in procs]
    assert sorted(codes) == [0, 1], [p.stderr.read() for p in procs]
    assert len(merges(gov)) == 1
    # ... and the loser, qualified now, is still refused: main moved under it
    qualify_at(gov, heads[1])
    with pytest.raises(InvalidTransition, match=r"\[main\]"):
        ops.merge(Project.open(gov), "claude", doc_id=crs[1])
    verify_clean(gov)
