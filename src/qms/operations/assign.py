"""``qms assign ID --assignees U [U ...]`` (quality group)."""

from __future__ import annotations

from qms.domain import workflow as wf
from qms.errors import InvalidTransition, ValidationError
from qms.operations._shared import DocResult, done, draft_text, open_doc, title
from qms.operations.route import _assignees
from qms.store import audit, inbox
from qms.store import meta as meta_store
from qms.store.project import Project


def assign(project: Project, user: str, *, doc_id: str, assignees: list[str]) -> DocResult:
    if not assignees:
        raise ValidationError("Name at least one user (--assignees U [U ...]).")
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "assign", doc_id, tx)
        status = meta["status"]
        if status not in wf.IN_WORKFLOW:
            raise InvalidTransition(f"{doc_id} is {status}, not in review or approval.")
        workflow_type = wf.WORKFLOW_TYPE[status]
        names = _assignees(project, assignees, wf.task_type(workflow_type), meta,
                           draft_text(project, doc_id, tx))
        pending = meta["pending_assignees"]
        added = [n for n in names if n not in pending]
        skipped = [n for n in names if n in pending]
        if added:
            pending.extend(added)
            audit.append(tx, project, doc_id, "ASSIGN", user, meta["version"], assignees=added)
            doc_title, today = title(project, doc_id, tx), audit.today()
            for name in added:
                inbox.add(tx, project, assignee=name, doc_id=doc_id,
                          workflow_type=workflow_type, version=meta["version"],
                          title=doc_title, status=status,
                          responsible_user=meta.get("responsible_user"), assigned_by=user,
                          assigned_date=today, doc_type=meta["doc_type"])
            meta_store.save(tx, project, meta)
    notices = [f"Already assigned: {', '.join(skipped)}"] if skipped else []
    msg = f"Assigned {', '.join(added)} to {doc_id}" if added else f"No one new to assign on {doc_id}"
    return done(meta, msg, notices)
