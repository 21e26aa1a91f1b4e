"""``qms inbox``: your pending review and approval tasks."""

from __future__ import annotations

from qms.errors import ValidationError
from qms.operations._shared import Result, authorize
from qms.store import frontmatter, inbox as inbox_store
from qms.store.project import Project


class InboxResult(Result):
    user: str
    tasks: list[dict]

    def render(self) -> str:
        if not self.tasks:
            return "Inbox is empty."
        lines = [f"Inbox of {self.user} ({len(self.tasks)} task(s)):"]
        for t in self.tasks:
            lines.append(f"  [{t.get('task_type', '?')}] {t.get('doc_id', '?')} v{t.get('version', '?')}"
                         f" - {t.get('title', '')}")
            lines.append(f"      Workflow: {t.get('workflow_type', '?')}  From: "
                         f"{t.get('assigned_by', '?')}  Date: {t.get('assigned_date', '?')}")
            lines.append(f"      File: {t['file']}")
        return "\n".join(lines)


def inbox(project: Project, user: str) -> InboxResult:
    authorize(project, user, "inbox")
    tasks = []
    for path in inbox_store.list_tasks(project, user):
        try:
            fm = frontmatter.split(path.read_text(encoding="utf-8"))[0]
        except (ValidationError, UnicodeDecodeError):
            fm = {}
        m = inbox_store.TASK_RE.match(path.name)
        if m and not fm:
            fm = {"doc_id": m.group("doc_id"), "workflow_type": m.group("workflow").upper()}
        task = {k: (str(v) if v is not None else None) for k, v in fm.items()}
        task["file"] = project.rel(path)
        tasks.append(task)
    return InboxResult(user, tasks)
