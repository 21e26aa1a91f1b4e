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
    except ValueError as exc:
        raise _damaged(project, doc_id, path, f"not valid JSON ({exc})") from None
    problem = _problem(meta, doc_id)
    if problem:
        raise _damaged(project, doc_id, path, problem)
    meta.setdefault("doc_id", doc_id)
    meta.setdefault("pending_assignees", [])
    return meta


# key -> (accepted types, required)
_SHAPE = {"version": (str, True), "status": (str, True), "doc_id": (str, False),
          "doc_type": (str, False), "responsible_user": ((str, type(None)), False),
          "pending_assignees": (list, False), "review_outcomes": ((dict, type(None)), False),
          "checked_out": ((bool, type(None)), False),
          "effective_version": ((str, type(None)), False),
          "checkout_from_version": ((str, type(None)), False)}


def _problem(meta: Any, doc_id: str) -> str | None:
    """What is wrong with a parsed meta file (None: usable)."""
    if not isinstance(meta, dict):
        return f"expected a JSON object, found {type(meta).__name__}"
    for key, (kinds, required) in _SHAPE.items():
        if key not in meta:
            if required:
                return f"the key '{key}' is missing"
        elif not isinstance(meta[key], kinds):
            return f"'{key}' has the wrong type ({type(meta[key]).__name__})"
    if not all(isinstance(u, str) for u in meta.get("pending_assignees") or []):
        return "'pending_assignees' must list user names"
    if meta.get("doc_id", doc_id) != doc_id:
        return f"it describes {meta['doc_id']!r}, not {doc_id}"
    return None


def _damaged(project: Project, doc_id: str, path, why: str) -> ProjectError:
    rel = project.rel(path)
    return ProjectError(f"Metadata of {doc_id} is damaged ({rel}): {why}. Restore it from "
                        "version control, or repair it by hand.", doc_id=doc_id, path=rel)


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
