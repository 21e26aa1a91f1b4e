"""``cancel`` never discards a checked-out workspace copy; ``--name`` belongs to TEMPLATE only."""

from __future__ import annotations

import json

import pytest

req = pytest.mark.req


@req("REQ-DOC-010")
def test_cancel_refuses_a_checked_out_document_and_says_how(q, digest):
    doc = q.create("CR", "Doomed")
    q.edit(doc, "unsaved work")
    before = digest(q.root)
    for user in ("claude", "lead"):  # the owner, and an administrator
        run = q.fail(user, "cancel", doc, "--confirm", match="check it in first")
        assert f"qms --user claude checkin {doc}" in run.err and "unlock" in run.err
    run = q("claude", "--json", "cancel", doc)
    assert run.code == 1 and run.json["error"]["code"] == "invalid_transition"
    assert run.json["error"]["details"] == {"checked_out_by": "claude"}
    assert digest(q.root) == before
    assert "unsaved work" in q.workspace_file("claude", doc).read_text()
    q.ok("claude", "checkin", doc)
    q.ok("claude", "cancel", doc, "--confirm")
    assert q.events(doc)[-1] == "CANCEL"


@req("REQ-DOC-010")
def test_cancel_of_a_checked_out_document_refused_by_the_real_cli(project, qms_proc):
    created = qms_proc(project, "--json", "--user", "claude", "create", "CR", "--title", "x")
    doc = json.loads(created.out)["result"]["doc_id"]
    run = qms_proc(project, "--user", "claude", "cancel", doc, "--confirm")
    assert run.code == 1 and "check it in first" in run.err
    assert (project / ".claude/users/claude/workspace" / f"{doc}.md").is_file()


@req("REQ-DOC-011")
@pytest.mark.parametrize("doc_type", ["CR", "SOP", "VAR"])
def test_name_outside_template_is_a_usage_error(q, digest, doc_type):
    parent = q.create("CR") if doc_type == "VAR" else None
    before = digest(q.root)
    extra = ("--parent", parent) if parent else ()
    q.fail("claude", "create", doc_type, "--title", "t", "--name", "X", *extra, code=2,
           match="--name applies to TEMPLATE documents only")
    run = q("claude", "--json", "create", doc_type, "--title", "t", "--name", "X", *extra)
    assert run.code == 2 and run.json["error"]["code"] == "usage"
    assert digest(q.root) == before
    q.ok("claude", "create", "TEMPLATE", "--title", "t", "--name", "X")  # still fine there
