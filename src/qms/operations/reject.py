"""``qms reject ID --comment TEXT``: back to the reviewed state; a new review is needed."""

from __future__ import annotations

from qms.domain import workflow as wf
from qms.operations.identity import passkeys
from qms.operations._shared import (
    DocResult, clear_tracking, done, drop_tasks, open_task, draft_text, require_text,
    set_status)
from qms.store import audit
from qms.store import meta as meta_store
from qms.store.project import Project


def reject(project: Project, user: str, *, doc_id: str, comment: str,
           passkey: passkeys.Assertion | None = None) -> DocResult:
    comment = require_text(comment, "rejection comment", "--comment")
    with project.transaction() as tx:
        doc_id, meta = open_task(project, user, "reject", doc_id, tx,
                                 wf.APPROVAL_STATES, "approval")
        status, text = meta["status"], draft_text(project, doc_id, tx)
        signed = passkeys.gate(project, tx, user, doc_id, meta["version"], "rejection", text,
                               passkey)
        audit.append(tx, project, doc_id, "REJECT", user, meta["version"],
                     content=text, comment=comment, **signed)
        set_status(tx, project, meta, user, wf.reject_target(status))
        clear_tracking(meta)
        drop_tasks(tx, project, doc_id, approval_only=True)
        meta_store.save(tx, project, meta)
    return done(meta, f"Rejected {doc_id} v{meta['version']}: now {meta['status']}",
                ["The owner must revise (checkout, checkin) and route for review again."])
