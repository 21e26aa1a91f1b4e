"""The write guard against crafted Claude Code PreToolUse events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qms.cli.write_guard import GUARDED_TOOLS, main
from qms.operations.init import WRITE_GUARD_MATCHER

QMS = str(Path(sys.executable).with_name("qms"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for folder in ("QMS/CR", "QMS/.meta/CR", ".claude/users/claude/workspace", ".claude/users/claude/inbox",
                   ".claude/users/qa/workspace", "docs"):
        (root / folder).mkdir(parents=True)
    return root


def run(root: Path, user: str | None, tool: str = "Write", cwd: Path | None = None, **tool_input) -> str | None:
    """The deny reason, or None when the write is allowed."""
    event = {"hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": tool_input, "cwd": str(cwd or root)}
    code, out = main(json.dumps(event), root, user)
    assert code == 0
    if not out:
        return None
    decision = json.loads(out)["hookSpecificOutput"]
    assert decision["hookEventName"] == "PreToolUse" and decision["permissionDecision"] == "deny"
    return decision["permissionDecisionReason"]


@pytest.mark.parametrize("tool", ["Edit", "Write", "MultiEdit"])
def test_qms_folder_is_blocked_for_every_editing_tool(root, tool):
    assert "QMS/" in run(root, "claude", tool, file_path=str(root / "QMS/CR/CR-001.md"))


def test_notebook_edit_uses_notebook_path(root):
    assert run(root, "claude", "NotebookEdit", notebook_path=str(root / "QMS/.meta/CR/x.ipynb"))
    assert run(root, "claude", "NotebookEdit", notebook_path=str(root / "docs/x.ipynb")) is None


@pytest.mark.parametrize(
    "relative",
    [
        ".claude/users/claude/workspace/../../../../QMS/CR/CR-001.md",  # .. climbing out of a workspace
        "docs/../QMS/.audit/CR/CR-001.jsonl",
        "qms/CR/CR-001.md",  # case tricks
        "Qms/.META/CR/CR-001.json",
        "QMS/.test-env/scratch.md",  # no exemptions by substring
        "QMS",  # the folder itself
    ],
)
def test_path_tricks_are_resolved(root, relative):
    assert run(root, "claude", file_path=str(root) + "/" + relative)


def test_symlinks_are_resolved(root):
    (root / ".claude/users/claude/workspace/link").symlink_to(root / "QMS/CR")
    (root / "docs/alias.md").symlink_to(root / "QMS/CR/CR-001.md")
    assert run(root, "claude", file_path=str(root / ".claude/users/claude/workspace/link/CR-002.md"))
    assert run(root, "claude", "Edit", file_path=str(root / "docs/alias.md"))


def test_case_changed_project_prefix_is_still_the_project(root):
    assert run(root, "claude", file_path=str(root).upper() + "/QMS/CR/CR-001.md")


def test_project_root_reached_through_a_symlink(root, tmp_path):
    (tmp_path / "alias").symlink_to(root)
    assert run(root, "claude", file_path=str(tmp_path / "alias/QMS/CR/CR-001.md"))


def test_relative_paths_are_taken_from_the_event_cwd(root):
    assert run(root, "claude", cwd=root / "docs", file_path="../QMS/CR/CR-001.md")
    assert run(root, "claude", cwd=root / "docs", file_path="notes.md") is None


def test_own_workspace_is_writable_other_users_are_not(root):
    own = root / ".claude/users/claude/workspace/CR-001.md"
    theirs = root / ".claude/users/qa/workspace/CR-001.md"
    assert run(root, "claude", "Edit", file_path=str(own)) is None
    assert "belongs to user 'qa'" in run(root, "claude", "Edit", file_path=str(theirs))
    assert run(root, "qa", "Edit", file_path=str(theirs)) is None
    assert run(root, "QA", "Edit", file_path=str(root / ".claude/users/QA/workspace/x.md")) is None
    assert run(root, "claude", file_path=str(root / ".claude/users/qa/notes.md"))


def test_inboxes_are_written_by_the_tool_only(root):
    assert "inbox" in run(root, "claude", file_path=str(root / ".claude/users/claude/inbox/task-CR-001.md"))
    assert run(root, None, file_path=str(root / ".claude/users/qa/inbox/task-CR-001.md"))


def test_unknown_user_keeps_qms_and_inbox_protection_only(root):
    assert run(root, None, file_path=str(root / "QMS/CR/CR-001.md"))
    assert run(root, None, file_path=str(root / ".claude/users/qa/workspace/CR-001.md")) is None


def test_names_that_only_contain_qms_are_not_blocked(root):
    for relative in ("docs/QMS/notes.md", "QMS-notes/a.md", "docs/qms.md", ".claude/users.md"):
        assert run(root, "claude", file_path=str(root / relative)) is None


def test_outside_the_project_and_other_tools_pass(root, tmp_path):
    assert run(root, "claude", file_path=str(tmp_path / "elsewhere.md")) is None
    assert run(root, "claude", "Read", file_path=str(root / "QMS/CR/CR-001.md")) is None
    assert run(root, "claude", "Bash", command="cat QMS/CR/CR-001.md") is None


@pytest.mark.parametrize("stdin", ["not json", "[]", json.dumps({"tool_name": "Write", "tool_input": {}})])
def test_unreadable_events_fail_closed(root, stdin):
    code, out = main(stdin, root, "claude")
    assert code == 0 and json.loads(out)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_project_found_from_the_event_cwd_when_no_root_is_given(root):
    event = {"tool_name": "Write", "tool_input": {"file_path": "../CR/x.md"}, "cwd": str(root / "QMS/.meta")}
    decision = json.loads(main(json.dumps(event), None, "claude")[1])["hookSpecificOutput"]
    assert decision["permissionDecision"] == "deny"
    outside = {"tool_name": "Write", "tool_input": {"file_path": "/tmp/x.md"}, "cwd": "/"}
    assert main(json.dumps(outside), None, "claude") == (0, "")


def test_init_installs_the_hook_for_exactly_the_guarded_tools():
    assert set(WRITE_GUARD_MATCHER.split("|")) == GUARDED_TOOLS


def test_installed_command_reads_stdin_and_environment(root):
    def hook(user: str, path: Path) -> str:
        event = {"hook_event_name": "PreToolUse", "tool_name": "Edit", "tool_input": {"file_path": str(path)},
                 "cwd": str(root)}
        env = {**os.environ, "CLAUDE_PROJECT_DIR": str(root), "QMS_USER": user}
        done = subprocess.run([QMS, "hook", "write-guard"], input=json.dumps(event), capture_output=True,
                              text=True, env=env, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "deny" in hook("claude", root / "QMS/CR/CR-001.md")
    assert "deny" in hook("claude", root / ".claude/users/qa/workspace/x.md")
    assert hook("qa", root / ".claude/users/qa/workspace/x.md") == ""


def test_every_path_of_the_event_is_judged(root):
    assert run(root, "claude", "NotebookEdit", file_path=str(root / "docs/x.md"),
               notebook_path=str(root / "QMS/CR/x.ipynb"))
    assert run(root, "claude", "Write", file_path=str(root / "docs/x.md"), notebook_path="") is None


def test_symlinked_qms_and_claude_folders_stay_guarded(tmp_path):
    root, elsewhere = tmp_path / "proj", tmp_path / "volume"
    for folder in ("qms/CR", "claude/users/qa/workspace"):
        (elsewhere / folder).mkdir(parents=True)
    root.mkdir()
    (root / "QMS").symlink_to(elsewhere / "qms")
    (root / ".claude").symlink_to(elsewhere / "claude")
    assert "QMS/" in run(root, "claude", file_path=str(root / "QMS/CR/CR-001.md"))
    assert "QMS/" in run(root, "claude", file_path=str(elsewhere / "qms/CR/CR-001.md"))
    assert "belongs to user 'qa'" in run(root, "claude", file_path=str(elsewhere / "claude/users/qa/workspace/x"))


def test_home_relative_paths_are_expanded(root, monkeypatch):
    monkeypatch.setenv("HOME", str(root.parent))
    assert run(root, "claude", file_path=f"~/{root.name}/QMS/CR/CR-001.md")


def test_project_found_from_the_target_when_cwd_is_outside(root, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    event = {"tool_name": "Write", "tool_input": {"file_path": "../proj/QMS/CR/x.md"},
             "cwd": str(tmp_path / "elsewhere")}
    decision = json.loads(main(json.dumps(event), None, "claude")[1])["hookSpecificOutput"]
    assert decision["permissionDecision"] == "deny"


def test_own_interactive_session_is_written_by_the_tool_only(root):
    session = root / ".claude/users/claude/workspace/CR-001-VR-001.interact"
    assert "interactive session" in run(root, "claude", "Edit", file_path=str(session))
    assert run(root, "claude", "Edit", file_path=str(session.with_suffix(".md"))) is None
