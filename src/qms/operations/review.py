"""``qms review ID --recommend|--request-updates --comment TEXT``."""

from __future__ import annotations

from qms.domain import integrity, workflow as wf
from qms.errors import ValidationError
from qms.operations.identity import passkeys
from qms.operations._shared import (
    DocResult, done, open_task, draft_text, require_text, set_status)
from qms.store import audit, inbox
from qms.store import meta as meta_store
from qms.store.project import Project

OUTCOMES = {"recommend": "RECOMMEND", "request-updates": "UPDATES_REQUIRED",
            "request_updates": "UPDATES_REQUIRED", "updates_required": "UPDATES_REQUIRED"}


def review(project: Project, user: str, *, doc_id: str, outcome: str,
           comment: str, passkey: passkeys.Assertion | None = None) -> DocResult:
    value = OUTCOMES.get((outcome or "").strip().lower())
    if value is None:
        raise ValidationError(f"outcome must be 'recommend' or 'request-updates', not {outcome!r}.")
    comment = require_text(comment, "review comment", "--comment")
    with project.transaction() as tx:
        doc_id, meta = open_task(project, user, "review", doc_id, tx,
                                 wf.REVIEW_STATES, "review")
        status, text = meta["status"], draft_text(project, doc_id, tx)
        signed = passkeys.gate(project, tx, user, doc_id, meta["version"],
                               integrity.meaning_of("REVIEW", value), text, passkey)
        audit.append(tx, project, doc_id, "REVIEW", user, meta["version"],
                     content=text, outcome=value, comment=comment, **signed)
        meta["pending_assignees"].remove(user)
        meta.setdefault("review_outcomes", {})[user] = value
        inbox.remove(tx, project, doc_id, users=[user])
        notices = []
        if not meta["pending_assignees"]:
            set_status(tx, project, meta, user, wf.review_done(status))
            notices.append(f"All reviews in: {doc_id} is {meta['status']}.")
        meta_store.save(tx, project, meta)
    return done(meta, f"Review recorded: {value} on {doc_id} v{meta['version']}", notices)
