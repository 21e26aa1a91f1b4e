"""Full document lifecycles through the CLI (in-process runner)."""

from __future__ import annotations

import pytest

req = pytest.mark.req


@req("REQ-WF-002")
@req("REQ-WF-006")
@req("REQ-AUDIT-002")
def test_sop_to_effective(q, consistent):
    run = q.ok("claude", "create", "SOP", "--title", "Document control")
    assert "Created SOP-008 (v0.1, DRAFT)" in run.out  # SOP-001..007 are seeded
    doc = "SOP-008"
    m = q.meta(doc)
    assert (m["version"], m["status"], m["responsible_user"], m["checked_out"]) == \
        ("0.1", "DRAFT", "claude", True)
    assert m["executable"] is False and m["execution_phase"] is None
    assert q.workspace_file("claude", doc).exists()
    q.edit(doc, "# SOP-008: Document control\n\nThe procedure.", title="Document control")
    q.ok("claude", "checkin", doc)
    assert not q.workspace_file("claude", doc).exists()
    assert q.meta(doc)["checked_out"] is False
    assert "The procedure." in q.draft(doc).read_text()
    assert q.version(doc) == "0.1"  # checkin never bumps

    q.ok("claude", "route", doc, "--review")
    assert q.status(doc) == "IN_REVIEW"
    assert q.meta(doc)["pending_assignees"] == ["qa"]
    assert q.inbox("qa") == [f"task-{doc}-review-v0-1.md"]
    q.ok("qa", "review", doc, "--recommend", "--comment", "Looks right")
    assert q.status(doc) == "REVIEWED" and q.inbox("qa") == []
    q.ok("claude", "route", doc, "--approval")
    assert q.status(doc) == "IN_APPROVAL"
    assert q.inbox("qa") == [f"task-{doc}-approval-v0-1.md"]
    run = q.ok("qa", "approve", doc)
    assert "EFFECTIVE" in run.out
    m = q.meta(doc)
    assert (m["version"], m["status"], m["effective_version"]) == ("1.0", "EFFECTIVE", "1.0")
    assert m["responsible_user"] is None and m["checked_out"] is False
    assert q.inbox("qa") == []
    assert not q.draft(doc).exists()
    assert "The procedure." in q.effective(doc).read_text()
    assert q.archive(doc, "0.1").exists()
    assert q.events(doc) == [
        "CREATE", "CHECKOUT", "CHECKIN", "STATUS_CHANGE", "ROUTE_REVIEW", "REVIEW",
        "STATUS_CHANGE", "STATUS_CHANGE", "ROUTE_APPROVAL", "APPROVE", "STATUS_CHANGE",
        "EFFECTIVE", "STATUS_CHANGE"]
    consistent(q, doc)


@req("REQ-WF-020")
@req("REQ-DOC-007")
@req("REQ-SIG-002")
def test_sop_revision_keeps_old_version_in_force(q, consistent):
    doc = q.effective_sop()
    original = q.effective(doc).read_text()
    run = q.ok("claude", "checkout", doc)
    assert "v1.1" in run.out
    m = q.meta(doc)
    assert (m["version"], m["status"], m["effective_version"]) == ("1.1", "DRAFT", "1.0")
    assert q.effective(doc).read_text() == original  # 1.0 stays in force
    assert q.draft(doc).exists()
    co = q.audit(doc)[-1]
    assert co["event"] == "CHECKOUT" and co["version"] == "1.1" and co["from_version"] == "1.0"

    q.edit(doc, "# Revised\n\nNew text.")
    q.ok("claude", "checkin", doc)
    # reading without flags gives the version in force, with its signatures (11.50) while
    # the revision is checked in; --draft gives the revision
    in_force = q.ok("tu", "read", doc).out
    assert in_force.startswith(original.rstrip("\n")) and "Electronic signatures" in in_force
    assert "New text." in q.ok("tu", "read", doc, "--draft").out
    assert "New text." in q.ok("tu", "read", doc, "--version", "1.1").out
    assert q.ok("tu", "read", doc, "--version", "1.0").out == in_force

    q.review_and_approve(doc)
    m = q.meta(doc)
    assert (m["version"], m["status"], m["effective_version"]) == ("2.0", "EFFECTIVE", "2.0")
    assert "New text." in q.effective(doc).read_text()
    assert not q.draft(doc).exists()
    # the superseded effective version and the approved draft are archived
    assert q.archive(doc, "1.0").read_text() == original
    assert "New text." in q.archive(doc, "1.1").read_text()
    # the archived version that was in force keeps its signature block
    assert q.ok("tu", "read", doc, "--version", "1.0").out == in_force
    consistent(q, doc)


@req("REQ-WF-012")
@req("REQ-WF-013")
def test_sop_retirement(q, consistent):
    doc = q.effective_sop()
    q.ok("claude", "checkout", doc)
    q.ok("claude", "checkin", doc)
    q.review_round(doc)
    run = q.ok("claude", "route", doc, "--approval", "--retire")
    assert "RETIRE" in run.out
    assert q.meta(doc)["retiring"] is True
    run = q.ok("qa", "approve", doc)
    assert "RETIRED" in run.out
    m = q.meta(doc)
    assert (m["status"], m["version"]) == ("RETIRED", "2.0")
    assert m["responsible_user"] is None and "retiring" not in m
    assert not q.effective(doc).exists() and not q.draft(doc).exists()
    assert q.archive(doc, "2.0").exists() and q.archive(doc, "1.1").exists()
    assert "RETIRE" in q.events(doc)
    q.fail("claude", "checkout", doc, match="RETIRED")
    consistent(q, doc)


def test_retire_needs_an_approved_document(q):
    doc = q.create("SOP")
    q.ok("claude", "checkin", doc)
    q.review_round(doc)
    q.fail("claude", "route", doc, "--approval", "--retire", match="1.0")
    q.fail("claude", "route", doc, "--review", "--retire", code=1)


@req("REQ-WF-003")
@req("REQ-WF-014")
@req("REQ-WF-021")
@req("REQ-WF-010")
def test_cr_full_execution_lifecycle(q, consistent):
    doc = q.create("CR", "Fix X")
    assert doc == "CR-001"
    assert q.draft(doc) == q.root / "QMS" / "CR" / "CR-001" / "CR-001-draft.md"
    assert q.meta(doc)["execution_phase"] == "pre_release"
    seen = [q.version(doc)]
    q.ok("claude", "checkin", doc)
    q.ok("claude", "route", doc, "--review")
    assert q.status(doc) == "IN_PRE_REVIEW"
    assert q.inbox("qa") == ["task-CR-001-pre_review-v0-1.md"]
    q.ok("qa", "review", doc, "--recommend", "--comment", "ok")
    assert q.status(doc) == "PRE_REVIEWED"
    q.ok("claude", "route", doc, "--approval")
    assert q.status(doc) == "IN_PRE_APPROVAL"
    q.ok("qa", "approve", doc)
    assert q.status(doc) == "PRE_APPROVED"
    seen.append(q.version(doc))
    assert q.draft(doc).exists()  # executable docs keep their draft until close
    assert q.meta(doc)["responsible_user"] == "claude"
    q.ok("claude", "release", doc)
    m = q.meta(doc)
    assert (m["status"], m["execution_phase"], m["version"]) == ("IN_EXECUTION", "post_release", "1.0")
    q.ok("claude", "checkout", doc)
    seen.append(q.version(doc))
    q.edit(doc, "# CR-001\n\nExecution evidence.")
    q.ok("claude", "checkin", doc)
    assert q.version(doc) == "1.1"
    assert q.archive(doc, "1.0").exists()
    q.ok("claude", "route", doc, "--review")
    assert q.status(doc) == "IN_POST_REVIEW"
    assert q.inbox("qa") == ["task-CR-001-post_review-v1-1.md"]
    q.ok("qa", "review", doc, "--recommend", "--comment", "executed well")
    assert q.status(doc) == "POST_REVIEWED"
    q.ok("claude", "route", doc, "--approval")
    assert q.status(doc) == "IN_POST_APPROVAL"
    q.ok("qa", "approve", doc)
    assert q.status(doc) == "POST_APPROVED"
    seen.append(q.version(doc))
    q.ok("claude", "close", doc)
    m = q.meta(doc)
    assert (m["status"], m["version"], m["responsible_user"]) == ("CLOSED", "2.0", None)
    assert seen == ["0.1", "1.0", "1.1", "2.0"]
    assert not q.draft(doc).exists()
    assert "Execution evidence." in q.effective(doc).read_text()
    assert q.archive(doc, "0.1").exists() and q.archive(doc, "1.1").exists()
    assert q.events(doc)[-2:] == ["CLOSE", "STATUS_CHANGE"]
    q.fail("claude", "checkout", doc, match="CLOSED")
    q.fail("claude", "close", doc, match="already CLOSED")
    consistent(q, doc)


@req("REQ-WF-021")
def test_several_execution_cycles_bump_minor_each_time(q):
    doc = q.in_execution()
    for expected in ("1.1", "1.2", "1.3"):
        q.ok("claude", "checkout", doc)
        assert q.version(doc) == expected
        q.edit(doc, f"cycle {expected}")
        q.ok("claude", "checkin", doc)
    for archived in ("1.0", "1.1", "1.2"):
        assert q.archive(doc, archived).exists()
    assert "cycle 1.3" in q.draft(doc).read_text()
    assert "cycle 1.1" in q.archive(doc, "1.1").read_text()


@req("REQ-WF-022")
@pytest.mark.parametrize("stage,expected", [
    ("review", "DRAFT"), ("approval", "REVIEWED")])
def test_checkout_auto_withdraws(q, consistent, stage, expected):
    doc = q.create("SOP")
    q.ok("claude", "checkin", doc)
    if stage == "review":
        q.ok("claude", "route", doc, "--review", "--assign", "qa", "tu")
    else:
        q.review_round(doc)
        q.ok("claude", "route", doc, "--approval", "--assign", "qa", "tu")
    assert q.inbox("qa") and q.inbox("tu")
    run = q.ok("claude", "checkout", doc)
    assert "Withdrawn" in run.out
    m = q.meta(doc)
    assert m["status"] == expected and m["pending_assignees"] == [] and m["checked_out"]
    assert q.inbox("qa") == [] and q.inbox("tu") == []
    assert "WITHDRAW" in q.events(doc)
    consistent(q, doc)


def test_checkout_of_in_workflow_document_by_non_owner_is_refused(q):
    q.add_users()
    doc = q.create("SOP")
    q.ok("claude", "route", doc, "--review")
    q.fail("ini", "checkout", doc, match="responsible user")
    assert q.status(doc) == "IN_REVIEW"


@req("REQ-WF-016")
def test_pre_approved_checkout_goes_back_to_draft(q, consistent):
    doc = q.create("CR")
    q.review_and_approve(doc)
    assert (q.status(doc), q.version(doc)) == ("PRE_APPROVED", "1.0")
    run = q.ok("claude", "checkout", doc)
    assert "DRAFT" in run.out
    m = q.meta(doc)
    assert (m["status"], m["version"], m["review_outcomes"]) == ("DRAFT", "1.0", {})
    q.ok("claude", "checkin", doc)
    q.ok("claude", "route", doc, "--review")
    assert q.status(doc) == "IN_PRE_REVIEW"  # scope revision needs pre-review again
    consistent(q, doc)


@req("REQ-WF-017")
def test_post_reviewed_checkout_continues_execution_with_minor_bump(q, consistent):
    doc = q.in_execution()
    q.ok("claude", "checkout", doc)
    q.edit(doc, "first execution")
    q.ok("claude", "checkin", doc)
    q.review_round(doc, outcome="--request-updates")
    assert (q.status(doc), q.version(doc)) == ("POST_REVIEWED", "1.1")
    run = q.ok("claude", "checkout", doc)
    assert "IN_EXECUTION" in run.out
    m = q.meta(doc)
    assert (m["status"], m["version"], m["review_outcomes"]) == ("IN_EXECUTION", "1.2", {})
    q.edit(doc, "addressed post-review")
    q.ok("claude", "checkin", doc)
    assert "first execution" in q.archive(doc, "1.1").read_text()
    assert "addressed post-review" in q.draft(doc).read_text()
    q.post_approved(doc)
    assert q.version(doc) == "2.0"
    consistent(q, doc)


@req("REQ-WF-007")
def test_reject_then_full_rereview(q, consistent):
    doc = q.create("SOP")
    q.ok("claude", "checkin", doc)
    q.review_round(doc)
    q.ok("claude", "route", doc, "--approval", "--assign", "qa", "tu")
    run = q.ok("tu", "reject", doc, "--comment", "Section 3 is wrong")
    assert "REVIEWED" in run.out
    m = q.meta(doc)
    assert (m["status"], m["version"], m["pending_assignees"]) == ("REVIEWED", "0.1", [])
    assert q.inbox("qa") == [] and q.inbox("tu") == []
    ev = q.audit(doc)[-2]
    assert ev["event"] == "REJECT" and ev["comment"] == "Section 3 is wrong"
    # a rejection needs a full new review round
    q.fail("claude", "route", doc, "--approval", match="review")
    q.ok("claude", "checkout", doc)
    q.ok("claude", "checkin", doc)
    assert q.status(doc) == "DRAFT"
    q.review_and_approve(doc)
    assert q.status(doc) == "EFFECTIVE"
    consistent(q, doc)


@req("REQ-WF-018")
@pytest.mark.parametrize("setup,expected", [
    ("review", "DRAFT"), ("approval", "REVIEWED"), ("pre_review", "DRAFT"),
    ("pre_approval", "PRE_REVIEWED"), ("post_review", "IN_EXECUTION"),
    ("post_approval", "POST_REVIEWED")])
def test_withdraw_from_every_workflow_state(q, consistent, setup, expected):
    if setup in ("review", "approval"):
        doc = q.create("SOP")
    elif setup.startswith("pre"):
        doc = q.create("CR")
    else:
        doc = q.in_execution()
    if setup.endswith("approval"):
        q.review_round(doc)
        q.ok("claude", "route", doc, "--approval")
    else:
        q.ok("claude", "route", doc, "--review")
    assert q.inbox("qa")
    run = q.ok("claude", "withdraw", doc)
    assert expected in run.out
    m = q.meta(doc)
    assert m["status"] == expected and m["pending_assignees"] == [] and m["review_outcomes"] == {}
    assert q.inbox("qa") == []
    ev = [e for e in q.audit(doc) if e["event"] == "WITHDRAW"][-1]
    assert ev["to_status"] == expected
    q.fail("claude", "withdraw", doc, match="withdraw")
    consistent(q, doc)


def test_withdraw_only_by_owner(q):
    q.add_users()
    doc = q.create("SOP")
    q.ok("claude", "route", doc, "--review")
    q.fail("ini", "withdraw", doc, match="responsible user")
    q.fail("lead", "withdraw", doc, match="responsible user")


@req("REQ-WF-019")
@req("REQ-WF-009")
def test_revert_is_deprecated_but_works(q, consistent):
    doc = q.in_execution()
    q.review_round(doc)
    assert q.status(doc) == "POST_REVIEWED"
    q.fail("claude", "revert", doc, code=2)  # --reason is required
    run = q.ok("claude", "revert", doc, "--reason", "more testing needed")
    assert "deprecated" in run.err.lower() and "deprecated" not in run.out.lower()
    assert q.status(doc) == "IN_EXECUTION"
    ev = q.audit(doc)
    assert ev[-2]["event"] == "REVERT" and ev[-2]["reason"] == "more testing needed"
    q.fail("claude", "revert", doc, "--reason", "again", match="POST_REVIEWED")
    consistent(q, doc)


@req("REQ-WF-023")
def test_route_checks_in_a_checked_out_document_first(q):
    doc = q.create("SOP")
    q.edit(doc, "edited before routing")
    run = q.ok("claude", "route", doc, "--review")
    assert "checked it in first" in run.out
    assert "edited before routing" in q.draft(doc).read_text()
    assert not q.workspace_file("claude", doc).exists()
    assert q.events(doc)[2:5] == ["CHECKIN", "STATUS_CHANGE", "ROUTE_REVIEW"]


def test_multiple_reviewers_and_approvers(q, consistent):
    doc = q.create("SOP")
    q.ok("claude", "route", doc, "--review", "--assign", "qa", "tu")
    q.ok("qa", "review", doc, "--recommend", "--comment", "fine")
    assert q.status(doc) == "IN_REVIEW"  # waits for every reviewer
    q.ok("tu", "review", doc, "--recommend", "--comment", "fine too")
    assert q.status(doc) == "REVIEWED"
    q.ok("claude", "route", doc, "--approval", "--assign", "qa", "tu")
    q.ok("tu", "approve", doc)
    assert (q.status(doc), q.version(doc)) == ("IN_APPROVAL", "0.1")
    q.ok("qa", "approve", doc)
    assert (q.status(doc), q.version(doc)) == ("EFFECTIVE", "1.0")
    consistent(q, doc)


@req("REQ-WF-022")
@req("REQ-WF-017")
def test_checkout_from_post_approval_withdraws_then_continues_execution(q, consistent):
    doc = q.in_execution()
    q.review_round(doc)
    q.ok("claude", "route", doc, "--approval")
    q.ok("claude", "checkout", doc)
    m = q.meta(doc)
    assert (m["status"], m["version"], m["pending_assignees"]) == ("IN_EXECUTION", "1.1", [])
    assert q.inbox("qa") == []
    changes = [(e["from_status"], e["to_status"]) for e in q.audit(doc)
               if e["event"] == "STATUS_CHANGE"][-2:]
    assert changes == [("IN_POST_APPROVAL", "POST_REVIEWED"), ("POST_REVIEWED", "IN_EXECUTION")]
    consistent(q, doc)


@req("REQ-WF-022")
def test_checkout_from_pre_approval_then_checkin_back_to_draft(q, consistent):
    doc = q.create("CR")
    q.review_round(doc)
    q.ok("claude", "route", doc, "--approval")
    q.ok("claude", "checkout", doc)
    assert (q.status(doc), q.version(doc)) == ("PRE_REVIEWED", "0.1")
    q.ok("claude", "checkin", doc)
    assert q.status(doc) == "DRAFT"
    consistent(q, doc)


@req("REQ-WF-001")
def test_no_second_review_route_from_reviewed(q):
    doc = q.create("SOP")
    q.review_round(doc)
    q.fail("claude", "route", doc, "--review", match="Cannot route for review from REVIEWED")
    doc2 = q.in_execution()
    q.fail("claude", "route", doc2, "--approval", match="IN_EXECUTION")
