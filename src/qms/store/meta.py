"""Workflow state sidecar ``.meta/{TYPE}/{ID}.json``. Unknown keys are preserved."""

from __future__ import annotations

import json

from qms.errors import NotFound, ProjectError
from qms.store.project import Project
from qms.store.transaction import Transaction

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any


def load(project: Project, doc_id: str, tx: Transaction | None = None) -> dict[str, Any]:
    path = project.meta_path(doc_id)
    text = tx.read_text(path) if tx else project.read_text(path)
    if text is None:
        if project.audit_path(doc_id).is_file():  # meta gone, trail kept: cancelled
            raise NotFound(f"Document {doc_id} not found: it was cancelled (its audit trail "
                           f"is kept: qms history {doc_id}).", doc_id=doc_id)
        raise NotFound(f"Document {doc_id} not found.", doc_id=doc_id)
    try:
        meta = json.loads(text)
    except ValueError:
        raise ProjectError(f"Metadata of {doc_id} is damaged ({project.rel(path)}).")
    meta.setdefault("pending_assignees", [])
    return meta


def exists(project: Project, doc_id: str, tx: Transaction | None = None) -> bool:
    path = project.meta_path(doc_id)
    return tx.exists(path) if tx else path.exists()


def save(tx: Transaction, project: Project, meta: dict[str, Any]) -> None:
    tx.write_json(project.meta_path(meta["doc_id"]), meta)


def new(doc_id: str, doc_type: str, *, executable: bool, user: str, today: str,
        version: str = "0.1", status: str = "DRAFT", phase: str | None = None) -> dict[str, Any]:
    return {
        "doc_id": doc_id, "doc_type": doc_type, "version": version, "status": status,
        "executable": executable, "execution_phase": phase, "responsible_user": user,
        "checked_out": True, "checked_out_date": today, "effective_version": None,
        "pending_assignees": [], "review_outcomes": {},
    }
