"""``qms route ID --review|--approval [--retire] [--assign U ...]``."""

from __future__ import annotations

from qms.domain import permissions, templates, versions, workflow as wf
from qms.errors import InvalidTransition, QMSError, ValidationError
from qms.operations import _interactive
from qms.operations._shared import (
    DocResult, done, open_doc, phase_of, require_draft, require_owner, set_status,
    text_authors, title)
from qms.operations.checkin import _checkin
from qms.store import audit, inbox, users
from qms.store import meta as meta_store
from qms.store.project import Project

DEFAULT_ASSIGNEES = ["qa"]
_VERB = {"REVIEW": "review", "APPROVAL": "approve"}


def route(project: Project, user: str, *, doc_id: str, route_type: str, retire: bool = False,
          assignees: list[str] | None = None) -> DocResult:
    kind = (route_type or "").strip().lower()
    if kind not in ("review", "approval"):
        raise ValidationError(f"route_type must be 'review' or 'approval', not {route_type!r}.")
    with project.transaction() as tx:
        doc_id, meta = open_doc(project, user, "route", doc_id, tx)
        require_owner("route", user, meta)
        notices: list[str] = []
        if meta.get("checked_out"):
            notices += _checkin(tx, project, user, meta, None)
            notices.insert(0, f"{doc_id} was checked out: checked it in first.")
        text = require_draft(project, meta, tx)
        if meta["doc_type"] != "TEMPLATE" and not _interactive.is_interactive(doc_id):
            _refuse_placeholders(doc_id, text)  # a template holds them; a VR's compiler fills
        status = meta["status"]
        if kind == "review":
            if retire:
                raise ValidationError("--retire applies to approval routing only.")
            target, workflow_type = wf.route_review(status, phase_of(meta))
            meta["review_outcomes"] = {}  # a new review round starts empty
            notices += _scope(project, meta, text)
        else:
            target, workflow_type = wf.route_approval(status)
            _approval_gate(project, meta)
            if retire:
                if workflow_type == "PRE_APPROVAL" or versions.major(meta["version"]) < 1:
                    raise InvalidTransition(
                        "--retire needs a document that has been in force (version 1.0 or "
                        "later) routed for APPROVAL or POST_APPROVAL.")
                meta["retiring"] = True
        names = _assignees(project, assignees, wf.task_type(workflow_type), meta, text)
        set_status(tx, project, meta, user, target)
        meta["pending_assignees"] = names
        event, key = (("ROUTE_REVIEW", "review_type") if kind == "review"
                      else ("ROUTE_APPROVAL", "approval_type"))
        audit.append(tx, project, doc_id, event, user, meta["version"], content=text,
                     assignees=names, **{key: workflow_type})
        doc_title = title(project, doc_id, tx)
        today = audit.today()
        for name in names:
            inbox.add(tx, project, assignee=name, doc_id=doc_id, workflow_type=workflow_type,
                      version=meta["version"], title=doc_title, status=target,
                      responsible_user=meta.get("responsible_user"), assigned_by=user,
                      assigned_date=today, doc_type=meta["doc_type"])
        meta_store.save(tx, project, meta)
    if retire:
        notices.append("Approval will RETIRE the document.")
    return done(meta, f"Routed {doc_id} for {workflow_type} ({target}); assigned to "
                      f"{', '.join(names)}", notices)


def _scope(project: Project, meta: dict, text: str) -> list[str]:
    """A CR's or VAR's qms-scope block must be well formed and inside a known system."""
    if "qms-scope" not in text:
        return []
    from qms.operations.code.branch import check_text

    return check_text(project, meta, text)


def _refuse_placeholders(doc_id: str, text: str) -> None:
    """The template says none of its ``{{...}}`` placeholders may remain when routed."""
    found = templates.placeholders(text)
    if not found:
        return
    shown = "; ".join(f"line {n}: {p if len(p) <= 40 else p[:37] + '...}}'}"
                      for n, p in found[:3])
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    raise ValidationError(
        f"{doc_id} still holds {len(found)} unfilled template placeholder"
        f"{'s' if len(found) > 1 else ''} {{{{...}}}}: {shown}{more}. Replace each with the "
        "real text in your workspace copy and route again.",
        placeholders=[{"line": n, "placeholder": p} for n, p in found[:20]])


def _approval_gate(project: Project, meta: dict) -> None:
    outcomes: dict = meta.get("review_outcomes") or {}
    if not outcomes:
        raise InvalidTransition(f"{meta['doc_id']} has no completed review in this round; "
                                "route it for review first.")
    needing = sorted(u for u, o in outcomes.items() if o == "UPDATES_REQUIRED")
    if needing:
        raise InvalidTransition(
            f"{', '.join(needing)} requested updates: check out, revise, check in and "
            "route for review again.")
    if not any(_group(project, u) == permissions.QUALITY for u in outcomes):
        raise InvalidTransition("At least one quality-group reviewer (e.g. qa) must "
                                "recommend before approval.")


def _group(project: Project, user: str) -> str | None:
    try:
        return users.group_of(project, user)
    except QMSError:  # a reviewer since removed cannot count
        return None


def _assignees(project: Project, names: list[str] | None, task_type: str,
               meta: dict, text: str | None) -> list[str]:
    """Validate who gets the tasks: real users of an assignable group, never the author
    nor anyone who signed authorship of ``text`` (the draft under review)."""
    hint = "" if names else " It is the default assignee: name other assignees (--assign U ...)."
    names = list(dict.fromkeys(names or DEFAULT_ASSIGNEES))
    allowed = permissions.ASSIGNABLE[task_type]
    authors = text_authors(project, meta["doc_id"], text)
    for name in names:
        permissions.check_not_author(f"be assigned to {_VERB[task_type]}", name,
                                     meta.get("responsible_user"), meta["doc_id"], hint,
                                     authors)
        group = users.group_of(project, name)
        if group not in allowed:
            raise ValidationError(
                f"{name} (group {group}) cannot be assigned {task_type.lower()} tasks; "
                f"allowed groups: {', '.join(sorted(allowed))}.")
    return names
