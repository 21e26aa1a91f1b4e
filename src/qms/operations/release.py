"""``qms release ID``: a pre-approved executable document goes into execution."""

from __future__ import annotations

from qms.domain import workflow as wf
from qms.errors import InvalidTransition
from qms.operations._shared import (
    DocResult, done, open_doc, draft_text, require_owner, set_status)
from qms.store import audit
from qms.store import meta as meta_store
from qms.store.project import Project


def release(project: Project, user: str, *, doc_id: str) -> DocResult:
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "release", doc_id, tx)
        require_owner("release", user, meta)
        if not meta.get("executable"):
            raise InvalidTransition(f"{doc_id} is not an executable document.")
        if meta["status"] != wf.PRE_APPROVED:
            raise InvalidTransition(f"{doc_id} is {meta['status']}; only PRE_APPROVED "
                                    "documents can be released.")
        audit.append(tx, project, doc_id, "RELEASE", user, meta["version"],
                     content=draft_text(project, doc_id, tx))
        set_status(tx, project, meta, user, wf.IN_EXECUTION)
        meta["execution_phase"] = wf.POST_RELEASE
        meta_store.save(tx, project, meta)
        notices = _branch(tx, project, user, meta)
    return done(meta, f"Released {doc_id} v{meta['version']} for execution (IN_EXECUTION)",
                notices)


def _branch(tx, project: Project, user: str, meta: dict) -> list[str]:
    """A scoped CR gets its execution branch (docs/code-control.md)."""
    if meta["doc_type"] != "CR":
        return []
    from qms.operations.code.branch import open_branch

    opened = open_branch(tx, project, user, meta)
    return [opened] if opened else []
