"""``qms checkin ID``: bring the workspace copy back as the document's draft."""

from __future__ import annotations

from qms.domain import versions, workflow as wf
from qms.errors import InvalidTransition, NotFound, ValidationError
from qms.operations import _interactive
from qms.operations._shared import (
    DocResult, archive_once, check_text, clear_tracking, done, open_doc, release_checkout,
    require_owner, set_status)
from qms.store import audit, frontmatter
from qms.store import meta as meta_store
from qms.store.project import Project


def checkin(project: Project, user: str, *, doc_id: str, content: str | None = None) -> DocResult:
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "checkin", doc_id, tx)
        notices = _checkin(tx, project, user, meta, content)
    msg = f"Checked in {doc_id} v{meta['version']} ({meta['status']})"
    return done(meta, msg, notices)


def _checkin(tx, project: Project, user: str, meta: dict, content: str | None) -> list[str]:
    """Checkin inside an open transaction (route uses this for its implicit checkin)."""
    doc_id = meta["doc_id"]
    require_owner("checkin", user, meta)
    if not meta.get("checked_out"):
        raise InvalidTransition(f"{doc_id} is not checked out; check it out first.")
    ws_path = project.workspace_path(user, doc_id)
    if content is not None:
        text = content
    else:
        text = tx.read_text(ws_path)
        if text is None:
            raise NotFound(f"{doc_id} is not in your workspace ({project.rel(ws_path)}). If "
                           "the copy is lost, an administrator can release the checkout: "
                           f"qms --user lead unlock {doc_id} --reason \"...\"")
    check_text(text, "document")
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors add
    notices: list[str] = []
    if _interactive.is_interactive(doc_id):
        text = _interactive.on_checkin(tx, project, user, doc_id, text, notices)
    elif not frontmatter.split(text)[0]:  # malformed frontmatter raises here too
        raise ValidationError(
            f"{doc_id}: the workspace copy has no frontmatter; it must start with a '---' "
            "block holding 'title:' and 'revision_summary:'.")
    text = frontmatter.minimal(text)

    status = meta["status"]
    prev = _checked_out_from(meta) if status == wf.IN_EXECUTION else None
    if prev:
        old = tx.read_text(project.draft_path(doc_id))
        if old is not None:
            archive_once(tx, project, doc_id, prev, old)
    if status in wf.REVIEWED_STATES and status != wf.POST_REVIEWED:
        set_status(tx, project, meta, user, wf.DRAFT)
        clear_tracking(meta)
        notices.append("Back to DRAFT: route it for review again.")
    meta.pop("retiring", None)
    tx.write_text(project.draft_path(doc_id), text)
    tx.delete(ws_path)
    release_checkout(meta)
    meta_store.save(tx, project, meta)
    audit.append(tx, project, doc_id, "CHECKIN", user, meta["version"], content=text)
    return notices


def _checked_out_from(meta: dict) -> str | None:
    """The version an execution checkout bumped from (recorded, or N.(X-1) for checkouts
    made by the earlier tool)."""
    if meta.get("checkout_from_version"):
        return meta["checkout_from_version"]
    major, minor = versions.parse(meta["version"])
    return f"{major}.{minor - 1}" if minor > 0 else None
