"""Post-review needs the merge: `route --review` of a scoped CR out of execution is refused
until its CODE_MERGE exists and the mechanical checklist holds; warnings reach the reviewers'
task files."""

from __future__ import annotations

from pathlib import Path

import pytest

from _code_support import (area, commit, executed, push, qualify_at, ready, write)
from qms import operations as ops
from qms.errors import InvalidTransition
from qms.store.project import Project

pytestmark = pytest.mark.slow


def route(root: Path, doc_id: str):
    return ops.route(Project.open(root), "claude", doc_id=doc_id, route_type="review")


def task(root: Path, doc_id: str) -> str:
    [path] = (root / ".claude" / "users" / "qa" / "inbox").glob(f"task-{doc_id}-post_review-*")
    return path.read_text()


@pytest.mark.req("REQ-CODE-018")
def test_post_review_before_the_merge_is_refused(gov):
    doc_id, _, _ = ready(gov)
    executed(gov, doc_id)
    with pytest.raises(InvalidTransition, match=f"qms merge {doc_id}"):
        route(gov, doc_id)
    ops.merge(Project.open(gov), "claude", doc_id=doc_id)
    result = route(gov, doc_id)
    assert result.status == "IN_POST_REVIEW"
    text = task(gov, doc_id)
    assert "## What qms found" in text and "Merged into main as APP-1.0" in text
    assert "no merge touched" not in text  # login.py, the expected file, was changed


@pytest.mark.req("REQ-CODE-018")
def test_a_push_after_the_merge_needs_another_merge(gov):
    doc_id, a, _ = ready(gov)
    ops.merge(Project.open(gov), "claude", doc_id=doc_id)
    write(a, "src/app/auth/login.py", "after the merge\n")
    sha = commit(a)
    assert push(a).returncode == 0
    executed(gov, doc_id)
    with pytest.raises(InvalidTransition, match="moved on after its last merge"):
        route(gov, doc_id)
    qualify_at(gov, sha)
    assert ops.merge(Project.open(gov), "claude", doc_id=doc_id).release == "APP-1.1"
    assert route(gov, doc_id).status == "IN_POST_REVIEW"


@pytest.mark.req("REQ-CODE-018")
def test_the_mechanical_checklist(gov):
    doc_id, _, _ = ready(gov)
    ops.merge(Project.open(gov), "claude", doc_id=doc_id)
    p = Project.open(gov)
    executed(gov, doc_id, rows=("| Done | Pass | claude - 2026-12-01 |",
                                "| [SUMMARY] | [Pass/Fail] | [PERFORMER] - [DATE] |"))
    with pytest.raises(InvalidTransition) as err:
        route(gov, doc_id)
    problems = err.value.details["problems"]
    assert any("EI-2 has no outcome" in x for x in problems), problems
    assert any("placeholder(s) remain: [SUMMARY], [Pass/Fail], [PERFORMER], [DATE]" in x
               for x in problems), problems
    executed(gov, doc_id, rows=("| Done | Pass | claude - 2026-12-01 |",
                                "| Broke | Fail | claude - 2026-12-01 |"))
    with pytest.raises(InvalidTransition, match="EI-2 failed without naming an existing VAR"):
        route(gov, doc_id)
    executed(gov, doc_id, rows=("| Done | Pass | claude - 2026-12-01 |",
                                f"| Broke: {doc_id}-VAR-001 | Fail | claude - 2026-12-01 |"))
    with pytest.raises(InvalidTransition, match="EI-2 failed without naming an existing VAR"):
        route(gov, doc_id)  # named, but it does not exist
    var = ops.create(p, "claude", doc_type="VAR", parent=doc_id, title="Broke").doc_id
    assert var == f"{doc_id}-VAR-001"
    executed(gov, doc_id, rows=("| Done | Pass | claude - 2026-12-01 |",
                                f"| Broke: {var} | Fail | claude - 2026-12-01 |"),
             edit=lambda t: t.replace("Change the login.", "Change the login, and more."))
    with pytest.raises(InvalidTransition, match="frozen at pre-approval changed"):
        route(gov, doc_id)
    executed(gov, doc_id, rows=("| Done | Pass | claude - 2026-12-01 |",
                                f"| Broke: {var} | Fail | claude - 2026-12-01 |"),
             edit=lambda t: t.replace("Change the login, and more.", "Change the login."))
    assert route(gov, doc_id).status == "IN_POST_REVIEW"


@pytest.mark.req("REQ-CODE-018")
def test_a_declared_file_never_touched_warns_the_reviewers(gov):
    doc_id, _, _ = ready(gov, change="src/app/auth/session.py")
    ops.merge(Project.open(gov), "claude", doc_id=doc_id)
    executed(gov, doc_id)
    result = route(gov, doc_id)
    warning = (f"Warning: {doc_id} declared it would change src/app/auth/login.py, which no "
               "merge touched")
    assert any(warning in n for n in result.notices), result.notices
    assert warning in task(gov, doc_id)
