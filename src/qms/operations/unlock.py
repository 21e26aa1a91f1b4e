"""``qms unlock ID --reason TEXT`` (administrator): release a stale checkout."""

from __future__ import annotations

from qms.errors import InvalidTransition
from qms.operations._shared import DocResult, done, open_doc, release_checkout, require_text
from qms.store import audit
from qms.store import meta as meta_store
from qms.store.project import Project


def unlock(project: Project, user: str, *, doc_id: str, reason: str) -> DocResult:
    reason = require_text(reason, "reason", "--reason")
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "unlock", doc_id, tx)
        if not meta.get("checked_out"):
            raise InvalidTransition(f"{doc_id} is not checked out.")
        holder = meta.get("responsible_user")
        restored = meta.get("checkout_from_version")
        if restored:
            meta["version"] = restored  # undo the execution checkout's minor bump
        release_checkout(meta)
        meta_store.save(tx, project, meta)
        audit.append(tx, project, doc_id, "UNLOCK", user, meta["version"],
                     reason=reason, checked_out_by=holder)
    notice = (f"{holder}'s workspace copy was left in place "
              f"({project.rel(project.workspace_path(holder, doc_id))}); it is no longer "
              "checked out." if holder else "")
    return done(meta, f"Unlocked {doc_id} (was checked out by {holder})",
                [notice] if notice else [])
