"""Separation of duties (SOP-007 4.1): the author of a document neither reviews nor approves
it, and is never assigned to. Every refusal names the rule and changes nothing."""

from __future__ import annotations

import json

import pytest

req = pytest.mark.req
RULE = "separation of duties (SOP-007 4.1)"


def _routed(q, owner: str = "claude", reviewers=("qa",)) -> str:
    doc = q.create("SOP", "Mine", owner)
    q.ok(owner, "checkin", doc)
    q.ok(owner, "route", doc, "--review", "--assign", *reviewers)
    return doc


def _as_legacy(q, doc: str, **changes) -> None:
    """Rewrite meta as data written before the rule could be (e.g. by the earlier tool)."""
    path = q.root / "QMS" / ".meta" / "SOP" / f"{doc}.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta, indent=2))
    trail = q.root / "QMS" / ".audit" / "SOP" / f"{doc}.jsonl"  # ...with a trail of that tool
    events = [json.loads(line) for line in trail.read_text().splitlines()]
    for event in events:
        for key in ("seq", "prev_sha256", "prefix_sha256", "state_sha256"):
            event.pop(key, None)
    trail.write_text("".join(json.dumps(e) + "\n" for e in events))


@req("REQ-SOD-001")
def test_author_cannot_be_assigned_to_review_or_approve_at_route(q, digest):
    q.add_users()
    doc = q.create("SOP", "Mine", "ini")
    q.ok("ini", "checkin", doc)
    before = digest(q.root)
    run = q.fail("ini", "route", doc, "--review", "--assign", "qa", "ini", match=RULE)
    assert f"ini is the author (responsible user) of {doc}" in run.err
    assert "cannot be assigned to review it" in run.err
    assert digest(q.root) == before and q.inbox("qa") == []
    run = q("ini", "--json", "route", doc, "--review", "--assign", "ini")
    assert run.code == 1
    assert run.json["error"]["code"] == "permission_denied"
    assert run.json["error"]["details"]["rule"] == "separation_of_duties"
    q.review_round(doc, owner="ini")
    before = digest(q.root)
    # approval: refused for the rule (checked before the group: ini could never approve anyway)
    q.fail("ini", "route", doc, "--approval", "--assign", "ini", "qa",
           match="cannot be assigned to approve it")
    assert digest(q.root) == before


@req("REQ-SOD-001")
def test_default_assignee_who_is_the_author_is_refused(q, digest):
    # qa moved to the initiator group and authored a document; the default assignee is qa
    q.ok("lead", "user", "--group", "qa", "initiator")
    doc = q.create("SOP", "By qa", "qa")
    q.ok("qa", "checkin", doc)
    before = digest(q.root)
    run = q.fail("qa", "route", doc, "--review", match=RULE)
    assert "default assignee" in run.err and "--assign" in run.err
    assert digest(q.root) == before
    q.ok("qa", "route", doc, "--review", "--assign", "tu")


@req("REQ-SOD-001")
def test_quality_cannot_assign_the_author(q, digest):
    doc = _routed(q)
    before = digest(q.root)
    q.fail("qa", "assign", doc, "--assignees", "tu", "claude", match=RULE)
    assert digest(q.root) == before
    q.ok("qa", "assign", doc, "--assignees", "tu")


@req("REQ-SOD-002")
def test_author_holding_a_legacy_review_task_cannot_review(q, digest):
    doc = _routed(q)
    _as_legacy(q, doc, pending_assignees=["qa", "claude"])
    task = q.root / ".claude/users/qa/inbox" / q.inbox("qa")[0]
    (q.root / ".claude/users/claude/inbox" / task.name).write_text(task.read_text())
    before = digest(q.root)
    run = q.fail("claude", "review", doc, "--recommend", "--comment", "fine by me", match=RULE)
    assert "cannot review it" in run.err and "withdraw" in run.err
    assert digest(q.root) == before
    # still readable; the others proceed; the author can withdraw
    assert q.json("tu", "status", doc)["result"]["pending_assignees"] == ["qa", "claude"]
    assert [t["doc_id"] for t in q.json("claude", "inbox")["result"]["tasks"]] == [doc]
    q.ok("qa", "review", doc, "--recommend", "--comment", "ok")
    assert q.status(doc) == "IN_REVIEW"
    q.ok("claude", "withdraw", doc)
    assert q.status(doc) == "DRAFT" and q.meta(doc)["pending_assignees"] == []
    assert q.inbox("claude") == []


@req("REQ-SOD-002")
def test_author_cannot_approve_or_reject_own_document(q, digest):
    doc = _routed(q)
    q.ok("qa", "review", doc, "--recommend", "--comment", "ok")
    q.ok("claude", "route", doc, "--approval")
    # legacy data: the author is a reviewer-group user holding an approval task
    _as_legacy(q, doc, responsible_user="tu", pending_assignees=["qa", "tu"])
    before = digest(q.root)
    q.fail("tu", "approve", doc, match="cannot approve it")
    q.fail("tu", "reject", doc, "--comment", "no", match="cannot reject it")
    assert digest(q.root) == before
    q.ok("qa", "approve", doc)


@req("REQ-SOD-002")
def test_self_review_refused_by_the_real_cli(project, qms_proc):
    created = qms_proc(project, "--json", "--user", "claude", "create", "SOP", "--title", "t")
    doc = json.loads(created.out)["result"]["doc_id"]
    assert qms_proc(project, "--user", "claude", "checkin", doc).code == 0
    run = qms_proc(project, "--user", "claude", "route", doc, "--review", "--assign", "claude")
    assert run.code == 1 and run.out == ""
    assert run.err.startswith("Error: Permission denied by " + RULE)


# -- separation of duties follows the signed text, not the current owner --------------------
def _taken_over(q) -> str:
    """ini writes and checks in a draft; ini2 checks it out and in again, unchanged: ini2 is
    now the owner, but ini signed authorship of the very text."""
    q.add_users()
    doc = q.create("SOP", "Written by ini", "ini")
    q.ok("ini", "checkin", doc)
    q.ok("ini2", "checkout", doc)
    q.ok("ini2", "checkin", doc)
    assert q.meta(doc)["responsible_user"] == "ini2"
    return doc


@req("REQ-SOD-003")
def test_signer_of_the_text_cannot_be_assigned_by_the_new_owner(q, digest):
    doc = _taken_over(q)
    before = digest(q.root)
    run = q.fail("ini2", "route", doc, "--review", "--assign", "qa", "ini", match=RULE)
    assert f"ini signed authorship of the text of {doc} under review (CHECKIN v0.1" in run.err
    assert "cannot be assigned to review it" in run.err
    assert digest(q.root) == before and q.inbox("ini") == []
    run = q("ini2", "--json", "route", doc, "--review", "--assign", "ini")
    assert run.json["error"]["details"]["rule"] == "separation_of_duties"
    q.ok("ini2", "route", doc, "--review", "--assign", "qa")
    before = digest(q.root)
    q.fail("qa", "assign", doc, "--assignees", "ini", match="ini signed authorship")
    assert digest(q.root) == before


@req("REQ-SOD-003")
def test_signer_holding_a_legacy_task_cannot_review_approve_or_reject(q, digest):
    doc = _taken_over(q)
    q.ok("ini2", "route", doc, "--review", "--assign", "qa")
    q.ok("lead", "user", "--group", "ini", "quality")  # ini moved to quality since writing it
    _as_legacy(q, doc, pending_assignees=["qa", "ini"])  # assigned before the rule
    before = digest(q.root)
    run = q.fail("ini", "review", doc, "--recommend", "--comment", "mine, fine", match=RULE)
    assert "ini signed authorship" in run.err and "cannot review it" in run.err
    assert digest(q.root) == before
    q.ok("qa", "review", doc, "--recommend", "--comment", "ok")
    _as_legacy(q, doc, pending_assignees=[], status="REVIEWED")
    q.ok("ini2", "route", doc, "--approval", "--assign", "qa")
    _as_legacy(q, doc, pending_assignees=["qa", "ini"])
    before = digest(q.root)
    q.fail("ini", "approve", doc, match="cannot approve it")
    q.fail("ini", "reject", doc, "--comment", "no", match="cannot reject it")
    assert digest(q.root) == before
    q.ok("qa", "approve", doc)


@req("REQ-SOD-003")
def test_every_signer_of_the_current_cycle_is_an_author(q):
    """ini checks in v0.1, ini2 revises it (a different text, same version): both wrote what
    is under review. After it takes effect, ini's earlier draft no longer binds ini."""
    q.add_users()
    doc = q.create("SOP", "Written by ini", "ini")
    q.ok("ini", "checkin", doc)
    q.ok("ini2", "checkout", doc)
    q.edit(doc, "ini2 rewrote it", user="ini2")
    q.ok("ini2", "checkin", doc)
    q.fail("ini2", "route", doc, "--review", "--assign", "ini", match="ini signed authorship")
    q.ok("ini2", "route", doc, "--review", "--assign", "qa", "rev")
    for r in ("qa", "rev"):
        q.ok(r, "review", doc, "--recommend", "--comment", "ok")
    q.fail("ini2", "route", doc, "--approval", "--assign", "ini", match="ini signed authorship")
    q.ok("ini2", "route", doc, "--approval", "--assign", "qa")
    q.ok("qa", "approve", doc)
    assert q.status(doc) == "EFFECTIVE"
    q.ok("ini2", "checkout", doc)
    q.edit(doc, "a new revision by ini2", user="ini2")
    q.ok("ini2", "route", doc, "--review", "--assign", "ini")  # ini reviews ini2's revision
    assert q.inbox("ini") != []


@req("REQ-SOD-003")
def test_signer_refused_by_the_real_cli(project, qms_proc):
    def run(user, *args):
        return qms_proc(project, "--user", user, *args)

    for name in ("dev1", "dev2"):
        assert run("lead", "user", "--add", name, "--group", "initiator").code == 0
    created = run("dev1", "--json", "create", "SOP", "--title", "t")
    doc = json.loads(created.out)["result"]["doc_id"]
    assert run("dev1", "checkin", doc).code == 0
    assert run("dev2", "checkout", doc).code == 0
    assert run("dev2", "checkin", doc).code == 0
    refused = run("dev2", "route", doc, "--review", "--assign", "qa", "dev1")
    assert refused.code == 1 and refused.out == ""
    assert refused.err.startswith("Error: Permission denied by " + RULE)
    assert "dev1 signed authorship" in refused.err
