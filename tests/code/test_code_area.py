"""Code areas: who gets one and when, what it holds, its hooks, status and removal; the
write guard on a system's paths in the project's own checkout."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from _code_support import (QMS_BIN, area, commit, env, git, push, rev, scoped_cr, write)
from qms import operations as ops
from qms.cli import write_guard
from qms.store.project import Project


@pytest.mark.req("REQ-CODE-005")
def test_checkout_gives_the_executor_a_clone_without_qms_data(gov, cli):
    doc_id = scoped_cr(gov)
    run = cli(gov, "--user", "claude", "--json", "code", "checkout", doc_id)
    assert run.code == 0, run.err
    path = Path(run.json["result"]["path"])
    assert path == gov / ".qms-work" / "claude" / doc_id
    names = {p.name for p in path.iterdir()}
    assert {"src", "tests", "docker", "README.md"} <= names
    assert not names & {"QMS", ".qms", ".claude", "qms.config.json"}
    assert git(path, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip() == b"cr/CR-001"
    config = {k: git(path, "config", k).stdout.decode().strip()
              for k in ("qms.user", "qms.cr", "push.pushOption", "user.email")}
    assert config == {"qms.user": "claude", "qms.cr": doc_id,
                      "push.pushOption": "qms-user=claude", "user.email": "claude@qms.invalid"}
    assert git(path, "status", "--porcelain").stdout == b""
    # git-ignored by the project, and the project's git status stays clean of it
    assert b".qms-work" not in git(gov, "status", "--porcelain", "--untracked-files=all").stdout
    # a second checkout returns the same area
    again = cli(gov, "--user", "claude", "--json", "code", "checkout", doc_id)
    assert again.json["result"]["path"] == str(path) and "already" in again.json["result"]["message"]


@pytest.mark.req("REQ-CODE-005")
def test_qms_inside_a_code_area_acts_on_the_authority(gov):
    doc_id = scoped_cr(gov)
    path = area(gov, doc_id)
    proc = subprocess.run([str(QMS_BIN), "--user", "claude", "--json", "status", doc_id],
                          cwd=path / "src", capture_output=True, text=True, env=env())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"]["status"] == "IN_EXECUTION"


@pytest.mark.req("REQ-CODE-005")
def test_only_the_executor_while_executing(gov, cli):
    doc_id = scoped_cr(gov, release=False)
    run = cli(gov, "--user", "claude", "code", "checkout", doc_id)
    assert run.code == 1 and "IN_EXECUTION" in run.err
    ops.release(Project.open(gov), "claude", doc_id=doc_id)
    run = cli(gov, "--user", "ini", "code", "checkout", doc_id)
    assert run.code == 1 and "only the responsible user (claude)" in run.err
    run = cli(gov, "--user", "qa", "code", "checkout", doc_id)
    assert run.code == 1 and "requires group" in run.err
    assert not (gov / ".qms-work" / "ini").exists()
    unscoped = ops.create(Project.open(gov), "claude", doc_type="CR", title="Docs").doc_id
    run = cli(gov, "--user", "claude", "code", "checkout", unscoped)
    assert run.code == 1


@pytest.mark.req("REQ-CODE-005")
def test_hooks_add_the_trailer_and_warn_outside_the_scope(gov):
    doc_id = scoped_cr(gov)
    path = area(gov, doc_id)
    write(path, "src/app/other.py", "outside\n")
    git(path, "add", "-A")
    proc = git(path, "commit", "-q", "-m", "Touch other")
    assert b"'src/app/other.py' is outside the CR's approved scope" in proc.stderr
    message = git(path, "log", "-1", "--format=%B").stdout.decode()
    assert message.rstrip().endswith(f"QMS-CR: {doc_id}")
    write(path, "src/app/auth/login.py", "inside\n")
    proc = git(path, "commit", "-q", "-am", "Inside\n\nQMS-CR: CR-001")
    assert b"outside" not in proc.stderr
    assert git(path, "log", "-1", "--format=%B").stdout.decode().count("QMS-CR") == 1


@pytest.mark.req("REQ-CODE-005")
def test_status_and_remove(gov, cli):
    doc_id = scoped_cr(gov)
    path = area(gov, doc_id)
    run = cli(gov, "--user", "claude", "--json", "code", "status")
    [listed] = run.json["result"]["areas"]
    assert listed["doc_id"] == doc_id and listed["branch"] == "cr/CR-001" and not listed["dirty"]
    assert cli(gov, "--user", "ini", "--json", "code", "status").json["result"]["areas"] == []
    write(path, "src/app/auth/login.py", "work\n")
    run = cli(gov, "--user", "claude", "code", "remove", doc_id)
    assert run.code == 1 and "uncommitted" in run.err and path.is_dir()
    commit(path, "work")
    run = cli(gov, "--user", "claude", "code", "remove", doc_id)
    assert run.code == 1 and "not pushed" in run.err and path.is_dir()
    assert push(path).returncode == 0
    run = cli(gov, "--user", "claude", "code", "remove", doc_id)
    assert run.code == 0 and not path.exists()
    run = cli(gov, "--user", "claude", "code", "remove", doc_id)
    assert run.code == 1 and "no code area" in run.err


@pytest.mark.req("REQ-CODE-005")
def test_a_link_planted_as_the_users_area_folder_is_refused(gov, tmp_path):
    doc_id = scoped_cr(gov)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (gov / ".qms-work").mkdir()
    os.symlink(outside, gov / ".qms-work" / "claude")
    with pytest.raises(Exception, match="link"):
        ops.code_checkout(Project.open(gov), "claude", doc_id=doc_id)
    assert list(outside.iterdir()) == []


@pytest.mark.req("REQ-CODE-005")
def test_checkout_recreates_a_missing_branch_from_its_event(gov):
    doc_id = scoped_cr(gov)
    base = rev(gov, "refs/heads/cr/CR-001")
    git(gov, "update-ref", "-d", "refs/heads/cr/CR-001")
    path = area(gov, doc_id)
    assert rev(gov, "refs/heads/cr/CR-001") == base and rev(path, "HEAD") == base


@pytest.mark.req("REQ-CODE-012")
def test_write_guard_refuses_system_paths_in_the_project_checkout(gov):
    doc_id = scoped_cr(gov)
    path = area(gov, doc_id)

    def decide(target: Path) -> write_guard.Decision:
        event = {"tool_name": "Edit", "tool_input": {"file_path": str(target)},
                 "cwd": str(gov)}
        return write_guard.decide(event, gov, "claude")

    refused = decide(gov / "src" / "app" / "auth" / "login.py")
    assert not refused.allowed and "qms code checkout" in refused.reason
    assert not decide(gov / "tests" / "new_test.py").allowed
    assert decide(gov / "docker" / "Dockerfile").allowed           # not a system's path
    assert decide(path / "src" / "app" / "auth" / "login.py").allowed  # the code area
    assert decide(gov / "README.md").allowed
