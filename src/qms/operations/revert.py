"""``qms revert ID --reason TEXT`` (deprecated: prefer checkout from POST_REVIEWED)."""

from __future__ import annotations

from qms.domain import workflow as wf
from qms.errors import InvalidTransition
from qms.operations._shared import (
    DocResult, clear_tracking, done, open_doc, require_owner, require_text, set_status)
from qms.store import audit
from qms.store import meta as meta_store
from qms.store.project import Project

DEPRECATION = ("Warning: 'revert' is deprecated; 'qms checkout ID' from POST_REVIEWED does "
               "the same and opens the document for editing.")


def revert(project: Project, user: str, *, doc_id: str, reason: str) -> DocResult:
    reason = require_text(reason, "reason", "--reason")
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "revert", doc_id, tx)
        require_owner("revert", user, meta)
        if meta["status"] != wf.POST_REVIEWED:
            raise InvalidTransition(f"{doc_id} is {meta['status']}; only POST_REVIEWED "
                                    "documents can be reverted.")
        audit.append(tx, project, doc_id, "REVERT", user, meta["version"], reason=reason)
        set_status(tx, project, meta, user, wf.IN_EXECUTION)
        clear_tracking(meta)
        meta_store.save(tx, project, meta)
    return done(meta, f"Reverted {doc_id} to IN_EXECUTION", warnings=[DEPRECATION])
