"""``qms checkout ID``: take the document into your workspace for editing."""

from __future__ import annotations

from qms.domain import versions, workflow as wf
from qms.errors import Conflict, InvalidTransition
from qms.operations import _interactive
from qms.operations._shared import (
    DocResult, archive_once, clear_tracking, done, open_doc, require_owner, set_status)
from qms.operations.withdraw import pull_back
from qms.store import audit
from qms.store import meta as meta_store
from qms.store.project import Project


def checkout(project: Project, user: str, *, doc_id: str) -> DocResult:
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "checkout", doc_id, tx)
        status = meta["status"]
        if status in wf.TERMINAL:
            raise InvalidTransition(f"{doc_id} is {status} and cannot be checked out.")
        if meta.get("checked_out"):
            holder = meta.get("responsible_user")
            if holder == user:
                ws = project.workspace_path(user, doc_id)
                lost = "" if tx.exists(ws) else (
                    f" Your workspace copy is missing; an administrator can release the "
                    f"checkout: qms --user lead unlock {doc_id} --reason \"...\"")
                raise Conflict(f"{doc_id} is already checked out by you "
                               f"({project.rel(ws)}).{lost}")
            raise Conflict(f"{doc_id} is checked out by {holder}. An administrator can release "
                           f"a stale checkout: qms --user lead unlock {doc_id} --reason \"...\"",
                           holder=holder)
        notices: list[str] = []
        if status in wf.IN_WORKFLOW:
            require_owner("checkout", user, meta)
            target = pull_back(tx, project, meta, user)
            notices.append(f"Withdrawn from {status} to {target}.")
            status = target
        if status in (wf.APPROVED, wf.POST_APPROVED):
            raise InvalidTransition(f"{doc_id} is {status}; close it instead of checking out.")

        old_version = meta["version"]
        text = project.read_text(project.draft_path(doc_id))
        extra: dict = {}
        if status == wf.EFFECTIVE:
            text = project.read_text(project.effective_path(doc_id))
            meta["effective_version"] = meta.get("effective_version") or old_version
            if text is not None:
                archive_once(tx, project, doc_id, old_version, text)
            meta["version"] = versions.bump_minor(old_version)
            extra["from_version"] = old_version
            set_status(tx, project, meta, user, wf.DRAFT)
            notices.append(f"New draft v{meta['version']}; v{old_version} stays in force "
                           "until the new version is approved.")
        elif status == wf.PRE_APPROVED:
            set_status(tx, project, meta, user, wf.DRAFT)
            clear_tracking(meta)
            notices.append("Scope revision: back to DRAFT; it needs pre-review and "
                           "pre-approval again.")
        elif status in (wf.POST_REVIEWED, wf.IN_EXECUTION):
            if status == wf.POST_REVIEWED:
                set_status(tx, project, meta, user, wf.IN_EXECUTION)
                clear_tracking(meta)
                notices.append("Back to IN_EXECUTION to address the post-review.")
            meta["version"] = versions.bump_minor(old_version)
            meta["checkout_from_version"] = old_version
            extra["from_version"] = old_version
        if text is None:
            raise InvalidTransition(f"{doc_id} has no document file to check out.")

        meta["responsible_user"] = user
        meta["checked_out"] = True
        meta["checked_out_date"] = audit.today()
        workspace = text
        if _interactive.is_interactive(doc_id):
            workspace = _interactive.on_checkout(tx, project, user, doc_id, text)
        if status == wf.EFFECTIVE:
            tx.write_text(project.draft_path(doc_id), text)
            extra["content"] = text
        ws_path = project.workspace_path(user, doc_id)
        leftover = tx.read_text(ws_path)
        if leftover is not None and leftover != workspace:  # e.g. left behind by an unlock
            kept = ws_path.with_name(f"{ws_path.name}.stale-{audit.now_ts()[:19].replace(':', '')}")
            tx.write_text(kept, leftover)
            notices.append(f"Your earlier workspace copy was kept as {project.rel(kept)}.")
        tx.write_text(ws_path, workspace)
        meta_store.save(tx, project, meta)
        audit.append(tx, project, doc_id, "CHECKOUT", user, meta["version"], **extra)
    return done(meta, f"Checked out {doc_id} v{meta['version']} ({meta['status']}) to "
                      f"{project.rel(project.workspace_path(user, doc_id))}", notices)
