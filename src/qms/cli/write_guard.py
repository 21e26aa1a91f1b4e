"""Claude Code PreToolUse hook: file-editing tools may not write controlled QMS files.

Blocked (for Edit, Write, MultiEdit, NotebookEdit), judged on the *resolved* target path
(`~`, `..` and symlinks resolved, a symlinked `QMS/` or `.claude/` included; compared by path
component, case-insensitively):

- anything under `QMS/` (documents, `.meta`, `.audit`, `.archive`): only the tool writes there;
- any user's `inbox/` under `.claude/users/`: task files are written by the tool;
- interactive sessions (`*.interact` under `.claude/users/`): answers are attributed by the tool;
- another user's folder `.claude/users/<other>/` (when the acting user is known);
- code of a system (docs/code-control.md) in the project's own checkout: it changes only in a
  code area (`qms code checkout CR-NNN`) and reaches the repository through the push gate.

Input is the hook event JSON on stdin (`tool_name`, `tool_input.file_path` or
`tool_input.notebook_path`, `cwd`). A refusal is the PreToolUse JSON decision
(`hookSpecificOutput.permissionDecision = "deny"`, exit 0); anything allowed prints nothing
and leaves the normal permission flow alone. Unreadable events for a guarded tool are
refused (fail closed).
"""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GUARDED_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
PATH_KEYS = ("file_path", "notebook_path")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


ALLOW = Decision(True)


def _fold(part: str) -> str:
    return unicodedata.normalize("NFC", part).casefold()


# The project and the guarded folders under it, each also judged where it really is: a
# symlinked `QMS/` or `.claude/` must not move the protected files out of reach.
_ANCHORS = ((), ("QMS",), (".claude",), (".claude", "users"))


def check_path(
    target: str | Path, project_root: Path, user: str | None, cwd: str | Path | None = None
) -> Decision:
    """Whether a file-editing tool may write `target` (relative paths are taken from `cwd`)."""
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = Path(cwd or project_root) / path
    resolved = Path(os.path.realpath(path)).parts
    folded = [_fold(part) for part in resolved]
    for anchor in _ANCHORS:
        base = Path(os.path.realpath(Path(project_root, *anchor))).parts
        if folded[: len(base)] == [_fold(part) for part in base]:
            decision = _judge((*anchor, *resolved[len(base) :]), user)
            if not decision.allowed:
                return decision
    return ALLOW  # outside the project, or nothing guarded


def _judge(relative: tuple[str, ...], user: str | None) -> Decision:
    """The rule for a path given relative to the project root."""
    parts = [_fold(part) for part in relative]
    shown = "/".join(relative)
    if parts[:1] == ["qms"]:
        return Decision(False, f"{shown} is under QMS/, which only the qms tool writes. Use the qms commands.")
    if parts[:2] == [".claude", "users"] and len(parts) > 2:
        owner = relative[2]
        if len(parts) > 3 and parts[3] == "inbox":
            return Decision(False, f"{shown} is in {owner}'s inbox, which only the qms tool writes.")
        if parts[-1].endswith(".interact"):
            return Decision(False, f"{shown} is an interactive session (attributed answers), which only "
                            "`qms interact` writes.")
        if user is not None and parts[2] != _fold(user):
            return Decision(
                False, f"{shown} belongs to user {owner!r}; you are {user!r}. Edit only your own workspace."
            )
    return ALLOW


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` (as written, else as resolved) holding `QMS/`."""
    for begin in dict.fromkeys((Path(os.path.abspath(start)), Path(os.path.realpath(start)))):
        found = next((folder for folder in (begin, *begin.parents) if (folder / "QMS").is_dir()), None)
        if found is not None:
            return found
    return None


def decide(event: Any, project_root: Path | None, user: str | None) -> Decision:
    """The decision for one PreToolUse event (already parsed from JSON).

    Every path the event names is judged (`file_path` and `notebook_path`); relative paths
    are taken from the event's `cwd` (else the current folder). Without `project_root`, the
    project is found from that folder, else from the target's own location; with no project
    there is nothing to guard.
    """
    if not isinstance(event, dict):
        return Decision(False, "write guard: the hook event is not a JSON object")
    if event.get("tool_name") not in GUARDED_TOOLS:
        return ALLOW
    tool_input = event.get("tool_input") if isinstance(event.get("tool_input"), dict) else {}
    targets = [tool_input[key] for key in PATH_KEYS if isinstance(tool_input.get(key), str) and tool_input[key]]
    if not targets:
        return Decision(False, f"write guard: {event['tool_name']} event carries no file path")
    cwd = event.get("cwd") if isinstance(event.get("cwd"), str) else None
    here = Path(cwd or os.getcwd())
    for target in targets:
        root = project_root or find_root(here) or find_root((here / Path(target).expanduser()).parent)
        decision = ALLOW if root is None else check_path(target, root, user, here)
        if decision.allowed and root is not None:
            decision = check_governed(target, root, here)
        if not decision.allowed:
            return decision
    return ALLOW


def check_governed(target: str | Path, project_root: Path, cwd: Path) -> Decision:
    """Refuse a write to a system's path in the project's own work tree (a code area under
    `.qms-work/` is another repository, outside every system)."""
    from qms.errors import QMSError
    from qms.operations.code.systems import governed
    from qms.store.repo import repository
    from qms.store.project import Project

    try:
        project = Project(Path(os.path.realpath(project_root)))
        systems = governed(project)
        if not systems:
            return ALLOW
        repo, _ = repository(project)
    except (QMSError, OSError):
        return ALLOW  # no repository, no governance
    path = Path(os.path.realpath(cwd / Path(target).expanduser()))
    top = Path(os.path.realpath(repo.work_tree))
    if top not in path.parents:
        return ALLOW
    rel = path.relative_to(top).as_posix()
    from qms.domain.scope import under

    for system in systems.values():
        if under(system["paths"], rel):
            return Decision(False, f"{rel} is code of system {system['name']}, under change "
                            "control: change it in a code area (qms code checkout CR-NNN, or "
                            "the qms_code_checkout tool) and git push; the push gate checks it "
                            "against the CR's approved scope.")
    return ALLOW


def deny_output(reason: str) -> str:
    """The PreToolUse hook output that refuses the tool call and tells Claude why."""
    return json.dumps(
        {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }
    )


def main(stdin_text: str, project_root: Path | None, user: str | None) -> tuple[int, str]:
    """Run the hook: returns (exit code, text for stdout). Never raises."""
    try:
        event = json.loads(stdin_text)
    except ValueError:
        return 0, deny_output("write guard: the hook event is not valid JSON")
    try:
        decision = decide(event, project_root, user or None)
    except Exception as exc:  # a crashing hook would let the write through
        decision = Decision(False, f"write guard failed ({type(exc).__name__}); refusing to be safe")
    return 0, "" if decision.allowed else deny_output(decision.reason)


def cli_main() -> int:
    """`qms hook write-guard`: the event on stdin, the decision on stdout.

    Project: `$CLAUDE_PROJECT_DIR` (set by Claude Code for hooks), else found from the
    event's `cwd`. Acting user: `$QMS_USER` (unset: other users' folders are not judged).
    """
    root = os.environ.get("CLAUDE_PROJECT_DIR")
    code, out = main(sys.stdin.read(), Path(root) if root else None, os.environ.get("QMS_USER"))
    if out:
        print(out)
    return code
