"""``qms withdraw ID``: the owner pulls a document back out of review or approval."""

from __future__ import annotations

from qms.domain import workflow as wf
from qms.operations._shared import (
    DocResult, clear_tracking, done, drop_tasks, open_doc, require_owner, set_status)
from qms.store import audit
from qms.store import meta as meta_store
from qms.store.project import Project
from qms.store.transaction import Transaction


def withdraw(project: Project, user: str, *, doc_id: str) -> DocResult:
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "withdraw", doc_id, tx)
        require_owner("withdraw", user, meta)
        status = meta["status"]
        target = pull_back(tx, project, meta, user)
        meta_store.save(tx, project, meta)
    return done(meta, f"Withdrew {doc_id}: {status} -> {target}")


def pull_back(tx: Transaction, project: Project, meta: dict, user: str) -> str:
    """Withdraw inside an open transaction (checkout does this implicitly); returns the
    new status. The round's assignees, outcomes and tasks are dropped."""
    status = meta["status"]
    target = wf.withdraw_target(status)
    audit.append(tx, project, meta["doc_id"], "WITHDRAW", user, meta["version"],
                 from_status=status, to_status=target)
    set_status(tx, project, meta, user, target)
    clear_tracking(meta)
    drop_tasks(tx, project, meta["doc_id"])
    return target
