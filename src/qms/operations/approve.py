"""``qms approve ID``: the last approval bumps the major version and takes effect."""

from __future__ import annotations

from qms.domain import versions, workflow as wf
from qms.operations.identity import passkeys
from qms.operations._shared import (
    DocResult, archive_once, clear_tracking, done, open_task, release_checkout, require_draft,
    set_status)
from qms.store import audit, frontmatter, inbox
from qms.store import meta as meta_store
from qms.store.project import Project


def approve(project: Project, user: str, *, doc_id: str,
            passkey: passkeys.Assertion | None = None) -> DocResult:
    with project.transaction() as tx:
        doc_id, meta = open_task(project, user, "approve", doc_id, tx,
                                 wf.APPROVAL_STATES, "approval")
        text = require_draft(project, meta, tx)
        old = meta["version"]
        signed = passkeys.gate(project, tx, user, doc_id, old, "approval", text, passkey)
        audit.append(tx, project, doc_id, "APPROVE", user, old, content=text, **signed)
        meta["pending_assignees"].remove(user)
        inbox.remove(tx, project, doc_id, users=[user])
        notices: list[str] = []
        if not meta["pending_assignees"]:
            notices.append(_take_effect(tx, project, meta, user, text, old))
        meta_store.save(tx, project, meta)
    return done(meta, f"Approved {doc_id} v{old}", notices)


def _take_effect(tx, project, meta: dict, user: str, text: str, old: str) -> str:
    doc_id, status = meta["doc_id"], meta["status"]
    new = versions.bump_major(old)
    tx.write_text(project.archive_path(doc_id, old), text)
    superseded = meta.get("effective_version")
    in_force = tx.read_text(project.effective_path(doc_id))
    if superseded and in_force is not None:  # a revision checked out by the earlier tool
        archive_once(tx, project, doc_id, superseded, in_force)
    meta["version"] = new
    set_status(tx, project, meta, user, wf.approval_done(status))
    retiring = meta.get("retiring")
    clear_tracking(meta)
    if retiring:
        tx.write_text(project.archive_path(doc_id, new), text)
        tx.delete(project.draft_path(doc_id))
        tx.delete(project.effective_path(doc_id))
        audit.append(tx, project, doc_id, "RETIRE", user, new, content=text, from_version=old)
        set_status(tx, project, meta, user, wf.RETIRED)
        meta["responsible_user"] = None
        release_checkout(meta)
        return f"{doc_id} is RETIRED at v{new} (archived)."
    if meta["status"] == wf.APPROVED:
        effective = frontmatter.minimal(text)
        tx.write_text(project.effective_path(doc_id), effective)
        tx.delete(project.draft_path(doc_id))
        meta["effective_version"] = new
        meta["responsible_user"] = None
        release_checkout(meta)
        audit.append(tx, project, doc_id, "EFFECTIVE", user, new, content=effective,
                     from_version=old)
        set_status(tx, project, meta, user, wf.EFFECTIVE)
        return f"{doc_id} v{new} is EFFECTIVE."
    return f"{doc_id} is {meta['status']} at v{new}."
