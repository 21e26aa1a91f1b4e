"""`qms verify --code`: main since governance began is qms merges and qms data only; release
tags and branches are where the chain says. Each way around the gate is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _code_support import data_commit, git, qms, ready, rev, write
from qms import operations as ops
from qms.store.project import Project

pytestmark = pytest.mark.slow


def findings(root: Path, code_only: bool = True) -> list[dict]:
    result = ops.verify(Project.open(root), "qa", code=code_only)
    assert result.clean == (not result.findings)
    return result.findings


@pytest.fixture
def merged(gov: Path) -> tuple[Path, str, str]:
    doc_id, _, head = ready(gov)
    result = ops.merge(Project.open(gov), "claude", doc_id=doc_id)
    data_commit(gov)  # qms's own data on main: never a finding
    assert findings(gov) == [] and findings(gov, code_only=False) == []
    return gov, doc_id, result.commit


@pytest.mark.req("REQ-CODE-019")
def test_a_clean_repository_says_what_was_verified(merged):
    gov, _, _ = merged
    result = ops.verify(Project.open(gov), "qa", code=True)
    last = result.render().splitlines()[-1]
    assert result.code and last.startswith("Verified the repository against the signed chain")
    assert last.endswith(": CLEAN") and "document(s)" not in last


@pytest.mark.req("REQ-CODE-019")
def test_a_commit_on_main_by_hand_is_named_with_its_paths(merged):
    gov, _, _ = merged
    write(gov, "src/app/other.py", "by hand\n")
    write(gov, "QMS/note.md", "alongside\n")
    git(gov, "add", "src/app/other.py")
    git(gov, "commit", "-qm", "quick fix")
    sha = rev(gov, "main")
    (gov / "QMS" / "note.md").unlink()
    code, out = qms(gov, "verify", "--code")
    assert code == 1, out
    [finding] = out["result"]["findings"]
    assert finding["kind"] == "code" and finding["where"] == sha
    assert finding["paths"] == ["src/app/other.py"]
    assert "came neither through qms merge" in finding["message"]
    # and the full verify reports it too
    assert [f["where"] for f in findings(gov, code_only=False)] == [sha]


@pytest.mark.req("REQ-CODE-019")
def test_an_update_ref_behind_qms_back_is_named(merged):
    gov, doc_id, merge = merged
    old = rev(gov, f"{merge}^1")
    git(gov, "update-ref", "refs/heads/main", old)  # the merge rolled off main
    [f] = findings(gov)
    assert f["doc_id"] == doc_id and "is not on main's first-parent line" in f["message"]
    # a commit made with plumbing and put on main (undoing the merge's code): named,
    # whatever its message claims
    tree = rev(gov, f"{old}^{{tree}}")
    forged = git(gov, "commit-tree", tree, "-p", merge, "-m",
                 f"Merge {doc_id}\n\nQMS-CR: {doc_id}").stdout.decode().strip()
    git(gov, "update-ref", "refs/heads/main", forged)
    [f] = findings(gov)
    assert f["where"] == forged and "came neither through qms merge" in f["message"]


@pytest.mark.req("REQ-CODE-019")
def test_moved_planted_and_missing_tags_are_named(merged):
    gov, _, merge = merged
    git(gov, "tag", "-f", "-a", "-m", "moved", "APP-1.0", f"{merge}^1")
    git(gov, "tag", "APP-9.9", merge)
    git(gov, "tag", "v-not-a-release", merge)  # not shaped like a release: not ours
    messages = sorted(f["message"] for f in findings(gov))
    assert len(messages) == 2, messages
    assert "tag APP-1.0 holds" in messages[0] and "it was moved" in messages[0]
    assert messages[1] == "tag APP-9.9 was not made by qms merge (no CODE_MERGE records it)"
    git(gov, "tag", "-d", "APP-1.0")
    assert any("tag APP-1.0 of the merge" in f["message"] and "is missing" in f["message"]
               for f in findings(gov))


@pytest.mark.req("REQ-CODE-019")
def test_branches_behind_the_gates_back_are_named(merged):
    gov, doc_id, merge = merged
    ref = f"refs/heads/cr/{doc_id}"
    tip = rev(gov, ref)
    git(gov, "update-ref", ref, rev(gov, f"{merge}^1"))
    [f] = findings(gov)
    assert f["where"] == ref and "moved behind the gate's back" in f["message"]
    git(gov, "update-ref", ref, tip)
    git(gov, "branch", "cr/CR-077", "main")
    [f] = findings(gov)
    assert f["doc_id"] == "CR-077" and "no CODE_BRANCH records it" in f["message"]
    git(gov, "branch", "-D", "cr/CR-077")
    assert findings(gov) == []


@pytest.mark.req("REQ-CODE-019")
def test_a_branch_deleted_behind_qms_back_is_named(merged):
    gov, doc_id, _ = merged
    ref = f"refs/heads/cr/{doc_id}"
    tip = rev(gov, ref)
    git(gov, "update-ref", "-d", ref)
    [f] = findings(gov)
    assert (f["doc_id"], f["where"]) == (doc_id, ref)
    assert "is gone" in f["message"] and tip[:12] in f["message"]
    assert f in findings(gov, code_only=False)  # the default verify names it too
    code, out = qms(gov, "verify", "--code")  # the real CLI: exit 1, the same finding
    assert code == 1 and out["result"]["findings"] == [f]
    git(gov, "update-ref", ref, tip)
    assert findings(gov) == []


@pytest.mark.req("REQ-CODE-019")
def test_a_forged_merge_event_vouches_for_nothing(merged):
    gov, doc_id, merge = merged
    write(gov, "src/app/evil.py", "x\n")
    git(gov, "add", "src/app/evil.py")
    git(gov, "commit", "-qm", "evil")
    evil = rev(gov, "main")
    trail = gov / "QMS" / ".audit" / "project.jsonl"
    last = json.loads(trail.read_text().splitlines()[-1])
    fake = {**last, "event": "CODE_MERGE", "new": evil, "old": merge, "seq": last["seq"] + 1,
            "tree": rev(gov, f"{evil}^{{tree}}"), "release": "APP-1.1"}
    trail.write_text(trail.read_text() + json.dumps(fake) + "\n")
    assert any(f["where"] == evil for f in findings(gov))


@pytest.mark.req("REQ-CODE-019")
def test_rewritten_main_is_named(merged):
    gov, _, _ = merged
    base = json.loads(next(line for line in (gov / "QMS/.audit/project.jsonl").read_text()
                           .splitlines() if '"SYSTEM_ADD"' in line))["base"]
    tree = rev(gov, "main^{tree}")
    orphan = git(gov, "commit-tree", tree, "-m", "history rewritten").stdout.decode().strip()
    git(gov, "update-ref", "refs/heads/main", orphan)
    [f] = [f for f in findings(gov) if "does not descend" in f["message"]]
    assert base[:12] in f["message"]
