"""`qms gate`: read-only, every reason listed, exit 0 pass / 1 fail / 2 could not check; the
tree that may land is the tree the tests ran on. Real git, the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from _code_support import (RS_TEXT, approve_doc, area, commit, data_commit, effective_rs,
                           git, push, qms, qualify_at, ready, rev, scoped_cr, write)
from qms import operations as ops
from qms.store.project import Project

pytestmark = pytest.mark.slow


def rules(result: dict) -> set[str]:
    return {r["rule"] for r in result["reasons"]}


def gate(root: Path, doc_id: str, *args: str, **kw) -> tuple[int, dict]:
    code, out = qms(root, "gate", doc_id, *args, **kw)
    assert out["ok"], out
    return code, out["result"]


@pytest.mark.req("REQ-CODE-014")
def test_a_qualified_branch_passes(gov):
    doc_id, _, head = ready(gov)
    code, result = gate(gov, doc_id)
    assert code == 0 and result["verdict"] == "pass", result
    assert result["head"] == head and result["tree"] == rev(gov, f"{head}^{{tree}}")
    assert result["paths"] == ["src/app/auth/login.py"] and result["warnings"] == []
    assert result["rtm"] == {"doc_id": "SDLC-APP-RTM", "version": "1.0"}
    assert result["release"] == "APP-1.0"
    # read-only: nothing recorded, no ref moved
    before = (gov / "QMS" / ".audit" / "chain.jsonl").read_bytes()
    assert gate(gov, doc_id, "--head", head)[0] == 0
    assert (gov / "QMS" / ".audit" / "chain.jsonl").read_bytes() == before
    assert rev(gov, "main") != head


@pytest.mark.req("REQ-CODE-014")
def test_inv_009_an_rtm_at_another_commit_or_tbd_fails(gov):
    doc_id, a, head = ready(gov)
    write(a, "src/app/auth/login.py", "v3\n")
    newer = commit(a, "v3")
    assert push(a).returncode == 0
    code, result = gate(gov, doc_id)
    assert code == 1 and "rtm" in rules(result), result
    assert any(head[:12] in r["message"] and "not at the head" in r["message"]
               for r in result["reasons"]), result
    # an RTM written by hand, citing commit "TBD", approved: still no QUALIFY at the head
    p = Project.open(gov)
    ops.checkout(p, "claude", doc_id="SDLC-APP-RTM")
    ops.checkin(p, "claude", doc_id="SDLC-APP-RTM", content=(
        "---\ntitle: APP RTM\nrevision_summary: by hand\n---\n\n# SDLC-APP-RTM\n\n"
        "| REQ ID | Verdict |\n|---|---|\n| REQ-APP-001 | verified at commit TBD |\n"))
    approve_doc(gov, "SDLC-APP-RTM")
    code, result = gate(gov, doc_id)
    assert code == 1, result
    assert any("not the one qms qualify wrote" in r["message"] for r in result["reasons"])
    qualify_at(gov, newer)
    assert gate(gov, doc_id)[0] == 0


@pytest.mark.req("REQ-CODE-014")
def test_a_hand_edited_traceability_section_fails(gov):
    doc_id, _, head = ready(gov)
    p = Project.open(gov)
    ops.checkout(p, "claude", doc_id="SDLC-APP-RTM")
    ws = gov / ".claude" / "users" / "claude" / "workspace" / "SDLC-APP-RTM.md"
    ws.write_text(ws.read_text().replace("| REQ-APP-002 | verified |",
                                         "| REQ-APP-002 | verified (by hand) |"))
    ops.checkin(p, "claude", doc_id="SDLC-APP-RTM")
    approve_doc(gov, "SDLC-APP-RTM")
    code, result = gate(gov, doc_id)
    assert code == 1 and rules(result) == {"rtm"}, result


@pytest.mark.req("REQ-CODE-014")
def test_failing_evidence_fails(gov):
    doc_id, _, _ = ready(gov, REQ_APP_002="failure")
    code, result = gate(gov, doc_id)
    assert code == 1 and rules(result) == {"evidence"}, result
    assert "FAILING REQ-APP-002" in result["reasons"][0]["message"]


@pytest.mark.req("REQ-CODE-014")
def test_main_moved_fails_until_merged_and_qualified_again(gov):
    doc_id, a, head = ready(gov)
    data_commit(gov)  # qms's own data only: the merge's code is still the head's
    assert gate(gov, doc_id)[0] == 0
    write(gov, "src/app/other.py", "someone else's change\n")  # code on main
    git(gov, "add", "src/app/other.py")
    git(gov, "commit", "-qm", "other code")
    code, result = gate(gov, doc_id)
    assert code == 1 and rules(result) == {"main"}, result
    assert "merge main into your branch" in result["reasons"][0]["message"]
    git(a, "fetch", "-q", "origin")
    git(a, "merge", "-q", "--no-edit", "origin/main")
    merged = rev(a, "HEAD")
    assert push(a).returncode == 0
    code, result = gate(gov, doc_id)
    assert code == 1 and rules(result) == {"rtm"}, result  # not qualified at the new head
    qualify_at(gov, merged)
    code, result = gate(gov, doc_id)
    assert code == 0, result
    assert result["paths"] == ["src/app/auth/login.py"]  # main's change is not the branch's


@pytest.mark.req("REQ-CODE-014")
def test_rs_revised_after_the_rtm_fails(gov):
    doc_id, _, head = ready(gov)
    effective_rs(gov, RS_TEXT + "| REQ-APP-003 | **Audit.** Every sign-in is logged. |\n")
    code, result = gate(gov, doc_id)
    assert code == 1 and "rtm" in rules(result), result
    assert any("SDLC-APP-RS v2.0 is in force" in r["message"] for r in result["reasons"])
    assert any("UNTESTED REQ-APP-003" in r["message"] for r in result["reasons"])


@pytest.mark.req("REQ-CODE-014")
def test_requirements_unchanged_fails_when_the_rs_took_a_new_version(gov):
    effective_rs(gov)
    block = ("```qms-scope\nsystem: APP\npaths: [src/app/auth/**]\n"
             "requirements: unchanged\n```")
    doc_id = scoped_cr(gov, block=block)
    a = area(gov, doc_id)
    write(a, "src/app/auth/login.py", "v2\n")
    sha = commit(a)
    assert push(a).returncode == 0
    effective_rs(gov, RS_TEXT + "\n")
    qualify_at(gov, sha)
    code, result = gate(gov, doc_id)
    assert code == 1 and rules(result) == {"requirements"}, result


@pytest.mark.req("REQ-CODE-014")
def test_an_expected_file_untouched_is_a_warning(gov):
    doc_id, _, _ = ready(gov, change="src/app/auth/session.py")
    code, result = gate(gov, doc_id)
    assert code == 0, result
    assert result["warnings"] == [f"{doc_id} expected to change src/app/auth/login.py, which "
                                  "the branch never touched."]


@pytest.mark.req("REQ-CODE-014")
def test_a_commit_behind_the_gates_back_fails(gov):
    doc_id, _, head = ready(gov)
    ref = f"refs/heads/cr/{doc_id}"
    tree = rev(gov, f"{head}^{{tree}}")
    forged = git(gov, "commit-tree", tree, "-p", head, "-m", f"x\n\nQMS-CR: {doc_id}"
                 ).stdout.decode().strip()
    git(gov, "update-ref", ref, forged, head)
    code, result = gate(gov, doc_id)
    assert code == 1 and rules(result) == {"head", "rtm"}, result
    assert any("arrived by no recorded push" in r["message"] for r in result["reasons"])


@pytest.mark.req("REQ-CODE-014")
def test_could_not_check_exits_2(gov):
    code, out = qms(gov, "gate", "CR-099")
    assert code == 2 and out["result"]["verdict"] == "error", out
    doc_id, _, _ = ready(gov)
    code, out = qms(gov, "gate", doc_id, "--head", "ab" * 20)
    assert code == 2 and "no commit" in out["result"]["reasons"][0]["message"], out
    code, out = qms(gov, "gate", doc_id, "--qms-ref", "--upload-pack=x")
    assert code == 2, out
    code, _ = qms(gov, "gate", user=None)
    assert code == 2  # usage


@pytest.mark.req("REQ-CODE-014")
def test_a_cr_not_in_execution_fails(gov):
    effective_rs(gov)
    doc_id = scoped_cr(gov, release=False)
    code, result = gate(gov, doc_id)
    assert code == 1 and rules(result) == {"state"}, result


@pytest.mark.req("REQ-CODE-015")
def test_the_gate_in_a_ci_like_run_from_a_fresh_clone(gov, tmp_path):
    doc_id, _, head = ready(gov)
    data_commit(gov)  # the team keeps the QMS data in git: main holds it
    clone = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(gov), str(clone))
    git(clone, "fetch", "-q", "origin", f"cr/{doc_id}")
    assert not (clone / ".qms").exists()
    code, result = gate(clone, doc_id, "--head", head, "--qms-ref", "origin/main", user=None)
    assert code == 0 and result["verdict"] == "pass", result
    # the checkout's own QMS/ is not what the gate reads: a PR cannot edit its way through
    meta = clone / "QMS" / ".meta" / "APP-RTM" / "SDLC-APP-RTM.json"
    meta.write_text("{}")
    assert gate(clone, doc_id, "--head", head, "--qms-ref", "origin/main", user=None)[0] == 0
    # and the committed state decides: a newer head is not qualified there
    code, result = gate(clone, doc_id, "--head", rev(clone, "origin/main"),
                        "--qms-ref", "origin/main", user=None)
    assert code == 1, result


@pytest.mark.req("REQ-CODE-014")
def test_a_qualify_event_forged_into_the_rtm_trail_counts_for_nothing(gov):
    import json

    doc_id, a, head = ready(gov)
    write(a, "src/app/auth/login.py", "never qualified\n")
    newer = commit(a)
    assert push(a).returncode == 0
    trail = gov / "QMS" / ".audit" / "APP-RTM" / "SDLC-APP-RTM.jsonl"
    lines = trail.read_text().splitlines()
    at = max(i for i, x in enumerate(lines) if '"QUALIFY"' in x)
    forged = json.loads(lines[at])
    forged.update(commit=newer, tree=rev(gov, f"{newer}^{{tree}}"))
    lines[at] = json.dumps(forged)  # the real event's place and seq, another commit
    trail.write_text("\n".join(lines) + "\n")
    code, result = gate(gov, doc_id)
    assert code == 1 and "rtm" in rules(result), result
    assert any("not signed" in r["message"] for r in result["reasons"]), result
