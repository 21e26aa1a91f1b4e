"""Systems (signed SYSTEM_ADD), the qms-scope block at route --review, the scope in force, the
execution branch at release, and VAR widening: through the real CLI."""

from __future__ import annotations

import json

import pytest

from _code_support import (ROOT, SCOPE, area, commit, cr_text, events, git, push, rev,
                           scoped_cr, verify_clean, write)
from qms import operations as ops
from qms.store.project import Project


@pytest.mark.req("REQ-CODE-001", "REQ-CODE-006")
def test_system_add_is_a_signed_event_and_installs_the_gate(gov, cli):
    run = cli(gov, "--user", "lead", "--json", "system", "list")
    [system] = run.json["result"]["systems"]
    assert system["name"] == "APP" and system["paths"] == ["src/app", "tests"]
    assert system["namespace"] == "APP" and system["base"] == rev(gov, "refs/heads/main")
    trail = [json.loads(x) for x in (gov / "QMS/.audit/project.jsonl").read_text().splitlines()]
    added = [e for e in trail if e["event"] == "SYSTEM_ADD"]
    assert len(added) == 1 and added[0]["user"] == "lead" and "seq" in added[0]
    assert any(e["event"] == "NAMESPACE_ADD" and e["namespace"] == "APP" for e in trail)
    hook = (gov / ".git/hooks/pre-receive").read_text()
    assert "qms pre-receive gate" in hook and str(gov) in hook
    assert git(gov, "config", "receive.advertisePushOptions").stdout.strip() == b"true"
    run = cli(gov, "--user", "lead", "system", "add", "WEB", "--path", "web", "--namespace",
              "site")
    assert run.code == 0, run.err
    assert "SITE" in cli(gov, "--user", "qa", "namespace", "list").out
    assert "WEB" in cli(gov, "--user", "qa", "system", "list").out  # everyone may list
    verify_clean(gov)


@pytest.mark.req("REQ-CODE-001")
@pytest.mark.parametrize("args, words", [
    (("APP", "--path", "lib"), "already exists"),
    (("LIB", "--path", "src/app/x"), "overlaps system APP"),
    (("LIB", "--path", "src"), "overlaps system APP"),
    (("LIB", "--path", "QMS"), "own data"),
    (("LIB", "--path", ".claude/x"), "own data"),
    (("LIB", "--path", "../outside"), "invalid path prefix"),
    (("LIB", "--path", "src/*"), "invalid path prefix"),
    (("lib", "--path", "lib"), "invalid system name"),
])
def test_bad_systems_are_refused_and_change_nothing(gov, cli, args, words):
    before = ROOT.tree_digest(gov / "QMS")
    run = cli(gov, "--user", "lead", "system", "add", *args)
    assert run.code == 1 and words.lower() in run.err.lower(), run.err
    assert ROOT.tree_digest(gov / "QMS") == before


@pytest.mark.req("REQ-CODE-001")
def test_only_an_administrator_adds_a_system(gov, cli):
    run = cli(gov, "--user", "ini", "system", "add", "LIB", "--path", "lib")
    assert run.code == 1 and "requires group administrator" in run.err


@pytest.mark.req("REQ-CODE-001")
def test_system_needs_a_repository_with_main(tmp_path, cli):
    root = ROOT.make_project(tmp_path / "nogit")
    run = cli(root, "--user", "lead", "system", "add", "APP", "--path", "src")
    assert run.code == 1 and "git" in run.err
    git(root, "init", "-q", "-b", "trunk")
    run = cli(root, "--user", "lead", "system", "add", "APP", "--path", "src")
    assert run.code == 1 and "'main'" in run.err


@pytest.mark.req("REQ-CODE-001")
def test_an_unsigned_system_add_is_not_believed(gov):
    trail = gov / "QMS/.audit/project.jsonl"
    forged = {"ts": "2026-01-01T00:00:00+00:00", "event": "SYSTEM_ADD", "user": "lead",
              "name": "EVIL", "paths": ["docker"], "namespace": "EVIL", "base": "0" * 40,
              "seq": 9999, "prev_sha256": None}
    with trail.open("a") as f:
        f.write(json.dumps(forged) + "\n")
    names = [s["name"] for s in ops.system_list(Project.open(gov), "qa").systems]
    assert names == ["APP"]
    assert not ops.verify(Project.open(gov), "qa").clean  # and verify reports the line


@pytest.mark.req("REQ-CODE-002")
@pytest.mark.parametrize("block, words", [
    ("```qms-scope\nsystem: APP\npaths: [src/app/**]\n```", "requirements"),
    ("```qms-scope\nsystem: NOPE\npaths: [src/app/**]\nrequirements: revise\n```",
     "system NOPE, which does not exist"),
    ("```qms-scope\nsystem: APP\npaths: [docker/**]\nrequirements: revise\n```",
     "outside system APP"),
    ("```qms-scope\nsystem: APP\npaths: ['*.py']\nrequirements: revise\n```",
     "outside system APP"),
    ("```qms-scope\nsystem: APP\npaths: [src/app/**]\nrequirements: revise\n", "not closed"),
])
def test_route_review_refuses_a_bad_block(gov, cli, block, words):
    p = Project.open(gov)
    doc_id = ops.create(p, "claude", doc_type="CR", title="Bad scope").doc_id
    ops.checkin(p, "claude", doc_id=doc_id, content=cr_text("Bad scope", block))
    run = cli(gov, "--user", "claude", "route", doc_id, "--review")
    assert run.code == 1 and words in run.err, run.err
    assert "Fix the block" in run.err or words in run.err
    assert ops.status(p, "claude", doc_id=doc_id).status == "DRAFT"


@pytest.mark.req("REQ-CODE-002")
def test_template_guidance_is_not_a_block(gov):
    p = Project.open(gov)
    doc_id = ops.create(p, "claude", doc_type="CR", title="From the template").doc_id
    path = gov / ".claude/users/claude/workspace" / f"{doc_id}.md"
    text = path.read_text()
    assert "```qms-scope" in text and "CODE SCOPE" in text  # the template's comment
    path.write_text(ROOT.filled(text))
    ops.route(p, "claude", doc_id=doc_id, route_type="review")  # accepted: no block in force
    ops.review(p, "qa", doc_id=doc_id, outcome="recommend", comment="ok")
    ops.route(p, "claude", doc_id=doc_id, route_type="approval")
    ops.approve(p, "qa", doc_id=doc_id)
    result = ops.release(p, "claude", doc_id=doc_id)
    assert not any("branch" in n for n in result.notices)
    assert rev(gov, f"refs/heads/cr/{doc_id}") is None and events(gov, doc_id, "CODE_BRANCH") == []


@pytest.mark.req("REQ-CODE-004", "REQ-CODE-003")
def test_release_opens_the_branch_at_main_with_a_signed_event(gov, cli):
    doc_id = scoped_cr(gov, release=False)
    main = rev(gov, "refs/heads/main")
    run = cli(gov, "--user", "claude", "release", doc_id)
    assert run.code == 0 and "Execution branch cr/CR-001" in run.out, run.err
    assert rev(gov, "refs/heads/cr/CR-001") == main
    [opened] = events(gov, doc_id, "CODE_BRANCH")
    assert opened["base"] == main and opened["system"] == "APP" and opened["branch"] == "cr/CR-001"
    assert opened["scope"]["paths"] == ["src/app/auth/**", "tests/test_auth*.py"]
    verify_clean(gov)


@pytest.mark.req("REQ-CODE-003")
def test_scope_in_force_is_the_pre_approved_text_not_the_draft(gov):
    """Widening the block in the execution draft changes nothing: the signatures bind the
    pre-approved text."""
    doc_id = scoped_cr(gov)
    p = Project.open(gov)
    ops.checkout(p, "claude", doc_id=doc_id)
    wider = SCOPE.replace("paths: [src/app/auth/**", "paths: [src/app/**")
    ops.checkin(p, "claude", doc_id=doc_id, content=cr_text("Fix login", wider))
    a = area(gov, doc_id)
    write(a, "src/app/other.py", "widened by hand\n")
    commit(a)
    result = push(a)
    assert result.returncode != 0 and b"[scope]" in result.stderr


@pytest.mark.req("REQ-CODE-003")
def test_a_scope_widened_outside_qms_is_not_believed(gov):
    """The pre-approved text or the CODE_BRANCH line edited by hand: the gate enforces only
    what the signed chain vouches for, and verify names the edit."""
    doc_id = scoped_cr(gov)
    archived = next((gov / "QMS/.archive/CR").rglob(f"{doc_id}-v0.*.md"))
    archived.write_text(archived.read_text().replace("src/app/auth/**", "src/app/**"))
    a = area(gov, doc_id)
    write(a, "src/app/other.py", "widened by editing the archive\n")
    commit(a)
    result = push(a)
    assert result.returncode != 0 and b"[scope]" in result.stderr
    assert not ops.verify(Project.open(gov), "qa").clean
    git(a, "reset", "-q", "--hard", "HEAD~1")
    write(a, "src/app/auth/login.py", "a good push first\n")
    commit(a)
    assert push(a).returncode == 0  # CODE_BRANCH is no longer the trail's last line
    write(a, "src/app/other.py", "widened by editing the trail\n")
    commit(a)
    trail = gov / "QMS/.audit/CR" / f"{doc_id}.jsonl"
    trail.write_text(trail.read_text().replace('"src/app/auth/**"', '"src/app/**"'))
    result = push(a)
    assert result.returncode != 0 and b"not vouched for" in result.stderr, result.stderr
    assert len(events(gov, doc_id, "CODE_PUSH")) == 1


@pytest.mark.req("REQ-CODE-003")
def test_a_pre_approved_var_widens_the_scope(gov):
    doc_id = scoped_cr(gov)
    a = area(gov, doc_id)
    write(a, "src/app/other.py", "needs the VAR\n")
    commit(a)
    assert push(a).returncode != 0
    p = Project.open(gov)
    var = ops.create(p, "claude", doc_type="VAR", title="Also other.py", parent=doc_id).doc_id
    widening = "```qms-scope\nsystem: APP\npaths: [src/app/other.py]\nrequirements: unchanged\n```"
    ops.checkin(p, "claude", doc_id=var, content=cr_text("Also other.py", widening))
    ops.route(p, "claude", doc_id=var, route_type="review")
    ops.review(p, "qa", doc_id=var, outcome="recommend", comment="ok")
    ops.route(p, "claude", doc_id=var, route_type="approval")
    assert push(a).returncode != 0  # not yet PRE_APPROVED
    ops.approve(p, "qa", doc_id=var)
    result = push(a)
    assert result.returncode == 0, result.stderr.decode()
    assert events(gov, doc_id, "CODE_PUSH")[-1]["paths"] == ["src/app/other.py"]


@pytest.mark.req("REQ-CODE-003")
def test_an_exploratory_cr_is_widened_only_by_a_new_cr(gov):
    exploratory = SCOPE.replace("exploratory: false", "exploratory: true")
    doc_id = scoped_cr(gov, block=exploratory)
    p = Project.open(gov)
    var = ops.create(p, "claude", doc_type="VAR", title="Wider", parent=doc_id).doc_id
    widening = "```qms-scope\nsystem: APP\npaths: [src/app/other.py]\nrequirements: unchanged\n```"
    ops.checkin(p, "claude", doc_id=var, content=cr_text("Wider", widening))
    with pytest.raises(Exception, match="exploratory"):
        ops.route(p, "claude", doc_id=var, route_type="review")
