"""Inbox task files ``task-{ID}-{workflow}-v{N-X}.md``, matched by exact document ID."""

from __future__ import annotations

import re
from pathlib import Path

from qms.domain import workflow
from qms.errors import ProjectError
from qms.store import atomic
from qms.store.project import Project
from qms.store.transaction import Transaction
from qms.store import users as users_store

TASK_RE = re.compile(
    r"^task-(?P<doc_id>.+)-(?P<workflow>review|pre_review|post_review|approval|"
    r"pre_approval|post_approval)-v(?P<version>\d+-\d+)\.md$")


def list_tasks(project: Project, user: str, strict: bool = True) -> list[Path]:
    """Task files of ``user``. A symlinked inbox or user folder is never listed: refused
    (``strict``), or taken as empty (sweeps over every inbox: qms never wrote through it)."""
    folder = project.inbox_dir(user)
    try:
        if not atomic.check_dir(project.root, folder):
            return []
    except ProjectError:
        if strict:
            raise
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".md" and not p.name.startswith("."))


def doc_tasks(project: Project, user: str, doc_id: str, approval_only: bool = False) -> list[Path]:
    found = []
    for path in list_tasks(project, user, strict=False):
        m = TASK_RE.match(path.name)
        if m and m.group("doc_id") == doc_id:
            if approval_only and "approval" not in m.group("workflow"):
                continue
            found.append(path)
    return found


def remove(tx: Transaction, project: Project, doc_id: str, users: list[str] | None = None,
           approval_only: bool = False) -> None:
    """Delete this document's tasks (never a child's) from the given or all inboxes."""
    for user in users if users is not None else users_store.user_dir_names(project):
        for path in doc_tasks(project, user, doc_id, approval_only):
            tx.delete(path)


def add(tx: Transaction, project: Project, *, assignee: str, doc_id: str, workflow_type: str,
        version: str, title: str, status: str, responsible_user: str | None,
        assigned_by: str, assigned_date: str, doc_type: str) -> Path:
    from qms.domain import prompts

    path = project.inbox_dir(assignee) / prompts.task_filename(doc_id, workflow_type, version)
    tx.write_text(path, prompts.render_task(
        task_type=workflow.task_type(workflow_type), workflow_type=workflow_type,
        doc_id=doc_id, doc_type=doc_type, title=title, status=status,
        responsible_user=responsible_user, assigned_by=assigned_by,
        assigned_date=assigned_date, version=version, assignee=assignee))
    return path
