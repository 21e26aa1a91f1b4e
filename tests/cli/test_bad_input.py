"""Bad input never harms: a clear one-line error, exit 1 or 2, and the tree is unchanged."""

from __future__ import annotations

import pytest

req = pytest.mark.req

TRAVERSAL = ["../../etc", "CR-001/../x", "/etc/passwd", "..", "CR-001/../../../tmp/x",
             "../CR-001", "CR-001\\..\\x", "~/x", "CR-001%2F..", "./CR-001", "CR-001/",
             "SOP-001/../../qms.config", "TEMPLATE-../../x", "SDLC-../../x-RS"]

DOC_COMMANDS = [
    ("status",), ("read",), ("read", "--draft"), ("history",), ("comments",), ("checkout",),
    ("checkin",), ("route", "--review"), ("route", "--approval"), ("assign", "--assignees", "tu"),
    ("review", "--recommend", "--comment", "c"), ("approve",), ("reject", "--comment", "c"),
    ("withdraw",), ("release",), ("revert", "--reason", "r"), ("close",),
    ("cancel", "--confirm"), ("fix",), ("unlock", "--reason", "r"),
]


def _user_for(cmd: str) -> str:
    return {"assign": "qa", "review": "qa", "approve": "qa", "reject": "qa"}.get(cmd, "lead")


@pytest.fixture(scope="module")
def busy_root(tmp_path_factory, helpers):
    """A project with documents in several states, so that a stray write would show.

    Shared by the module: every test here asserts that it changed nothing.
    CR-001 IN_EXECUTION, SOP-008 IN_REVIEW, CR-002 DRAFT checked out (all owned by claude).
    """
    from qms import operations as ops
    from qms.store.project import Project

    root = helpers.make_project(tmp_path_factory.mktemp("busy") / "proj")
    p = Project.open(root)
    ops.user_add(p, "lead", name="ini", group="initiator")
    cr = ops.create(p, "claude", doc_type="CR", title="executing").doc_id
    helpers.fill(root, cr)
    ops.route(p, "claude", doc_id=cr, route_type="review")
    ops.review(p, "qa", doc_id=cr, outcome="recommend", comment="ok")
    ops.route(p, "claude", doc_id=cr, route_type="approval")
    ops.approve(p, "qa", doc_id=cr)
    ops.release(p, "claude", doc_id=cr)
    sop = ops.create(p, "claude", doc_type="SOP", title="in review").doc_id
    helpers.fill(root, sop)
    ops.route(p, "claude", doc_id=sop, route_type="review")
    ops.create(p, "claude", doc_type="CR", title="checked out")
    return root


@pytest.fixture
def busy(make_q, busy_root):
    return make_q(busy_root)


def _refused(q, digest, user, *argv, codes=(1, 2)):
    before = digest(q.root)
    run = q(user, *argv)
    assert run.code in codes, f"{argv}: exit {run.code} {run.out}{run.err}"
    assert run.out == "", run.out
    assert run.err.startswith("Error: ") and run.err.count("\n") == 1, repr(run.err)
    assert len(run.err) < 600, run.err
    assert digest(q.root) == before, f"{argv} changed the project"
    return run


@req("REQ-SEC-006")
@pytest.mark.parametrize("argv", DOC_COMMANDS, ids=lambda a: a[0] + ("-" + a[1] if len(a) > 1 else ""))
def test_path_traversal_in_ids(busy, digest, argv):
    for bad in TRAVERSAL:
        run = _refused(busy, digest, _user_for(argv[0]), argv[0], bad, *argv[1:])
        assert "Invalid document ID" in run.err or "not found" in run.err.lower(), run.err


def test_path_traversal_in_parent_type_and_names(busy, digest):
    for bad in TRAVERSAL:
        _refused(busy, digest, "claude", "create", "VAR", "--title", "t", "--parent", bad)
        _refused(busy, digest, "claude", "create", "TEMPLATE", "--title", "t", "--name", bad)
        _refused(busy, digest, "claude", "create", bad, "--title", "t")
        _refused(busy, digest, "lead", "namespace", "add", bad)
        _refused(busy, digest, "lead", "user", "--add", bad, "--group", "reviewer")


@pytest.mark.parametrize("title", ["../../../../tmp/evil", "/etc/passwd", "CR-001/../../x",
                                   "$(touch /tmp/qms-pwned)", "`id`", "a: b\n", "<!-- x -->",
                                   "ünïcødé ✓ title", "q'uo\"tes {x} [y] #z &a *b !c |d >e %f @g",
                                   "--- rule", "title: injected"])
def test_titles_are_only_text(q, title):
    run = q("claude", "--json", "create", "CR", "--title", title)
    if "\n" in title.strip():
        assert run.code == 1
        return
    assert run.code == 0, run.out
    doc = run.json["result"]["doc_id"]
    created = {p.relative_to(q.root).as_posix() for p in q.root.rglob("*") if p.is_file()}
    assert all(doc in p or "CR" in p or not p.startswith("QMS/CR") for p in created)
    assert not any("evil" in p or "pwned" in p for p in created)
    assert not (q.root.parent / "evil").exists()
    assert q.json("qa", "status", doc)["result"]["title"] == title.strip()
    # the task file frontmatter stays parseable whatever the title holds
    q.ok("claude", "route", doc, "--review")
    tasks = q.json("qa", "inbox")["result"]["tasks"]
    assert tasks[-1]["doc_id"] == doc


@req("REQ-SEC-006")
@req("REQ-USER-004")
@pytest.mark.parametrize("user", ["ghost", "../lead", "lead/../x", "", "LEAD", "qa\n", "a" * 40,
                                  "-u", "x\x00y"])
def test_unknown_or_malformed_users(busy, digest, user):
    run = _refused(busy, digest, user, "status", "CR-001")
    assert run.code in (1, 2)


@pytest.mark.parametrize("argv", [
    ("create", "BOGUS", "--title", "x"), ("create", "cr-rs", "--title", "x"),
    ("create", "XX-RTM", "--title", "x"), ("status", "CR-999"), ("read", "SOP-404"),
    ("history", "INV-404"), ("checkout", "CR-001-VAR-009"), ("route", "CR-404", "--review"),
    ("route", "CR-001", "--review", "--assign", "ghost"), ("read", "CR-001", "--version", "9.9"),
])
def test_unknown_types_documents_and_versions(busy, digest, argv):
    _refused(busy, digest, "claude", *argv)


@pytest.mark.parametrize("argv", [
    ("create", "CR"), ("create", "--title", "x"), ("route", "CR-001"), ("review", "SOP-008"),
    ("review", "SOP-008", "--recommend"), ("reject", "SOP-008"), ("revert", "CR-001"),
    ("unlock", "CR-002"), ("assign", "SOP-008"), ("user", "--add", "x"), ("namespace",),
    ("namespace", "add"), ("status",), ("read",), ("--user",), ("checkout", "CR-001", "CR-002"),
    ("read", "SOP-001", "--version"), ("comments", "SOP-001", "-v"),
])
def test_missing_flags_and_arguments(busy, digest, argv):
    _refused(busy, digest, "lead", *argv, codes=(2,))


# -- the workspace copy at checkin -----------------------------------------------------------

@pytest.mark.parametrize("content", [
    b"---\ntitle: [unclosed\n---\nbody\n",
    b"---\ntitle: T\nno closing marker\n",
    b"---\n- just\n- a list\n---\nbody\n",
    b"# No frontmatter at all\n",
    b"",
    b"---\ntitle: ok\n---\n\xff\xfe bad bytes \x80\n",
    b"\xef\xbb\xbf\xc3\x28 invalid utf-8 after a BOM",
    b"---\ntitle: ok\n---\nNUL \x00 byte\n",
])
def test_bad_workspace_file_at_checkin(q, digest, content):
    doc = q.create("CR", "Good title")
    q.workspace_file("claude", doc).write_bytes(content)
    run = _refused(q, digest, "claude", "checkin", doc, codes=(1,))
    assert doc in run.err or "frontmatter" in run.err.lower() or "utf-8" in run.err.lower() \
        or "NUL" in run.err
    # route's implicit checkin refuses the same way
    _refused(q, digest, "claude", "route", doc, "--review", codes=(1,))
    assert q.meta(doc)["checked_out"] is True


def test_huge_workspace_file(q, digest):
    doc = q.create("CR")
    q.workspace_file("claude", doc).write_text("---\ntitle: t\n---\n" + "x" * 2_100_000)
    run = _refused(q, digest, "claude", "checkin", doc, codes=(1,))
    assert "too large" in run.err


# -- huge and binary arguments --------------------------------------------------------------

def test_title_over_the_limit(q, digest):
    run = _refused(q, digest, "claude", "create", "CR", "--title", "T" * 201)
    assert "too long" in run.err
    q.ok("claude", "create", "CR", "--title", "T" * 200)


@pytest.mark.parametrize("flag", ["--comment", "--reason"])
def test_multi_megabyte_comment_or_reason(busy, digest, flag):
    huge = "c" * 3_000_000
    if flag == "--comment":
        run = _refused(busy, digest, "qa", "review", "SOP-008", "--recommend", flag, huge)
    else:
        run = _refused(busy, digest, "lead", "unlock", "CR-002", flag, huge)
    assert "too large" in run.err


@pytest.mark.parametrize("argv", [
    ("create", "CR", "--title", "nul\x00title"),
    ("review", "SOP-008", "--recommend", "--comment", "nul\x00comment"),
    ("status", "CR-001\x00"),
    ("create", "TEMPLATE", "--title", "t", "--name", "X\x00Y"),
    ("create", "CR", "--title", "bell\x07"),
    ("create", "CR", "--title", "esc\x1b[31m"),
])
def test_nul_and_control_bytes(busy, digest, argv):
    user = "qa" if argv[0] == "review" else "claude"
    _refused(busy, digest, user, *argv)


def test_surrogates_in_arguments(busy, digest):
    # what Python hands over for undecodable argv bytes (surrogateescape)
    _refused(busy, digest, "claude", "create", "CR", "--title", "bad \udcff bytes")
    _refused(busy, digest, "claude", "status", "CR-00\udcff")


# -- damaged files on disk: a clear error, never a traceback ----------------------------------

def test_damaged_meta_audit_and_agent_files(q, digest):
    doc = q.create("CR")
    (q.root / "QMS" / ".meta" / "SOP" / "SOP-001.json").write_text("{not json")
    with open(q.root / "QMS" / ".audit" / "SOP" / "SOP-002.jsonl", "a") as fh:
        fh.write("{torn line\n")
    (q.root / ".claude" / "agents" / "odd.md").write_bytes(b"---\ngroup: \xff\n---\n")
    before = digest(q.root)
    assert "damaged" in _refused(q, digest, "qa", "status", "SOP-001").err
    assert "damaged" in _refused(q, digest, "claude", "checkout", "SOP-001").err
    run = q("qa", "history", "SOP-002")  # the readable events, the damage as a warning
    assert run.code == 0 and "damaged at line" in run.err and "CREATE" in run.out
    assert "damaged" in _refused(q, digest, "qa", "comments", "SOP-002").err
    # an unreadable file no signed USER_ADD vouches for makes nobody a user
    assert "Unknown user 'odd'" in _refused(q, digest, "odd", "inbox").err
    assert digest(q.root) == before
    q.ok("qa", "status", doc)  # the rest of the project still works


def test_folder_where_a_workspace_file_belongs(q, digest):
    doc = q.create("CR")
    ws = q.workspace_file("claude", doc)
    ws.unlink()
    ws.mkdir()
    run = _refused(q, digest, "claude", "checkin", doc, codes=(1,))
    assert "directory" in run.err.lower()
    run = q("claude", "--json", "checkin", doc)
    assert run.code == 1 and run.json["error"]["code"] == "project"
