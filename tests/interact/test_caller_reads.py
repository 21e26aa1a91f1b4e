"""A file read on a caller's behalf (``interact --respond --file``, ``qualify --junit``) never
reaches the project's secrets: ``.qms/`` (signing keys, tokens), ``.git/`` or another user's
folder under ``.claude/users/`` (issue 15, Why 1). Through the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from qms.store.transaction import pending

from .conftest import VR

pytestmark = [pytest.mark.req("REQ-HARD-003"), pytest.mark.req("REQ-HARD-009")]


def _key(project: Path) -> tuple[str, str]:
    """(relative path, seed) of the project's private signing key."""
    kid = next((project / "QMS" / ".keys").glob("*.pub")).stem
    rel = f".qms/keys/{kid}.key"
    return rel, (project / rel).read_text().strip()


def _attacks(project: Path) -> list[tuple[str, str]]:
    """(path argument, area the refusal must name) for every way at a secret."""
    key, _ = _key(project)
    (project / ".git").mkdir(exist_ok=True)
    (project / ".git" / "config").write_text("[remote]\n\turl = https://user:pw@example/x\n")
    other = project / ".claude" / "users" / "qa" / "workspace" / "private.md"
    other.write_text("qa's private draft\n")
    own = project / ".claude" / "users" / "claude" / "workspace"
    (own / "key.txt").symlink_to(project / key)
    return [
        (key, ".qms/"),
        (".qms/tokens.json", ".qms/"),
        (str(project / key), ".qms/"),                            # absolute
        (f"QMS/../{key}", ".qms/"),                                # .. tricks
        (f"./{key}", ".qms/"),
        (f".claude/users/claude/workspace/../../../../{key}", ".qms/"),
        (".git/config", ".git/"),
        (f"{project}/.git/config", ".git/"),
        (".claude/users/qa/workspace/private.md", ".claude/users/qa/"),
        (".claude/users/claude/workspace/../../qa/workspace/private.md", ".claude/users/qa/"),
        (".claude/users/claude/workspace/key.txt", "symbolic link"),  # link to the key
    ]


def test_interact_file_never_reads_secrets(vr, qms_proc):
    project = vr
    assert qms_proc(project, "--user", "lead", "token", "issue", "claude").code == 0
    _, seed = _key(project)
    for path, area in _attacks(project):
        run = qms_proc(project, "--user", "claude", "--json", "interact", VR, "--respond",
                       "--file", path, timeout=30)
        assert run.code == 1, (path, run.out, run.err)
        error = json.loads(run.out)["error"]
        assert area in error["message"], (path, error)
        if area != "symbolic link":
            assert error["code"] == "permission_denied" and error["details"]["area"] == area
    assert not pending(project / ".qms" / "journal")
    for folder, _, files in os.walk(project):
        if ".qms" in Path(folder).parts:
            continue
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                assert seed not in path.read_text(errors="replace"), path
    # the caller's own workspace and the project's ordinary files stay readable
    (project / ".claude" / "users" / "claude" / "workspace" / "answer.txt").write_text("EI-1\n")
    run = qms_proc(project, "--user", "claude", "interact", VR, "--respond", "--file",
                   ".claude/users/claude/workspace/answer.txt", timeout=30)
    assert run.code == 0, run.err
    (project / "notes").mkdir()
    (project / "notes" / "objective.txt").write_text("Login works\n")
    run = qms_proc(project, "--user", "claude", "interact", VR, "--respond", "--file",
                   str(project / "notes" / "objective.txt"), timeout=30)
    assert run.code == 0, run.err
    assert qms_proc(project, "--user", "qa", "verify").code == 0


def test_qualify_junit_never_reads_secrets(project, qms_proc):
    assert qms_proc(project, "--user", "lead", "namespace", "add", "T").code == 0
    (project / ".qms" / "results.xml").write_text("<testsuite/>")
    key, _ = _key(project)
    for path, area in [(key, ".qms/"), (".qms/results.xml", ".qms/"),
                       ("QMS/../.qms/results.xml", ".qms/"),
                       (".claude/users/qa/inbox/../../tu/workspace/x.xml", ".claude/users/tu/")]:
        run = qms_proc(project, "--user", "claude", "--json", "qualify", "T", "--junit", path,
                       "--check", timeout=30)
        assert run.code == 1, (path, run.out, run.err)
        error = json.loads(run.out)["error"]
        assert error["code"] == "permission_denied" and area in error["message"], (path, error)
