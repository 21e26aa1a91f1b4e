"""Every command through the CLI: arguments, effects, refusals, output shapes."""

from __future__ import annotations

import json

import pytest

req = pytest.mark.req


# -- init -------------------------------------------------------------------------------

@req("REQ-INIT-001")
@req("REQ-INIT-002")
@req("REQ-INIT-003")
@req("REQ-INIT-004")
@req("REQ-INIT-005")
@req("REQ-INIT-007")
@req("REQ-INIT-008")
def test_init_creates_a_complete_project(cli, tmp_path):
    root = tmp_path / "fresh"
    root.mkdir()
    run = cli(root, "init", "--yes")
    assert run.code == 0, run.err
    assert "Initialised QMS project" in run.out
    config = json.loads((root / "qms.config.json").read_text())
    assert config["version"] == "1.0" and "created" in config
    for folder in ("CR", "INV", "SOP", "TEMPLATE", ".archive"):
        assert (root / "QMS" / folder).is_dir()
    for user in ("lead", "claude", "qa", "tu"):
        for sub in ("workspace", "inbox"):
            assert (root / ".claude" / "users" / user / sub).is_dir()
    assert "group: quality" in (root / ".claude" / "agents" / "qa.md").read_text()
    assert "group: reviewer" in (root / ".claude" / "agents" / "tu.md").read_text()
    assert (root / "CLAUDE.md").is_file()
    settings = json.loads((root / ".claude" / "settings.json").read_text())
    assert "write-guard" in json.dumps(settings["hooks"])
    for t in ("CR", "INV", "SOP", "TP", "ER", "VAR", "ADD", "VR"):
        meta = json.loads((root / "QMS" / ".meta" / "TEMPLATE" / f"TEMPLATE-{t}.json").read_text())
        assert (meta["status"], meta["version"], meta["effective_version"]) == ("EFFECTIVE", "1.0", "1.0")
        assert (root / "QMS" / "TEMPLATE" / f"TEMPLATE-{t}.md").is_file()
        events = [json.loads(x) for x in
                  (root / "QMS" / ".audit" / "TEMPLATE" / f"TEMPLATE-{t}.jsonl").read_text().splitlines()]
        assert all({"ts", "event", "user", "version"} <= set(e) for e in events)
    for n in range(1, 8):
        assert (root / "QMS" / "SOP" / f"SOP-00{n}.md").is_file()
    # the new project works straight away
    run = cli(root, "--user", "qa", "status", "SOP-001")
    assert run.code == 0 and "EFFECTIVE" in run.out


@req("REQ-INIT-009")
def test_init_refuses_when_project_files_exist(q, digest):
    before = digest(q.root)
    q.fail(None, "init", "--yes", match="already present")
    q.fail(None, "init", "--yes", "--root", str(q.root), match="already present")
    assert digest(q.root) == before


@req("REQ-INIT-009")
@pytest.mark.parametrize("existing", ["CLAUDE.md", "qms.config.json", ".claude/agents/qa.md",
                                      ".claude/users/x", "QMS"])
def test_init_refuses_any_single_clash(cli, tmp_path, existing):
    root = tmp_path / "p"
    target = root / existing
    if "." in target.name:
        target.parent.mkdir(parents=True)
        target.write_text("mine")
    else:
        target.mkdir(parents=True)
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    run = cli(root, "init", "--yes")
    assert run.code == 1 and "Nothing was changed" in run.err
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == before


@req("REQ-INIT-010")
def test_init_root_must_exist_and_not_nest(q, cli, tmp_path):
    run = cli(tmp_path, "init", "--yes", "--root", str(tmp_path / "missing"))
    assert run.code == 1 and "does not exist" in run.err
    assert f"mkdir -p {tmp_path / 'missing'}" in run.err  # says what to do next
    (tmp_path / "file").write_text("x")
    run = cli(tmp_path, "init", "--yes", "--root", str(tmp_path / "file"))
    assert run.code == 1 and "is not a directory" in run.err
    inner = q.root / "sub"
    inner.mkdir()
    run = cli(inner, "init", "--yes")
    assert run.code == 1 and "refusing to nest" in run.err
    assert not (inner / "QMS").exists()


@req("REQ-INIT-012")
@pytest.mark.parametrize("answer", ["", "\n", "n\n", "N\n", "nope\n"])
def test_init_without_yes_and_no_answer_changes_nothing(cli, tmp_path, monkeypatch, answer):
    import io

    root = tmp_path / "p"
    root.mkdir()
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))  # "" is EOF: means no
    run = cli(root, "init")
    assert run.code == 1 and "Not initialised" in run.err and "[y/N]" in run.err
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("answer", ["y\n", "Y\n", "yes\n"])
def test_init_prompt_accepts_yes(cli, tmp_path, monkeypatch, answer):
    import io

    root = tmp_path / "p"
    root.mkdir()
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    run = cli(root, "init")
    assert run.code == 0, run.err
    assert (root / "qms.config.json").is_file()


# -- user ---------------------------------------------------------------------------------

@req("REQ-USER-003")
@req("REQ-USER-005")
@req("REQ-USER-002")
def test_user_add_and_list(q):
    run = q.ok("lead", "user", "--add", "bob", "--group", "reviewer")
    assert "bob" in run.out
    agent = (q.root / ".claude" / "agents" / "bob.md").read_text()
    assert "group: reviewer" in agent and "name: bob" in agent
    assert (q.root / ".claude" / "users" / "bob" / "inbox").is_dir()
    assert (q.root / ".claude" / "users" / "bob" / "workspace").is_dir()
    listing = q.ok("claude", "user", "--list").out
    for name, group in [("lead", "administrator"), ("claude", "administrator"),
                        ("qa", "quality"), ("tu", "reviewer"), ("bob", "reviewer")]:
        assert any(line.split() == [name, group] for line in listing.splitlines()), listing
    users = q.json("lead", "user", "--list")["result"]["users"]
    assert {"name": "bob", "group": "reviewer", "display_name": None} in users
    q.ok("bob", "inbox")  # a new user is usable at once


def test_user_add_refusals(q):
    q.fail("lead", "user", "--add", "qa", "--group", "reviewer", match="already exists")
    q.fail("lead", "user", "--add", "claude", "--group", "reviewer", match="built-in")
    q.fail("lead", "user", "--add", "bob", "--group", "boss", code=2)
    q.fail("lead", "user", "--add", "bob", code=2, match="--group")
    q.fail("lead", "user", code=2)
    q.fail("lead", "user", "--add", "Bob Smith", "--group", "reviewer", match="Invalid user name")
    q.fail("qa", "user", "--add", "bob", "--group", "reviewer", match="Permission denied")
    assert not (q.root / ".claude" / "agents" / "bob.md").exists()


@req("REQ-USER-002")
def test_agent_file_with_bad_group_is_a_clear_error(q):
    # a file no signed USER_ADD vouches for makes nobody a user, whatever it says
    (q.root / ".claude" / "agents" / "odd.md").write_text("---\nname: odd\ngroup: boss\n---\n")
    q.fail("odd", "inbox", match="Unknown user 'odd'")
    q.ok("lead", "user", "--add", "odd", "--group", "reviewer")  # its prompt is kept
    assert "group: reviewer" in (q.root / ".claude" / "agents" / "odd.md").read_text()
    (q.root / ".claude" / "agents" / "odd.md").write_text("---\nname: odd\ngroup: [x\n---\n")
    q.fail("odd", "inbox", match="odd.md says group (malformed frontmatter)")


# -- namespace -------------------------------------------------------------------------------

@req("REQ-DOC-013")
@req("REQ-DOC-014")
def test_namespace_add_list_and_sdlc_documents(q, consistent):
    assert "No SDLC namespaces" in q.ok("tu", "namespace", "list").out
    q.fail("claude", "create", "WEB-RS", "--title", "x", match="Unknown SDLC namespace")
    run = q.ok("lead", "namespace", "add", "web")
    assert "WEB" in run.out
    assert (q.root / "QMS" / "SDLC-WEB").is_dir()
    reg = json.loads((q.root / "QMS" / ".meta" / "sdlc_namespaces.json").read_text())
    assert reg == {"WEB": {"path": "SDLC-WEB"}}
    assert q.json("qa", "namespace", "list")["result"]["namespaces"] == ["WEB"]
    q.fail("lead", "namespace", "add", "WEB", match="already exists")
    q.fail("lead", "namespace", "add", code=2)
    q.fail("lead", "namespace", "add", "9bad", match="Invalid namespace")
    q.fail("lead", "namespace", "delete", "WEB", code=2)
    q.fail("qa", "namespace", "add", "APP", match="Permission denied")

    rs = q.create("web-rs", "Web requirements")
    rtm = q.create("WEB-RTM", "Web traceability")
    assert (rs, rtm) == ("SDLC-WEB-RS", "SDLC-WEB-RTM")
    assert q.draft(rs) == q.root / "QMS" / "SDLC-WEB" / "SDLC-WEB-RS-draft.md"
    m = q.meta(rs)
    assert (m["doc_type"], m["executable"], m["version"]) == ("WEB-RS", False, "0.1")
    assert (q.root / "QMS" / ".meta" / "WEB-RS" / "SDLC-WEB-RS.json").is_file()
    q.fail("claude", "create", "WEB-RS", "--title", "again", match="already exists")
    q.review_and_approve(rs)
    assert q.status(rs) == "EFFECTIVE"
    assert q.effective(rs).is_file()
    consistent(q, rs)


# -- create ------------------------------------------------------------------------------------

@req("REQ-DOC-001")
@req("REQ-DOC-004")
@req("REQ-DOC-012")
@req("REQ-TEMPLATE-001")
@req("REQ-TEMPLATE-003")
@req("REQ-TEMPLATE-004")
@req("REQ-META-003")
def test_create_top_level_types(q, helpers):
    run = q.ok("claude", "--json", "create", "cr", "--title", "Add login")
    res = run.json["result"]
    assert res == {"doc_id": "CR-001", "doc_type": "CR", "version": "0.1", "status": "DRAFT",
                   "title": "Add login", "path": "QMS/CR/CR-001/CR-001-draft.md",
                   "workspace_path": ".claude/users/claude/workspace/CR-001.md",
                   "responsible_user": "claude"}
    assert q.create("CR") == "CR-002"
    assert q.create("INV", "Investigate") == "INV-001"
    assert q.draft("INV-001") == q.root / "QMS" / "INV" / "INV-001" / "INV-001-draft.md"
    assert q.create("SOP") == "SOP-008"
    text = q.draft("CR-001").read_text()
    assert text.startswith("---\ntitle: Add login\nrevision_summary: Initial draft\n---\n")
    assert "CR-001" in text and "{{TITLE}}" not in text and "CR-XXX" not in text
    # the workspace copy is the draft, its placeholders filled by the test as their author
    assert q.workspace_file("claude", "CR-001").read_text() == helpers.filled(text)
    meta = q.meta("CR-001")
    for key in ("doc_id", "doc_type", "version", "status", "executable", "responsible_user",
                "checked_out", "effective_version", "pending_assignees", "checked_out_date",
                "execution_phase"):
        assert key in meta
    assert meta["execution_phase"] == "pre_release" and meta["executable"] is True
    ev = q.audit("CR-001")[0]
    assert ev["event"] == "CREATE" and ev["title"] == "Add login" and ev["version"] == "0.1"
    out = q.ok("claude", "create", "CR", "--title", "t").out
    assert "Created CR-003 (v0.1, DRAFT)" in out and "checkin CR-003" in out


@req("REQ-DOC-011")
def test_create_template(q):
    run = q.ok("claude", "create", "TEMPLATE", "--title", "Risk template", "--name", "risk")
    assert "TEMPLATE-RISK" in run.out
    assert q.draft("TEMPLATE-RISK") == q.root / "QMS" / "TEMPLATE" / "TEMPLATE-RISK-draft.md"
    assert q.meta("TEMPLATE-RISK")["executable"] is False
    q.fail("claude", "create", "TEMPLATE", "--title", "x", match="--name")
    q.fail("claude", "create", "TEMPLATE", "--title", "x", "--name", "CR", match="already exists")
    q.fail("claude", "create", "TEMPLATE", "--title", "x", "--name", "../x", match="Invalid template name")


@req("REQ-TEMPLATE-002")
def test_create_uses_the_controlled_template_in_the_project(q):
    path = q.root / "QMS" / "TEMPLATE" / "TEMPLATE-SOP.md"
    path.write_text("---\ntitle: T\n---\n---\ntitle: '{{TITLE}}'\n---\n# SOP-XXX custom {{TITLE}}\n")
    doc = q.create("SOP", "Mine")
    assert "# SOP-008 custom Mine" in q.draft(doc).read_text()


@req("REQ-TEMPLATE-005")
def test_create_without_a_template_falls_back(q):
    (q.root / "QMS" / "TEMPLATE" / "TEMPLATE-INV.md").unlink()
    doc = q.create("INV", "No template")
    text = q.draft(doc).read_text()
    assert f"# {doc}: No template" in text and "## 1. Purpose" in text


@req("REQ-DOC-002")
@req("REQ-DOC-005")
@req("REQ-DOC-015")
@req("REQ-DOC-016")
@req("REQ-DOC-017")
def test_create_child_types_and_parent_rules(q):
    cr = q.create("CR")
    inv = q.create("INV")
    # TP under CR, ER under TP, VAR under CR/INV; numbering per parent and type
    tp = q.create("TP", "tp", "claude", "--parent", cr)
    assert tp == "CR-001-TP-001"
    assert q.create("TP", "tp2", "claude", "--parent", "cr-001") == "CR-001-TP-002"
    er = q.create("ER", "er", "claude", "--parent", tp)
    assert er == "CR-001-TP-001-ER-001"
    assert q.draft(er) == q.root / "QMS" / "CR" / "CR-001" / "CR-001-TP-001-ER-001-draft.md"
    assert (q.root / "QMS" / ".meta" / "ER" / f"{er}.json").is_file()
    assert q.create("VAR", "v", "claude", "--parent", cr) == "CR-001-VAR-001"
    assert q.create("VAR", "v", "claude", "--parent", cr) == "CR-001-VAR-002"
    assert q.create("VAR", "v", "claude", "--parent", inv) == "INV-001-VAR-001"
    for child in (tp, er, "CR-001-VAR-001"):
        m = q.meta(child)
        assert (m["version"], m["status"], m["executable"]) == ("0.1", "DRAFT", True)

    q.fail("claude", "create", "TP", "--title", "x", match="--parent")
    q.fail("claude", "create", "TP", "--title", "x", "--parent", inv, match="cannot have a INV parent")
    q.fail("claude", "create", "ER", "--title", "x", "--parent", cr, match="cannot have a CR parent")
    q.fail("claude", "create", "VAR", "--title", "x", "--parent", "CR-099", match="not found")
    q.fail("claude", "create", "CR", "--title", "x", "--parent", cr, match="top-level")
    q.fail("claude", "create", "SOP", "--title", "x", "--parent", cr, match="top-level")
    # ADD needs a CLOSED parent; VR needs an IN_EXECUTION parent
    q.fail("claude", "create", "ADD", "--title", "x", "--parent", cr,
           match="ADD documents need their parent CLOSED")
    q.fail("claude", "create", "VR", "--title", "x", "--parent", cr, match="IN_EXECUTION")


@req("REQ-DOC-016")
@req("REQ-DOC-017")
@req("REQ-DOC-015")
def test_create_vr_and_add(q):
    cr = q.in_execution()
    vr = q.create("VR", "Verify login", "claude", "--parent", cr)
    assert vr == "CR-001-VR-001"
    m = q.meta(vr)
    assert (m["version"], m["status"], m["execution_phase"]) == ("1.0", "IN_EXECUTION", "post_release")
    q.post_approved(cr)
    q.ok("claude", "close", cr)
    add = q.create("ADD", "Addendum", "claude", "--parent", cr)
    assert add == "CR-001-ADD-001"
    assert q.meta(add)["status"] == "DRAFT"
    assert q.create("VAR", "var of add", "claude", "--parent", add) == "CR-001-ADD-001-VAR-001"
    q.fail("claude", "create", "TP", "--title", "x", "--parent", cr, match="CLOSED")


def test_create_refusals(q):
    run = q.fail("claude", "create", "FOO", "--title", "x", match="Unknown document type")
    for valid in ("SOP", "CR", "INV", "TP", "ER", "VAR", "ADD", "VR", "TEMPLATE"):
        assert valid in run.err
    q.fail("claude", "create", "CR", code=2, match="--title")
    q.fail("claude", "create", "CR", "--title", "   ", match="title is required")
    q.fail("claude", "create", "CR", "--title", "two\nlines", match="single line")


# -- read / status ---------------------------------------------------------------------------

@req("REQ-QRY-001")
def test_read_variants(q):
    doc = q.effective_sop()
    eff = q.ok("tu", "read", doc)
    # the effective text, then its signature manifestation block (REQ-SIG-002)
    text = q.effective(doc).read_text().rstrip("\n")
    assert eff.out.startswith(text) and "Electronic signatures" in eff.out[len(text):]
    q.fail("tu", "read", doc, "--draft", match="no draft")
    assert q.ok("tu", "read", doc, "--version", "0.1").out.rstrip("\n") == \
        q.archive(doc, "0.1").read_text().rstrip("\n")
    # --version of the version in force: the same text and signature block
    assert q.ok("tu", "read", doc, "-v", "1.0").out == eff.out
    q.fail("tu", "read", doc, "--version", "7.0", match="no version 7.0")
    q.fail("tu", "read", doc, "--version", "latest", match="Invalid version")
    q.fail("tu", "read", doc, "--version", "1.0", "--draft", match="either")
    res = q.json("tu", "read", doc)["result"]
    assert set(res) == {"doc_id", "version", "source", "content", "signatures"}
    assert res["version"] == "1.0" and res["content"] == q.effective(doc).read_text()
    q.fail("tu", "read", "SOP-099", match="not found")
    cr = q.create("CR")
    assert "CR-001" in q.ok("qa", "read", cr).out  # no effective version: the draft
    assert q.ok("qa", "read", cr, "--draft").out == q.ok("qa", "read", cr).out


@req("REQ-QRY-002")
def test_status_output(q):
    doc = q.create("CR", "Status me")
    out = q.ok("qa", "status", doc).out
    for fragment in ("Document:", "CR-001", "Title:", "Status me", "Version:", "0.1",
                     "Status:", "DRAFT", "Location:", "CR-001-draft.md", "Executable:", "yes",
                     "Responsible User:", "claude", "Checked Out:"):
        assert fragment in out, fragment
    res = q.json("tu", "status", "cr-001")["result"]
    assert res["doc_id"] == "CR-001" and res["status"] == "DRAFT"
    assert res["title"] == "Status me" and res["checked_out"] is True
    q.ok("claude", "route", doc, "--review", "--assign", "qa", "tu")
    out = q.ok("qa", "status", doc).out
    assert "Pending:" in out and "qa, tu" in out


# -- checkout / checkin ---------------------------------------------------------------------

@req("REQ-DOC-007")
@req("REQ-DOC-008")
def test_checkout_and_checkin_rules(q):
    q.add_users()
    doc = q.create("SOP", "x", "ini")
    q.fail("ini", "checkout", doc, match="already checked out by you")
    q.fail("ini2", "checkout", doc, match=f"qms --user lead unlock {doc} --reason")
    q.fail("ini2", "checkin", doc, match="responsible user")
    q.workspace_file("ini", doc).unlink()
    q.fail("ini", "checkin", doc, match="not in your workspace")
    q.ok("lead", "unlock", doc, "--reason", "lost copy")
    q.fail("ini", "checkin", doc, match="not checked out")
    q.ok("ini2", "checkout", doc)  # a free document can be taken by another author
    assert q.meta(doc)["responsible_user"] == "ini2"
    q.ok("ini2", "checkin", doc)
    assert q.events(doc)[-1] == "CHECKIN"


@req("REQ-DOC-009")
def test_checkin_of_reviewed_document_returns_to_draft(q, consistent):
    doc = q.create("SOP")
    q.review_round(doc)
    q.ok("claude", "checkout", doc)
    assert q.status(doc) == "REVIEWED"
    run = q.ok("claude", "checkin", doc)
    assert "DRAFT" in run.out
    m = q.meta(doc)
    assert (m["status"], m["review_outcomes"], m["pending_assignees"]) == ("DRAFT", {}, [])
    consistent(q, doc)


@req("REQ-DOC-019")
@req("REQ-WF-011")
def test_terminal_documents_refuse_workflow_commands(q):
    cr = q.in_execution()
    q.post_approved(cr)
    q.ok("claude", "close", cr)
    for argv in (("checkout", cr), ("route", cr, "--review"), ("release", cr),
                 ("withdraw", cr), ("close", cr), ("revert", cr, "--reason", "r")):
        q.fail("claude", *argv)
    assert q.status(cr) == "CLOSED"


# -- route / assign / review / approve --------------------------------------------------------

@req("REQ-SEC-003")
@req("REQ-SEC-007")
@req("REQ-TASK-001")
@req("REQ-TASK-002")
def test_route_rules(q):
    q.add_users()
    doc = q.create("SOP")
    q.fail("lead", "route", doc, "--review", match="responsible user")
    q.fail("claude", "route", doc, code=2)
    q.fail("claude", "route", doc, "--review", "--approval", code=2)
    q.fail("claude", "route", doc, "--review", "--assign", "ghost", match="Unknown user 'ghost'")
    q.fail("claude", "route", doc, "--approval", match="REVIEWED")
    q.ok("claude", "route", doc, "--review", "--assign", "ini", "lead", "qa")
    assert q.meta(doc)["pending_assignees"] == ["ini", "lead", "qa"]
    task = (q.root / ".claude" / "users" / "ini" / "inbox" / f"task-{doc}-review-v0-1.md").read_text()
    for key in ("task_id:", "task_type: REVIEW", "workflow_type: REVIEW", f"doc_id: {doc}",
                "version:", "assigned_by: claude", "responsible_user: claude"):
        assert key in task, key
    ev = q.audit(doc)[-1]
    assert ev["event"] == "ROUTE_REVIEW" and ev["review_type"] == "REVIEW"
    assert ev["assignees"] == ["ini", "lead", "qa"]
    q.fail("claude", "route", doc, "--review", match="Cannot route")
    for r in ("ini", "lead", "qa"):
        q.ok(r, "review", doc, "--recommend", "--comment", "ok")
    # approval tasks only go to quality/reviewer users
    q.fail("claude", "route", doc, "--approval", "--assign", "ini",
           match="cannot be assigned approval tasks")
    q.fail("claude", "route", doc, "--approval", "--assign", "lead", match="cannot be assigned")
    q.ok("claude", "route", doc, "--approval", "--assign", "rev", "qa")
    ev = q.audit(doc)[-1]
    assert ev["event"] == "ROUTE_APPROVAL" and ev["approval_type"] == "APPROVAL"


@req("REQ-TASK-004")
@req("REQ-SEC-007")
def test_assign(q):
    q.add_users()
    doc = q.create("SOP")
    q.fail("qa", "assign", doc, "--assignees", "tu", match="not in review")
    q.ok("claude", "route", doc, "--review")
    q.fail("qa", "assign", doc, code=2)
    run = q.ok("qa", "assign", doc, "--assignees", "tu", "ini")
    assert "tu" in run.out
    assert q.meta(doc)["pending_assignees"] == ["qa", "tu", "ini"]
    assert q.inbox("tu") == [f"task-{doc}-review-v0-1.md"]
    ev = q.audit(doc)[-1]
    assert ev["event"] == "ASSIGN" and ev["assignees"] == ["tu", "ini"]
    run = q.ok("qa", "assign", doc, "--assignees", "tu")
    assert "Already assigned: tu" in run.out
    assert q.events(doc).count("ASSIGN") == 1
    q.fail("qa2", "assign", doc, "--assignees", "nobody", match="Unknown user")
    for r in ("qa", "tu", "ini"):
        q.ok(r, "review", doc, "--recommend", "--comment", "ok")
    q.ok("claude", "route", doc, "--approval")
    q.fail("qa", "assign", doc, "--assignees", "ini", match="cannot be assigned")
    q.ok("qa", "assign", doc, "--assignees", "rev")
    assert q.inbox("rev") == [f"task-{doc}-approval-v0-1.md"]


@req("REQ-SEC-004")
@req("REQ-WF-004")
@req("REQ-AUDIT-004")
def test_review_rules(q):
    doc = q.create("SOP")
    q.fail("qa", "review", doc, "--recommend", "--comment", "x", match="not in review")
    q.ok("claude", "route", doc, "--review")
    q.fail("tu", "review", doc, "--recommend", "--comment", "x", match="not assigned")
    q.fail("qa", "review", doc, "--recommend", code=2)
    q.fail("qa", "review", doc, "--comment", "x", code=2)
    q.fail("qa", "review", doc, "--recommend", "--request-updates", "--comment", "x", code=2)
    q.fail("qa", "review", doc, "--recommend", "--comment", "  ", match="comment is required")
    assert q.status(doc) == "IN_REVIEW"
    q.ok("qa", "review", doc, "--request-updates", "--comment", "Needs work: section 2")
    assert q.status(doc) == "REVIEWED"
    ev = q.audit(doc)[-2]
    assert ev["event"] == "REVIEW" and ev["outcome"] == "UPDATES_REQUIRED"
    assert ev["comment"] == "Needs work: section 2"
    assert q.meta(doc)["review_outcomes"] == {"qa": "UPDATES_REQUIRED"}
    # comments live only in the audit trail
    assert "Needs work" not in q.draft(doc).read_text()
    assert "Needs work" not in json.dumps(q.meta(doc))
    q.fail("qa", "review", doc, "--recommend", "--comment", "again", match="not in review")


def test_reviewing_twice_in_a_round_says_so(q):
    doc = q.create("SOP")
    q.ok("claude", "route", doc, "--review", "--assign", "qa", "tu")
    q.ok("qa", "review", doc, "--recommend", "--comment", "ok")
    q.fail("qa", "review", doc, "--recommend", "--comment", "again",
           match=f"qa has already reviewed {doc} in this round (RECOMMEND); still waiting for: tu")
    q.ok("tu", "review", doc, "--recommend", "--comment", "ok")
    assert q.status(doc) == "REVIEWED"


@req("REQ-SEC-004")
def test_approve_rules(q):
    doc = q.create("SOP")
    q.fail("qa", "approve", doc, match="not in approval")
    q.review_round(doc)
    q.ok("claude", "route", doc, "--approval")
    q.fail("tu", "approve", doc, match="not assigned")
    q.fail("tu", "reject", doc, "--comment", "x", match="not assigned")
    q.fail("qa", "reject", doc, code=2)
    q.ok("qa", "approve", doc)
    q.fail("qa", "approve", doc, match="not in approval")


# -- release / close -------------------------------------------------------------------------

@req("REQ-WF-008")
def test_release_rules(q):
    q.add_users()
    sop = q.create("SOP")
    q.fail("claude", "release", sop, match="not an executable")
    cr = q.create("CR", "x", "ini")
    q.fail("ini", "release", cr, match="PRE_APPROVED")
    q.review_and_approve(cr, owner="ini")
    q.fail("claude", "release", cr, match="responsible user")
    q.ok("ini", "release", cr)
    ev = q.audit(cr)
    assert ev[-2]["event"] == "RELEASE" and ev[-2]["version"] == "1.0"


@req("REQ-WF-010")
def test_close_rules(q):
    sop = q.effective_sop()
    q.fail("claude", "close", sop, match="not an executable")
    doc = q.create("SOP")
    q.fail("claude", "close", doc, match="not an executable")
    cr = q.in_execution()
    q.fail("claude", "close", cr, match="POST_APPROVED")
    q.fail("lead", "close", cr, match="responsible user")


@req("REQ-DOC-018")
@req("REQ-DOC-020")
def test_close_cascades_to_verification_records(q, consistent):
    cr = q.in_execution()
    vr1 = q.create("VR", "vr one", "claude", "--parent", cr)
    vr2 = q.create("VR", "vr two", "claude", "--parent", cr)
    q.ok("claude", "checkin", vr2)
    q.post_approved(cr)
    run = q.ok("claude", "close", cr)
    assert f"Cascade closed: {vr1}" in run.out and f"Cascade closed: {vr2}" in run.out
    for vr in (vr1, vr2):
        m = q.meta(vr)
        assert (m["status"], m["responsible_user"], m["checked_out"]) == ("CLOSED", None, False)
        assert q.effective(vr).is_file() and not q.draft(vr).exists()
        assert not q.workspace_file("claude", vr).exists()
        assert q.events(vr)[-2:] == ["CLOSE", "STATUS_CHANGE"]
        assert q.audit(vr)[-1]["user"] == "claude"
        consistent(q, vr, initial="IN_EXECUTION")
    consistent(q, cr)


@req("REQ-DOC-018")
def test_attachment_closes_from_execution(q):
    cr = q.in_execution()
    vr = q.create("VR", "vr", "claude", "--parent", cr)
    q.ok("claude", "checkin", vr)
    q.ok("claude", "close", vr)
    assert q.status(vr) == "CLOSED"


# -- history / comments / inbox / workspace ---------------------------------------------------

@req("REQ-QRY-003")
def test_history(q):
    doc = q.create("SOP", "Hist")
    q.review_round(doc)
    out = q.ok("tu", "history", doc).out
    lines = out.splitlines()
    assert lines[0].startswith(f"History of {doc}")
    assert "CREATE by claude - v0.1" in out and '"Hist"' in out
    assert "ROUTE_REVIEW by claude - v0.1 REVIEW to qa" in out
    assert "REVIEW by qa - v0.1 RECOMMEND" in out and "comment: qa comment" in out
    assert "STATUS_CHANGE by qa - v0.1 IN_REVIEW -> REVIEWED" in out
    events = q.json("tu", "history", doc)["result"]["events"]
    assert [e["event"] for e in events] == q.events(doc)
    q.fail("tu", "history", "SOP-404", match="not found")


@req("REQ-QRY-004")
def test_comments_hidden_during_review_and_filtered_by_version(q):
    doc = q.create("SOP")
    q.ok("claude", "route", doc, "--review", "--assign", "qa", "tu")
    q.ok("qa", "review", doc, "--request-updates", "--comment", "secret until done")
    run = q.ok("tu", "comments", doc)
    assert "secret until done" not in run.out and "hidden" in run.out
    q.ok("tu", "review", doc, "--recommend", "--comment", "fine by me")
    out = q.ok("claude", "comments", doc).out
    assert "secret until done" in out and "fine by me" in out
    assert "--- [v0.1] qa (UPDATES_REQUIRED)" in out
    q.ok("claude", "checkout", doc)
    q.ok("claude", "checkin", doc)
    q.review_round(doc)
    q.ok("claude", "route", doc, "--approval")
    q.ok("qa", "reject", doc, "--comment", "rejected because")
    out = q.ok("tu", "comments", doc).out
    assert "(REJECTED)" in out and "rejected because" in out
    q.ok("claude", "checkout", doc)
    q.ok("claude", "checkin", doc)
    q.review_and_approve(doc)
    q.ok("claude", "checkout", doc)
    q.ok("claude", "checkin", doc)
    q.review_round(doc, reviewers=("tu",))
    only = q.json("qa", "comments", doc, "--version", "1.1")["result"]["comments"]
    assert [c["comment"] for c in only] == ["tu comment"]
    old = q.json("qa", "comments", doc, "--version", "0.1")["result"]["comments"]
    assert {c["comment"] for c in old} >= {"secret until done", "rejected because"}
    assert "No comments" in q.ok("qa", "comments", doc, "--version", "9.9").out
    q.fail("qa", "comments", doc, "--version", "x", match="Invalid version")


@req("REQ-QRY-005")
@req("REQ-SEC-008")
def test_inbox(q):
    assert q.ok("tu", "inbox").out.strip() == "Inbox is empty."
    doc = q.create("SOP", "Inbox me")
    q.ok("claude", "route", doc, "--review", "--assign", "tu")
    out = q.ok("tu", "inbox").out
    assert "[REVIEW]" in out and doc in out and "Inbox me" in out and "From: claude" in out
    tasks = q.json("tu", "inbox")["result"]["tasks"]
    assert len(tasks) == 1 and tasks[0]["doc_id"] == doc and tasks[0]["workflow_type"] == "REVIEW"
    assert q.json("qa", "inbox")["result"]["tasks"] == []  # own inbox only


@req("REQ-QRY-006")
@req("REQ-SEC-008")
def test_workspace(q):
    assert q.ok("claude", "workspace").out.strip() == "Workspace is empty."
    doc = q.create("CR")
    out = q.ok("claude", "workspace").out
    assert doc in out and "v0.1" in out and "DRAFT" in out
    docs = q.json("claude", "workspace")["result"]["documents"]
    assert [d["doc_id"] for d in docs] == [doc]
    assert q.json("lead", "workspace")["result"]["documents"] == []
    q.ok("claude", "checkin", doc)
    assert q.json("claude", "workspace")["result"]["documents"] == []


# -- --json, exit codes, stderr ---------------------------------------------------------------

def test_json_success_and_error_shapes(q):
    run = q("claude", "--json", "create", "CR", "--title", "J")
    assert run.code == 0 and run.err == ""
    body = json.loads(run.out)
    assert set(body) == {"ok", "result"} and body["ok"] is True
    run = q("claude", "--json", "status", "CR-404")
    assert run.code == 1
    body = json.loads(run.out)
    assert set(body) == {"ok", "error"} and body["ok"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "not_found"
    run = q("qa", "--json", "checkout", "CR-001")
    assert run.code == 1 and json.loads(run.out)["error"]["code"] == "permission_denied"
    run = q("claude", "--json", "close", "CR-001")
    assert run.code == 1 and json.loads(run.out)["error"]["code"] == "invalid_transition"
    run = q("claude", "--json", "checkout", "CR-001")
    assert json.loads(run.out)["error"]["code"] == "conflict"
    run = q("claude", "--json", "status", "../x")
    assert json.loads(run.out)["error"]["code"] == "invalid"
    run = q("claude", "--json", "route", "CR-001")
    assert run.code == 2 and json.loads(run.out)["error"]["code"] == "usage"


def test_exit_codes_and_usage(q, cli, tmp_path):
    run = cli(q.root)
    assert run.code == 2 and "usage" in run.out.lower()
    q.fail("claude", code=2, match="command is required")
    q.fail(None, "status", "SOP-001", code=2, match="--user is required")
    q.fail("claude", "frobnicate", code=2)
    q.fail("claude", "status", code=2)
    q.fail("claude", "status", "SOP-001", "--bogus", code=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    run = cli(empty, "--user", "claude", "status", "SOP-001")
    assert run.code == 1 and "No QMS project" in run.err and run.out == ""


@req("REQ-CFG-001")
def test_project_root_is_discovered_from_a_subfolder(q, cli):
    sub = q.root / "QMS" / "SOP"
    run = cli(sub, "--user", "qa", "status", "SOP-001")
    assert run.code == 0 and "EFFECTIVE" in run.out


@req("REQ-DOC-008")
def test_checkin_accepts_crlf_and_a_byte_order_mark(q):
    doc = q.create("SOP", "Old title")
    q.workspace_file("claude", doc).write_bytes(
        "\ufeff---\r\ntitle: New title\r\nrevision_summary: edited\r\n---\r\n\r\nBody\r\n".encode())
    q.ok("claude", "checkin", doc)
    text = q.draft(doc).read_text(encoding="utf-8")
    assert not text.startswith("\ufeff") and text.startswith("---\ntitle: New title\n")
    assert q.json("qa", "status", doc)["result"]["title"] == "New title"


def test_json_flag_is_accepted_after_the_command(q):
    doc = q.create("CR")
    run = q("claude", "status", doc, "--json")
    assert run.code == 0 and run.json["ok"] is True and run.json["result"]["doc_id"] == doc


def test_project_level_changes_are_audited(q):
    q.ok("lead", "user", "--add", "ini", "--group", "initiator")
    q.ok("lead", "namespace", "add", "web")
    log = q.root / "QMS" / ".audit" / "project.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    # the project's first signing key is created (and audited) before anything is seeded
    assert [e["event"] for e in events] == ["KEY_CREATE", "USER_ADOPT", "INIT", "USER_ADD",
                                            "NAMESPACE_ADD"]
    events = events[2:]
    assert events[1]["user"] == "lead" and events[1]["name"] == "ini"
    assert events[2]["namespace"] == "WEB" and all("ts" in e for e in events)


@pytest.mark.req("REQ-CLI-003")
def test_init_suggests_git_init_outside_a_repository(cli, tmp_path):
    bare, repo = tmp_path / "bare", tmp_path / "repo"
    bare.mkdir()
    (repo / ".git").mkdir(parents=True)
    out = cli(tmp_path, "init", "--root", str(bare), "--yes").out
    assert f"Not a git repository: run `git init` in {bare}" in out
    assert "git init" not in cli(tmp_path, "init", "--root", str(repo), "--yes").out
