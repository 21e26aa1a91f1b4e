"""Project-wide audit invariants after a busy session of every kind of operation."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

req = pytest.mark.req


def _busy_session(q) -> None:
    q.add_users()
    sop = q.effective_sop()
    q.ok("claude", "checkout", sop)
    q.ok("claude", "checkin", sop)
    q.review_round(sop)
    q.ok("claude", "route", sop, "--approval", "--retire")
    q.ok("qa", "reject", sop, "--comment", "keep it")
    cr = q.in_execution("CR", "ini")
    vr = q.create("VR", "vr", "ini", "--parent", cr)
    var = q.create("VAR", "var", "ini", "--parent", cr)
    q.ok("ini", "checkin", var)
    q.ok("ini", "route", var, "--review", "--assign", "qa", "rev")
    q.ok("qa", "assign", var, "--assignees", "tu")
    q.ok("ini", "checkout", var)  # auto-withdraw
    q.ok("lead", "unlock", var, "--reason", "stale")
    q.ok("ini", "cancel", var, "--confirm")
    q.ok("ini", "checkout", cr)
    q.ok("ini", "checkin", cr)
    q.review_round(cr, owner="ini")
    q.ok("ini", "revert", cr, "--reason", "more")
    q.post_approved(cr, owner="ini")
    q.ok("ini", "close", cr)
    q.ok("lead", "fix", cr)
    inv = q.create("INV", "inv")
    q.ok("claude", "route", inv, "--review")
    q.ok("claude", "withdraw", inv)
    assert q.status(vr) == "CLOSED"


@req("REQ-AUDIT-001")
@req("REQ-AUDIT-003")
@req("REQ-META-003")
def test_every_audit_event_is_complete_and_meta_agrees(q):
    _busy_session(q)
    audits = sorted((q.root / "QMS" / ".audit").glob("*/*.jsonl"))  # document trails
    assert len(audits) > 20
    for path in audits:
        doc_id = path.stem
        events = [json.loads(line) for line in path.read_text().splitlines()]
        assert events, doc_id
        for e in events:
            assert {"ts", "event", "user", "version"} <= set(e), (doc_id, e)
            datetime.fromisoformat(e["ts"])
            assert e["ts"].endswith("+00:00"), e["ts"]
        meta_path = q.root / "QMS" / ".meta" / path.parent.name / f"{doc_id}.json"
        if events[-1]["event"] == "CANCEL":
            assert not meta_path.exists()
            continue
        meta = json.loads(meta_path.read_text())
        for key in ("doc_id", "doc_type", "version", "status", "executable",
                    "responsible_user", "checked_out", "effective_version", "pending_assignees"):
            assert key in meta, (doc_id, key)
        changes = [e for e in events if e["event"] == "STATUS_CHANGE"]
        if changes:
            assert changes[-1]["to_status"] == meta["status"], doc_id
            for a, b in zip(changes, changes[1:]):
                assert a["to_status"] == b["from_status"], (doc_id, a, b)
        else:
            assert meta["status"] in ("DRAFT", "IN_EXECUTION"), doc_id  # creation status


@req("REQ-INTEG-001")
@req("REQ-INTEG-006")
def test_a_busy_session_verifies_clean(q):
    """Every kind of operation (retire intent, reject, cascade close, cancel, unlock,
    revert, fix, withdraw...) leaves a project whose chain, signatures, texts and meta
    verify clean, checking every signature."""
    _busy_session(q)
    run = q("qa", "--json", "verify", "--all-signatures")
    result = run.json["result"]
    assert run.code == 0 and result["clean"], result["findings"]
    assert result["signatures_checked"] == result["chained_events"] > 100


def test_audit_is_append_only_across_operations(q):
    doc = q.create("SOP")
    seen: list[str] = []
    path = q.root / "QMS" / ".audit" / "SOP" / f"{doc}.jsonl"
    for argv in [("claude", "checkin", doc), ("claude", "route", doc, "--review"),
                 ("qa", "review", doc, "--recommend", "--comment", "c"),
                 ("claude", "route", doc, "--approval"), ("qa", "approve", doc)]:
        before = path.read_text()
        q.ok(*argv)
        after = path.read_text()
        assert after.startswith(before) and len(after) > len(before)
        seen.append(after)
    assert all(line.strip() for line in seen[-1].splitlines())


def test_refused_operations_write_no_audit(q, digest):
    doc = q.create("SOP")
    before = digest(q.root)
    q.fail("qa", "checkin", doc)
    q.fail("claude", "approve", doc)
    q.fail("claude", "route", doc, "--approval")
    q.fail("claude", "release", doc)
    q.fail("tu", "review", doc, "--recommend", "--comment", "x")
    assert digest(q.root) == before
