"""Helpers every operation uses: authorisation, results, status changes, document text."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from qms.domain import doctypes, permissions, versions, workflow
from qms.errors import NotFound, ValidationError
from qms.store import atomic, audit, frontmatter, inbox, users
from qms.store import meta as meta_store
from qms.store.project import Project
from qms.store.transaction import Transaction

MAX_TEXT = 2_000_000  # bytes accepted for a document or a comment


@dataclass
class Result:
    """Base of every operation result: JSON-safe via ``to_dict``, human text via ``render``."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def render(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


@dataclass
class DocResult(Result):
    """Outcome of a command that changes one document."""

    doc_id: str
    version: str
    status: str
    message: str
    notices: list[str] = field(default_factory=list)

    def render(self) -> str:
        return "\n".join([self.message, *self.notices])


def done(meta: dict[str, Any], message: str, notices: list[str] | None = None) -> DocResult:
    return DocResult(meta["doc_id"], meta["version"], meta["status"], message, notices or [])


def authorize(project: Project, user: str, command: str) -> str:
    """Validate the user and the command against the matrix; return the user's group."""
    group = users.group_of(project, user)
    permissions.check(command, user, group)
    return group


def load(project: Project, doc_id: str, tx: Transaction | None = None) -> tuple[str, dict]:
    """Normalise an ID and load its meta (NotFound if absent)."""
    doc_id = doctypes.normalize_id(doc_id)
    return doc_id, meta_store.load(project, doc_id, tx)


def open_doc(project: Project, user: str, command: str, doc_id: str,
             tx: Transaction) -> tuple[str, dict]:
    authorize(project, user, command)
    return load(project, doc_id, tx)


def require_owner(command: str, user: str, meta: dict) -> None:
    permissions.check_owner(command, user, meta.get("responsible_user"), meta["doc_id"])


def require_text(value: str | None, what: str, flag: str) -> str:
    if value is None or not str(value).strip():
        raise ValidationError(f"A {what} is required ({flag} TEXT).")
    if len(str(value).encode("utf-8", "surrogatepass")) > MAX_TEXT:
        raise ValidationError(f"The {what} is too large (limit {MAX_TEXT} bytes).")
    return str(value)


def phase_of(meta: dict) -> str | None:
    if not meta.get("executable"):
        return None
    phase = meta.get("execution_phase")
    if phase in (workflow.PRE_RELEASE, workflow.POST_RELEASE):
        return phase
    return workflow.POST_RELEASE if versions.major(meta["version"]) >= 1 else workflow.PRE_RELEASE


def set_status(tx: Transaction, project: Project, meta: dict, user: str, to_status: str) -> None:
    """Move to a new status and record the STATUS_CHANGE (every status change is audited)."""
    from_status = meta["status"]
    meta["status"] = to_status
    audit.append(tx, project, meta["doc_id"], "STATUS_CHANGE", user, meta["version"],
                 from_status=from_status, to_status=to_status)


def clear_tracking(meta: dict) -> None:
    """Forget the current review/approval round (pending, outcomes, retire intent)."""
    meta["pending_assignees"] = []
    meta["review_outcomes"] = {}
    for legacy in ("pending_reviewers", "completed_reviewers"):
        if legacy in meta:
            meta[legacy] = []
    meta.pop("retiring", None)


def release_checkout(meta: dict) -> None:
    meta["checked_out"] = False
    meta["checked_out_date"] = None
    meta.pop("checkout_from_version", None)


def draft_text(project: Project, doc_id: str, tx: Transaction | None = None) -> str | None:
    path = project.draft_path(doc_id)
    return tx.read_text(path) if tx else atomic.read_text(path)


def current_text(project: Project, doc_id: str, tx: Transaction | None = None) -> str | None:
    """The draft if there is one, else the effective/closed file."""
    text = draft_text(project, doc_id, tx)
    if text is None:
        path = project.effective_path(doc_id)
        text = tx.read_text(path) if tx else atomic.read_text(path)
    return text


def title(project: Project, doc_id: str, tx: Transaction | None = None) -> str:
    return frontmatter.title_of(current_text(project, doc_id, tx))


def require_draft(project: Project, meta: dict, tx: Transaction) -> str:
    text = draft_text(project, meta["doc_id"], tx)
    if text is None:
        raise NotFound(f"{meta['doc_id']} has no draft ({project.rel(project.draft_path(meta['doc_id']))}).")
    return text


def drop_tasks(tx: Transaction, project: Project, doc_id: str, approval_only: bool = False) -> None:
    inbox.remove(tx, project, doc_id, approval_only=approval_only)
