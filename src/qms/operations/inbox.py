"""``qms inbox``: your pending review and approval tasks."""

from __future__ import annotations

from qms.errors import ProjectError, ValidationError
from qms.operations._shared import Result, authorize
from qms.store import frontmatter, inbox as inbox_store
from qms.store.project import Project


class InboxResult(Result):
    user: str
    tasks: list[dict]
    warnings: list[str] = []  # damaged or refused task files (the CLI prints them on stderr)

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
    tasks, warnings = [], []
    for path in inbox_store.list_tasks(project, user):
        try:
            fm = frontmatter.split(project.read_text(path) or "")[0]
        except ProjectError as exc:  # a link, a FIFO ...: never followed, never listed
            warnings.append(f"Warning: skipped {project.rel(path)}: {exc.message}")
            continue
        except ValidationError as exc:
            warnings.append(f"Warning: {project.rel(path)} is damaged: {exc.message}")
            fm = {}
        if not isinstance(fm, dict):
            fm = {}
        m = inbox_store.TASK_RE.match(path.name)
        if m and not fm:
            fm = {"doc_id": m.group("doc_id"), "workflow_type": m.group("workflow").upper()}
        task = {k: (str(v) if v is not None else None) for k, v in fm.items()}
        task["file"] = project.rel(path)
        tasks.append(task)
    return InboxResult(user, tasks, warnings)
