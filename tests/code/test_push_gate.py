"""The push gate over a file path: real git, the real pre-receive hook, each rule's attack.

Every refusal leaves the branch where it was and records no CODE_PUSH; every accepted push is
one signed CODE_PUSH, and `qms verify` stays clean.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from _code_support import (area, commit, events, git, push, repository_project, rev, scoped_cr,
                           verify_clean, write)
from qms import operations as ops
from qms.store.project import Project

pytestmark = pytest.mark.slow


def refused(gov: Path, doc_id: str, result, rule: str, *words: str) -> str:
    """The push was declined by the gate's ``rule``; nothing landed or was recorded."""
    text = result.stderr.decode("utf-8", "replace")
    assert result.returncode != 0, text
    assert f"[{rule}]" in text, text
    assert "pre-receive hook declined" in text, text
    for word in words:
        assert word in text, text
    return text


@pytest.fixture
def cr(gov: Path) -> str:
    return scoped_cr(gov)


def tip(gov: Path, doc_id: str = "CR-001") -> str | None:
    return rev(gov, f"refs/heads/cr/{doc_id}")


@pytest.mark.req("REQ-CODE-006", "REQ-CODE-008")
def test_in_scope_push_is_recorded(gov, cr):
    a = area(gov, cr)
    base = tip(gov)
    write(a, "src/app/auth/login.py", "new login\n")
    write(a, "tests/test_auth_login.py", "def test(): pass\n")
    sha = commit(a, "Login")
    result = push(a)
    assert result.returncode == 0, result.stderr.decode()
    assert tip(gov) == sha
    [event] = events(gov, cr, "CODE_PUSH")
    assert event["user"] == "claude" and event["ref"] == "refs/heads/cr/CR-001"
    assert event["old"] == base and event["new"] == sha and event["commits"] == [sha]
    assert event["paths"] == ["src/app/auth/login.py", "tests/test_auth_login.py"]
    assert event["via"] == "local" and event["version"] == "1.0" and "seq" in event
    verify_clean(gov)


@pytest.mark.req("REQ-CODE-007", "REQ-CODE-008")
def test_inv_008_out_of_scope_path_is_refused(gov, cr):
    """CR-043 authorised docker/ only; the executor changed qms-cli. Here: the reverse."""
    a = area(gov, cr)
    base = tip(gov)
    write(a, "src/app/auth/login.py", "fine\n")
    commit(a, "ok")
    write(a, "docker/Dockerfile", "FROM evil\n")
    bad = commit(a, "outside")
    text = refused(gov, cr, push(a), "scope", "docker/Dockerfile", bad[:12],
                   "outside the system")
    assert "Nothing was pushed or recorded" in text
    assert tip(gov) == base and events(gov, cr, "CODE_PUSH") == []
    verify_clean(gov)


@pytest.mark.req("REQ-CODE-007")
@pytest.mark.parametrize("rel, why", [
    ("src/app/other.py", "outside the CR's approved scope"),
    ("src/app/auth/keys.py", "outside the CR's approved scope"),     # excluded
    ("QMS/CR/CR-001/CR-001.md", "qms's own data"),
    ("qms.config.json", "qms's own data"),
])
def test_paths_outside_the_scope_are_refused(gov, cr, rel, why):
    a = area(gov, cr)
    base = tip(gov)
    write(a, rel, "changed\n")
    git(a, "add", "-A", "--sparse")
    git(a, "commit", "-q", "-m", "x")
    refused(gov, cr, push(a), "scope", why)
    assert tip(gov) == base and events(gov, cr, "CODE_PUSH") == []


@pytest.mark.req("REQ-CODE-007")
@pytest.mark.parametrize("name", [
    b'src/app/auth/with space "quoted" \'single\'.py', b"src/app/auth/new\nline.py",
    b"src/app/auth/tab\there.py", "src/app/auth/ünïcödé.py".encode(),
    b"src/app/auth/-leading-dash", b"src/app/auth/..dots", b"src/app/auth/\xff\xfe.bin",
])
def test_odd_names_in_scope_pass_and_are_recorded(gov, cr, name):
    a = area(gov, cr)
    (a / os.fsdecode(name)).write_bytes(b"x\n")
    commit(a, "odd")
    result = push(a)
    assert result.returncode == 0, result.stderr.decode()
    [event] = events(gov, cr, "CODE_PUSH")
    shown = name.decode("utf-8", "backslashreplace")
    assert event["paths"] == [shown]


@pytest.mark.req("REQ-CODE-007")
@pytest.mark.parametrize("name", [
    b'src/app/with space "quoted".py', b"src/app/new\nline.py", b"src/app/\xff.py",
    "docker/ünïcödé".encode(), b"src/app/auth\n/x.py", b"-src/app/auth/x.py",
])
def test_odd_names_outside_the_scope_never_slip_past(gov, cr, name):
    a = area(gov, cr)
    base = tip(gov)
    path = a / os.fsdecode(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x\n")
    commit(a, "odd")
    refused(gov, cr, push(a), "scope")
    assert tip(gov) == base


@pytest.mark.req("REQ-CODE-007")
def test_symlink_and_submodule_pointer_count_as_paths(gov, cr):
    a = area(gov, cr)
    base = tip(gov)
    os.symlink("../../../../.qms/keys", a / "src" / "app" / "escape")
    commit(a, "a link")
    refused(gov, cr, push(a), "scope", "src/app/escape")
    git(a, "reset", "-q", "--hard", base)
    sub = "1" * 40  # a gitlink entry pointing at any commit
    git(a, "update-index", "--add", "--cacheinfo", f"160000,{sub},src/app/vendor")
    git(a, "commit", "-q", "-m", "submodule")
    refused(gov, cr, push(a), "scope", "src/app/vendor")
    git(a, "reset", "-q", "--hard", base)
    os.symlink("login.py", a / "src" / "app" / "auth" / "alias.py")
    commit(a, "in-scope link")
    assert push(a).returncode == 0
    assert events(gov, cr, "CODE_PUSH")[0]["paths"] == ["src/app/auth/alias.py"]


@pytest.mark.req("REQ-CODE-006")
def test_inv_014_direct_push_to_main_is_refused_for_everyone(gov, cr):
    a = area(gov, cr)
    main = rev(gov, "refs/heads/main")
    write(a, "src/app/auth/login.py", "to main\n")
    commit(a, "straight to main")
    for user in ("claude", "lead"):
        text = refused(gov, cr, push(a, "origin", "HEAD:refs/heads/main", "-o",
                                     f"qms-user={user}"), "main-and-tags", "qms merge")
        assert "refs/heads/main" in text
    assert rev(gov, "refs/heads/main") == main


@pytest.mark.req("REQ-CODE-006")
def test_tags_other_branches_deletion_and_force_are_refused(gov, cr):
    a = area(gov, cr)
    base = tip(gov)
    git(a, "tag", "APP-9.9")
    refused(gov, cr, push(a, "origin", "APP-9.9"), "main-and-tags")
    assert rev(gov, "refs/tags/APP-9.9") is None
    refused(gov, cr, push(a, "origin", "HEAD:refs/heads/feature"), "branch")
    assert rev(gov, "refs/heads/feature") is None
    refused(gov, cr, push(a, "origin", ":refs/heads/cr/CR-001"), "delete")
    assert tip(gov) == base
    write(a, "src/app/auth/login.py", "one\n")
    commit(a, "one")
    assert push(a).returncode == 0
    pushed = tip(gov)
    git(a, "reset", "-q", "--hard", base)
    write(a, "src/app/auth/login.py", "rewritten\n")
    commit(a, "rewrite")
    refused(gov, cr, push(a, "--force"), "fast-forward", "Never force-push")
    assert tip(gov) == pushed and len(events(gov, cr, "CODE_PUSH")) == 1


@pytest.mark.req("REQ-CODE-007")
def test_commit_without_trailer_or_naming_another_cr_is_refused(gov, cr):
    a = area(gov, cr)
    base = tip(gov)
    write(a, "src/app/auth/login.py", "no trailer\n")
    bad = commit(a, "no trailer", no_verify=True)
    assert "QMS-CR" not in git(a, "log", "-1", "--format=%B").stdout.decode()
    refused(gov, cr, push(a), "trailer", "no QMS-CR trailer", bad[:12])
    git(a, "commit", "-q", "--amend", "--no-verify", "-m", "other\n\nQMS-CR: CR-002")
    refused(gov, cr, push(a), "trailer", "names CR-002")
    git(a, "commit", "-q", "--amend", "--no-verify", "-m",
        "both\n\nQMS-CR: CR-001\nQMS-CR: CR-002")
    refused(gov, cr, push(a), "trailer")
    assert tip(gov) == base and events(gov, cr, "CODE_PUSH") == []


@pytest.mark.req("REQ-CODE-006", "REQ-CODE-009")
def test_another_user_cannot_push_to_the_branch(gov, cr):
    a = area(gov, cr)
    base = tip(gov)
    write(a, "src/app/auth/login.py", "by someone\n")
    commit(a)
    refused(gov, cr, push(a, "-o", "qms-user=ini"), "executor", "you are ini")
    git(a, "config", "--unset", "push.pushOption")
    refused(gov, cr, push(a, QMS_USER="lead"), "executor", "you are lead")
    refused(gov, cr, push(a), "identity", "qms-user")
    assert tip(gov) == base and events(gov, cr, "CODE_PUSH") == []


@pytest.mark.req("REQ-CODE-006")
def test_push_before_release_and_after_closure_is_refused(gov):
    p = Project.open(gov)
    cr = scoped_cr(gov, release=False)
    assert rev(gov, "refs/heads/cr/CR-001") is None  # no branch before release
    with pytest.raises(Exception, match="IN_EXECUTION"):
        ops.code_checkout(p, "claude", doc_id=cr)
    ops.release(p, "claude", doc_id=cr)
    a = area(gov, cr)
    write(a, "src/app/auth/login.py", "late\n")
    commit(a)
    ops.route(p, "claude", doc_id=cr, route_type="review")  # post-review: no more pushes
    refused(gov, cr, push(a), "executor", "IN_POST_REVIEW")
    ops.review(p, "qa", doc_id=cr, outcome="recommend", comment="ok")
    ops.route(p, "claude", doc_id=cr, route_type="approval")
    ops.approve(p, "qa", doc_id=cr)
    ops.close(p, "claude", doc_id=cr)
    refused(gov, cr, push(a), "executor", "CLOSED")
    assert events(gov, cr, "CODE_PUSH") == []


@pytest.mark.req("REQ-CODE-007")
def test_merge_from_main_is_allowed_an_evil_merge_is_not(gov, cr):
    a = area(gov, cr)
    write(a, "src/app/auth/login.py", "branch work\n")
    commit(a, "work")
    assert push(a).returncode == 0
    # main moves on (by hand here: part 2's qms merge is the real way)
    write(gov, "docker/Dockerfile", "FROM main\n")
    git(gov, "commit", "-q", "-am", "main moved")
    git(a, "fetch", "-q", "origin")
    git(a, "merge", "-q", "--no-edit", "origin/main")
    merged = rev(a, "HEAD")
    assert "QMS-CR: CR-001" in git(a, "log", "-1", "--format=%B").stdout.decode()
    result = push(a)
    assert result.returncode == 0, result.stderr.decode()
    last = events(gov, cr, "CODE_PUSH")[-1]
    # a merge is judged by its change against main: the branch's net change, not main's docker/
    assert last["new"] == merged and last["paths"] == ["src/app/auth/login.py"]
    # an evil merge: the merge commit itself changes a path outside the scope
    write(gov, "README.md", "main again\n")
    git(gov, "commit", "-q", "-am", "main again")
    git(a, "fetch", "-q", "origin")
    git(a, "merge", "-q", "--no-commit", "origin/main")
    write(a, "src/app/other.py", "smuggled in the merge\n")
    git(a, "add", "-A")
    git(a, "commit", "-q", "--no-edit")
    evil = rev(a, "HEAD")
    refused(gov, cr, push(a), "scope", "src/app/other.py", evil[:12])
    assert tip(gov) == merged


@pytest.mark.req("REQ-CODE-007")
def test_merge_of_another_branch_is_refused(gov, cr):
    a = area(gov, cr)
    base = tip(gov)
    git(a, "checkout", "-q", "-b", "side")
    write(a, "src/app/auth/side.py", "side\n")
    commit(a, "side")
    git(a, "checkout", "-q", "cr/CR-001")
    write(a, "src/app/auth/login.py", "main line\n")
    commit(a, "line")
    git(a, "merge", "-q", "--no-edit", "side")
    refused(gov, cr, push(a), "merge", "only from main")
    assert tip(gov) == base


@pytest.mark.req("REQ-CODE-006")
def test_ungoverned_repository_is_not_gated(tmp_path):
    root = repository_project(tmp_path)
    assert not (root / ".git" / "hooks" / "pre-receive").exists()
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    git(clone, "push", "-q", "origin", "HEAD:refs/heads/anything")
    assert rev(root, "refs/heads/anything")


@pytest.mark.req("REQ-CODE-008")
def test_refusal_message_names_rule_ref_commit_path_and_what_to_do(gov, cr):
    a = area(gov, cr)
    write(a, "src/app/other.py", "outside\n")
    sha = commit(a, "outside")
    text = refused(gov, cr, push(a), "scope")
    line = next(x for x in text.splitlines() if "qms push gate" in x)
    assert "refs/heads/cr/CR-001" in line and f"commit {sha[:12]}" in line
    assert "path 'src/app/other.py'" in line and "raise a VAR" in line


@pytest.mark.req("REQ-CODE-006")
def test_bare_repository_gate_and_first_push_against_the_branch_base(gov, cr, tmp_path):
    bare = tmp_path / "canonical.git"
    git(tmp_path, "clone", "-q", "--bare", str(gov), str(bare))
    git(bare, "update-ref", "-d", "refs/heads/cr/CR-001")  # the branch is new to it
    result = ops.code_install_hook(Project.open(gov), "lead", repository=str(bare))
    assert (bare / "hooks" / "pre-receive").is_file(), result
    a = area(gov, cr)
    git(a, "remote", "add", "canonical", str(bare))
    write(a, "src/app/auth/login.py", "to the bare one\n")
    sha = commit(a)
    result = git(a, "push", "canonical", "cr/CR-001", check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert rev(bare, "refs/heads/cr/CR-001") == sha
    [event] = events(gov, cr, "CODE_PUSH")
    assert event["old"] == "0" * 40 and event["new"] == sha
    with pytest.raises(Exception, match="not a git repository"):
        ops.code_install_hook(Project.open(gov), "lead", repository=str(tmp_path))
    with pytest.raises(Exception, match="requires group administrator"):
        ops.code_install_hook(Project.open(gov), "ini",
                              repository=str(bare))


@pytest.mark.req("REQ-CODE-006")
def test_foreign_pre_receive_hook_is_not_overwritten(tmp_path):
    root = repository_project(tmp_path)
    hook = root / ".git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(Exception, match="not qms's"):
        ops.system_add(Project.open(root), "lead", name="APP", paths=["src/app"])
    assert ops.system_list(Project.open(root), "lead").systems == []
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"


def test_record_paths_are_json_text(gov, cr):
    a = area(gov, cr)
    (a / "src/app/auth/\udcff.py".encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")).write_bytes(b"1")
    commit(a)
    assert push(a).returncode == 0
    line = (gov / "QMS/.audit/CR/CR-001.jsonl").read_bytes().splitlines()[-1]
    assert json.loads(line)["paths"] == ["src/app/auth/\\xff.py"]
