"""``qms close ID``: close an executed document and cascade-close its attachments."""

from __future__ import annotations

import re

from qms.domain import doctypes, workflow as wf
from qms.errors import InvalidTransition, NotFound
from qms.operations import _interactive
from qms.operations._bound import Texts
from qms.operations.identity import passkeys
from qms.operations._shared import (
    DocResult, clear_tracking, current_text, done, drop_tasks, open_doc, release_checkout,
    require_owner,
    set_status)
from qms.store import audit, frontmatter, users
from qms.store import meta as meta_store
from qms.store.project import Project
from qms.store.transaction import Transaction

_VAR_TYPE_RE = re.compile(r"\|\s*Type\s*([12])\s*\|")
_PRE_APPROVED_OR_LATER = {wf.PRE_APPROVED, wf.IN_EXECUTION, wf.IN_POST_REVIEW, wf.POST_REVIEWED,
                          wf.IN_POST_APPROVAL, wf.POST_APPROVED, wf.CLOSED}


def close(project: Project, user: str, *, doc_id: str,
          passkey: passkeys.Assertion | None = None) -> DocResult:
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "close", doc_id, tx)
        if meta["status"] in wf.TERMINAL:  # before the owner check: a closed doc has none
            raise InvalidTransition(f"{doc_id} is already {meta['status']}.")
        if not meta.get("executable"):
            raise InvalidTransition(f"{doc_id} is not an executable document.")
        require_owner("close", user, meta)
        attachment = doctypes.doctype(doctypes.type_of(doc_id)).attachment
        if meta["status"] != wf.POST_APPROVED and not attachment:
            raise InvalidTransition(f"{doc_id} is {meta['status']}; it must be POST_APPROVED "
                                    "to close.")
        children = children_of(project, doc_id, tx)
        _closure_gate(project, tx, doc_id, children)
        _close_one(tx, project, meta, user, passkey)
        closed = []
        for child_id, child in children:
            if child["doc_type"] == "VR" and child["status"] not in wf.TERMINAL:
                _close_one(tx, project, child, user, cascade=True)
                meta_store.save(tx, project, child)
                closed.append(child_id)
        meta_store.save(tx, project, meta)
    return done(meta, f"Closed {doc_id} v{meta['version']}",
                [f"Cascade closed: {c}" for c in closed])


def _close_one(tx: Transaction, project: Project, meta: dict, user: str,
               passkey: passkeys.Assertion | None = None, cascade: bool = False) -> None:
    """Close one document; a cascaded child is covered by its parent's signature."""
    doc_id = meta["doc_id"]
    owner = meta.get("responsible_user")
    texts = Texts(project, doc_id, tx)  # only the texts the trail binds: none edited by hand
    text = texts.draft()
    if _interactive.is_interactive(doc_id):
        text = _interactive.on_close(tx, project, doc_id, owner, text or "")
    if text is None:
        text = texts.effective()
        if text is None:
            raise NotFound(f"{doc_id} has no document file to close.")
    text = frontmatter.minimal(text)
    signed = {} if cascade else passkeys.gate(project, tx, user, doc_id, meta["version"],
                                              "closure", text, passkey)
    tx.write_text(project.effective_path(doc_id), text)
    tx.delete(project.draft_path(doc_id))
    for name in users.user_dir_names(project):
        path = project.workspace_path(name, doc_id)
        if tx.exists(path):
            tx.delete(path)
    drop_tasks(tx, project, doc_id)
    audit.append(tx, project, doc_id, "CLOSE", user, meta["version"], content=text, **signed)
    set_status(tx, project, meta, user, wf.CLOSED)
    clear_tracking(meta)
    meta["responsible_user"] = None
    release_checkout(meta)


def children_of(project: Project, doc_id: str, tx: Transaction) -> list[tuple[str, dict]]:
    """Direct children (ID, meta), found in the root folder: O(documents of this root)."""
    folder = project.doc_dir(doc_id)
    pattern = re.compile(rf"^({re.escape(doc_id)}-(?:TP|ER|VAR|ADD|VR)-\d+)(?:-draft)?\.md$")
    found: dict[str, dict] = {}
    if folder.is_dir():
        for entry in sorted(folder.iterdir()):
            m = pattern.match(entry.name)
            if m and m.group(1) not in found and meta_store.exists(project, m.group(1), tx):
                found[m.group(1)] = meta_store.load(project, m.group(1), tx)
    return list(found.items())


def _closure_gate(project: Project, tx: Transaction, doc_id: str,
                  children: list[tuple[str, dict]]) -> None:
    """A parent cannot close while a child VAR (Type 1), TP or ER is open."""
    blocking = []
    for child_id, child in children:
        kind, status = child["doc_type"], child["status"]
        if kind in ("TP", "ER") and status not in wf.TERMINAL:
            blocking.append(f"{child_id} ({status})")
        elif kind == "VAR" and status not in wf.TERMINAL:
            text = current_text(project, child_id, tx) or ""
            if _var_type(text) == 2 and status in _PRE_APPROVED_OR_LATER:
                continue
            blocking.append(f"{child_id} ({status})")
    if blocking:
        raise InvalidTransition(
            f"{doc_id} cannot close while these children are open: {', '.join(blocking)}. "
            "Close them first (a Type 2 VAR only needs to be PRE_APPROVED).")


def _var_type(text: str) -> int:
    m = _VAR_TYPE_RE.search(text)
    return int(m.group(1)) if m else 1
