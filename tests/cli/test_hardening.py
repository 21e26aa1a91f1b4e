"""Hostile and damaged files in a project, through the real CLI (issue 8, items 1-3).

An agent with a shell in its workspace can plant symbolic links and FIFOs (``ln -s`` and
``mkfifo`` are not file writes, so the write guard never sees them) and hand-edit JSON. qms
never follows a link or reads a special file, refuses before anything is written (no journal
is left), and a damaged file gives a clear error naming it, never a traceback.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from qms.store.transaction import pending

WS = ".claude/users/claude/workspace"


def _state_free(digest: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in digest.items() if not k.startswith(".qms/")}


def _outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir(exist_ok=True)
    secret = out / "secret.txt"
    secret.write_text("---\ntitle: secret\nrevision_summary: s\n---\n\nTOP SECRET\n")
    return out


def _refused(q, digest, user, *args, match="symbolic link"):
    before = _state_free(digest(q.root))
    run = q.fail(user, *args, match=match)
    assert _state_free(digest(q.root)) == before, "a refused command changed the project"
    assert not pending(q.root / ".qms" / "journal"), "a refused command left a journal"
    return run


# -- item 1: links ------------------------------------------------------------------------
@pytest.mark.req("REQ-HARD-001")
def test_workspace_link_to_another_document_is_never_written_or_deleted(q, digest):
    """Finding: a link SOP-001.md -> SOP-002 made checkout overwrite and checkin delete it."""
    sop2 = q.root / "QMS" / "SOP" / "SOP-002.md"
    original = sop2.read_bytes()
    link = q.root / WS / "SOP-001.md"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to("../../../../QMS/SOP/SOP-002.md")
    events = q.events("SOP-001")
    run = _refused(q, digest, "claude", "checkout", "SOP-001")
    assert f"{WS}/SOP-001.md" in run.err
    assert sop2.read_bytes() == original and q.events("SOP-001") == events
    link.unlink()  # the project stays usable once the link is gone
    q.ok("claude", "checkout", "SOP-001")
    link.unlink()
    link.symlink_to("../../../../QMS/SOP/SOP-002.md")
    _refused(q, digest, "claude", "checkin", "SOP-001")
    assert sop2.read_bytes() == original


@pytest.mark.req("REQ-HARD-001")
def test_workspace_link_to_an_audit_trail_never_rewrites_it(q, digest):
    trail = q.root / "QMS" / ".audit" / "SOP" / "SOP-002.jsonl"
    original = trail.read_bytes() if trail.exists() else None
    doc = q.create("CR", "Victim")
    ws = q.workspace_file("claude", doc)
    ws.unlink()
    ws.symlink_to(trail)
    _refused(q, digest, "claude", "checkin", doc)
    assert (trail.read_bytes() if trail.exists() else None) == original
    ws.unlink()
    own = q.root / "QMS" / ".audit" / "CR" / f"{doc}.jsonl"
    ws.symlink_to(own)
    trail_before = own.read_bytes()
    _refused(q, digest, "claude", "checkin", doc)
    assert own.read_bytes() == trail_before


@pytest.mark.req("REQ-HARD-001")
def test_workspace_link_outside_the_project_is_never_read(q, digest, tmp_path):
    """Finding: a link to a file outside copied it into a controlled draft and left a
    journal naming a path outside the project, wedging every later command."""
    secret = _outside(tmp_path) / "secret.txt"
    doc = q.create("CR", "Exfiltration")
    ws = q.workspace_file("claude", doc)
    ws.unlink()
    ws.symlink_to(secret)
    _refused(q, digest, "claude", "checkin", doc)
    assert "TOP SECRET" not in q.draft(doc).read_text()
    q.ok("qa", "status", doc)  # not wedged
    q.ok("claude", "create", "CR", "--title", "Still works")
    assert secret.read_text().endswith("TOP SECRET\n")


@pytest.mark.req("REQ-HARD-001")
def test_symlinked_workspace_folder_is_refused_at_create(q, digest, tmp_path):
    out = _outside(tmp_path)
    folder = q.root / WS
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    folder.symlink_to(out, target_is_directory=True)
    before_outside = sorted(p.name for p in out.iterdir())
    run = _refused(q, digest, "claude", "create", "CR", "--title", "Through a link")
    assert WS in run.err
    assert sorted(p.name for p in out.iterdir()) == before_outside
    q.ok("qa", "inbox")  # other users are unaffected
    folder.unlink()
    q.ok("claude", "create", "CR", "--title", "After the link is gone")


@pytest.mark.req("REQ-HARD-001")
def test_symlinked_inbox_is_never_listed_or_written(q, digest, tmp_path):
    out = _outside(tmp_path)
    (out / "task-CR-999-review-v0-1.md").write_text("---\ndoc_id: CR-999\n---\n")
    inbox = q.root / ".claude" / "users" / "qa" / "inbox"
    for child in inbox.iterdir():
        child.unlink()
    inbox.rmdir()
    inbox.symlink_to(out, target_is_directory=True)
    run = q.fail("qa", "inbox", match="symbolic link")
    assert ".claude/users/qa/inbox" in run.err
    doc = q.create("CR", "Route me")
    q.ok("claude", "checkin", doc)
    _refused(q, digest, "claude", "route", doc, "--review")
    assert sorted(p.name for p in out.iterdir()) == ["secret.txt", "task-CR-999-review-v0-1.md"]


@pytest.mark.req("REQ-HARD-001")
def test_hard_links_in_a_workspace_are_refused(q, digest):
    """A hard link defeats O_NOFOLLOW: a file with more than one name is refused."""
    sop2 = q.root / "QMS" / "SOP" / "SOP-002.md"
    original = sop2.read_bytes()
    doc = q.create("CR", "Hard link")
    ws = q.workspace_file("claude", doc)
    ws.unlink()
    os.link(sop2, ws)
    run = _refused(q, digest, "claude", "checkin", doc, match="hard link")
    assert f"{WS}/{doc}.md" in run.err
    ws.unlink()
    os.link(sop2, q.root / WS / "SOP-001.md")
    _refused(q, digest, "claude", "checkout", "SOP-001", match="hard link")
    (q.root / WS / "SOP-001.md").unlink()
    os.link(sop2, q.root / WS / f".{doc}.md.qms-tmp")  # at the temporary name
    ws.write_text("---\ntitle: t\nrevision_summary: r\n---\n\nbody\n")
    _refused(q, digest, "claude", "checkin", doc, match="hard link")
    assert sop2.read_bytes() == original


@pytest.mark.req("REQ-HARD-001")
def test_one_users_symlinked_inbox_never_blocks_the_others(q, tmp_path):
    out = _outside(tmp_path)
    inbox = q.root / ".claude" / "users" / "tu" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for child in inbox.iterdir():
        child.unlink()
    inbox.rmdir()
    inbox.symlink_to(out, target_is_directory=True)
    doc = q.create("CR", "Sweep")
    q.ok("claude", "checkin", doc)
    q.review_round(doc)  # removing qa's task sweeps every inbox
    assert q.status(doc) == "PRE_REVIEWED"
    assert sorted(p.name for p in out.iterdir()) == ["secret.txt"]


@pytest.mark.req("REQ-HARD-001")
def test_a_link_planted_at_a_temporary_name_is_refused_before_any_write(q, digest, tmp_path):
    secret = _outside(tmp_path) / "secret.txt"
    doc = q.create("CR", "Temp link")
    (q.draft(doc).parent / f".{doc}-draft.md.qms-tmp").symlink_to(secret)
    _refused(q, digest, "claude", "checkin", doc)
    assert secret.read_text().endswith("TOP SECRET\n")


@pytest.mark.req("REQ-HARD-002")
def test_fifo_workspace_copy_and_inbox_task_never_block(project, qms_proc):
    """FIFOs are refused (workspace copy) or skipped with a warning (inbox), at once."""
    run = qms_proc(project, "--user", "claude", "--json", "create", "CR", "--title", "F")
    doc = json.loads(run.out)["result"]["doc_id"]
    ws = project / WS / f"{doc}.md"
    ws.unlink()
    os.mkfifo(ws)
    start = time.monotonic()
    run = qms_proc(project, "--user", "claude", "checkin", doc, timeout=20)
    assert run.code == 1 and "FIFO" in run.err and f"{WS}/{doc}.md" in run.err, run.err
    inbox = project / ".claude" / "users" / "qa" / "inbox"
    os.mkfifo(inbox / "task-CR-001-review-v0-1.md")
    run = qms_proc(project, "--user", "qa", "inbox", timeout=20)
    assert run.code == 0 and "FIFO" in run.err, run.err
    run = qms_proc(project, "--user", "claude", "workspace", timeout=20)
    assert run.code == 0 and doc in run.out and "FIFO" in run.err, run.err
    assert time.monotonic() - start < 30
    assert not pending(project / ".qms" / "journal")


@pytest.mark.req("REQ-HARD-001", "REQ-HARD-002")
@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_an_audit_trail_replaced_by_a_fifo_or_link_is_refused_at_once(project, qms_proc,
                                                                      tmp_path, kind):
    """Chaining reads the end of a document's trail: a FIFO there must not hold the project
    lock forever, a link must not be followed."""
    run = qms_proc(project, "--user", "claude", "--json", "create", "CR", "--title", "F")
    doc = json.loads(run.out)["result"]["doc_id"]
    assert qms_proc(project, "--user", "claude", "checkin", doc).code == 0
    trail = project / "QMS" / ".audit" / "CR" / f"{doc}.jsonl"
    kept = trail.read_bytes()
    trail.unlink()
    if kind == "fifo":
        os.mkfifo(trail)
    else:
        trail.symlink_to(_outside(tmp_path) / "secret.txt")
    run = qms_proc(project, "--user", "claude", "checkout", doc, timeout=20)
    assert run.code == 1 and f"QMS/.audit/CR/{doc}.jsonl" in run.err, run.err
    assert ("FIFO" if kind == "fifo" else "symbolic link") in run.err, run.err
    assert not pending(project / ".qms" / "journal")
    trail.unlink()
    trail.write_bytes(kept)
    assert qms_proc(project, "--user", "claude", "checkout", doc).code == 0  # still usable


@pytest.mark.req("REQ-HARD-002")
@pytest.mark.parametrize("planted, args", [
    ("qms.config.json", ("--user", "claude", "status", "SOP-001")),
    (".qms/tokens.json", ("--user", "lead", "token", "list")),
    ("KEY", ("--user", "claude", "create", "CR", "--title", "x")),
])
def test_a_fifo_in_place_of_the_config_token_store_or_key_is_refused_at_once(
        project, qms_proc, planted, args):
    if planted == "KEY":
        active = (project / ".qms/keys/active").read_text().strip()
        planted = f".qms/keys/{active}.key"
    target = project / planted
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    run = qms_proc(project, *args, timeout=20)
    assert run.code == 1 and "FIFO" in run.err and planted in run.err, run.err
    assert not pending(project / ".qms" / "journal")


# -- item 1: recovery never wedges the project ---------------------------------------------
def _plant_journal(root: Path, ops: list[dict]) -> None:
    from qms.store.transaction import write_journal

    (root / ".qms").mkdir(exist_ok=True)
    write_journal(root / ".qms" / "journal", ops)


@pytest.mark.req("REQ-HARD-004")
@pytest.mark.parametrize("path", ["../outside.txt", "/tmp/qms-hard-abs.txt",
                                  f"{WS}/linked/x.md"])
def test_a_journal_recovery_cannot_apply_is_set_aside(q, tmp_path, path):
    out = _outside(tmp_path)
    (q.root / WS / "linked").symlink_to(out, target_is_directory=True)
    _plant_journal(q.root, [{"op": "write", "path": path, "text": "pwned"},
                            {"op": "write", "path": "QMS/ok.md", "text": "ok"}])
    run = q("qa", "status", "SOP-001")
    assert run.code == 0, run.err
    assert "could not be completed" in run.err and "inspection" in run.err
    assert (q.root / "QMS" / "ok.md").read_text() == "ok"  # the rest is rolled forward
    assert not (tmp_path / "outside.txt").exists() and not (out / "x.md").exists()
    assert not Path("/tmp/qms-hard-abs.txt").exists()
    kept = list((q.root / ".qms").glob("journal.failed-*"))
    assert len(kept) == 1
    assert not pending(q.root / ".qms" / "journal")
    q.ok("claude", "create", "CR", "--title", "Not wedged")


@pytest.mark.req("REQ-HARD-004")
def test_a_damaged_journal_is_set_aside(q):
    (q.root / ".qms").mkdir(exist_ok=True)
    (q.root / ".qms" / "journal").write_bytes(b"garbage, not a journal\n")
    run = q("claude", "create", "CR", "--title", "After damage")
    assert run.code == 0 and "could not be completed" in run.err, run.err
    assert list((q.root / ".qms").glob("journal.failed-*"))


@pytest.mark.req("REQ-HARD-004")
@pytest.mark.parametrize("kind", ["link", "folder", "fifo"])
def test_a_journal_that_is_no_file_is_set_aside(q, tmp_path, kind):
    journal = q.root / ".qms" / "journal"
    if journal.exists():
        journal.unlink()
    if kind == "link":
        target = _outside(tmp_path) / "secret.txt"
        journal.symlink_to(target)
    elif kind == "folder":
        journal.mkdir()
    else:
        os.mkfifo(journal)
    run = q("claude", "create", "CR", "--title", "After a planted journal")
    assert run.code == 0 and "not a regular file" in run.err, run.err
    assert list((q.root / ".qms").glob("journal.failed-*"))
    q.ok("qa", "status", "SOP-001")
    if kind == "link":
        assert target.read_text().endswith("TOP SECRET\n")


@pytest.mark.req("REQ-HARD-020")
def test_a_torn_journal_was_never_committed_and_is_dropped_quietly(q, digest):
    """A crash while the journal is written (before its fsync) leaves a torn journal:
    nothing of it was applied, so recovery drops it without applying anything."""
    from qms.store.transaction import write_journal

    doc = q.create("CR", "Torn journal")
    journal = q.root / ".qms" / "journal"
    journal.unlink()
    write_journal(journal, [{"op": "write", "path": "QMS/torn.md", "text": "x" * 100}])
    from qms.store.transaction import _log

    end = _log(journal).frames[-1][2]
    journal.write_bytes(journal.read_bytes()[: end - 20])  # the tail never reached the disk
    before = _state_free(digest(q.root))
    run = q.ok("qa", "status", doc)
    assert "Warning" not in run.err
    assert not (q.root / "QMS" / "torn.md").exists()
    assert _state_free(digest(q.root)) == before
    assert not pending(journal) and not list((q.root / ".qms").glob("journal.failed-*"))


# -- item 2: malformed storage -------------------------------------------------------------
BAD_META = ["[]", "{}", "null", "42", '"text"', "{not json", '{"status": "DRAFT"}',
            '{"status": "DRAFT", "version": 1}',
            '{"status": "DRAFT", "version": "0.1", "pending_assignees": "qa"}',
            '{"status": "DRAFT", "version": "0.1", "review_outcomes": []}']


@pytest.mark.req("REQ-HARD-005")
@pytest.mark.parametrize("bad", BAD_META)
def test_malformed_meta_is_a_clear_error_naming_the_file(q, bad):
    doc = q.create("CR", "Damaged")
    other = q.create("CR", "Healthy")
    meta = q.root / "QMS" / ".meta" / "CR" / f"{doc}.json"
    meta.write_text(bad)
    for args in (("status", doc), ("checkin", doc), ("route", doc, "--review"),
                 ("read", doc), ("checkout", doc)):
        run = q.fail("claude", *args, match=f"QMS/.meta/CR/{doc}.json")
        assert "Traceback" not in run.err
        data = q.json("claude", *args)
        assert data["ok"] is False and data["error"]["code"] == "project"
        assert f"QMS/.meta/CR/{doc}.json" in data["error"]["message"]
    run = q("claude", "workspace")  # one damaged document never hides the others
    assert run.code == 0 and other in run.out and doc in run.out
    assert f"QMS/.meta/CR/{doc}.json" in run.err
    assert q.json("claude", "workspace")["result"]["warnings"]


@pytest.mark.req("REQ-HARD-005")
@pytest.mark.parametrize("line", ["[]", "42", "null", '"x"', "{torn"])
def test_audit_lines_that_are_not_objects(q, line):
    doc = q.create("CR", "Trail")
    trail = q.root / "QMS" / ".audit" / "CR" / f"{doc}.jsonl"
    with trail.open("a") as f:
        f.write(line + "\n")
    run = q("claude", "history", doc)
    assert run.code == 0 and "CREATE" in run.out
    assert "line 3" in run.err and f"QMS/.audit/CR/{doc}.jsonl" in run.err
    q.fail("claude", "comments", doc, match=f"QMS/.audit/CR/{doc}.jsonl")
    assert q.json("claude", "history", doc)["result"]["warnings"]


@pytest.mark.req("REQ-HARD-005")
@pytest.mark.parametrize("bad", ["{not json", "[]", "null", "7"])
def test_broken_namespace_registry(q, bad):
    q.ok("lead", "namespace", "add", "WEB")
    (q.root / "QMS" / ".meta" / "sdlc_namespaces.json").write_text(bad)
    for args in (("namespace", "list"), ("create", "WEB-RS", "--title", "x"),
                 ("create", "NOPE", "--title", "x")):
        run = q.fail("lead", *args, match="QMS/.meta/sdlc_namespaces.json")
        assert "Traceback" not in run.err
    q.ok("claude", "create", "CR", "--title", "Base types still work")


@pytest.mark.req("REQ-HARD-005")
@pytest.mark.parametrize("text", ["---\ngroup: [\n---\n", "---\n- a\n- b\n---\n",
                                  "---\ngroup: wizard\n---\n", b"\xff\xfe".decode("latin-1"),
                                  "no frontmatter"])
def test_damaged_agent_files(q, text):
    q.ok("lead", "user", "--add", "rev", "--group", "reviewer")
    agent = q.root / ".claude" / "agents" / "rev.md"
    agent.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode())
    run = q("rev", "inbox")
    assert run.code != 0 and "Traceback" not in run.err and "rev" in run.err
    run = q.ok("lead", "user", "--list")  # the others are still listed
    assert "qa" in run.out


@pytest.mark.req("REQ-HARD-005")
def test_damaged_inbox_task_never_hides_the_others(q):
    doc = q.create("CR", "Task")
    q.ok("claude", "checkin", doc)
    q.ok("claude", "route", doc, "--review")
    inbox = q.root / ".claude" / "users" / "qa" / "inbox"
    (inbox / "task-CR-777-review-v0-1.md").write_bytes(b"---\ntitle: [\n---\n\xff")
    run = q("qa", "inbox")
    assert run.code == 0 and doc in run.out
    assert "task-CR-777-review-v0-1.md" in run.err


# -- item 3: torn audit lines, temporary files ---------------------------------------------
@pytest.mark.req("REQ-HARD-006")
def test_a_torn_audit_line_is_never_glued_to_the_next_event(q):
    doc = q.create("CR", "Torn")
    trail = q.root / "QMS" / ".audit" / "CR" / f"{doc}.jsonl"
    with trail.open("a") as f:
        f.write('{"ts": "2026-01-01T00:00:00+00:00", "event": "CHEC')  # torn, no newline
    q.ok("claude", "checkin", doc)
    lines = trail.read_text().splitlines()
    assert lines[-2] == '{"ts": "2026-01-01T00:00:00+00:00", "event": "CHEC'
    assert json.loads(lines[-1])["event"] == "CHECKIN"
    assert trail.read_text().endswith("\n")
    run = q("claude", "history", doc)
    assert "CHECKIN" in run.out and "line 3" in run.err


@pytest.mark.req("REQ-HARD-007")
def test_temporary_files_are_hidden_and_cleaned_by_the_next_transaction(q, helpers):
    """A commit killed half-way leaves `.{name}.qms-tmp` files; the next transaction rolls
    the commit forward and removes them; no listing ever shows them."""
    from qms.store import atomic
    from qms.store.transaction import write_journal

    doc = q.create("CR", "Temp")
    draft = q.draft(doc)
    tmp = atomic.tmp_path(draft)
    assert tmp.name == f".{draft.name}.qms-tmp"
    tmp.write_text("half a draf")  # what a killed writer leaves behind
    ws = q.workspace_file("claude", doc)
    ws_tmp = atomic.tmp_path(ws)
    ws_tmp.write_text("half")
    write_journal(q.root / ".qms" / "journal",
                  [{"op": "write", "path": str(draft.relative_to(q.root)), "text": "new\n"},
                   {"op": "write", "path": str(ws.relative_to(q.root)),
                    "text": "---\ntitle: t\nrevision_summary: r\n---\n\nx\n"}])
    run = q.ok("claude", "workspace")
    assert ".qms-tmp" not in run.out
    q.ok("qa", "status", doc)  # the next command rolls forward and cleans up
    assert not tmp.exists() and not ws_tmp.exists()
    assert draft.read_text() == "new\n"
    assert not list(q.root.rglob("*.qms-tmp"))
